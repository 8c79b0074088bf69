use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{DatasetError, Split};
use crate::modality::Modality;

pub const FORMAT_NAME: &str = "univa-dataset";
pub const FORMAT_VERSION: u32 = 1;

/// `manifest.toml`: what a dataset holds, readable and editable by a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for this code.
    pub version: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Where the data came from and under which licence.
    #[serde(default)]
    pub provenance: String,
    /// Emotion labels in model output order, each with its VA anchor.
    pub labels: Vec<LabelSpec>,
    /// Frame-level feature shapes, one entry per modality that has features.
    #[serde(default)]
    pub features: Vec<FeatureSpec>,
    /// Number of utterances per split (checked against the table).
    #[serde(default)]
    pub splits: BTreeMap<Split, usize>,
}

/// An emotion label and its valence-arousal anchor on NRC-VAD's [0, 1] scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    pub name: String,
    pub valence: f32,
    pub arousal: f32,
}

/// Shape of one modality's frame-level features: `[N, max_len, dim]` per split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub modality: Modality,
    pub max_len: usize,
    pub dim: usize,
}

impl Manifest {
    pub fn new(name: impl Into<String>, labels: Vec<LabelSpec>, features: Vec<FeatureSpec>) -> Self {
        Self {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
            name: name.into(),
            description: String::new(),
            provenance: String::new(),
            labels,
            features,
            splits: BTreeMap::new(),
        }
    }

    pub fn feature_spec(&self, modality: Modality) -> Option<&FeatureSpec> {
        self.features.iter().find(|f| f.modality == modality)
    }

    pub fn label_index(&self, name: &str) -> Option<usize> {
        self.labels.iter().position(|l| l.name == name)
    }

    pub fn load(path: &Path) -> Result<Self, DatasetError> {
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
        let manifest: Self = toml::from_str(&text).map_err(|e| {
            let location = e.span().map(|span| {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!("line {line}")
            });
            DatasetError::invalid(path, location, e.message().to_owned())
        })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Checks the invariants the rest of the program relies on.
    pub fn validate(&self, path: &Path) -> Result<(), DatasetError> {
        let bad =
            |field: &str, problem: String| Err(DatasetError::invalid(path, Some(format!("field {field:?}")), problem));
        if self.format != FORMAT_NAME {
            return bad("format", format!("expected {FORMAT_NAME:?}, found {:?}", self.format));
        }
        if self.version != FORMAT_VERSION {
            return bad(
                "version",
                format!(
                    "expected {FORMAT_VERSION}, found {} (written by another version of UniVA Studio)",
                    self.version
                ),
            );
        }
        if self.labels.is_empty() {
            return bad("labels", "expected at least one label".to_owned());
        }
        for (i, label) in self.labels.iter().enumerate() {
            if label.name.trim().is_empty() || label.name.contains([';', ',']) {
                return bad(
                    "labels",
                    format!("label {i} has name {:?}; expected a non-empty name without ';' or ','", label.name),
                );
            }
            if self.labels[..i].iter().any(|l| l.name == label.name) {
                return bad("labels", format!("label {:?} appears twice", label.name));
            }
            for (what, v) in [("valence", label.valence), ("arousal", label.arousal)] {
                if !v.is_finite() || !(0.0..=1.0).contains(&v) {
                    return bad(
                        "labels",
                        format!("label {:?} has {what} {v}; expected a number in [0, 1] (NRC-VAD scale)", label.name),
                    );
                }
            }
        }
        for (i, spec) in self.features.iter().enumerate() {
            if self.features[..i].iter().any(|f| f.modality == spec.modality) {
                return bad("features", format!("modality {} appears twice", spec.modality));
            }
            if spec.max_len == 0 || spec.dim == 0 {
                return bad(
                    "features",
                    format!("modality {} has shape {}×{}; expected both > 0", spec.modality, spec.max_len, spec.dim),
                );
            }
        }
        Ok(())
    }

    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// Label anchors from NRC-VAD for the labels of MOSEI (and M3ED's `neutral`), DESIGN.md §4.1.
pub fn nrc_vad_anchor(name: &str) -> Option<(f32, f32)> {
    Some(match name {
        "happy" => (1.000, 0.735),
        "sad" => (0.225, 0.333),
        "anger" | "angry" => (0.167, 0.865),
        "surprise" => (0.875, 0.875),
        "disgust" => (0.052, 0.775),
        "fear" => (0.073, 0.840),
        "neutral" => (0.5, 0.5),
        _ => return None,
    })
}

impl LabelSpec {
    /// A label with its NRC-VAD anchor, if the name is one of the known emotions.
    pub fn known(name: &str) -> Option<Self> {
        nrc_vad_anchor(name).map(|(valence, arousal)| Self { name: name.to_owned(), valence, arousal })
    }

    /// The six MOSEI labels in the order the published code uses.
    pub fn mosei() -> Vec<Self> {
        ["happy", "sad", "anger", "surprise", "disgust", "fear"].iter().filter_map(|n| Self::known(n)).collect()
    }
}
