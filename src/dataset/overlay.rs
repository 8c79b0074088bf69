//! VA overlay files: corrected per-modality VA for some utterances of a dataset, applied over
//! the dataset's own VA without changing its files (`univa audit export` writes them, `univa
//! train --va-overlay` reads them).
//!
//! CSV with a header `id, text_v, text_a, vision_v, vision_a, audio_v, audio_a, provenance`.
//! Empty V and A cells keep the dataset's value for that modality; `provenance` (e.g.
//! `audit:alice`, `audit:consensus`) replaces the modality's `*_va_model` where a value is given.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Dataset, DatasetError, Va};
use crate::modality::{Modality, PerModality};

/// The overlay's columns, in order.
pub const OVERLAY_COLUMNS: [&str; 8] =
    ["id", "text_v", "text_a", "vision_v", "vision_a", "audio_v", "audio_a", "provenance"];

/// One utterance's corrected VA.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlayRow {
    pub id: String,
    pub va: PerModality<Option<Va>>,
    pub provenance: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct VaOverlay {
    pub rows: Vec<OverlayRow>,
    /// The file it was read from, for errors found when it is applied.
    pub path: PathBuf,
}

impl VaOverlay {
    /// Reads and checks an overlay file: the header, one row per id, numbers in [-1, 1], both
    /// or neither of a modality's V and A.
    pub fn read(path: &Path) -> Result<Self, DatasetError> {
        let mut reader = csv::ReaderBuilder::new().from_path(path).map_err(|e| io_or_invalid(path, e))?;
        let headers = reader.headers().map_err(|e| io_or_invalid(path, e))?.clone();
        let mut columns = [0usize; 8];
        for (slot, name) in columns.iter_mut().zip(OVERLAY_COLUMNS) {
            *slot = headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
                DatasetError::invalid(
                    path,
                    Some("row 1".to_owned()),
                    format!("missing column {name:?}; the header must have {}", OVERLAY_COLUMNS.join(", ")),
                )
            })?;
        }
        let mut rows = Vec::new();
        let mut seen = HashMap::new();
        for (i, record) in reader.records().enumerate() {
            let row_number = i + 2;
            let record = record.map_err(|e| io_or_invalid(path, e))?;
            let cell = |c: usize| record.get(columns[c]).unwrap_or("").trim();
            let at = |c: usize| Some(format!("row {row_number}, column {:?}", OVERLAY_COLUMNS[c]));
            let id = cell(0).to_owned();
            if id.is_empty() {
                return Err(DatasetError::invalid(path, at(0), "expected an utterance id"));
            }
            if let Some(first) = seen.insert(id.clone(), row_number) {
                return Err(DatasetError::invalid(
                    path,
                    at(0),
                    format!("id {id:?} appears twice (rows {first} and {row_number})"),
                ));
            }
            let number = |c: usize| -> Result<Option<f32>, DatasetError> {
                let text = cell(c);
                if text.is_empty() {
                    return Ok(None);
                }
                match text.parse::<f32>() {
                    Ok(x) if x.is_finite() && (-1.0..=1.0).contains(&x) => Ok(Some(x)),
                    _ => Err(DatasetError::invalid(path, at(c), format!("{text:?} is not a number in [-1, 1]"))),
                }
            };
            let mut va = PerModality::<Option<Va>>::default();
            for (k, modality) in Modality::ALL.into_iter().enumerate() {
                let (vc, ac) = (1 + 2 * k, 2 + 2 * k);
                *va.get_mut(modality) = match (number(vc)?, number(ac)?) {
                    (Some(v), Some(a)) => Some(Va::new(v, a)),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(DatasetError::invalid(path, at(ac), "valence is given but arousal is empty"));
                    }
                    (None, Some(_)) => {
                        return Err(DatasetError::invalid(path, at(vc), "arousal is given but valence is empty"));
                    }
                };
            }
            rows.push(OverlayRow { id, va, provenance: cell(7).to_owned() });
        }
        Ok(Self { rows, path: path.to_path_buf() })
    }

    /// The overlay as CSV text.
    pub fn to_csv(&self) -> Result<Vec<u8>, DatasetError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let failed = |e: csv::Error| DatasetError::invalid(&self.path, None, e.to_string());
        writer.write_record(OVERLAY_COLUMNS).map_err(failed)?;
        let number = |x: Option<f32>| x.map(|x| format!("{x}")).unwrap_or_default();
        for row in &self.rows {
            let mut record = vec![row.id.clone()];
            for modality in Modality::ALL {
                let va = *row.va.get(modality);
                record.push(number(va.map(|p| p.valence)));
                record.push(number(va.map(|p| p.arousal)));
            }
            record.push(row.provenance.clone());
            writer.write_record(&record).map_err(failed)?;
        }
        writer.into_inner().map_err(|e| DatasetError::invalid(&self.path, None, e.to_string()))
    }

    /// Replaces the dataset's VA (in memory) where the overlay gives a value; every id must be
    /// one of the dataset's. Returns how many (utterance, modality) values were replaced.
    pub fn apply(&self, dataset: &mut Dataset) -> Result<usize, DatasetError> {
        let index: HashMap<&str, usize> =
            dataset.utterances.iter().enumerate().map(|(i, u)| (u.id.as_str(), i)).collect();
        let mut targets = Vec::with_capacity(self.rows.len());
        for (i, row) in self.rows.iter().enumerate() {
            let Some(&target) = index.get(row.id.as_str()) else {
                return Err(DatasetError::invalid(
                    &self.path,
                    Some(format!("row {}, column \"id\"", i + 2)),
                    format!(
                        "unknown utterance id {:?}; dataset {} has no such utterance",
                        row.id,
                        dataset.root.display()
                    ),
                ));
            };
            targets.push(target);
        }
        let mut replaced = 0;
        for (row, target) in self.rows.iter().zip(targets) {
            let utterance = &mut dataset.utterances[target];
            for (modality, va) in row.va.iter() {
                if let Some(va) = va {
                    *utterance.va.get_mut(modality) = Some(*va);
                    *utterance.va_model.get_mut(modality) = row.provenance.clone();
                    replaced += 1;
                }
            }
        }
        Ok(replaced)
    }
}

fn io_or_invalid(path: &Path, e: csv::Error) -> DatasetError {
    let location = e.position().map(|p| format!("row {}", p.line()));
    match e.into_kind() {
        csv::ErrorKind::Io(io) => DatasetError::io(path, io),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            DatasetError::invalid(path, location, format!("expected {expected_len} fields, found {len}"))
        }
        other => DatasetError::invalid(path, location, format!("{other:?}")),
    }
}
