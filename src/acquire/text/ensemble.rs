//! Ensembles of text VA models: independently trained copies of the trained part over one base,
//! whose valence-arousal outputs are averaged. The frozen part runs once per sentence; each
//! member costs its trained layers and head.
//!
//! An ensemble is an ordinary model folder whose `config.json` says `members: N` and whose
//! weights name member k's tensors `member.{k}.<name>`. [`combine`] builds one from model
//! folders (single models or ensembles) trained with the same base and layout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::train::TRAINING_FILE;
use super::{MODEL_CONFIG_FILE, MODEL_WEIGHTS_FILE, TextVaConfig};
use crate::acquire::AcquireError;
use crate::fsutil::write_atomic;

const MEMBER_PREFIX: &str = "member.";

/// Splits a model folder's tensors into its `members` members (a single member keeps its
/// names as they are).
pub fn split(tensors: HashMap<String, Tensor>, members: usize) -> Result<Vec<HashMap<String, Tensor>>, String> {
    match members {
        0 => return Err("config says 0 members; a model needs at least one".to_owned()),
        1 => return Ok(vec![tensors]),
        _ => {}
    }
    let mut out = vec![HashMap::new(); members];
    for (name, tensor) in tensors {
        let member = name
            .strip_prefix(MEMBER_PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(k, rest)| Some((k.parse::<usize>().ok()?, rest)));
        match member {
            Some((k, rest)) if k < members => {
                out[k].insert(rest.to_owned(), tensor);
            }
            _ => {
                return Err(format!(
                    "tensor {name} belongs to none of the {members} members (member.0. … member.{})",
                    members - 1
                ));
            }
        }
    }
    if let Some(k) = out.iter().position(HashMap::is_empty) {
        return Err(format!("member {k} of {members} has no tensors"));
    }
    Ok(out)
}

/// Writes the ensemble of the model folders `member_dirs` to `out`, under `model_id`. A folder
/// that is itself an ensemble contributes each of its members. The members must share base,
/// trained layers, token limit and adapter layout; each member's training record is kept as
/// `training.member{k}.json`.
pub fn combine(member_dirs: &[PathBuf], out: &Path, model_id: &str) -> Result<TextVaConfig, AcquireError> {
    let Some(first_dir) = member_dirs.first() else {
        return Err(AcquireError::compute("ensemble-text", "no member model folders given"));
    };
    let first = TextVaConfig::read(&first_dir.join(MODEL_CONFIG_FILE))?;
    let mut tensors = Vec::new();
    let mut records = Vec::new();
    for dir in member_dirs {
        let config_path = dir.join(MODEL_CONFIG_FILE);
        let config = TextVaConfig::read(&config_path)?;
        let layout = |c: &TextVaConfig| {
            (c.base.sha256.clone(), c.trained_layers, c.max_tokens, c.lora_rank, c.lora_alpha.to_bits())
        };
        if layout(&config) != layout(&first) {
            return Err(AcquireError::model(
                &config_path,
                format!(
                    "differs from {} in base, trained layers, token limit or adapters; members must share them",
                    first_dir.join(MODEL_CONFIG_FILE).display()
                ),
            ));
        }
        let weights_path = dir.join(MODEL_WEIGHTS_FILE);
        let loaded = candle_core::safetensors::load(&weights_path, &Device::Cpu)
            .map_err(|e| AcquireError::model(&weights_path, e))?;
        let members = split(loaded, config.members).map_err(|e| AcquireError::model(&weights_path, e))?;
        for (j, member) in members.into_iter().enumerate() {
            let k = records.len();
            tensors.extend(member.into_iter().map(|(name, t)| (format!("{MEMBER_PREFIX}{k}.{name}"), t)));
            records.push(if config.members == 1 {
                dir.join(TRAINING_FILE)
            } else {
                dir.join(format!("training.member{j}.json"))
            });
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    std::fs::create_dir_all(out).map_err(|source| AcquireError::Io { path: out.to_path_buf(), source })?;
    let weights_path = out.join(MODEL_WEIGHTS_FILE);
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
        .map_err(|e| AcquireError::model(&weights_path, e))?;
    write_atomic(&weights_path, &bytes).map_err(|source| AcquireError::Io { path: weights_path.clone(), source })?;
    for (k, record) in records.iter().enumerate() {
        if record.is_file() {
            let target = out.join(format!("training.member{k}.json"));
            std::fs::copy(record, &target).map_err(|source| AcquireError::Io { path: target, source })?;
        }
    }
    let config = TextVaConfig { model_id: model_id.to_owned(), members: records.len(), ..first };
    let config_path = out.join(MODEL_CONFIG_FILE);
    let text = serde_json::to_string_pretty(&config).map_err(|e| AcquireError::model(&config_path, e))?;
    write_atomic(&config_path, text.as_bytes())
        .map_err(|source| AcquireError::Io { path: config_path.clone(), source })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(v: f32) -> Tensor {
        Tensor::new(&[v], &Device::Cpu).unwrap()
    }

    #[test]
    fn split_groups_tensors_by_member_and_names_strays() {
        let tensors: HashMap<String, Tensor> = [
            ("member.0.head.bias".to_owned(), tensor(0.0)),
            ("member.1.head.bias".to_owned(), tensor(1.0)),
            ("member.1.head.weight".to_owned(), tensor(2.0)),
        ]
        .into();
        let members = split(tensors.clone(), 2).unwrap();
        assert_eq!(members[0].len(), 1);
        assert_eq!(members[1]["head.weight"].to_vec1::<f32>().unwrap(), vec![2.0]);
        assert_eq!(split(tensors.clone(), 1).unwrap()[0].len(), 3);

        let err = split(tensors.clone(), 3).unwrap_err();
        assert!(err.contains("member 2 of 3 has no tensors"), "{err}");
        let mut stray = tensors;
        stray.insert("head.bias".to_owned(), tensor(3.0));
        let err = split(stray, 2).unwrap_err();
        assert!(err.contains("tensor head.bias belongs to none of the 2 members"), "{err}");
        assert!(split(HashMap::new(), 0).unwrap_err().contains("0 members"));
    }
}
