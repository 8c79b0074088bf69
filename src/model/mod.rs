//! The UniVA model (DESIGN.md §4.2–4.5): per-modality encoders, VA-driven contrastive learning,
//! concat fusion with a log-softmax head, the KL loss and the VA emotion-correlation prior.
//!
//! One model part per file, each with its `Config`: [`transformer`], [`attention_pool`],
//! [`encoder`], [`fusion`]; the losses [`va_contrastive`], [`kl`], [`correlation_prior`].

// Constructors take `VarBuilder` by value, the candle-transformers convention (`vb.pp(..)`
// hands each part its own builder); it is a cheap handle.
#![allow(clippy::needless_pass_by_value)]

pub mod attention_pool;
pub mod config;
pub mod correlation_prior;
pub mod dropout;
pub mod encoder;
pub mod fusion;
pub mod kernels;
pub mod kl;
pub mod linear;
pub mod norm;
pub mod packing;
pub mod seeded_init;
pub mod transformer;
pub mod va_contrastive;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

pub use config::{ContrastiveMode, EtaVariant, KlTarget, LossConfig, ModelConfig, Preset};

use crate::modality::{Modality, PerModality};
use correlation_prior::CorrelationPrior;
use dropout::MaskSource;
use encoder::Encoder;
use fusion::Fusion;

/// Problems with a configuration or a batch, reported through `candle_core::Error::wrap`.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model config: no modality is active; list at least one of text, vision, audio")]
    NoModalities,
    #[error("model config: modality {0} is active but the dataset has no {0} features")]
    MissingShape(Modality),
    #[error("batch: the model reads {0} but the batch has no {0} input")]
    MissingInput(Modality),
}

impl From<ModelError> for candle_core::Error {
    fn from(e: ModelError) -> Self {
        Self::wrap(e)
    }
}

/// A `VarBuilder` over plain copies of the current values in `varmap`. A model built from it
/// records no autograd graph and runs the fused LayerNorm/softmax kernels, as a model loaded
/// from a checkpoint does: the fast path for evaluation during training.
pub fn frozen_var_builder(varmap: &VarMap, device: &Device) -> Result<VarBuilder<'static>> {
    let vars = varmap.data().lock().map_err(|_| candle_core::Error::Msg("model variables: lock poisoned".into()))?;
    let tensors = vars.iter().map(|(name, var)| (name.clone(), var.as_tensor().detach())).collect();
    Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
}

/// Frame-level feature shape of one modality: `max_len` steps of `dim` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputShape {
    pub max_len: usize,
    pub dim: usize,
}

/// One modality of a batch.
#[derive(Clone, Debug)]
pub struct ModalityInput {
    /// `[B, L, D]` f32 features.
    pub features: Tensor,
    /// `[B, L]` f32, 1 for a real step, 0 for padding.
    pub mask: Tensor,
    /// `[B, 2]` f32 valence-arousal, z-normalised per dimension over the training set.
    pub va: Tensor,
}

/// A batch of utterances.
#[derive(Clone, Debug)]
pub struct Batch {
    pub inputs: PerModality<Option<ModalityInput>>,
    /// `[B, C]` f32 multi-hot labels.
    pub labels: Tensor,
}

#[derive(Clone, Debug)]
pub struct ModelOutput {
    /// `[B, C]` log-probabilities.
    pub log_probs: Tensor,
    /// H_m, `[B, d]`, for each active modality.
    pub unimodal: PerModality<Option<Tensor>>,
    /// With [`Forward::attention`]: each active modality's pooling weights α (Eq. 2) per
    /// utterance and step, `[B][L]`, summing to 1 over the real steps and 0 on padding.
    pub attention: PerModality<Option<Vec<Vec<f32>>>>,
}

/// How to run [`UniVa::forward_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forward {
    /// Dropout on.
    pub train: bool,
    /// Keep the attention pooling weights in [`ModelOutput::attention`].
    pub attention: bool,
}

/// The training objective and its parts (the parts as plain numbers for logging).
#[derive(Clone, Debug)]
pub struct LossParts {
    /// Scalar to call `backward` on.
    pub total: Tensor,
    pub kl: f32,
    pub eta: f32,
    /// The weighted mix of the per-modality contrastive losses.
    pub contrastive: f32,
    pub contrastive_per_modality: PerModality<Option<f32>>,
}

#[derive(Clone, Debug)]
pub struct UniVa {
    encoders: PerModality<Option<Encoder>>,
    fusion: Fusion,
    prior: CorrelationPrior,
    /// Shared by every dropout of the model; see [`UniVa::reseed_dropout`].
    masks: MaskSource,
    span: tracing::Span,
}

impl UniVa {
    /// `inputs`: feature shape per modality present in the data; `prior`: the C×C initial M of
    /// Eq. 8 (`crate::va::prior_matrix`), C = `prior.len()`.
    pub fn new(
        vb: VarBuilder,
        cfg: &ModelConfig,
        inputs: &PerModality<Option<InputShape>>,
        prior: &[Vec<f32>],
    ) -> Result<Self> {
        if cfg.active().next().is_none() {
            return Err(ModelError::NoModalities.into());
        }
        let masks = MaskSource::seeded(0);
        let mut encoders = PerModality::default();
        for modality in cfg.active() {
            let Some(shape) = *inputs.get(modality) else {
                return Err(ModelError::MissingShape(modality).into());
            };
            if *cfg.layers.get(modality) > 0 && shape.max_len > cfg.max_positions {
                candle_core::bail!(
                    "model config: {modality} sequences have {} steps but max_positions is {}",
                    shape.max_len,
                    cfg.max_positions
                )
            }
            let encoder_cfg = encoder::Config {
                input_dim: shape.dim,
                transformer: transformer::Config {
                    hidden: cfg.hidden,
                    heads: cfg.heads,
                    intermediate: cfg.intermediate,
                    layers: *cfg.layers.get(modality),
                    dropout: cfg.dropout,
                    max_positions: cfg.max_positions,
                    layer_norm_eps: cfg.layer_norm_eps,
                },
            };
            *encoders.get_mut(modality) = Some(Encoder::new(vb.pp(modality.name()), &encoder_cfg, &masks)?);
        }
        let fusion_cfg = fusion::Config { input_dim: cfg.active().count() * cfg.hidden, num_labels: prior.len() };
        Ok(Self {
            encoders,
            fusion: Fusion::new(vb.pp("fusion"), &fusion_cfg)?,
            prior: CorrelationPrior::new(vb.pp("correlation"), prior, cfg.train_prior)?,
            masks,
            span: tracing::span!(tracing::Level::TRACE, "univa"),
        })
    }

