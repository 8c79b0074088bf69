//! One modality's encoder (Eqs. 1–2): Linear from the feature size to d, a transformer stack
//! over the steps (none for the paper's text path, Eq. 1), additive attention pooling to H_m.
//! Only the real steps are projected and encoded (see [`super::packing`]).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::attention_pool::{self, AttentionPool};
use super::dropout::MaskSource;
use super::linear::Linear;
use super::packing::Packing;
use super::transformer::{self, Transformer};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Feature size D of the frame-level input.
    pub input_dim: usize,
    /// The transformer stack; `layers == 0` leaves FC + pooling only.
    pub transformer: transformer::Config,
}

#[derive(Clone, Debug)]
pub struct Encoder {
    projection: Linear,
    transformer: Option<Transformer>,
    pool: AttentionPool,
    span: tracing::Span,
}

impl Encoder {
    /// `masks`: the model's dropout generator.
    pub fn new(vb: VarBuilder, cfg: &Config, masks: &MaskSource) -> Result<Self> {
        let hidden = cfg.transformer.hidden;
        let transformer = if cfg.transformer.layers == 0 {
            None
        } else {
            Some(Transformer::new(vb.pp("transformer"), &cfg.transformer, masks)?)
        };
        Ok(Self {
            projection: Linear::new(vb.pp("projection"), cfg.input_dim, hidden)?,
            transformer,
            pool: AttentionPool::new(vb.pp("pool"), &attention_pool::Config { hidden })?,
            span: tracing::span!(tracing::Level::TRACE, "encoder"),
        })
    }

    /// `features`: `[B, L, D]`, `mask`: `[B, L]` with 1 for real steps. Returns H_m, `[B, d]`,
    /// and with `attention` the pooling weights α per utterance and step (`[B][L]`, 0 on padding).
    pub fn forward(
        &self,
        features: &Tensor,
        mask: &Tensor,
        train: bool,
        attention: bool,
    ) -> Result<(Tensor, Option<Vec<Vec<f32>>>)> {
        let _enter = self.span.enter();
        let packing = Packing::from_mask(mask)?;
        let tokens = self.projection.forward(&packing.pack(features)?)?;
        let tokens = match &self.transformer {
            Some(transformer) => transformer.forward(&tokens, &packing, train)?,
            None => tokens,
        };
        let (pooled, weights) = self.pool.forward(&tokens, &packing, attention)?;
        Ok((pooled, weights.map(|w| packing.unpack_steps(&w)).transpose()?))
    }
}
