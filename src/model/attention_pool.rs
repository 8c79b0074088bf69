//! Additive attention pooling (Bahdanau), the AddAtt of Eqs. 1–2: per step
//! `score_t = v · tanh(P·h_t + Q·q)` with a learned query q, padded steps set to −1e9 before the
//! softmax over steps, output `Σ_t α_t h_t`.

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use super::activation;
use super::kernels::matmul::matmul;
use super::linear::{Linear, RowOp, broadcast_rows};
use super::norm::softmax_last_dim;
use super::packing::Packing;

/// Score of a padded step: its weight after the softmax is exactly zero.
const MASKED_SCORE: f64 = -1e9;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    pub hidden: usize,
}

#[derive(Clone, Debug)]
pub struct AttentionPool {
    step_projection: Linear,
    query_projection: Linear,
    score: Linear,
    query: Tensor,
}

impl AttentionPool {
    pub fn new(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let d = cfg.hidden;
        Ok(Self {
            step_projection: Linear::new(vb.pp("step_projection"), d, d)?,
            query_projection: Linear::new_no_bias(vb.pp("query_projection"), d, d)?,
            score: Linear::new_no_bias(vb.pp("score"), d, 1)?,
            query: vb.get_with_hints((1, d), "query", Init::Randn { mean: 0.0, stdev: 0.02 })?,
        })
    }

    /// `tokens`: the `[N, d]` real steps of a batch packed by `packing`; `mask`: its `[B, L]`
    /// mask. Returns `[B, d]`. The energies are computed on the real steps only.
    pub fn forward(&self, tokens: &Tensor, packing: &Packing, mask: &Tensor) -> Result<Tensor> {
        let query = self.query_projection.forward(&self.query)?;
        let energy = activation::tanh(&broadcast_rows(&self.step_projection.forward(tokens)?, &query, RowOp::Add)?)?;
        let scores = packing.unpack(&self.score.forward(&energy)?)?.squeeze(2)?;
        // m·s + (1 − m)·(−1e9): replaces (not shifts) the score of padded steps.
        let scores = ((scores * mask)? + mask.affine(-MASKED_SCORE, MASKED_SCORE)?)?;
        let weights = softmax_last_dim(&scores)?;
        matmul(&weights.unsqueeze(1)?, &packing.unpack(tokens)?)?.squeeze(1)
    }
}
