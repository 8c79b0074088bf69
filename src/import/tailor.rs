//! Aligned MOSEI as TAILOR, CARAT and HHMPN ship it: `train_valid_test.pt`, a `torch.save` of
//!
//! ```text
//! {"train"|"valid"|"test": {"src-text": [N × (60, 300)], "src-visual": [N × (60, 35)],
//!                           "src-audio": [N × (60, 74)], "tgt": [[2, id, …, 3], …]},
//!  "dict": {"tgt": {"<blank>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, "happy": 4, …}}, "settings": …}
//! ```
//!
//! Frames are NumPy arrays or tensors (one per utterance or stacked); label ids are offset by 4
//! (PAD, UNK, BOS, EOS); audio `-inf` becomes 0 and every step is real (mask 1), as in the
//! reference loaders. Without `dict.tgt`, ids 4..9 are happy, sad, anger, surprise, disgust, fear.

use std::collections::BTreeMap;
use std::path::Path;

use super::matrix::{Dense, dense};
use super::pickle::{Unpickled, Value};
use super::torch_archive::TorchArchive;
use super::{ImportError, ImportSummary};
use crate::dataset::{DatasetWriter, FeatureSpec, LabelSpec, Manifest, Split, SplitFeatures, Utterance};
use crate::modality::{Modality, PerModality};

/// Ids below this are PAD, UNK, BOS and EOS.
const FIRST_LABEL_ID: i64 = 4;

const MODALITY_KEYS: [(Modality, &str); 3] =
    [(Modality::Text, "src-text"), (Modality::Vision, "src-visual"), (Modality::Audio, "src-audio")];

pub fn import_tailor(pt: &Path, out: &Path) -> Result<ImportSummary, ImportError> {
    super::check_out(out)?;
    // Read everything first, so the archive's memory is freed before the dataset is written.
    let imported = read(pt)?;
    let name = pt.file_stem().map_or_else(|| "imported".to_owned(), |s| s.to_string_lossy().into_owned());
    let mut manifest = Manifest::new(name, imported.labels, imported.specs.into_values().collect());
    manifest.provenance = format!("imported from the TAILOR/CARAT file {}", pt.display());
    let label_names = manifest.labels.iter().map(|l| l.name.clone()).collect();
    DatasetWriter::new(out, manifest)?.write(&imported.utterances, &imported.features)?;
    Ok(ImportSummary {
        out: out.to_path_buf(),
        labels: label_names,
        utterances: imported.counts,
        zeroed_non_finite: imported.zeroed,
    })
}

/// What the archive holds, converted.
struct Imported {
    labels: Vec<LabelSpec>,
    utterances: Vec<Utterance>,
    features: BTreeMap<(Split, Modality), SplitFeatures>,
    specs: BTreeMap<Modality, FeatureSpec>,
    counts: BTreeMap<Split, usize>,
    zeroed: usize,
}

