//! Late fusion and prediction (Eqs. 6–7): concatenated unimodal representations → FC →
//! log-softmax over the C labels.

use candle_core::{D, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::linear::Linear;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Size of H_multi: d times the number of active modalities.
    pub input_dim: usize,
    pub num_labels: usize,
}

#[derive(Clone, Debug)]
pub struct Fusion {
    classifier: Linear,
}

impl Fusion {
    pub fn new(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        Ok(Self { classifier: Linear::new(vb.pp("classifier"), cfg.input_dim, cfg.num_labels)? })
    }

    /// `unimodal`: the H_m in canonical order, each `[B, d]`. Returns log-probabilities `[B, C]`.
    pub fn forward(&self, unimodal: &[Tensor]) -> Result<Tensor> {
        let multi = Tensor::cat(unimodal, D::Minus1)?;
        candle_nn::ops::log_softmax(&self.classifier.forward(&multi)?, D::Minus1)
    }
}
