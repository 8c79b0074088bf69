//! The frozen part of a Hugging Face BERT-family folder (BERT, RoBERTa): its tokenizer and the
//! embeddings plus the lower encoder layers, run by candle-transformers' BERT.
//!
//! RoBERTa differs from BERT only in where its positions start: real tokens take positions
//! `pad_token_id + 1` on. Its position table is loaded from that row on, so BERT's positions
//! 0, 1, … read RoBERTa's rows for the real tokens (padding is masked either way).
//!
//! The top layers are not loaded here: they belong to the trained [`super::head::VaHead`], which
//! starts from the base's own top layers and fine-tunes them. Splitting the encoder this way lets
//! training run the frozen part once per sentence and cache its output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use sha2::{Digest as _, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use crate::acquire::AcquireError;

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Tokenised sentences, padded to the longest: ids `(batch, tokens)` u32, mask `(batch, tokens)`
/// f32 (1 for real tokens), and each sentence's token count.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub ids: Tensor,
    pub mask: Tensor,
    pub lengths: Vec<usize>,
}

/// The base folder's files, read once: the BERT config, the weights and the tokenizer.
#[derive(Debug)]
pub struct BaseFolder {
    pub dir: PathBuf,
    /// For RoBERTa, `max_position_embeddings` counts only the rows real tokens can use.
    pub config: BertConfig,
    pub weights: Vec<u8>,
    pub tokenizer: Tokenizer,
    /// First row of the position table that position 0 reads: 0 for BERT, `pad_token_id + 1`
    /// for the RoBERTa family.
    pub position_offset: usize,
}

/// Checkpoints name the encoder `bert.…`, `roberta.…` or leave the prefix out.
const WEIGHT_PREFIXES: [&str; 2] = ["bert", "roberta"];
const POSITION_TABLE: &str = "embeddings.position_embeddings.weight";

impl BaseFolder {
    /// Reads `dir/{config.json, model.safetensors, tokenizer.json}`; each problem names its file.
    pub fn read(dir: &Path) -> Result<Self, AcquireError> {
        let (config, position_offset) = Self::read_config(dir)?;
        let tokenizer = Self::read_tokenizer(dir, &config)?;
        let weights_path = dir.join(WEIGHTS_FILE);
        let weights =
            std::fs::read(&weights_path).map_err(|source| AcquireError::Io { path: weights_path.clone(), source })?;
        Ok(Self { dir: dir.to_path_buf(), config, weights, tokenizer, position_offset })
    }

