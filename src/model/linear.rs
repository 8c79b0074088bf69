//! A fully connected layer, and the broadcast of a per-feature parameter over many rows, written
//! so that their backward passes stay fast on the CPU.
//!
//! The gradient of a parameter broadcast over leading dimensions (a bias over `[B, L, d]`) is a
//! sum over those dimensions, which candle's CPU backend computes element by element with an
//! index division each. Broadcasting by a rank-1 matrix product `1ₙ·pᵀ` instead turns that sum
//! into a matrix product `1ₙᵀ·g` in the backward pass. The values are the same.

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};

use super::kernels;

/// `param` (`[d]` or `[1, d]`, any shape whose elements form one row) repeated `rows` times:
/// `[rows, numel]`.
pub fn repeat_rows(param: &Tensor, rows: usize) -> Result<Tensor> {
    let row = param.reshape((1, param.elem_count()))?;
    Tensor::ones((rows, 1), param.dtype(), param.device())?.matmul(&row)
}

/// `xs · Wᵀ + b` over the last dimension of `xs`, any rank.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// Parameters `weight` `[out, in]` and `bias` `[out]`, initialised as `candle_nn::linear`
    /// (and PyTorch's `nn.Linear`) do.
    pub fn new(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = vb.get_with_hints((out_dim, in_dim), "weight", candle_nn::init::DEFAULT_KAIMING_NORMAL)?;
        let bound = 1.0 / (in_dim as f64).sqrt();
        let bias = vb.get_with_hints(out_dim, "bias", Init::Uniform { lo: -bound, up: bound })?;
        Ok(Self { weight, bias: Some(bias) })
    }

    pub fn new_no_bias(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = vb.get_with_hints((out_dim, in_dim), "weight", candle_nn::init::DEFAULT_KAIMING_NORMAL)?;
        Ok(Self { weight, bias: None })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let dims = xs.dims();
        let (out_dim, in_dim) = self.weight.dims2()?;
        let rows = xs.elem_count() / in_dim.max(1);
        let ys = kernels::matmul::linear(&xs.reshape((rows, in_dim))?, &self.weight, self.bias.as_ref())?;
        let mut out_shape = dims.to_vec();
        if let Some(last) = out_shape.last_mut() {
            *last = out_dim;
        }
        ys.reshape(out_shape)
    }
}

/// `xs` (`[..., d]`) op a per-feature `param` (`[d]`), with the fast backward of [`repeat_rows`].
pub fn broadcast_rows(xs: &Tensor, param: &Tensor, op: RowOp) -> Result<Tensor> {
    let rows = xs.elem_count() / param.elem_count().max(1);
    let repeated = repeat_rows(param, rows)?.reshape(xs.shape())?;
    match op {
        RowOp::Add => xs + repeated,
        RowOp::Mul => xs * repeated,
    }
}

#[derive(Clone, Copy, Debug)]
pub enum RowOp {
    Add,
    Mul,
}
