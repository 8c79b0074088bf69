//! The main multi-label loss (Eq. 10): KL divergence from the target distribution to the
//! predicted one, as PyTorch's `KLDivLoss(reduction = 'mean')` computes it — the mean over all
//! B×C elements of `t·(ln t − ŷ)` with `0·ln 0 = 0` — times a scale (reference: 1000).

use candle_core::{D, Result, Tensor};

use super::config::KlTarget;

/// `log_probs`: `[B, C]` log-probabilities; `labels`: `[B, C]` multi-hot. Returns a scalar.
pub fn kl_loss(log_probs: &Tensor, labels: &Tensor, target: KlTarget, scale: f32) -> Result<Tensor> {
    let target = match target {
        KlTarget::SoftmaxMultiHot => candle_nn::ops::softmax(labels, D::Minus1)?,
        KlTarget::MultiHot => labels.clone(),
    };
    // t·ln t with t clamped inside the log only: a zero target contributes exactly 0.
    let entropy_term = (&target * target.maximum(f32::MIN_POSITIVE)?.log()?)?;
    let pointwise = (entropy_term - (&target * log_probs)?)?;
    pointwise.mean_all()? * f64::from(scale)
}
