//! `utterances.csv`: one row per utterance.
//!
//! Columns: `id, video_id, split, media, start_secs, end_secs, text, labels, text_v, text_a,
//! vision_v, vision_a, audio_v, audio_a, text_va_model, vision_va_model, audio_va_model`.
//! `labels` is a `;`-separated list of label names (empty: no emotion); VA cells are in
//! [-1, 1] or empty when not acquired yet; `*_va_model` names the model that produced the VA.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DatasetError, Manifest, Split, TABLE_FILE, check_contained};
use crate::modality::{Modality, PerModality};

/// A valence-arousal point on [-1, 1]².
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Va {
    pub valence: f32,
    pub arousal: f32,
}

impl Va {
    pub fn new(valence: f32, arousal: f32) -> Self {
        Self { valence, arousal }
    }

    pub fn distance(self, other: Self) -> f32 {
        ((self.valence - other.valence).powi(2) + (self.arousal - other.arousal).powi(2)).sqrt()
    }
}

/// Where an utterance's clip is: a path relative to the dataset folder and a time span in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaRef {
    pub path: PathBuf,
    pub start_secs: Option<f64>,
    pub end_secs: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Utterance {
    pub id: String,
    pub video_id: String,
    pub split: Split,
    pub media: Option<MediaRef>,
    pub text: String,
    /// Indices into the manifest's labels, ascending.
    pub labels: Vec<usize>,
    /// Per-modality VA, `None` where not acquired yet.
    pub va: PerModality<Option<Va>>,
    /// Which model produced each modality's VA (id + version), empty when unknown.
    pub va_model: PerModality<String>,
}

impl Utterance {
    /// Multi-hot label vector of length `num_labels`.
    pub fn label_vector(&self, num_labels: usize) -> Vec<bool> {
        let mut v = vec![false; num_labels];
        for &l in &self.labels {
            if let Some(slot) = v.get_mut(l) {
                *slot = true;
            }
        }
        v
    }
}

/// The CSV row as it is on disk.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Row {
    pub id: String,
    pub video_id: String,
    pub split: String,
    pub media: String,
    pub start_secs: Option<f64>,
    pub end_secs: Option<f64>,
    pub text: String,
    pub labels: String,
    pub text_v: Option<f32>,
    pub text_a: Option<f32>,
    pub vision_v: Option<f32>,
    pub vision_a: Option<f32>,
    pub audio_v: Option<f32>,
    pub audio_a: Option<f32>,
    #[serde(default)]
    pub text_va_model: String,
    #[serde(default)]
    pub vision_va_model: String,
    #[serde(default)]
    pub audio_va_model: String,
}

impl Row {
    pub(super) fn from_utterance(u: &Utterance, manifest: &Manifest) -> Self {
        let va = |m: Modality| *u.va.get(m);
        let labels: Vec<&str> =
            u.labels.iter().filter_map(|&l| manifest.labels.get(l)).map(|l| l.name.as_str()).collect();
        Self {
            id: u.id.clone(),
            video_id: u.video_id.clone(),
            split: u.split.name().to_owned(),
            media: u.media.as_ref().map(|m| m.path.to_string_lossy().replace('\\', "/")).unwrap_or_default(),
            start_secs: u.media.as_ref().and_then(|m| m.start_secs),
            end_secs: u.media.as_ref().and_then(|m| m.end_secs),
            text: u.text.clone(),
            labels: labels.join(";"),
            text_v: va(Modality::Text).map(|v| v.valence),
            text_a: va(Modality::Text).map(|v| v.arousal),
            vision_v: va(Modality::Vision).map(|v| v.valence),
            vision_a: va(Modality::Vision).map(|v| v.arousal),
            audio_v: va(Modality::Audio).map(|v| v.valence),
            audio_a: va(Modality::Audio).map(|v| v.arousal),
            text_va_model: u.va_model.text.clone(),
            vision_va_model: u.va_model.vision.clone(),
            audio_va_model: u.va_model.audio.clone(),
        }
    }
}