    /// `dir/config.json`, checked, with the position table's offset (see [`Self::position_offset`]).
    fn read_config(dir: &Path) -> Result<(BertConfig, usize), AcquireError> {
        let config_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path)
            .map_err(|source| AcquireError::Io { path: config_path.clone(), source })?;
        let mut config: BertConfig = serde_json::from_str(&text).map_err(|e| AcquireError::model(&config_path, e))?;
        if config.hidden_size == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads.max(1)) {
            return Err(AcquireError::model(
                &config_path,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    config.hidden_size, config.num_attention_heads
                ),
            ));
        }
        let position_offset = if config.model_type.as_deref().is_some_and(|k| k.contains("roberta")) {
            config.pad_token_id + 1
        } else {
            0
        };
        if position_offset >= config.max_position_embeddings {
            return Err(AcquireError::model(
                &config_path,
                format!(
                    "max_position_embeddings {} leaves no positions after pad_token_id {}",
                    config.max_position_embeddings, config.pad_token_id
                ),
            ));
        }
        config.max_position_embeddings -= position_offset;
        Ok((config, position_offset))
    }

    /// `dir/tokenizer.json`, checked against the config's vocabulary.
    fn read_tokenizer(dir: &Path, config: &BertConfig) -> Result<Tokenizer, AcquireError> {
        let config_path = dir.join(CONFIG_FILE);
        let tokenizer_path = dir.join(TOKENIZER_FILE);
        if !tokenizer_path.is_file() {
            return Err(AcquireError::model(&tokenizer_path, "missing (a Hugging Face fast-tokenizer file is needed)"));
        }
        let tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| AcquireError::model(&tokenizer_path, e))?;
        let vocab = tokenizer.get_vocab_size(true);
        if vocab > config.vocab_size {
            return Err(AcquireError::model(
                &tokenizer_path,
                format!("has {vocab} tokens but {} says vocab_size {}", config_path.display(), config.vocab_size),
            ));
        }
        Ok(tokenizer)
    }

    /// Hex sha256 of the weights file, to tie a trained head to the exact base it was trained on.
    pub fn weights_sha256(&self) -> String {
        Sha256::digest(&self.weights).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The base's encoder layers from `first` on, in f32, renamed so that layer `first` is
    /// `encoder.layer.0` (the names a trained part uses).
    pub fn top_layers(&self, first: usize, device: &Device) -> Result<HashMap<String, Tensor>, AcquireError> {
        let err = |e: candle_core::Error| AcquireError::model(&self.weights_path(), e);
        let all = candle_core::safetensors::load_buffer(&self.weights, device).map_err(err)?;
        let mut out = HashMap::new();
        for (name, tensor) in all {
            let Some((_, rest)) = name.split_once("encoder.layer.") else { continue };
            let Some((index, tail)) = rest.split_once('.') else { continue };
            let Ok(index) = index.parse::<usize>() else { continue };
            if index >= first {
                out.insert(
                    format!("encoder.layer.{}.{tail}", index - first),
                    tensor.to_dtype(DType::F32).map_err(err)?,
                );
            }
        }
        Ok(out)
    }

    pub fn weights_path(&self) -> PathBuf {
        self.dir.join(WEIGHTS_FILE)
    }

    /// A var builder over the weights, under the prefix the checkpoint uses (`bert.`,
    /// `roberta.` or none), with a RoBERTa position table starting at its first real position.
    pub fn var_builder(&self, device: &Device) -> Result<VarBuilder<'static>, AcquireError> {
        let err = |e: candle_core::Error| AcquireError::model(&self.weights_path(), e);
        let vb = if self.position_offset == 0 {
            VarBuilder::from_buffered_safetensors(self.weights.clone(), DType::F32, device).map_err(err)?
        } else {
            let mut tensors = candle_core::safetensors::load_buffer(&self.weights, device).map_err(err)?;
            let Some(table) = tensors.iter_mut().find(|(name, _)| name.ends_with(POSITION_TABLE)).map(|(_, t)| t)
            else {
                return Err(AcquireError::model(&self.weights_path(), format!("has no {POSITION_TABLE}")));
            };
            let rows = table.dim(0).map_err(err)?;
            *table = table
                .narrow(0, self.position_offset.min(rows), rows.saturating_sub(self.position_offset))
                .map_err(err)?;
            VarBuilder::from_tensors(tensors, DType::F32, device)
        };
        Ok(
            match WEIGHT_PREFIXES.iter().find(|p| vb.contains_tensor(&format!("{p}.embeddings.word_embeddings.weight")))
            {
                Some(prefix) => vb.pp(*prefix),
                None => vb,
            },
        )
    }
}

/// `tokenizer` as [`FrozenEncoder`] runs it: no padding (batches are padded per batch; the
/// file's own, often fixed-length, padding is dropped), sentences cut to `max_tokens`.
fn sentence_tokenizer(mut tokenizer: Tokenizer, max_tokens: usize, dir: &Path) -> Result<Tokenizer, AcquireError> {
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams { max_length: max_tokens, ..TruncationParams::default() }))
        .map_err(|e| AcquireError::model(&dir.join(TOKENIZER_FILE), e))?;
    Ok(tokenizer)
}

