//! BERT-style post-LayerNorm transformer encoder over frame-level features (DESIGN.md §4.8):
//! learned absolute positions, GELU (erf), padded steps masked out of the attention.
//!
//! Everything runs on the packed real steps (`[N, d]`, see [`super::packing`]): attention
//! treats each utterance's steps as one segment, so a padded step is never a key. (The
//! reference adds `(1 − m)·−10000` to padded keys' scores, whose weight after the softmax is
//! exactly 0 in f32: the same result.)

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use super::dropout::{Dropout, MaskSource};
use super::kernels::activation::Activation;
use super::kernels::attention::self_attention;
use super::linear::Linear;
use super::norm::LayerNorm;
use super::packing::Packing;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub dropout: f32,
    pub max_positions: usize,
    pub layer_norm_eps: f64,
}

/// Position embeddings + LayerNorm + dropout, then the stack of layers.
#[derive(Clone, Debug)]
pub struct Transformer {
    position_embeddings: Tensor,
    norm: LayerNorm,
    dropout: Dropout,
    layers: Vec<Layer>,
    span: tracing::Span,
}

impl Transformer {
    pub fn new(vb: VarBuilder, cfg: &Config, masks: &MaskSource) -> Result<Self> {
        if cfg.heads == 0 || !cfg.hidden.is_multiple_of(cfg.heads) {
            candle_core::bail!("model config: hidden size {} is not divisible by {} heads", cfg.hidden, cfg.heads)
        }
        let position_embeddings = vb.get_with_hints(
            (cfg.max_positions, cfg.hidden),
            "position_embeddings",
            Init::Randn { mean: 0.0, stdev: 0.02 },
        )?;
        let norm = LayerNorm::new(vb.pp("norm"), cfg.hidden, cfg.layer_norm_eps)?;
        let layers =
            (0..cfg.layers).map(|i| Layer::new(vb.pp(format!("layer.{i}")), cfg, masks)).collect::<Result<_>>()?;
        Ok(Self {
            position_embeddings,
            norm,
            dropout: Dropout::new(cfg.dropout, masks),
            layers,
            span: tracing::span!(tracing::Level::TRACE, "transformer"),
        })
    }

    /// `tokens`: the `[N, d]` real steps of a batch packed by `packing`. Returns the `[N, d]`
    /// encoded steps.
    pub fn forward(&self, tokens: &Tensor, packing: &Packing, train: bool) -> Result<Tensor> {
        let _enter = self.span.enter();
        let len = packing.steps();
        let max_positions = self.position_embeddings.dim(0)?;
        if len > max_positions {
            candle_core::bail!("input of {len} steps exceeds the {max_positions} learned positions of the model")
        }
        let positions = self.position_embeddings.index_select(packing.positions(), 0)?;
        let xs = self.dropout.forward(&self.norm.forward(&(tokens + positions)?)?, train)?;
        self.layers.iter().try_fold(xs, |xs, layer| layer.forward(&xs, packing, train))
    }
}

/// Self-attention block followed by the feed-forward block, each `LayerNorm(x + f(x))`.
#[derive(Clone, Debug)]
struct Layer {
    attention: SelfAttention,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    dropout: Dropout,
}

impl Layer {
    fn new(vb: VarBuilder, cfg: &Config, masks: &MaskSource) -> Result<Self> {
        Ok(Self {
            attention: SelfAttention::new(vb.pp("attention"), cfg, masks)?,
            attention_norm: LayerNorm::new(vb.pp("attention_norm"), cfg.hidden, cfg.layer_norm_eps)?,
            intermediate: Linear::new(vb.pp("intermediate"), cfg.hidden, cfg.intermediate)?,
            output: Linear::new(vb.pp("output"), cfg.intermediate, cfg.hidden)?,
            output_norm: LayerNorm::new(vb.pp("output_norm"), cfg.hidden, cfg.layer_norm_eps)?,
            dropout: Dropout::new(cfg.dropout, masks),
        })
    }

