//! The valence-arousal space: label anchors, the VA emotion-correlation prior (Eq. 8), the
//! empirical label co-occurrence, and per-modality VA normalisation for contrastive pairing.

/// Inter-rater agreement on ratings (no egui).
pub mod agreement;

use serde::{Deserialize, Serialize};

use crate::dataset::{LabelSpec, Utterance, Va};
use crate::modality::{Modality, PerModality};

/// A label's NRC-VAD anchor min-max scaled from [0, 1] to [-1, 1] (DESIGN.md §4.1).
pub fn label_anchor(label: &LabelSpec) -> Va {
    Va::new(2.0 * label.valence - 1.0, 2.0 * label.arousal - 1.0)
}

/// The VA emotion-correlation prior M of Eq. 8: `M[j][l]` is the cosine similarity of the
/// labels' anchors on [-1, 1]². A zero anchor (exact centre) has similarity 0 with others.
pub fn prior_matrix(labels: &[LabelSpec]) -> Vec<Vec<f32>> {
    let anchors: Vec<Va> = labels.iter().map(label_anchor).collect();
    anchors
        .iter()
        .map(|a| {
            anchors
                .iter()
                .map(|b| {
                    let norms = (a.valence.hypot(a.arousal)) * (b.valence.hypot(b.arousal));
                    if norms == 0.0 { 0.0 } else { (a.valence * b.valence + a.arousal * b.arousal) / norms }
                })
                .collect()
        })
        .collect()
}

/// Empirical label co-occurrence: `C[j][l]` = P(label l | label j) over the utterances, so the
/// diagonal is 1 for every label that occurs. Shown beside the prior M in the GUI.
pub fn cooccurrence(utterances: &[&Utterance], num_labels: usize) -> Vec<Vec<f32>> {
    let mut counts = vec![vec![0usize; num_labels]; num_labels];
    for u in utterances {
        for &j in &u.labels {
            for &l in &u.labels {
                if let Some(c) = counts.get_mut(j).and_then(|row| row.get_mut(l)) {
                    *c += 1;
                }
            }
        }
    }
    counts
        .iter()
        .enumerate()
        .map(|(j, row)| {
            let occurrences = row[j];
            row.iter().map(|&c| if occurrences == 0 { 0.0 } else { c as f32 / occurrences as f32 }).collect()
        })
        .collect()
}

/// Mean and standard deviation of valence and arousal, for one modality.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaStats {
    pub mean: [f32; 2],
    pub std: [f32; 2],
}

impl Default for VaStats {
    fn default() -> Self {
        Self { mean: [0.0; 2], std: [1.0; 2] }
    }
}

impl VaStats {
    /// Statistics of the given points; a constant dimension gets std 1 so it maps to 0.
    pub fn of(points: impl Iterator<Item = Va>) -> Self {
        let (mut n, mut sum, mut sum_sq) = (0usize, [0.0f64; 2], [0.0f64; 2]);
        for p in points {
            n += 1;
            for (d, x) in [p.valence, p.arousal].into_iter().enumerate() {
                sum[d] += f64::from(x);
                sum_sq[d] += f64::from(x) * f64::from(x);
            }
        }
        if n == 0 {
            return Self::default();
        }
        let mut stats = Self::default();
        for d in 0..2 {
            let mean = sum[d] / n as f64;
            let var = (sum_sq[d] / n as f64 - mean * mean).max(0.0);
            stats.mean[d] = mean as f32;
            stats.std[d] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
        }
        stats
    }

    pub fn normalize(&self, va: Va) -> [f32; 2] {
        [(va.valence - self.mean[0]) / self.std[0], (va.arousal - self.mean[1]) / self.std[1]]
    }
}

/// Per-modality z-normalisation of VA over the training set, each dimension on its own
/// (the reference code's use of valence statistics for both columns is not copied).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VaNormalizer {
    pub stats: PerModality<VaStats>,
}

impl VaNormalizer {
    pub fn fit(train: &[&Utterance]) -> Self {
        Self { stats: PerModality::from_fn(|m: Modality| VaStats::of(train.iter().filter_map(|u| *u.va.get(m)))) }
    }

    pub fn normalize(&self, modality: Modality, va: Va) -> [f32; 2] {
        self.stats.get(modality).normalize(va)
    }
}