fn read(pt: &Path) -> Result<Imported, ImportError> {
    let archive = TorchArchive::read(pt)?;
    let p = archive.unpickle().map_err(|e| ImportError::pickle(pt, 0, e))?;
    let storages = |key: &str| archive.storage(key);
    // Values left to read: the whole import, not each block, is bounded by the file's size.
    let mut budget = archive.len();
    let root = p.root();
    if p.as_pairs(root).is_none() {
        return Err(ImportError::invalid(pt, None, format!("holds {}, expected a dict of splits", p.describe(root))));
    }
    let (labels, id_to_label) = label_map(&p, pt)?;

    let mut utterances = Vec::new();
    let mut features: BTreeMap<(Split, Modality), SplitFeatures> = BTreeMap::new();
    let mut specs: BTreeMap<Modality, FeatureSpec> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    let mut zeroed = 0;
    for key in p.keys(root) {
        let Some(split) = Split::parse(key) else { continue };
        let Some(split_value) = p.get(root, key) else { continue };
        if counts.contains_key(&split) {
            return Err(ImportError::invalid(pt, Some(format!("key {key:?}")), format!("a second {split} split")));
        }
        let at = |field: &str| Some(format!("data[{key:?}][{field:?}]"));
        let Some(tgt) = p.get(split_value, "tgt") else {
            return Err(ImportError::invalid(
                pt,
                at("tgt"),
                format!("is missing (found {})", p.keys(split_value).join(", ")),
            ));
        };
        let Some(targets) = p.as_items(tgt) else {
            return Err(ImportError::invalid(
                pt,
                at("tgt"),
                format!("is {}, expected a list of label-id lists", p.describe(tgt)),
            ));
        };
        let rows = targets.len();
        for (modality, field) in MODALITY_KEYS {
            let Some(value) = p.get(split_value, field) else {
                return Err(ImportError::invalid(
                    pt,
                    at(field),
                    format!("is missing (found {})", p.keys(split_value).join(", ")),
                ));
            };
            let mut block =
                dense(&p, value, &storages, budget).map_err(|problem| ImportError::invalid(pt, at(field), problem))?;
            budget -= block.values.len();
            if block.shape.len() != 3 || block.dim(0) != rows {
                return Err(ImportError::invalid(
                    pt,
                    at(field),
                    format!(
                        "has shape {:?}; expected ({rows}, steps, dims), one row per entry of \"tgt\"",
                        block.shape
                    ),
                ));
            }
            let spec = FeatureSpec { modality, max_len: block.dim(1), dim: block.dim(2) };
            if let Some(first) = specs.insert(modality, spec)
                && first != spec
            {
                return Err(ImportError::invalid(
                    pt,
                    at(field),
                    format!(
                        "frames are {}×{}, another split's {}×{}; splits must share one shape",
                        spec.max_len, spec.dim, first.max_len, first.dim
                    ),
                ));
            }
            zeroed += block.zero_non_finite();
            let mask = vec![1u8; rows * spec.max_len];
            features.insert((split, modality), SplitFeatures { features: std::mem::take(&mut block.values), mask });
        }
        for (i, &target) in targets.iter().enumerate() {
            let location = || Some(format!("data[{key:?}][\"tgt\"][{i}]"));
            let ids: Dense = dense(&p, target, &storages, budget)
                .map_err(|problem| ImportError::invalid(pt, location(), problem))?;
            budget -= ids.values.len();
            let mut indices = Vec::new();
            for id in ids.values.iter().map(|&x| x as i64).filter(|&id| id >= FIRST_LABEL_ID) {
                let index = id_to_label.get(&id).copied().ok_or_else(|| {
                    ImportError::invalid(
                        pt,
                        location(),
                        format!("label id {id} is not one of the {} labels", labels.len()),
                    )
                })?;
                indices.push(index);
            }
            indices.sort_unstable();
            indices.dedup();
            let id = format!("{}-{i:05}", split.name());
            utterances.push(Utterance {
                id: id.clone(),
                video_id: id,
                split,
                media: None,
                text: String::new(),
                labels: indices,
                va: PerModality::default(),
                va_model: PerModality::default(),
            });
        }
        counts.insert(split, rows);
    }
    if counts.is_empty() {
        return Err(ImportError::invalid(
            pt,
            None,
            format!("has no train/valid/test entries (found {})", p.keys(root).join(", ")),
        ));
    }

    Ok(Imported { labels, utterances, features, specs, counts, zeroed })
}

/// Labels and the map from target id to label index, from `dict.tgt` when the file has it.
fn label_map(p: &Unpickled<'_>, pt: &Path) -> Result<(Vec<LabelSpec>, BTreeMap<i64, usize>), ImportError> {
    let vocabulary = p.get(p.root(), "dict").and_then(|d| p.get(d, "tgt"));
    let Some(vocabulary) = vocabulary.and_then(|v| p.as_pairs(v)) else {
        let labels = LabelSpec::mosei();
        let map = (0..labels.len()).map(|i| (FIRST_LABEL_ID + i as i64, i)).collect();
        return Ok((labels, map));
    };
    let mut entries: Vec<(i64, &str)> = vocabulary
        .iter()
        .filter_map(|&(name, id)| match (p.as_str(name), id) {
            (Some(name), Value::Int(id)) if id >= FIRST_LABEL_ID => Some((id, name)),
            _ => None,
        })
        .collect();
    entries.sort_unstable();
    let mut labels = Vec::with_capacity(entries.len());
    let mut map = BTreeMap::new();
    for (id, name) in entries {
        let lower = name.to_ascii_lowercase();
        let label = LabelSpec::known(&lower).ok_or_else(|| {
            ImportError::invalid(
                pt,
                Some("data[\"dict\"][\"tgt\"]".to_owned()),
                format!("label {name:?} has no known VA anchor"),
            )
        })?;
        map.insert(id, labels.len());
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(ImportError::invalid(pt, Some("data[\"dict\"][\"tgt\"]".to_owned()), "names no labels (ids ≥ 4)"));
    }
    Ok((labels, map))
}
