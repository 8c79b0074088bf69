//! LayerNorm and softmax that stay differentiable.
//!
//! candle-nn 0.11's `LayerNorm` module and `ops::softmax_last_dim` run fused kernels that record
//! no backward op, so gradients silently stop at them. These wrappers take the fused kernel only
//! when nothing upstream needs a gradient (inference from plain tensors) and the composed,
//! differentiable form otherwise.

use candle_core::{D, Result, Tensor};
use candle_nn::VarBuilder;

use super::kernels;

/// `y = (x − mean) / sqrt(var + eps) · γ + β` over the last dimension.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Parameters `weight` (γ, initialised to 1) and `bias` (β, initialised to 0), as in BERT.
    pub fn new(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let weight = vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?;
        Ok(Self { weight, bias, eps })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if xs.is_contiguous() && !(xs.track_op() || self.weight.track_op() || self.bias.track_op()) {
            return candle_nn::ops::layer_norm(xs, &self.weight, &self.bias, self.eps as f32);
        }
        kernels::layer_norm::layer_norm(xs, &self.weight, &self.bias, self.eps)
    }
}

/// Softmax over the last dimension.
pub fn softmax_last_dim(xs: &Tensor) -> Result<Tensor> {
    if xs.is_contiguous() && !xs.track_op() {
        candle_nn::ops::softmax_last_dim(xs)
    } else {
        candle_nn::ops::softmax(xs, D::Minus1)
    }
}
