//! BERT-style post-LayerNorm transformer encoder over frame-level features (DESIGN.md §4.8):
//! learned absolute positions, GELU (erf), padded steps masked by adding `(1 − m)·−10000` to
//! the attention scores.

use candle_core::{Result, Tensor};
use candle_nn::{Dropout, Init, Linear, Module, VarBuilder};
use serde::{Deserialize, Serialize};

use super::norm::{LayerNorm, softmax_last_dim};

/// Added to the attention score of every padded key, as BERT's extended attention mask does.
const MASKED_SCORE: f64 = -10_000.0;

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
    pub fn new(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        if cfg.heads == 0 || !cfg.hidden.is_multiple_of(cfg.heads) {
            candle_core::bail!("model config: hidden size {} is not divisible by {} heads", cfg.hidden, cfg.heads)
        }
        let position_embeddings = vb.get_with_hints(
            (cfg.max_positions, cfg.hidden),
            "position_embeddings",
            Init::Randn { mean: 0.0, stdev: 0.02 },
        )?;
        let norm = LayerNorm::new(vb.pp("norm"), cfg.hidden, cfg.layer_norm_eps)?;
        let layers = (0..cfg.layers).map(|i| Layer::new(vb.pp(format!("layer.{i}")), cfg)).collect::<Result<_>>()?;
        Ok(Self {
            position_embeddings,
            norm,
            dropout: Dropout::new(cfg.dropout),
            layers,
            span: tracing::span!(tracing::Level::TRACE, "transformer"),
        })
    }

    /// `xs`: `[B, L, d]`, `mask`: `[B, L]` with 1 for real steps. Returns `[B, L, d]`.
    pub fn forward(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let _enter = self.span.enter();
        let len = xs.dim(1)?;
        let max_positions = self.position_embeddings.dim(0)?;
        if len > max_positions {
            candle_core::bail!("input of {len} steps exceeds the {max_positions} learned positions of the model")
        }
        let positions = self.position_embeddings.narrow(0, 0, len)?;
        let xs = self.dropout.forward(&self.norm.forward(&xs.broadcast_add(&positions)?)?, train)?;
        // [B, 1, 1, L]: one additive bias per key, shared by heads and queries.
        let bias = mask.affine(-MASKED_SCORE, MASKED_SCORE)?.unsqueeze(1)?.unsqueeze(1)?;
        self.layers.iter().try_fold(xs, |xs, layer| layer.forward(&xs, &bias, train))
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
    fn new(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        Ok(Self {
            attention: SelfAttention::new(vb.pp("attention"), cfg)?,
            attention_norm: LayerNorm::new(vb.pp("attention_norm"), cfg.hidden, cfg.layer_norm_eps)?,
            intermediate: candle_nn::linear(cfg.hidden, cfg.intermediate, vb.pp("intermediate"))?,
            output: candle_nn::linear(cfg.intermediate, cfg.hidden, vb.pp("output"))?,
            output_norm: LayerNorm::new(vb.pp("output_norm"), cfg.hidden, cfg.layer_norm_eps)?,
            dropout: Dropout::new(cfg.dropout),
        })
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor, train: bool) -> Result<Tensor> {
        let attended = self.dropout.forward(&self.attention.forward(xs, bias, train)?, train)?;
        let xs = self.attention_norm.forward(&(xs + attended)?)?;
        let hidden = self.intermediate.forward(&xs)?.gelu_erf()?;
        let hidden = self.dropout.forward(&self.output.forward(&hidden)?, train)?;
        self.output_norm.forward(&(xs + hidden)?)
    }
}

/// Multi-head scaled dot-product self-attention with an output projection.
#[derive(Clone, Debug)]
struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    heads: usize,
    head_dim: usize,
    dropout: Dropout,
}

impl SelfAttention {
    fn new(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let d = cfg.hidden;
        Ok(Self {
            query: candle_nn::linear(d, d, vb.pp("query"))?,
            key: candle_nn::linear(d, d, vb.pp("key"))?,
            value: candle_nn::linear(d, d, vb.pp("value"))?,
            output: candle_nn::linear(d, d, vb.pp("output"))?,
            heads: cfg.heads,
            head_dim: d / cfg.heads,
            dropout: Dropout::new(cfg.dropout),
        })
    }

    /// `[B, L, d]` → `[B, H, L, d/H]`.
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, l, _) = xs.dims3()?;
        xs.reshape((b, l, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous()
    }

    fn forward(&self, xs: &Tensor, bias: &Tensor, train: bool) -> Result<Tensor> {
        let (b, l, d) = xs.dims3()?;
        let q = (self.split_heads(&self.query.forward(xs)?)? / (self.head_dim as f64).sqrt())?;
        let k = self.split_heads(&self.key.forward(xs)?)?;
        let v = self.split_heads(&self.value.forward(xs)?)?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(bias)?;
        let probs = self.dropout.forward(&softmax_last_dim(&scores)?, train)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
        self.output.forward(&context)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    use super::*;

    fn config() -> Config {
        Config { hidden: 4, heads: 2, intermediate: 8, layers: 2, dropout: 0.0, max_positions: 8, layer_norm_eps: 1e-12 }
    }

    #[test]
    fn padded_keys_do_not_change_real_steps() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let transformer = Transformer::new(vb, &config()).unwrap();
        let real = Tensor::randn(0f32, 1.0, (1, 3, 4), &Device::Cpu).unwrap();
        let pad_a = Tensor::zeros((1, 2, 4), DType::F32, &Device::Cpu).unwrap();
        let pad_b = Tensor::randn(0f32, 5.0, (1, 2, 4), &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0, 1.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let run = |pad: &Tensor| {
            let xs = Tensor::cat(&[&real, pad], 1).unwrap();
            transformer.forward(&xs, &mask, false).unwrap().narrow(1, 0, 3).unwrap()
        };
        let diff = (run(&pad_a) - run(&pad_b)).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "padded steps leaked into real steps: {diff}");
    }

    #[test]
    fn heads_must_divide_hidden() {
        let vb = VarBuilder::zeros(DType::F32, &Device::Cpu);
        let err = Transformer::new(vb, &Config { heads: 3, ..config() }).unwrap_err();
        assert!(err.to_string().contains("not divisible by 3 heads"), "{err}");
    }
}
