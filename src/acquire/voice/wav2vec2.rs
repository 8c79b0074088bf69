//! A wav2vec2 speech-VA model in candle, for users who have such weights (candle-transformers
//! 0.11 has no wav2vec2, so this ports the architecture of Hugging Face's `Wav2Vec2Model`).
//!
//! Loads a folder holding `config.json` (Hugging Face `Wav2Vec2Config`) and `model.safetensors`
//! with Hugging Face tensor names, as `Wav2Vec2ForSequenceClassification` saves them:
//! `wav2vec2.feature_extractor.conv_layers.{i}.conv`, `wav2vec2.feature_projection.*`,
//! `wav2vec2.encoder.pos_conv_embed.conv` (weight-normed: `weight_g`/`weight_v` or
//! `parametrizations.weight.original0/1`), `wav2vec2.encoder.layers.{i}.attention.{q,k,v,out}_proj`,
//! `…feed_forward.{intermediate,output}_dense`, `…layer_norm`, `…final_layer_norm`, and a head:
//! either `projector` + `classifier` (Hugging Face: project, mean-pool, classify) or
//! `classifier.dense` + `classifier.out_proj` (the MSP-Podcast dimensional models: mean-pool,
//! dense, tanh, project). Both post-LN (`do_stable_layer_norm = false`, base) and pre-LN (large,
//! "robust") encoders, and both `group` and `layer` feature-extractor norms are supported.
//!
//! Which outputs are valence and arousal is read from `id2label` (names containing "valence" /
//! "arousal"); with two unnamed outputs they are taken as (valence, arousal). Outputs are mapped
//! from `univa_va_range` (an optional extra key in `config.json`, default `[-1, 1]`; the
//! MSP-Podcast models predict on `[0, 1]`) to [-1, 1].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module as _, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, GroupNorm, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::features::VoiceFeatures;
use crate::acquire::{AcquireError, VoicePrediction, VoiceVaModel};
use crate::dataset::Va;

fn default_conv_dim() -> Vec<usize> {
    vec![512; 7]
}
fn default_conv_stride() -> Vec<usize> {
    vec![5, 2, 2, 2, 2, 2, 2]
}
fn default_conv_kernel() -> Vec<usize> {
    vec![10, 3, 3, 3, 3, 2, 2]
}
fn default_va_range() -> [f32; 2] {
    [-1.0, 1.0]
}

/// The subset of Hugging Face's `Wav2Vec2Config` the forward pass needs; defaults are
/// Hugging Face's (wav2vec2-base). Unknown keys are ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct Config {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub feat_extract_activation: String,
    pub layer_norm_eps: f64,
    /// `group` (GroupNorm on the first conv only) or `layer` (LayerNorm after every conv).
    pub feat_extract_norm: String,
    #[serde(default = "default_conv_dim")]
    pub conv_dim: Vec<usize>,
    #[serde(default = "default_conv_stride")]
    pub conv_stride: Vec<usize>,
    #[serde(default = "default_conv_kernel")]
    pub conv_kernel: Vec<usize>,
    pub conv_bias: bool,
    pub num_conv_pos_embeddings: usize,
    pub num_conv_pos_embedding_groups: usize,
    /// Pre-LN encoder (large / robust checkpoints) instead of post-LN (base).
    pub do_stable_layer_norm: bool,
    pub classifier_proj_size: usize,
    pub use_weighted_layer_sum: bool,
    pub id2label: BTreeMap<String, String>,
    /// Range the VA outputs are on, mapped linearly to [-1, 1] (not a Hugging Face key).
    #[serde(default = "default_va_range")]
    pub univa_va_range: [f32; 2],
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            feat_extract_activation: "gelu".into(),
            layer_norm_eps: 1e-5,
            feat_extract_norm: "group".into(),
            conv_dim: default_conv_dim(),
            conv_stride: default_conv_stride(),
            conv_kernel: default_conv_kernel(),
            conv_bias: false,
            num_conv_pos_embeddings: 128,
            num_conv_pos_embedding_groups: 16,
            do_stable_layer_norm: false,
            classifier_proj_size: 256,
            use_weighted_layer_sum: false,
            id2label: BTreeMap::new(),
            univa_va_range: default_va_range(),
        }
    }
}

