//! The VA-driven emotion-correlation prior (Eqs. 8–9): a C×C matrix M initialised from the
//! cosine similarity of the labels' VA anchors and, as in the reference code, trained with the
//! model; η pulls the predictions of VA-similar labels together and pushes dissimilar ones apart.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::config::EtaVariant;

const NAME: &str = "matrix";

#[derive(Clone, Debug)]
pub struct CorrelationPrior {
    matrix: Tensor,
    /// The identity and its complement, cached for η's diagonal (zero by construction).
    eye: Tensor,
    off_diagonal: Tensor,
}

impl CorrelationPrior {
    /// `prior`: the C×C initial M (`crate::va::prior_matrix`). With `trainable`, M is a variable
    /// of `vb`; a `vb` that already holds M (a loaded checkpoint) keeps its stored value.
    pub fn new(vb: VarBuilder, prior: &[Vec<f32>], trainable: bool) -> Result<Self> {
        let c = prior.len();
        if c == 0 || prior.iter().any(|row| row.len() != c) {
            candle_core::bail!(
                "the correlation prior must be a non-empty square matrix, got {c} rows of lengths {:?}",
                prior.iter().map(Vec::len).collect::<Vec<_>>()
            )
        }
        let initial = Tensor::from_iter(prior.iter().flatten().copied(), vb.device())?.reshape((c, c))?;
        let matrix = if !trainable {
            initial
        } else if vb.contains_tensor(NAME) {
            vb.get((c, c), NAME)?
        } else {
            // A VarBuilder can only initialise with a distribution, so create the variable and
            // write the prior into its storage.
            let matrix = vb.get_with_hints((c, c), NAME, candle_nn::Init::Const(0.0))?;
            matrix.slice_set(&initial.to_dtype(matrix.dtype())?, 0, 0)?;
            matrix
        };
        let eye = Tensor::eye(c, matrix.dtype(), matrix.device())?;
        let off_diagonal = (1.0 - &eye)?;
        Ok(Self { matrix, eye, off_diagonal })
    }

    /// The current M.
    pub fn matrix(&self) -> &Tensor {
        &self.matrix
    }

    /// η for a batch of log-probabilities `[B, C]` (scalar).
    pub fn eta(&self, log_probs: &Tensor, variant: EtaVariant) -> Result<Tensor> {
        let batch = log_probs.dim(0)? as f64;
        let scores = match variant {
            EtaVariant::ReferenceCode => log_probs.clone(),
            EtaVariant::PaperEq9 => log_probs.exp()?,
        };
        // [B, C, C]: ŷ_ij − ŷ_il, squared and summed over the batch.
        let diff = scores.unsqueeze(2)?.broadcast_sub(&scores.unsqueeze(1)?)?;
        let squared = diff.sqr()?.sum(0)?;
        let pair_terms = match variant {
            // ‖·‖₂ over the batch. The diagonal is 0, where sqrt has no gradient: take sqrt(0 + 1)
            // there and zero it afterwards.
            EtaVariant::ReferenceCode => ((squared + &self.eye)?.sqrt()? * &self.off_diagonal)?,
            EtaVariant::PaperEq9 => squared,
        };
        (pair_terms * &self.matrix)?.sum_all()? / batch
    }
}
