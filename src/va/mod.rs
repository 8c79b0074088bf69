//! The valence-arousal space: label anchors, the VA emotion-correlation prior (Eq. 8) and the
//! rule that scales label VA for it, the empirical label co-occurrence, and per-modality VA
//! normalisation for contrastive pairing.

/// Inter-rater agreement on ratings (no egui).
pub mod agreement;

use serde::{Deserialize, Serialize};

use crate::dataset::{LabelSpec, Utterance, Va};
use crate::modality::{Modality, PerModality};

/// The VA plane's quadrants, counter-clockwise from (+V, +A): each one's name and the sign of
/// its outer corner.
pub const QUADRANTS: [(&str, f64, f64); 4] = [
    ("excited (V+ A+)", 1.0, 1.0),
    ("distressed (V− A+)", -1.0, 1.0),
    ("depressed (V− A−)", -1.0, -1.0),
    ("relaxed (V+ A−)", 1.0, -1.0),
];

/// The quadrant of a VA point, as an index into [`QUADRANTS`] (points on an axis count as
/// positive).
pub fn quadrant(valence: f32, arousal: f32) -> usize {
    match (valence >= 0.0, arousal >= 0.0) {
        (true, true) => 0,
        (false, true) => 1,
        (false, false) => 2,
        (true, false) => 3,
    }
}

/// The name of a quadrant of [`QUADRANTS`] ("" past the fourth).
pub fn quadrant_name(quadrant: usize) -> &'static str {
    QUADRANTS.get(quadrant).map_or("", |q| q.0)
}

/// A label's NRC-VAD anchor mapped from [0, 1] to [-1, 1] by `2x − 1`, the scale of the
/// modality VA points. The VA plane draws anchors on it; the prior M uses [`PriorRule`].
pub fn label_anchor(label: &LabelSpec) -> Va {
    Va::new(2.0 * label.valence - 1.0, 2.0 * label.arousal - 1.0)
}

/// How label VA is scaled before the cosines of the prior M (Eq. 8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PriorRule {
    /// The authors' code (`generate_label_similar_matrix.py`): each dimension min-max scaled to
    /// [-1, 1] over the dataset's label set, `(x − min) / (max − min) · 2 − 1`.
    #[default]
    LabelSetMinMax,
    /// NRC-VAD's fixed [0, 1] mapped by `2x − 1` (what this app used before; kept for runs
    /// trained with it).
    Centred,
}

/// Why the prior M cannot be built for a label set.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PriorError {
    #[error("the label set is empty, so there is no correlation prior")]
    NoLabels,
    #[error(
        "every label has {dimension} {value}, so min-max scaling over the label set is undefined; \
         give the labels distinct {dimension} or set `prior_rule = \"centred\"` under [model]"
    )]
    ZeroRange { dimension: &'static str, value: f32 },
}

/// The labels' VA as the prior M sees it, on [-1, 1]² under `rule`.
pub fn prior_points(labels: &[LabelSpec], rule: PriorRule) -> Result<Vec<Va>, PriorError> {
    if labels.is_empty() {
        return Err(PriorError::NoLabels);
    }
    match rule {
        PriorRule::Centred => Ok(labels.iter().map(label_anchor).collect()),
        PriorRule::LabelSetMinMax => {
            let valence = min_max_scaler(labels.iter().map(|l| l.valence), "valence")?;
            let arousal = min_max_scaler(labels.iter().map(|l| l.arousal), "arousal")?;
            Ok(labels.iter().map(|l| Va::new(valence(l.valence), arousal(l.arousal))).collect())
        }
    }
}

/// `x ↦ (x − min) / (max − min) · 2 − 1` over the given values (computed in f64).
fn min_max_scaler(
    values: impl Iterator<Item = f32>,
    dimension: &'static str,
) -> Result<impl Fn(f32) -> f32, PriorError> {
    let (min, max) =
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(f64::from(x)), hi.max(f64::from(x))));
    let range = max - min;
    if range <= 0.0 {
        return Err(PriorError::ZeroRange { dimension, value: min as f32 });
    }
    Ok(move |x: f32| ((f64::from(x) - min) / range * 2.0 - 1.0) as f32)
}

/// The VA emotion-correlation prior M of Eq. 8: `M[j][l]` is the cosine similarity of labels j
/// and l's VA scaled by `rule`. A point at the exact centre has similarity 0 with every label
/// (scikit-learn's convention for zero vectors).
pub fn prior_matrix(labels: &[LabelSpec], rule: PriorRule) -> Result<Vec<Vec<f32>>, PriorError> {
    let points = prior_points(labels, rule)?;
    Ok(points.iter().map(|&a| points.iter().map(|&b| cosine(a, b)).collect()).collect())
}