impl Config {
    fn num_labels(&self) -> usize {
        self.id2label.len().max(2)
    }

    /// Output indices of (valence, arousal).
    fn va_indices(&self) -> std::result::Result<(usize, usize), String> {
        let find = |name: &str| {
            self.id2label
                .iter()
                .find(|(_, label)| label.to_ascii_lowercase().contains(name))
                .and_then(|(i, _)| i.parse::<usize>().ok())
        };
        match (find("valence"), find("arousal")) {
            (Some(v), Some(a)) => Ok((v, a)),
            _ if self.num_labels() == 2 => Ok((0, 1)),
            _ => Err(format!("id2label {:?} names no \"valence\" and \"arousal\" outputs", self.id2label)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

impl Activation {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "gelu" => Ok(Self::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => candle_core::bail!("unsupported activation {other:?} (gelu, gelu_new, relu)"),
        }
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::GeluErf => x.gelu_erf(),
            Self::GeluTanh => x.gelu(),
            Self::Relu => x.relu(),
        }
    }
}

#[derive(Debug)]
enum ConvNorm {
    None,
    Group(GroupNorm),
    Layer(LayerNorm),
}

#[derive(Debug)]
struct FeatureEncoder {
    layers: Vec<(Conv1d, ConvNorm)>,
    activation: Activation,
}

impl FeatureEncoder {
    fn load(vb: &VarBuilder, cfg: &Config) -> Result<Self> {
        let n = cfg.conv_dim.len();
        if cfg.conv_kernel.len() != n || cfg.conv_stride.len() != n || n == 0 {
            candle_core::bail!("conv_dim, conv_kernel and conv_stride must have the same, non-zero length");
        }
        let mut layers = Vec::with_capacity(n);
        let mut c_in = 1;
        for i in 0..n {
            let vb = vb.pp("conv_layers").pp(i);
            let (c_out, k) = (cfg.conv_dim[i], cfg.conv_kernel[i]);
            let conv_cfg = Conv1dConfig { stride: cfg.conv_stride[i], ..Default::default() };
            let conv = if cfg.conv_bias {
                candle_nn::conv1d(c_in, c_out, k, conv_cfg, vb.pp("conv"))?
            } else {
                candle_nn::conv1d_no_bias(c_in, c_out, k, conv_cfg, vb.pp("conv"))?
            };
            // PyTorch GroupNorm / LayerNorm defaults: eps 1e-5.
            let norm = match cfg.feat_extract_norm.as_str() {
                "group" if i == 0 => ConvNorm::Group(candle_nn::group_norm(c_out, c_out, 1e-5, vb.pp("layer_norm"))?),
                "group" => ConvNorm::None,
                "layer" => ConvNorm::Layer(candle_nn::layer_norm(c_out, 1e-5, vb.pp("layer_norm"))?),
                other => candle_core::bail!("unsupported feat_extract_norm {other:?} (group, layer)"),
            };
            layers.push((conv, norm));
            c_in = c_out;
        }
        Ok(Self { layers, activation: Activation::parse(&cfg.feat_extract_activation)? })
    }

    /// `[B, samples]` → `[B, frames, conv_dim]`.
    fn forward(&self, audio: &Tensor) -> Result<Tensor> {
        let mut h = audio.unsqueeze(1)?;
        for (conv, norm) in &self.layers {
            h = conv.forward(&h)?;
            h = match norm {
                ConvNorm::None => h,
                ConvNorm::Group(g) => g.forward(&h)?,
                ConvNorm::Layer(l) => l.forward(&h.transpose(1, 2)?)?.transpose(1, 2)?,
            };
            h = self.activation.apply(&h)?;
        }
        h.transpose(1, 2)
    }
}

/// Convolutional relative position embedding, with PyTorch weight norm over dim 2 folded in.
#[derive(Debug)]
struct PositionalConv {
    conv: Conv1d,
    /// An even kernel yields one frame too many; Hugging Face's `SamePad` drops it.
    drop_last: bool,
}

impl PositionalConv {
    fn load(vb: &VarBuilder, cfg: &Config) -> Result<Self> {
        let (h, k, groups) = (cfg.hidden_size, cfg.num_conv_pos_embeddings, cfg.num_conv_pos_embedding_groups);
        let vb = vb.pp("conv");
        let shape = (h, h / groups.max(1), k);
        let weight = if vb.contains_tensor("weight") {
            vb.get(shape, "weight")?
        } else {
            let (g, v) = if vb.contains_tensor("weight_g") {
                (vb.get((1, 1, k), "weight_g")?, vb.get(shape, "weight_v")?)
            } else {
                let p = vb.pp("parametrizations").pp("weight");
                (p.get((1, 1, k), "original0")?, p.get(shape, "original1")?)
            };
            // weight_norm(dim=2): w = g · v / ‖v‖, the norm over every dim but 2.
            let norm = v.sqr()?.sum_keepdim(0)?.sum_keepdim(1)?.sqrt()?;
            v.broadcast_div(&norm)?.broadcast_mul(&g)?
        };
        let bias = vb.get(h, "bias")?;
        let conv_cfg = Conv1dConfig { padding: k / 2, groups, ..Default::default() };
        Ok(Self { conv: Conv1d::new(weight, Some(bias), conv_cfg), drop_last: k % 2 == 0 })
    }

    /// `[B, T, H]` → `[B, T, H]` (GELU applied).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.conv.forward(&x.transpose(1, 2)?)?;
        if self.drop_last {
            let t = h.dim(2)?;
            h = h.narrow(2, 0, t - 1)?;
        }
        h.gelu_erf()?.transpose(1, 2)
    }
}

#[derive(Debug)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
}

