//! 2-D maps of a trained run's unimodal representations H_m (paper Fig. 3): which utterances to
//! take, their encoder outputs, and the t-SNE that projects them. No UI here (STYLE.md 1).

pub mod tsne;

use std::collections::HashMap;

use rand::SeedableRng as _;

use crate::dataset::{Dataset, Split};
use crate::modality::Modality;
use crate::train::{SplitData, TrainError, TrainedModel};

pub use tsne::{TsneConfig, TsneError};

/// Utterances encoded per forward pass.
const ENCODE_BATCH: usize = 128;

/// What to project.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingRequest {
    /// Points in the map at most (utterances × modalities); more are subsampled.
    pub max_points: usize,
    /// The t-SNE settings; its seed also draws the subsample.
    pub tsne: TsneConfig,
}

impl Default for EmbeddingRequest {
    fn default() -> Self {
        Self { max_points: 2000, tsne: TsneConfig::default() }
    }
}

/// One utterance's representation of one modality, placed on the map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmbeddedPoint {
    /// Index in the dataset's utterance table.
    pub utterance: usize,
    pub modality: Modality,
    pub position: [f32; 2],
}

/// Where a running projection is, for progress reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Encoding,
    Projecting,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Tsne(#[from] TsneError),
}

impl From<candle_core::Error> for ProjectionError {
    fn from(e: candle_core::Error) -> Self {
        Self::Train(TrainError::Tensor(e))
    }
}

/// Up to `max` distinct indices of `0..n`, drawn by a seeded RNG, in ascending order.
pub fn sample(n: usize, max: usize, seed: u64) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, n, max).into_vec();
    picked.sort_unstable();
    picked
}

/// The modalities the run's model encodes.
pub fn encoded_modalities(trained: &TrainedModel) -> Vec<Modality> {
    Modality::ALL.into_iter().filter(|&m| trained.info.inputs.get(m).is_some()).collect()
}

/// H_m of each utterance of `indices` for every modality the model encodes, as
/// (utterance, modality, vector). `progress(fraction)` returning `false` stops with
/// [`TsneError::Stopped`].
pub fn unimodal_representations(
    trained: &TrainedModel,
    dataset: &Dataset,
    indices: &[usize],
    progress: &mut dyn FnMut(f32) -> bool,
) -> Result<Vec<(usize, Modality, Vec<f32>)>, ProjectionError> {
    let modalities = encoded_modalities(trained);
    let model = trained.inference_model()?;
    let mut out = Vec::with_capacity(indices.len() * modalities.len());
    let mut done = 0usize;
    for split in Split::ALL {
        let wanted: Vec<usize> =
            indices.iter().copied().filter(|&i| dataset.utterances.get(i).is_some_and(|u| u.split == split)).collect();
        if wanted.is_empty() {
            continue;
        }
        let data = SplitData::new(dataset, split, &modalities)?;
        let row_of: HashMap<usize, usize> = data.indices.iter().enumerate().map(|(row, &index)| (index, row)).collect();
        let rows: Vec<(usize, usize)> = wanted.iter().filter_map(|i| row_of.get(i).map(|&row| (*i, row))).collect();
        for chunk in rows.chunks(ENCODE_BATCH) {
            let split_rows: Vec<usize> = chunk.iter().map(|&(_, row)| row).collect();
            let batch = data.batch(&split_rows, &trained.info.va_normalizer, false, &trained.device)?;
            let output = model.forward(&batch, false)?;
            for (modality, h) in output.unimodal.iter() {
                let Some(h) = h else { continue };
                for (&(index, _), vector) in chunk.iter().zip(h.to_vec2::<f32>()?) {
                    out.push((index, modality, vector));
                }
            }
            done += chunk.len();
            if !progress(done as f32 / indices.len().max(1) as f32) {
                return Err(TsneError::Stopped.into());
            }
        }
    }
    Ok(out)
}

/// Samples utterances, encodes them and projects every (utterance, modality) representation
/// into one 2-D t-SNE map, so that modalities can be compared on it.
pub fn embed(
    trained: &TrainedModel,
    dataset: &Dataset,
    request: &EmbeddingRequest,
    progress: &mut dyn FnMut(Stage, f32) -> bool,
) -> Result<Vec<EmbeddedPoint>, ProjectionError> {
    let per_utterance = encoded_modalities(trained).len().max(1);
    let indices = sample(dataset.utterances.len(), request.max_points / per_utterance, request.tsne.seed);
    let representations =
        unimodal_representations(trained, dataset, &indices, &mut |fraction| progress(Stage::Encoding, fraction))?;
    let vectors: Vec<Vec<f32>> = representations.iter().map(|(_, _, v)| v.clone()).collect();
    let positions = tsne::tsne(&vectors, &request.tsne, &mut |done, total| {
        progress(Stage::Projecting, done as f32 / total.max(1) as f32)
    })?;
    Ok(representations
        .iter()
        .zip(positions)
        .map(|(&(utterance, modality, _), position)| EmbeddedPoint { utterance, modality, position })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_seeded_sorted_distinct_and_capped() {
        let a = sample(10_000, 500, 3);
        assert_eq!(a.len(), 500);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|&i| i < 10_000));
        assert_eq!(a, sample(10_000, 500, 3));
        assert_ne!(a, sample(10_000, 500, 4));
        assert_eq!(sample(7, 500, 3), (0..7).collect::<Vec<_>>());
    }
}