/// The tokenizer of the base folder `dir` exactly as a [`FrozenEncoder`] loaded with
/// `max_tokens` splits sentences, without reading the weights: for mapping a text model's
/// token steps back to the words of a transcript.
pub fn base_tokenizer(dir: &Path, max_tokens: usize) -> Result<Tokenizer, AcquireError> {
    let (config, _) = BaseFolder::read_config(dir)?;
    let tokenizer = BaseFolder::read_tokenizer(dir, &config)?;
    sentence_tokenizer(tokenizer, max_tokens.min(config.max_position_embeddings).max(2), dir)
}

/// Tokenizer + embeddings + the lower `frozen_layers` encoder layers of a base folder.
pub struct FrozenEncoder {
    tokenizer: Tokenizer,
    bert: BertModel,
    config: BertConfig,
    frozen_layers: usize,
    max_tokens: usize,
    device: Device,
    weights_path: PathBuf,
}

impl std::fmt::Debug for FrozenEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrozenEncoder")
            .field("weights", &self.weights_path)
            .field("frozen_layers", &self.frozen_layers)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl FrozenEncoder {
    /// Loads the embeddings and the first `frozen_layers` layers of `base`; sentences are cut to
    /// `max_tokens` tokens (special tokens included).
    pub fn load(
        base: &BaseFolder,
        frozen_layers: usize,
        max_tokens: usize,
        device: &Device,
    ) -> Result<Self, AcquireError> {
        let config_path = base.dir.join(CONFIG_FILE);
        if frozen_layers > base.config.num_hidden_layers {
            return Err(AcquireError::model(
                &config_path,
                format!("has {} layers; {frozen_layers} frozen layers asked for", base.config.num_hidden_layers),
            ));
        }
        let max_tokens = max_tokens.min(base.config.max_position_embeddings).max(2);
        let tokenizer = sentence_tokenizer(base.tokenizer.clone(), max_tokens, &base.dir)?;
        let lower = BertConfig { num_hidden_layers: frozen_layers, ..base.config.clone() };
        let bert = BertModel::load(base.var_builder(device)?, &lower)
            .map_err(|e| AcquireError::model(&base.weights_path(), e))?;
        Ok(Self {
            tokenizer,
            bert,
            config: base.config.clone(),
            frozen_layers,
            max_tokens,
            device: device.clone(),
            weights_path: base.weights_path(),
        })
    }

    /// The full base config (all layers).
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Token ids of one sentence, special tokens included, cut to `max_tokens`.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, AcquireError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| AcquireError::compute(format!("tokenising with {}", self.weights_path.display()), e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Pads token id lists into one batch.
    pub fn batch(&self, ids: &[Vec<u32>]) -> Result<Tokens, AcquireError> {
        let pad = self.config.pad_token_id as u32;
        let width = ids.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut flat = Vec::with_capacity(ids.len() * width);
        let mut mask = Vec::with_capacity(ids.len() * width);
        for sentence in ids {
            flat.extend(sentence.iter().copied().chain(std::iter::repeat(pad)).take(width));
            mask.extend((0..width).map(|t| if t < sentence.len() { 1.0f32 } else { 0.0 }));
        }
        let what = || format!("batching tokens for {}", self.weights_path.display());
        let n = ids.len();
        Ok(Tokens {
            ids: Tensor::from_vec(flat, (n, width), &self.device).map_err(|e| AcquireError::compute(what(), e))?,
            mask: Tensor::from_vec(mask, (n, width), &self.device).map_err(|e| AcquireError::compute(what(), e))?,
            lengths: ids.iter().map(Vec::len).collect(),
        })
    }

    /// Hidden states after the frozen layers, `(batch, tokens, hidden)`.
    pub fn forward(&self, tokens: &Tokens) -> Result<Tensor, AcquireError> {
        let _span = tracing::trace_span!("text-frozen-encoder").entered();
        let type_ids = tokens.ids.zeros_like().map_err(|e| self.compute_error(e))?;
        self.bert.forward(&tokens.ids, &type_ids, Some(&tokens.mask)).map_err(|e| self.compute_error(e))
    }

    fn compute_error(&self, e: candle_core::Error) -> AcquireError {
        AcquireError::compute(format!("text encoder forward ({})", self.weights_path.display()), e)
    }
}