impl Attention {
    fn load(vb: &VarBuilder, cfg: &Config) -> Result<Self> {
        let h = cfg.hidden_size;
        if cfg.num_attention_heads == 0 || !h.is_multiple_of(cfg.num_attention_heads) {
            candle_core::bail!("hidden_size {h} is not divisible by num_attention_heads {}", cfg.num_attention_heads);
        }
        Ok(Self {
            q: candle_nn::linear(h, h, vb.pp("q_proj"))?,
            k: candle_nn::linear(h, h, vb.pp("k_proj"))?,
            v: candle_nn::linear(h, h, vb.pp("v_proj"))?,
            out: candle_nn::linear(h, h, vb.pp("out_proj"))?,
            heads: cfg.num_attention_heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let d = h / self.heads;
        let split = |y: Tensor| y.reshape((b, t, self.heads, d))?.transpose(1, 2)?.contiguous();
        let q = split((self.q.forward(x)? * (d as f64).powf(-0.5))?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let scores = q.matmul(&k.transpose(2, 3)?.contiguous()?)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        self.out.forward(&y)
    }
}

#[derive(Debug)]
struct EncoderLayer {
    attention: Attention,
    layer_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    final_layer_norm: LayerNorm,
    activation: Activation,
    pre_norm: bool,
}

impl EncoderLayer {
    fn load(vb: &VarBuilder, cfg: &Config) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            attention: Attention::load(&vb.pp("attention"), cfg)?,
            layer_norm: candle_nn::layer_norm(h, eps, vb.pp("layer_norm"))?,
            intermediate: candle_nn::linear(h, cfg.intermediate_size, vb.pp("feed_forward").pp("intermediate_dense"))?,
            output: candle_nn::linear(cfg.intermediate_size, h, vb.pp("feed_forward").pp("output_dense"))?,
            final_layer_norm: candle_nn::layer_norm(h, eps, vb.pp("final_layer_norm"))?,
            activation: Activation::parse(&cfg.hidden_act)?,
            pre_norm: cfg.do_stable_layer_norm,
        })
    }

