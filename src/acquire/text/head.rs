//! The trained part of a text VA model: the base's top encoder layers (fine-tuned) and a linear
//! regression head over the pooled tokens, with tanh so valence, arousal and dominance stay in
//! [-1, 1].
//!
//! Checkpoint names mirror the base's (`encoder.layer.{i}.…`, renumbered from 0 for the first
//! trained layer) plus `head.weight` / `head.bias`.

use candle_core::{D, Tensor};
use candle_nn::{Linear, Module as _, VarBuilder};
use candle_transformers::models::bert::Config as BertConfig;

use super::layers::BertLayers;
use crate::model::dropout::Dropout;

/// Outputs of the head, in this order.
pub const OUTPUTS: [&str; 3] = ["valence", "arousal", "dominance"];

#[derive(Clone)]
pub struct VaHead {
    top: BertLayers,
    head: Linear,
}

impl VaHead {
    /// `config` is the base's; `trained_layers` of them are loaded from `vb.pp("encoder")`, with
    /// `dropout` in their training passes.
    pub fn load(
        vb: VarBuilder,
        config: &BertConfig,
        trained_layers: usize,
        dropout: &Dropout,
    ) -> candle_core::Result<Self> {
        let top_config = BertConfig { num_hidden_layers: trained_layers, ..config.clone() };
        let top = BertLayers::load(vb.pp("encoder"), &top_config, dropout)?;
        let head = candle_nn::linear(2 * config.hidden_size, OUTPUTS.len(), vb.pp("head"))?;
        Ok(Self { top, head })
    }

    /// Runs the trained layers over the frozen encoder's output `(batch, tokens, hidden)` with
    /// the token mask `(batch, tokens)`. Returns the token embeddings (the text features) and
    /// the head's `(batch, 3)` outputs in [-1, 1]. `train` switches dropout on.
    pub fn forward(&self, lower: &Tensor, mask: &Tensor, train: bool) -> candle_core::Result<(Tensor, Tensor)> {
        let _span = tracing::trace_span!("text-va-head").entered();
        let tokens = self.top.forward(lower, mask, train)?;
        let out = self.head.forward(&pool(&tokens, mask)?)?.tanh()?;
        Ok((tokens, out))
    }
}

/// Mean of the real tokens beside the first ([CLS]) token: `(batch, 2 * hidden)`.
pub fn pool(tokens: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let weights = mask.unsqueeze(D::Minus1)?;
    let count = mask.sum_keepdim(1)?.clamp(1.0, f64::INFINITY)?;
    let mean = tokens.broadcast_mul(&weights)?.sum(1)?.broadcast_div(&count)?;
    let cls = tokens.narrow(1, 0, 1)?.squeeze(1)?;
    Tensor::cat(&[&mean, &cls], 1)
}