pub(super) fn load(root: &Path, manifest: &Manifest) -> Result<Vec<Utterance>, DatasetError> {
    let path = root.join(TABLE_FILE);
    let mut reader = csv::ReaderBuilder::new().from_path(&path).map_err(|e| csv_error(&path, e))?;
    let mut seen_ids = HashSet::new();
    let mut utterances = Vec::new();
    for (i, record) in reader.deserialize::<Row>().enumerate() {
        // Row numbers as a spreadsheet shows them: the header is row 1.
        let row_number = i + 2;
        let row = record.map_err(|e| csv_error(&path, e))?;
        let at = |field: &str| Some(format!("row {row_number}, field {field:?}"));
        let bad = |field: &str, problem: String| DatasetError::invalid(&path, at(field), problem);

        if row.id.trim().is_empty() {
            return Err(bad("id", "expected a non-empty utterance id".to_owned()));
        }
        if !seen_ids.insert(row.id.clone()) {
            return Err(bad("id", format!("utterance id {:?} appears twice", row.id)));
        }
        let split = Split::parse(&row.split)
            .ok_or_else(|| bad("split", format!("unknown split {:?}; expected train, valid or test", row.split)))?;

        let mut labels = Vec::new();
        for name in row.labels.split(';').map(str::trim).filter(|n| !n.is_empty()) {
            let index = manifest.label_index(name).ok_or_else(|| {
                let known: Vec<&str> = manifest.labels.iter().map(|l| l.name.as_str()).collect();
                bad("labels", format!("unknown label {name:?}; the manifest's labels are {}", known.join(", ")))
            })?;
            labels.push(index);
        }
        labels.sort_unstable();
        labels.dedup();

        let media = if row.media.trim().is_empty() {
            None
        } else {
            let relative = PathBuf::from(row.media.trim());
            check_contained(&relative).map_err(|problem| bad("media", format!("media path {problem}")))?;
            for (field, secs) in [("start_secs", row.start_secs), ("end_secs", row.end_secs)] {
                if let Some(s) = secs
                    && (!s.is_finite() || s < 0.0)
                {
                    return Err(bad(field, format!("{s} is not a time; expected seconds ≥ 0")));
                }
            }
            if let (Some(start), Some(end)) = (row.start_secs, row.end_secs)
                && end <= start
            {
                return Err(bad("end_secs", format!("span ends at {end} s, before it starts at {start} s")));
            }
            Some(MediaRef { path: relative, start_secs: row.start_secs, end_secs: row.end_secs })
        };

        let va_cell = |m: Modality, v: Option<f32>, a: Option<f32>| -> Result<Option<Va>, DatasetError> {
            let field = |dim: &str| format!("{}_{dim}", m.name());
            match (v, a) {
                (None, None) => Ok(None),
                (Some(v), Some(a)) => {
                    for (dim, x) in [("v", v), ("a", a)] {
                        if !x.is_finite() || !(-1.0..=1.0).contains(&x) {
                            return Err(bad(&field(dim), format!("VA value {x} is not a number in [-1, 1]")));
                        }
                    }
                    Ok(Some(Va::new(v, a)))
                }
                (Some(_), None) => {
                    Err(bad(&field("a"), "valence is given but arousal is empty; give both or neither".to_owned()))
                }
                (None, Some(_)) => {
                    Err(bad(&field("v"), "arousal is given but valence is empty; give both or neither".to_owned()))
                }
            }
        };
        let va = PerModality {
            text: va_cell(Modality::Text, row.text_v, row.text_a)?,
            vision: va_cell(Modality::Vision, row.vision_v, row.vision_a)?,
            audio: va_cell(Modality::Audio, row.audio_v, row.audio_a)?,
        };

        utterances.push(Utterance {
            id: row.id,
            video_id: row.video_id,
            split,
            media,
            text: row.text,
            labels,
            va,
            va_model: PerModality { text: row.text_va_model, vision: row.vision_va_model, audio: row.audio_va_model },
        });
    }

    for (split, &expected) in &manifest.splits {
        let found = utterances.iter().filter(|u| u.split == *split).count();
        if found != expected {
            return Err(DatasetError::invalid(
                &path,
                None,
                format!("the manifest says split {split} has {expected} utterances, the table has {found}"),
            ));
        }
    }
    Ok(utterances)
}

fn csv_error(path: &Path, e: csv::Error) -> DatasetError {
    let location = e.position().map(|p| format!("row {}", p.line()));
    let text = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(io) => DatasetError::io(path, io),
        csv::ErrorKind::Deserialize { err, .. } => {
            let field = err.field().map(|f| format!(", column {}", f + 1)).unwrap_or_default();
            DatasetError::invalid(path, location.map(|l| l + &field), err.kind().to_string())
        }
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            DatasetError::invalid(path, location, format!("expected {expected_len} fields, found {len}"))
        }
        csv::ErrorKind::Utf8 { err, .. } => DatasetError::invalid(
            path,
            location.map(|l| format!("{l}, column {}", err.field() + 1)),
            "is not UTF-8 text; save the table as UTF-8".to_owned(),
        ),
        _ => DatasetError::invalid(path, location, text),
    }
}