    /// Restarts the dropout masks from `seed`, so a training run is reproducible.
    pub fn reseed_dropout(&self, seed: u64) {
        self.masks.reseed(seed);
    }

    /// Encodes every active modality and predicts. `train` switches dropout on.
    pub fn forward(&self, batch: &Batch, train: bool) -> Result<ModelOutput> {
        self.forward_with(batch, Forward { train, attention: false })
    }

    /// [`Self::forward`], keeping what `how` asks for beside the prediction.
    pub fn forward_with(&self, batch: &Batch, how: Forward) -> Result<ModelOutput> {
        let _enter = self.span.enter();
        let mut unimodal = PerModality::default();
        let mut attention = PerModality::default();
        for (modality, encoder) in self.encoders.iter() {
            let Some(encoder) = encoder else { continue };
            let Some(input) = batch.inputs.get(modality) else {
                return Err(ModelError::MissingInput(modality).into());
            };
            let (h, weights) = encoder.forward(&input.features, &input.mask, how.train, how.attention)?;
            *unimodal.get_mut(modality) = Some(h);
            *attention.get_mut(modality) = weights;
        }
        Ok(ModelOutput { log_probs: self.fuse(&unimodal)?, unimodal, attention })
    }

    /// The prediction from unimodal representations (Eqs. 6–7): log-probabilities `[B, C]` from
    /// each active modality's H_m (`[B, d]`), the last step of [`Self::forward`].
    pub fn fuse(&self, unimodal: &PerModality<Option<Tensor>>) -> Result<Tensor> {
        let mut representations = Vec::with_capacity(Modality::ALL.len());
        for modality in self.modalities() {
            let Some(h) = unimodal.get(modality) else {
                return Err(ModelError::MissingInput(modality).into());
            };
            representations.push(h.clone());
        }
        self.fusion.forward(&representations)
    }

    /// The modalities the model encodes, in canonical order.
    pub fn modalities(&self) -> impl Iterator<Item = Modality> + '_ {
        self.encoders.iter().filter(|(_, e)| e.is_some()).map(|(m, _)| m)
    }

    /// `L = (1−λ)·(L_KL + η) + λ·L_CL` with the parts switched and weighted by `cfg`.
    pub fn loss(&self, out: &ModelOutput, batch: &Batch, cfg: &LossConfig) -> Result<LossParts> {
        let kl = kl::kl_loss(&out.log_probs, &batch.labels, cfg.kl_target, cfg.kl_scale)?;
        let eta = if cfg.prior { Some(self.prior.eta(&out.log_probs, cfg.eta)?) } else { None };

        let mut contrastive_per_modality = PerModality::default();
        let mut contrastive: Option<Tensor> = None;
        let active = out.unimodal.iter().filter(|(_, h)| h.is_some()).count();
        for (modality, h) in out.unimodal.iter() {
            let Some(h) = h else { continue };
            let positives = match cfg.contrastive {
                ContrastiveMode::Off => break,
                ContrastiveMode::VaDriven => {
                    let Some(input) = batch.inputs.get(modality) else {
                        return Err(ModelError::MissingInput(modality).into());
                    };
                    va_contrastive::va_positives(&input.va, cfg.delta)?
                }
                ContrastiveMode::SupervisedLabels => va_contrastive::label_positives(&batch.labels)?,
                ContrastiveMode::SelfOnly => va_contrastive::self_positives(h.dim(0)?, h.device())?,
            };
            let loss = va_contrastive::contrastive_loss(h, &positives, cfg.temperature, cfg.normalize)?;
            *contrastive_per_modality.get_mut(modality) = Some(loss.to_scalar::<f32>()?);
            let weighted = loss.affine(f64::from(*cfg.modality_weights.get(modality)) / active as f64, 0.0)?;
            contrastive = Some(match contrastive {
                Some(sum) => (sum + weighted)?,
                None => weighted,
            });
        }

        let lambda = f64::from(cfg.lambda);
        let prediction = match &eta {
            Some(eta) => (&kl + eta)?,
            None => kl.clone(),
        };
        let mut total = (prediction * (1.0 - lambda))?;
        if let Some(contrastive) = &contrastive {
            total = (total + (contrastive * lambda)?)?;
        }
        Ok(LossParts {
            total,
            kl: kl.to_scalar()?,
            eta: match &eta {
                Some(eta) => eta.to_scalar()?,
                None => 0.0,
            },
            contrastive: match &contrastive {
                Some(c) => c.to_scalar()?,
                None => 0.0,
            },
            contrastive_per_modality,
        })
    }

    /// The current correlation matrix M, C×C.
    pub fn correlation_matrix(&self) -> Result<Vec<Vec<f32>>> {
        self.prior.matrix().to_vec2()
    }

    /// Number of labels C.
    pub fn num_labels(&self) -> Result<usize> {
        self.prior.matrix().dim(0)
    }
}