    fn forward(&self, xs: &Tensor, packing: &Packing, train: bool) -> Result<Tensor> {
        let attended = self.dropout.forward(&self.attention.forward(xs, packing, train)?, train)?;
        let xs = self.attention_norm.forward(&(xs + attended)?)?;
        let hidden = self.intermediate.forward_activated(&xs, Some(Activation::GeluErf))?;
        let hidden = self.dropout.forward(&self.output.forward(&hidden)?, train)?;
        self.output_norm.forward(&(xs + hidden)?)
    }
}

/// Multi-head scaled dot-product self-attention with an output projection.
#[derive(Clone, Debug)]
struct SelfAttention {
    /// Query, key and value projections in one `[3d, d]` matrix: one product instead of three.
    qkv: Linear,
    output: Linear,
    heads: usize,
    dropout: Dropout,
}

impl SelfAttention {
    fn new(vb: VarBuilder, cfg: &Config, masks: &MaskSource) -> Result<Self> {
        let d = cfg.hidden;
        Ok(Self {
            qkv: Linear::new(vb.pp("qkv"), d, 3 * d)?,
            output: Linear::new(vb.pp("output"), d, d)?,
            heads: cfg.heads,
            dropout: Dropout::new(cfg.dropout, masks),
        })
    }

    /// `xs`: `[N, d]` packed steps → `[N, d]`; each utterance attends to its own steps.
    fn forward(&self, xs: &Tensor, packing: &Packing, train: bool) -> Result<Tensor> {
        let context = self_attention(&self.qkv.forward(xs)?, self.heads, packing.segments(), &self.dropout, train)?;
        self.output.forward(&context)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    use super::*;

    fn config() -> Config {
        Config {
            hidden: 4,
            heads: 2,
            intermediate: 8,
            layers: 2,
            dropout: 0.0,
            max_positions: 8,
            layer_norm_eps: 1e-12,
        }
    }

    /// Runs the transformer on `[B, L, 4]` features under `mask`, returning the `[N, 4]` real steps.
    fn run(transformer: &Transformer, xs: &Tensor, mask: &Tensor) -> Tensor {
        let packing = Packing::from_mask(mask).unwrap();
        transformer.forward(&packing.pack(xs).unwrap(), &packing, false).unwrap()
    }

    #[test]
    fn padding_does_not_change_real_steps() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let transformer = Transformer::new(vb, &config(), &MaskSource::seeded(0)).unwrap();
        let short = Tensor::randn(0f32, 1.0, (1, 3, 4), &Device::Cpu).unwrap();
        let long = Tensor::randn(0f32, 1.0, (1, 5, 4), &Device::Cpu).unwrap();
        let alone = run(&transformer, &short, &Tensor::ones((1, 3), DType::F32, &Device::Cpu).unwrap());

        // The short utterance padded with garbage to the long one's length, in one batch.
        let garbage = Tensor::randn(0f32, 5.0, (1, 2, 4), &Device::Cpu).unwrap();
        let padded = Tensor::cat(&[&short, &garbage], 1).unwrap();
        let xs = Tensor::cat(&[&padded, &long], 0).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0, 1.0, 0.0, 0.0], [1.0; 5]], &Device::Cpu).unwrap();
        // The short utterance's steps are the first three packed rows.
        let batched = run(&transformer, &xs, &mask).narrow(0, 0, 3).unwrap();
        let diff = (batched - alone).unwrap().abs().unwrap().max_all().unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "padding changed the real steps by {diff}");
    }

    #[test]
    fn heads_must_divide_hidden() {
        let vb = VarBuilder::zeros(DType::F32, &Device::Cpu);
        let err = Transformer::new(vb, &Config { heads: 3, ..config() }, &MaskSource::seeded(0)).unwrap_err();
        assert!(err.to_string().contains("not divisible by 3 heads"), "{err}");
    }
}
