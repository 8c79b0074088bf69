//! VA-driven supervised contrastive loss of one modality (Eqs. 3–5), as whole-batch tensor ops.
//!
//! The B representations are duplicated into 2B views. Each of the B first-view anchors is
//! contrasted with the other 2B − 1 rows; its positives are its twin and both views of every
//! sample marked positive for it (VA closer than δ, the same label set, or none — see
//! [`super::config::ContrastiveMode`]). As in the reference code the logits are shifted by their
//! row maximum, and the representations are not L2-normalised unless asked.

use candle_core::{D, DType, Result, Tensor};

use super::kernels::matmul::matmul;

/// `positives[i][j] = 1` iff the VA of samples i and j (`[B, 2]`) lie closer than `delta`.
/// The diagonal is always 1 (distance 0).
pub fn va_positives(va: &Tensor, delta: f32) -> Result<Tensor> {
    let diff = va.unsqueeze(1)?.broadcast_sub(&va.unsqueeze(0)?)?;
    let distance = diff.sqr()?.sum(D::Minus1)?.sqrt()?;
    distance.lt(f64::from(delta))?.to_dtype(DType::F32)
}

/// `positives[i][j] = 1` iff samples i and j have identical multi-hot label vectors (`[B, C]`).
pub fn label_positives(labels: &Tensor) -> Result<Tensor> {
    let diff = labels.unsqueeze(1)?.broadcast_sub(&labels.unsqueeze(0)?)?;
    diff.abs()?.sum(D::Minus1)?.eq(0.0)?.to_dtype(DType::F32)
}

/// Only the sample itself (its twin view) is a positive.
pub fn self_positives(batch: usize, device: &candle_core::Device) -> Result<Tensor> {
    Tensor::eye(batch, DType::F32, device)
}

/// The loss for representations `features` `[B, d]`, a `[B, B]` 0/1 `positives` matrix whose
/// diagonal is 1, and temperature τ; the mean over the B anchors (scalar).
pub fn contrastive_loss(features: &Tensor, positives: &Tensor, temperature: f32, normalize: bool) -> Result<Tensor> {
    let batch = features.dim(0)?;
    let features = if normalize {
        features.broadcast_div(&features.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?)?
    } else {
        features.clone()
    };
    // Both views are the same rows, so the [B, 2B] similarities are [S, S] with S = H·Hᵀ.
    let similarity = (matmul(&features, &features.t()?)? / f64::from(temperature))?;
    let logits = Tensor::cat(&[&similarity, &similarity], 1)?;
    let logits = logits.broadcast_sub(&logits.max_keepdim(D::Minus1)?.detach())?;
    // Every contrast row except the anchor itself (the diagonal of the first block).
    let eye = Tensor::eye(batch, DType::F32, features.device())?;
    let not_self = Tensor::cat(&[&(1.0 - &eye)?, &eye.ones_like()?], 1)?;
    let positives = (Tensor::cat(&[positives, positives], 1)? * &not_self)?;
    let log_denominator = (logits.exp()? * &not_self)?.sum_keepdim(D::Minus1)?.log()?;
    let log_prob = logits.broadcast_sub(&log_denominator)?;
    let mean_log_prob_positive = ((positives.clone() * log_prob)?.sum(D::Minus1)? / positives.sum(D::Minus1)?)?;
    mean_log_prob_positive.mean_all()?.neg()
}