    fn feed_forward(&self, x: &Tensor) -> Result<Tensor> {
        self.output.forward(&self.activation.apply(&self.intermediate.forward(x)?)?)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.pre_norm {
            let h = (x + self.attention.forward(&self.layer_norm.forward(x)?)?)?;
            &h + self.feed_forward(&self.final_layer_norm.forward(&h)?)?
        } else {
            let h = self.layer_norm.forward(&(x + self.attention.forward(x)?)?)?;
            self.final_layer_norm.forward(&(&h + self.feed_forward(&h)?)?)
        }
    }
}

#[derive(Debug)]
enum Head {
    /// Hugging Face `Wav2Vec2ForSequenceClassification`: project frames, mean-pool, classify.
    ProjectPoolClassify { projector: Linear, classifier: Linear },
    /// MSP-Podcast dimensional models: mean-pool, dense + tanh, project.
    PoolDenseTanh { dense: Linear, out_proj: Linear },
}

/// The whole model: waveform in, one vector of outputs per utterance.
#[derive(Debug)]
pub struct Wav2Vec2Regressor {
    features: FeatureEncoder,
    projection_norm: LayerNorm,
    projection: Linear,
    pos_conv: PositionalConv,
    encoder_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    head: Head,
    config: Config,
}

impl Wav2Vec2Regressor {
    pub fn load(vb: &VarBuilder, cfg: &Config) -> Result<Self> {
        if cfg.use_weighted_layer_sum {
            candle_core::bail!("use_weighted_layer_sum = true is not supported");
        }
        let base = if vb.contains_tensor("wav2vec2.feature_projection.projection.weight") {
            vb.pp("wav2vec2")
        } else {
            vb.clone()
        };
        let last_conv = cfg.conv_dim.last().copied().unwrap_or(512);
        let h = cfg.hidden_size;
        let encoder = base.pp("encoder");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| EncoderLayer::load(&encoder.pp("layers").pp(i), cfg))
            .collect::<Result<_>>()?;
        let n = cfg.num_labels();
        let head = if vb.contains_tensor("classifier.dense.weight") {
            Head::PoolDenseTanh {
                dense: candle_nn::linear(h, h, vb.pp("classifier").pp("dense"))?,
                out_proj: candle_nn::linear(h, n, vb.pp("classifier").pp("out_proj"))?,
            }
        } else {
            Head::ProjectPoolClassify {
                projector: candle_nn::linear(h, cfg.classifier_proj_size, vb.pp("projector"))?,
                classifier: candle_nn::linear(cfg.classifier_proj_size, n, vb.pp("classifier"))?,
            }
        };
        Ok(Self {
            features: FeatureEncoder::load(&base.pp("feature_extractor"), cfg)?,
            projection_norm: candle_nn::layer_norm(
                last_conv,
                cfg.layer_norm_eps,
                base.pp("feature_projection").pp("layer_norm"),
            )?,
            projection: candle_nn::linear(last_conv, h, base.pp("feature_projection").pp("projection"))?,
            pos_conv: PositionalConv::load(&encoder.pp("pos_conv_embed"), cfg)?,
            encoder_norm: candle_nn::layer_norm(h, cfg.layer_norm_eps, encoder.pp("layer_norm"))?,
            layers,
            head,
            config: cfg.clone(),
        })
    }

    /// Last hidden states `[B, frames, hidden]` of `audio` `[B, samples]` (already normalised).
    pub fn hidden_states(&self, audio: &Tensor) -> Result<Tensor> {
        let _span = tracing::trace_span!("wav2vec2").entered();
        let x = self.features.forward(audio)?;
        let x = self.projection.forward(&self.projection_norm.forward(&x)?)?;
        let mut h = (&x + self.pos_conv.forward(&x)?)?;
        if !self.config.do_stable_layer_norm {
            h = self.encoder_norm.forward(&h)?;
        }
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        if self.config.do_stable_layer_norm {
            h = self.encoder_norm.forward(&h)?;
        }
        Ok(h)
    }

    /// Head outputs `[B, num_labels]`.
    pub fn forward(&self, audio: &Tensor) -> Result<Tensor> {
        let h = self.hidden_states(audio)?;
        match &self.head {
            Head::ProjectPoolClassify { projector, classifier } => classifier.forward(&projector.forward(&h)?.mean(1)?),
            Head::PoolDenseTanh { dense, out_proj } => out_proj.forward(&dense.forward(&h.mean(1)?)?.tanh()?),
        }
    }

    /// Fewest samples the feature encoder turns into at least one frame.
    pub fn min_samples(&self) -> usize {
        let c = &self.config;
        c.conv_kernel.iter().zip(&c.conv_stride).rev().fold(1, |frames_needed, (&k, &s)| (frames_needed - 1) * s + k)
    }
}

