//! Additive attention pooling (Bahdanau), the AddAtt of Eqs. 1–2: per step
//! `score_t = v · tanh(P·h_t + Q·q)` with a learned query q, a softmax over each utterance's
//! real steps (padded steps get weight 0, as the reference's −1e9 gives them), output
//! `Σ_t α_t h_t`.

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use super::kernels::activation::Activation;
use super::kernels::matmul::linear;
use super::kernels::pooling::{segment_softmax_pool, segment_softmax_pool_weights};
use super::linear::Linear;
use super::packing::Packing;

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

    /// `tokens`: the `[N, d]` real steps of a batch packed by `packing`. Returns `[B, d]` and,
    /// when `keep_weights`, the weight α_t of each of the N packed steps (Eq. 2's softmax).
    pub fn forward(
        &self,
        tokens: &Tensor,
        packing: &Packing,
        keep_weights: bool,
    ) -> Result<(Tensor, Option<Vec<f32>>)> {
        // P·h_t + Q·q: the projected query folds into the step projection's bias.
        let query = self.query_projection.forward(&self.query)?.squeeze(0)?;
        let bias = match self.step_projection.bias() {
            Some(bias) => (bias + query)?,
            None => query,
        };
        let energy = linear(tokens, self.step_projection.weight(), Some(&bias), Some(Activation::Tanh))?;
        let scores = self.score.forward(&energy)?.squeeze(1)?;
        if keep_weights {
            let (pooled, weights) = segment_softmax_pool_weights(&scores, tokens, packing.segments())?;
            Ok((pooled, Some(weights)))
        } else {
            Ok((segment_softmax_pool(&scores, tokens, packing.segments())?, None))
        }
    }
}