fn cosine(a: Va, b: Va) -> f32 {
    let (av, aa, bv, ba) = (f64::from(a.valence), f64::from(a.arousal), f64::from(b.valence), f64::from(b.arousal));
    let norms = av.hypot(aa) * bv.hypot(ba);
    if norms == 0.0 { 0.0 } else { ((av * bv + aa * ba) / norms) as f32 }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadrants_follow_the_names() {
        assert_eq!(quadrant_name(quadrant(0.5, 0.5)), "excited (V+ A+)");
        assert_eq!(quadrant_name(quadrant(-0.5, 0.5)), "distressed (V− A+)");
        assert_eq!(quadrant_name(quadrant(-0.5, -0.5)), "depressed (V− A−)");
        assert_eq!(quadrant_name(quadrant(0.5, -0.5)), "relaxed (V+ A−)");
        assert_eq!(quadrant(0.0, 0.0), 0);
    }

    fn labels(names: &[&str]) -> Vec<LabelSpec> {
        names.iter().map(|n| LabelSpec::known(n).unwrap()).collect()
    }

    fn assert_matrix(actual: &[Vec<f32>], expected: &[&[f64]]) {
        assert_eq!(actual.len(), expected.len());
        for (j, (row, want)) in actual.iter().zip(expected).enumerate() {
            assert_eq!(row.len(), want.len());
            for (l, (&got, &want)) in row.iter().zip(want.iter()).enumerate() {
                assert!((f64::from(got) - want).abs() < 1e-6, "M[{j}][{l}] = {got}, expected {want}");
            }
        }
    }

    // Expected values: DESIGN.md §4.1's label VA, each dimension scaled over the label set by
    // (x − min)/(max − min)·2 − 1, then cosines, in f64 by hand (Python). For example sad–disgust
    // on MOSEI: sad (−0.63502, −1), disgust (−1, 0.63100), cosine 0.00287.
    const MOSEI_REFERENCE: [&[f64]; 6] = [
        &[1.000000000, -0.850033301, -0.214440699, 0.884276456, -0.529169268, -0.372351843],
        &[-0.850033301, 1.000000000, -0.332193924, -0.997627764, 0.002873408, -0.172341273],
        &[-0.214440699, -0.332193924, 1.000000000, 0.266475922, 0.942252687, 0.986348850],
        &[0.884276456, -0.997627764, 0.266475922, 1.000000000, -0.071705573, 0.104123194],
        &[-0.529169268, 0.002873408, 0.942252687, -0.071705573, 1.000000000, 0.984538029],
        &[-0.372351843, -0.172341273, 0.986348850, 0.104123194, 0.984538029, 1.000000000],
    ];

    #[test]
    fn mosei_prior_follows_the_reference_rule() {
        let m = prior_matrix(&LabelSpec::mosei(), PriorRule::default()).unwrap();
        assert_matrix(&m, &MOSEI_REFERENCE);
    }

    #[test]
    fn m3ed_prior_follows_the_reference_rule_in_m3ed_order() {
        let m3ed = labels(&["happy", "surprise", "sad", "disgust", "anger", "fear", "neutral"]);
        assert_eq!(m3ed[6].valence, 0.5);
        assert_eq!(m3ed[6].arousal, 0.5);
        let m = prior_matrix(&m3ed, PriorRule::LabelSetMinMax).unwrap();
        assert_matrix(
            &m,
            &[
                &[1.000000000, 0.884276456, -0.850033301, -0.529169268, -0.214440699, -0.372351843, -0.558226195],
                &[0.884276456, 1.000000000, -0.997627764, -0.071705573, 0.266475922, 0.104123194, -0.881060883],
                &[-0.850033301, -0.997627764, 1.000000000, 0.002873408, -0.332193924, -0.172341273, 0.911531969],
                &[-0.529169268, -0.071705573, 0.002873408, 1.000000000, 0.942252687, 0.984538029, -0.408608317],
                &[-0.214440699, 0.266475922, -0.332193924, 0.942252687, 1.000000000, 0.986348850, -0.690681348],
                &[-0.372351843, 0.104123194, -0.172341273, 0.984538029, 0.986348850, 1.000000000, -0.562170698],
                &[-0.558226195, -0.881060883, 0.911531969, -0.408608317, -0.690681348, -0.562170698, 1.000000000],
            ],
        );
    }

    #[test]
    fn centred_rule_is_kept_for_old_runs() {
        let m = prior_matrix(&LabelSpec::mosei(), PriorRule::Centred).unwrap();
        assert_matrix(
            &m,
            &[
                &[1.000000000, -0.994346021, -0.295734273, 0.940724143, -0.548778280, -0.443037020],
                &[-0.994346021, 1.000000000, 0.192623512, -0.971421533, 0.456905342, 0.345333782],
                &[-0.295734273, 0.192623512, 1.000000000, 0.045797169, 0.960867846, 0.987424175],
                &[0.940724143, -0.971421533, 0.045797169, 1.000000000, -0.232711515, -0.112706215],
                &[-0.548778280, 0.456905342, 0.960867846, -0.232711515, 1.000000000, 0.992577127],
                &[-0.443037020, 0.345333782, 0.987424175, -0.112706215, 0.992577127, 1.000000000],
            ],
        );
        // Neutral sits at the centre under this rule: similarity 0 with everything, itself too.
        let with_neutral = prior_matrix(&labels(&["happy", "neutral"]), PriorRule::Centred).unwrap();
        assert_eq!(with_neutral[1], vec![0.0, 0.0]);
    }

    #[test]
    fn a_dimension_without_range_is_an_error_not_nan() {
        let flat = vec![
            LabelSpec { name: "a".to_owned(), valence: 0.2, arousal: 0.5 },
            LabelSpec { name: "b".to_owned(), valence: 0.8, arousal: 0.5 },
        ];
        let error = prior_matrix(&flat, PriorRule::LabelSetMinMax).unwrap_err();
        assert_eq!(error, PriorError::ZeroRange { dimension: "arousal", value: 0.5 });
        assert!(error.to_string().contains("prior_rule = \"centred\""), "{error}");
        let single = prior_matrix(&flat[..1], PriorRule::LabelSetMinMax).unwrap_err();
        assert!(matches!(single, PriorError::ZeroRange { dimension: "valence", .. }), "{single}");
        assert_eq!(prior_matrix(&[], PriorRule::LabelSetMinMax), Err(PriorError::NoLabels));
        assert!(prior_matrix(&flat, PriorRule::Centred).is_ok());
    }
}