/// Zero mean, unit variance per utterance, as Hugging Face's feature extractor does
/// (`do_normalize`, variance floor 1e-7).
pub fn normalize(audio: &[f32]) -> Vec<f32> {
    let n = audio.len().max(1) as f64;
    let mean = audio.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = audio.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
    let scale = 1.0 / (var + 1e-7).sqrt();
    audio.iter().map(|&x| ((f64::from(x) - mean) * scale) as f32).collect()
}

/// A user's wav2vec2-style VA model as a [`VoiceVaModel`].
#[derive(Debug)]
pub struct Wav2Vec2Va {
    model: Wav2Vec2Regressor,
    va_indices: (usize, usize),
    range: [f32; 2],
    model_id: String,
    device: Device,
    path: PathBuf,
}

impl Wav2Vec2Va {
    /// Loads `dir/config.json` and `dir/model.safetensors`.
    pub fn from_dir(dir: &Path, device: &Device) -> std::result::Result<Self, AcquireError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .map_err(|source| AcquireError::Io { path: config_path.clone(), source })?;
        let config: Config = serde_json::from_str(&text).map_err(|e| AcquireError::model(&config_path, e))?;
        let va_indices = config.va_indices().map_err(|e| AcquireError::model(&config_path, e))?;
        if va_indices.0.max(va_indices.1) >= config.num_labels() || config.univa_va_range[0] >= config.univa_va_range[1]
        {
            return Err(AcquireError::model(&config_path, "VA output indices or univa_va_range are out of bounds"));
        }
        let weights = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights).map_err(|source| AcquireError::Io { path: weights.clone(), source })?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)
            .map_err(|e| AcquireError::model(&weights, e))?;
        let model = Wav2Vec2Regressor::load(&vb, &config).map_err(|e| AcquireError::model(&weights, e))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self {
            model,
            va_indices,
            range: config.univa_va_range,
            model_id: format!("wav2vec2:{name}"),
            device: device.clone(),
            path: weights,
        })
    }

    /// Raw head outputs for one utterance (mono 16 kHz).
    pub fn outputs(&self, audio: &[f32]) -> std::result::Result<Vec<f32>, AcquireError> {
        let what = || format!("wav2vec2 forward ({})", self.path.display());
        if audio.len() < self.model.min_samples() {
            return Err(AcquireError::compute(
                what(),
                format!("{} samples is shorter than the {} the model needs", audio.len(), self.model.min_samples()),
            ));
        }
        let x = Tensor::from_vec(normalize(audio), (1, audio.len()), &self.device)
            .map_err(|e| AcquireError::compute(what(), e))?;
        let y = self
            .model
            .forward(&x)
            .and_then(|y| y.squeeze(0)?.to_vec1::<f32>())
            .map_err(|e| AcquireError::compute(what(), e))?;
        Ok(y)
    }
}

impl VoiceVaModel for Wav2Vec2Va {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn predict(&self, audio: &[f32], _features: &VoiceFeatures) -> std::result::Result<VoicePrediction, AcquireError> {
        let y = self.outputs(audio)?;
        let [lo, hi] = self.range;
        let map = |x: f32| (2.0 * (x - lo) / (hi - lo) - 1.0).clamp(-1.0, 1.0);
        let (v, a) =
            (y.get(self.va_indices.0).copied().unwrap_or(0.0), y.get(self.va_indices.1).copied().unwrap_or(0.0));
        Ok(VoicePrediction { va: Va::new(map(v), map(a)), confidence: [1.0, 1.0] })
    }
}
