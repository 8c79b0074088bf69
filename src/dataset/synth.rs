//! Synthetic datasets in the native format, with planted structure (`univa synth`).
//!
//! Each utterance gets a multi-hot label set y. Every modality sees its own noisy view of the
//! labels, z_m = y + ε_m, and its frames are a fixed random linear map of z_m plus a slow
//! temporal pattern and noise, over a random length with padding. Each modality's VA is the
//! z_m-weighted mean of the label anchors, squashed and jittered: a noisy function of its own
//! features. So labels are learnable from features (best from all three together), each
//! modality's VA agrees with its features, and modalities sometimes disagree — a correct model
//! learns this and a broken one does not.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, Normal};

use super::{DatasetError, DatasetWriter, FeatureSpec, LabelSpec, Manifest, Split, SplitFeatures, Utterance, Va};
use crate::modality::{Modality, PerModality};

/// What to synthesise. Defaults are MOSEI-shaped (text 50×300, vision 50×35, audio 50×74, six labels).
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub utterances: usize,
    pub seed: u64,
    pub labels: Vec<LabelSpec>,
    /// Per modality (max_len, dim).
    pub shapes: PerModality<(usize, usize)>,
    /// Fractions of train and valid; the rest is test.
    pub train_fraction: f64,
    pub valid_fraction: f64,
    /// Standard deviation of each modality's private view noise ε_m.
    pub view_noise: f32,
    /// Standard deviation of per-frame feature noise.
    pub frame_noise: f32,
    /// Which modalities carry the labels; the view of one that does not is noise alone (z_m = ε_m).
    pub signal: PerModality<bool>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            utterances: 3000,
            seed: 1111,
            labels: LabelSpec::mosei(),
            shapes: PerModality { text: (50, 300), vision: (50, 35), audio: (50, 74) },
            train_fraction: 0.7,
            valid_fraction: 0.1,
            view_noise: 0.6,
            frame_noise: 1.0,
            signal: PerModality::from_fn(|_| true),
        }
    }
}

/// Writes a synthetic dataset to `out` and returns its utterances.
pub fn write_synthetic(out: &Path, config: &SynthConfig) -> Result<Vec<Utterance>, DatasetError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let num_labels = config.labels.len();
    let standard = Normal::new(0.0f32, 1.0).map_err(|e| DatasetError::invalid(out, None, e.to_string()))?;
    let anchors: Vec<Va> = config.labels.iter().map(crate::va::label_anchor).collect();

    // One fixed random projection per modality (label space → feature space) and a slow
    // temporal pattern, so frames carry the labels in a modality-specific way.
    let projections = config
        .shapes
        .map(|_, &(_, dim)| (0..dim * num_labels).map(|_| standard.sample(&mut rng) * 1.5).collect::<Vec<f32>>());
    let phases = config
        .shapes
        .map(|_, &(_, dim)| (0..dim).map(|_| rng.random::<f32>() * std::f32::consts::TAU).collect::<Vec<f32>>());

    // Label prevalences falling off like MOSEI's (happy most common, fear rarest).
    let prevalence: Vec<f64> = (0..num_labels).map(|j| 0.5 / (1.0 + j as f64 * 0.6)).collect();

    let mut utterances = Vec::with_capacity(config.utterances);
    let mut features: BTreeMap<(Split, Modality), SplitFeatures> = BTreeMap::new();
    for i in 0..config.utterances {
        let position = i as f64 / config.utterances.max(1) as f64;
        let split = if position < config.train_fraction {
            Split::Train
        } else if position < config.train_fraction + config.valid_fraction {
            Split::Valid
        } else {
            Split::Test
        };
        let mut labels: Vec<usize> = (0..num_labels).filter(|&j| rng.random_bool(prevalence[j])).collect();
        if labels.is_empty() && num_labels > 0 {
            labels.push(rng.random_range(0..num_labels));
        }
        let y: Vec<f32> = (0..num_labels).map(|j| if labels.contains(&j) { 1.0 } else { 0.0 }).collect();

        let mut va = PerModality::<Option<Va>>::default();
        for modality in Modality::ALL {
            let (max_len, dim) = *config.shapes.get(modality);
            let carried = if *config.signal.get(modality) { 1.0 } else { 0.0 };
            let z: Vec<f32> =
                y.iter().map(|&yj| carried * yj + config.view_noise * standard.sample(&mut rng)).collect();
            let len = rng.random_range(max_len.div_ceil(2)..=max_len);
            let slot = features.entry((split, modality)).or_default();
            let projection = projections.get(modality);
            let phase = phases.get(modality);
            for t in 0..max_len {
                let real = t < len;
                slot.mask.push(u8::from(real));
                for d in 0..dim {
                    let value = if real {
                        let signal: f32 = (0..num_labels).map(|j| projection[d * num_labels + j] * z[j]).sum();
                        signal
                            + 0.5 * (t as f32 * 0.3 + phase[d]).sin()
                            + config.frame_noise * standard.sample(&mut rng)
                    } else {
                        0.0
                    };
                    slot.features.push(value);
                }
            }
            // VA: anchors weighted by the positive part of this modality's view.
            let weights: Vec<f32> = z.iter().map(|&x| x.max(0.0)).collect();
            let total: f32 = weights.iter().sum::<f32>().max(1e-3);
            let (v, a) = anchors.iter().zip(&weights).fold((0.0, 0.0), |(v, a), (anchor, w)| {
                (v + anchor.valence * w / total, a + anchor.arousal * w / total)
            });
            let jitter =
                |x: f32, rng: &mut rand::rngs::StdRng| (x + 0.1 * standard.sample(rng)).tanh().clamp(-1.0, 1.0);
            *va.get_mut(modality) = Some(Va::new(jitter(v, &mut rng), jitter(a, &mut rng)));
        }

        utterances.push(Utterance {
            id: format!("synth_{i:06}"),
            video_id: format!("video_{:05}", i / 4),
            split,
            media: None,
            text: String::new(),
            labels,
            va,
            va_model: PerModality::from_fn(|_| "synthetic".to_owned()),
        });
    }

    let specs = Modality::ALL
        .iter()
        .map(|&modality| {
            let (max_len, dim) = *config.shapes.get(modality);
            FeatureSpec { modality, max_len, dim }
        })
        .collect();
    let mut manifest = Manifest::new("synthetic", config.labels.clone(), specs);
    manifest.description = format!(
        "Synthetic dataset of {} utterances (seed {}) with planted label and VA structure; made by `univa synth`.",
        config.utterances, config.seed
    );
    manifest.provenance = "Generated; no real data.".to_owned();
    DatasetWriter::new(out, manifest)?.write(&utterances, &features)?;
    Ok(utterances)
}
