//! A fully connected layer over the last dimension, on [`super::kernels::matmul::linear`]: one
//! product with the bias and an optional activation fused in.

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};

use super::kernels;
use super::kernels::activation::Activation;

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

    /// The maps of `layers` (same input size, all with or all without bias) as one: their
    /// weights and biases stacked, so their outputs come side by side from one product. The
    /// stack is a copy: it does not follow later in-place updates of the maps' variables.
    pub fn stack(layers: &[Linear]) -> Result<Self> {
        let weights: Vec<&Tensor> = layers.iter().map(|l| &l.weight).collect();
        let biases: Option<Vec<&Tensor>> = layers.iter().map(|l| l.bias.as_ref()).collect();
        let bias = match biases {
            Some(biases) => Some(Tensor::cat(&biases, 0)?),
            None if layers.iter().all(|l| l.bias.is_none()) => None,
            None => candle_core::bail!("linear: cannot stack maps with and without bias"),
        };
        Ok(Self { weight: Tensor::cat(&weights, 0)?, bias })
    }

    pub fn new_no_bias(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = vb.get_with_hints((out_dim, in_dim), "weight", candle_nn::init::DEFAULT_KAIMING_NORMAL)?;
        Ok(Self { weight, bias: None })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_activated(xs, None)
    }

    /// `f(xs · Wᵀ + b)`, the activation fused into the product.
    pub fn forward_activated(&self, xs: &Tensor, activation: Option<Activation>) -> Result<Tensor> {
        let dims = xs.dims();
        let (out_dim, in_dim) = self.weight.dims2()?;
        let rows = xs.elem_count() / in_dim.max(1);
        let ys = kernels::matmul::linear(&xs.reshape((rows, in_dim))?, &self.weight, self.bias.as_ref(), activation)?;
        let mut out_shape = dims.to_vec();
        if let Some(last) = out_shape.last_mut() {
            *last = out_dim;
        }
        ys.reshape(out_shape)
    }

    /// `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}
