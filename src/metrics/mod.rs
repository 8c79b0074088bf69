//! Multi-label metrics, named and defined as in DESIGN.md §4.6, and threshold sweeps.
//!
//! Conventions (those of the published numbers):
//! - `acc` is the sample-wise Jaccard index |y ∧ ŷ| / |y ∨ ŷ|; a sample whose gold and
//!   predicted sets are both empty scores **0** (the reference code's choice).
//! - `subset_acc` is exact-match accuracy (what HHMPN calls Acc).
//! - F1 follows scikit-learn: micro-F1 pools TP/FP/FN over labels, macro-F1 averages per-label
//!   F1; any 0/0 is 0.

pub mod label_file;

use serde::{Deserialize, Serialize};

/// Metrics of one label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of samples whose gold set holds the label.
    pub support: usize,
}

/// All metrics of a set of predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub acc: f64,
    pub subset_acc: f64,
    pub hamming_loss: f64,
    pub micro_f1: f64,
    pub macro_f1: f64,
    pub per_label: Vec<LabelMetrics>,
}

/// Why metrics could not be computed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    #[error("gold has {gold} samples but predictions have {pred}")]
    SampleCount { gold: usize, pred: usize },
    #[error("sample {sample} has {found} labels; expected {expected}")]
    LabelCount { sample: usize, found: usize, expected: usize },
    #[error("no samples")]
    Empty,
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

fn f1(tp: usize, fp: usize, fn_: usize) -> f64 {
    ratio(2 * tp, 2 * tp + fp + fn_)
}

/// Computes every metric of `pred` against `gold` (one multi-hot row per sample).
pub fn compute(gold: &[Vec<bool>], pred: &[Vec<bool>], label_names: &[String]) -> Result<Metrics, MetricsError> {
    if gold.len() != pred.len() {
        return Err(MetricsError::SampleCount { gold: gold.len(), pred: pred.len() });
    }
    if gold.is_empty() {
        return Err(MetricsError::Empty);
    }
    let num_labels = label_names.len();
    for (sample, (g, p)) in gold.iter().zip(pred).enumerate() {
        for row in [g, p] {
            if row.len() != num_labels {
                return Err(MetricsError::LabelCount { sample, found: row.len(), expected: num_labels });
            }
        }
    }

    let mut jaccard_sum = 0.0;
    let mut exact = 0;
    let mut wrong_bits = 0;
    let mut tp = vec![0usize; num_labels];
    let mut fp = vec![0usize; num_labels];
    let mut fn_ = vec![0usize; num_labels];
    for (g, p) in gold.iter().zip(pred) {
        let mut intersection = 0;
        let mut union = 0;
        for j in 0..num_labels {
            match (g[j], p[j]) {
                (true, true) => tp[j] += 1,
                (false, true) => fp[j] += 1,
                (true, false) => fn_[j] += 1,
                (false, false) => {}
            }
            intersection += usize::from(g[j] && p[j]);
            union += usize::from(g[j] || p[j]);
            wrong_bits += usize::from(g[j] != p[j]);
        }
        jaccard_sum += ratio(intersection, union);
        exact += usize::from(g == p);
    }

    let per_label: Vec<LabelMetrics> = (0..num_labels)
        .map(|j| LabelMetrics {
            label: label_names[j].clone(),
            precision: ratio(tp[j], tp[j] + fp[j]),
            recall: ratio(tp[j], tp[j] + fn_[j]),
            f1: f1(tp[j], fp[j], fn_[j]),
            support: tp[j] + fn_[j],
        })
        .collect();
    let n = gold.len();
    Ok(Metrics {
        acc: jaccard_sum / n as f64,
        subset_acc: ratio(exact, n),
        hamming_loss: ratio(wrong_bits, n * num_labels),
        micro_f1: f1(tp.iter().sum(), fp.iter().sum(), fn_.iter().sum()),
        macro_f1: if num_labels == 0 { 0.0 } else { per_label.iter().map(|l| l.f1).sum::<f64>() / num_labels as f64 },
        per_label,
    })
}

/// Label `j` is predicted iff its probability exceeds `threshold` (ζ, DESIGN.md §4.4).
/// How one utterance's predicted label set relates to its gold set: the one vocabulary of the
/// browser's filter, the prediction panel, the case card and its exports (README "Outcomes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The predicted set is the gold set.
    Exact,
    /// Not exact, but at least one gold label is predicted.
    Partial,
    /// No gold label is predicted (an utterance without gold labels that gets some predicted is
    /// a miss too).
    Miss,
}

impl Outcome {
    pub const ALL: [Self; 3] = [Self::Exact, Self::Partial, Self::Miss];

    /// The outcome of `predicted` labels against `gold` ones (indices or names, each without
    /// repeats).
    pub fn of<T: PartialEq>(gold: &[T], predicted: &[T]) -> Self {
        let hits = predicted.iter().filter(|j| gold.contains(j)).count();
        if hits == gold.len() && predicted.len() == gold.len() {
            Self::Exact
        } else if hits > 0 {
            Self::Partial
        } else {
            Self::Miss
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Partial => "partial",
            Self::Miss => "miss",
        }
    }

    /// The name with its mark, as the panels show it.
    pub fn marked(self) -> &'static str {
        match self {
            Self::Exact => "✓ exact",
            Self::Partial => "◐ partial",
            Self::Miss => "× miss",
        }
    }
}

pub fn predict(probabilities: &[Vec<f32>], threshold: f32) -> Vec<Vec<bool>> {
    probabilities.iter().map(|row| row.iter().map(|&p| p > threshold).collect()).collect()
}

/// Metrics at each threshold, for the sweep plot and for choosing ζ on validation data.
pub fn sweep(
    gold: &[Vec<bool>],
    probabilities: &[Vec<f32>],
    thresholds: &[f32],
    label_names: &[String],
) -> Result<Vec<(f32, Metrics)>, MetricsError> {
    thresholds.iter().map(|&t| Ok((t, compute(gold, &predict(probabilities, t), label_names)?))).collect()
}

/// `steps + 1` evenly spaced thresholds over [lo, hi].
pub fn threshold_grid(lo: f32, hi: f32, steps: usize) -> Vec<f32> {
    (0..=steps).map(|i| lo + (hi - lo) * i as f32 / steps.max(1) as f32).collect()
}
