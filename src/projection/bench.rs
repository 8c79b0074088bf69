//! The projection benchmark's workload and measures (`univa bench-projection`): synthetic
//! representations with known structure — every utterance of a split in each of three
//! modalities, a modality centre plus a centre per (modality, gold label) plus noise — timed
//! through [`super::project`], and the quality measures of a map against the exact t-SNE's on
//! a subset.

use std::time::{Duration, Instant};

use super::rng::SplitMix;
use super::{EmbeddingRequest, Method, ProjectionError, Stage, Step, project, quality, sample};

/// Synthetic unimodal representations: `modality[i]` and `label[i]` are row i's classes.
#[derive(Clone, Debug)]
pub struct Synthetic {
    pub data: Vec<f32>,
    pub dim: usize,
    pub modality: Vec<usize>,
    pub label: Vec<usize>,
}

impl Synthetic {
    pub fn len(&self) -> usize {
        self.modality.len()
    }

    pub fn is_empty(&self) -> bool {
        self.modality.is_empty()
    }

    /// Rows `indices` only.
    pub fn subset(&self, indices: &[usize]) -> Self {
        Self {
            data: indices.iter().flat_map(|&i| self.data[i * self.dim..(i + 1) * self.dim].iter().copied()).collect(),
            dim: self.dim,
            modality: indices.iter().map(|&i| self.modality[i]).collect(),
            label: indices.iter().map(|&i| self.label[i]).collect(),
        }
    }
}

/// Per-coordinate standard deviations of the synthetic representations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Of the modality centres.
    pub modality: f64,
    /// Of the (modality, gold label) offsets from them.
    pub label: f64,
    /// Of each representation's noise.
    pub noise: f64,
}

impl Default for Spread {
    /// Modalities far apart; label clusters that overlap in 128-D, so that about two thirds
    /// of a point's 10 nearest input neighbours (on a 2,000-point subset) share its label:
    /// label neighbourhoods are partly mixed, as real representations' are.
    fn default() -> Self {
        Self { modality: 0.5, label: 0.08, noise: 0.25 }
    }
}

fn normal(rng: &mut SplitMix) -> f64 {
    // Box–Muller; 1 − u keeps the logarithm finite.
    let (u, v) = (1.0 - rng.unit(), rng.unit());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// `utterances` × `modalities` rows of `dim` values, each utterance with one gold label of
/// `labels`, rows ordered utterance-major like [`super::embed`]'s.
pub fn synthetic(
    utterances: usize,
    modalities: usize,
    labels: usize,
    dim: usize,
    spread: Spread,
    seed: u64,
) -> Synthetic {
    let mut rng = SplitMix::new(seed);
    let centres: Vec<Vec<f64>> =
        (0..modalities).map(|_| (0..dim).map(|_| spread.modality * normal(&mut rng)).collect()).collect();
    let offsets: Vec<Vec<f64>> =
        (0..modalities * labels).map(|_| (0..dim).map(|_| spread.label * normal(&mut rng)).collect()).collect();
    let mut out = Synthetic {
        data: Vec::with_capacity(utterances * modalities * dim),
        dim,
        modality: Vec::new(),
        label: Vec::new(),
    };
    for _ in 0..utterances {
        let label = rng.below(labels.max(1));
        for m in 0..modalities {
            let offset = &offsets[m * labels + label];
            for d in 0..dim {
                out.data.push((centres[m][d] + offset[d] + spread.noise * normal(&mut rng)) as f32);
            }
            out.modality.push(m);
            out.label.push(label);
        }
    }
    out
}

/// Wall-clock time of one projection, by stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// PCA (and anything before the first progress report).
    pub prepare: Duration,
    pub neighbours: Duration,
    pub layout: Duration,
    pub total: Duration,
}

/// Runs [`project`] and times its stages from its progress reports.
pub fn timed_project(data: &Synthetic, request: &EmbeddingRequest) -> Result<(Vec<[f32; 2]>, Timing), ProjectionError> {
    let start = Instant::now();
    let (mut neighbours_at, mut layout_at) = (None, None);
    let map = project(&data.data, data.dim, request, &mut |step: Step<'_>| {
        match step.stage {
            Stage::Neighbours => {
                neighbours_at.get_or_insert_with(Instant::now);
            }
            Stage::Projecting => {
                layout_at.get_or_insert_with(Instant::now);
            }
            Stage::Encoding => {}
        }
        true
    })?;
    let end = Instant::now();
    let layout_at = layout_at.unwrap_or(end);
    let neighbours_at = neighbours_at.unwrap_or(layout_at);
    Ok((
        map,
        Timing {
            prepare: neighbours_at - start,
            neighbours: layout_at - neighbours_at,
            layout: end - layout_at,
            total: end - start,
        },
    ))
}

/// Quality of one map of a subset: 10-NN agreement of modality and gold label, trustworthiness.
#[derive(Clone, Copy, Debug)]
pub struct Quality {
    pub modality_agreement: f64,
    pub label_agreement: f64,
    pub trustworthiness: f64,
}

/// Neighbours the quality measures look at.
pub const QUALITY_K: usize = 10;

pub fn quality_of(data: &Synthetic, map: &[[f32; 2]]) -> Quality {
    Quality {
        modality_agreement: quality::knn_agreement(map, &data.modality, QUALITY_K),
        label_agreement: quality::knn_agreement(map, &data.label, QUALITY_K),
        trustworthiness: quality::trustworthiness(&data.data, data.dim, map, QUALITY_K),
    }
}

/// The seeded subset of `n` rows the quality is measured on.
pub fn quality_subset(n: usize, size: usize, seed: u64) -> Vec<usize> {
    sample(n, size, seed)
}

/// The same request with another method.
pub fn with_method(request: &EmbeddingRequest, method: Method) -> EmbeddingRequest {
    EmbeddingRequest { method, ..request.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_rows_carry_their_classes_and_are_seeded() {
        let a = synthetic(50, 3, 4, 16, Spread::default(), 2);
        assert_eq!(a.len(), 150);
        assert_eq!(a.data.len(), 150 * 16);
        assert_eq!(&a.modality[..6], &[0, 1, 2, 0, 1, 2]);
        assert!(a.label.chunks(3).all(|c| c[0] == c[1] && c[1] == c[2]));
        assert_eq!(a.data, synthetic(50, 3, 4, 16, Spread::default(), 2).data);
        assert_ne!(a.data, synthetic(50, 3, 4, 16, Spread::default(), 3).data);
    }
}
