//! Another system's predictions as a run (paper Table 6 compares UniVA with MulT, TAILOR, …).
//!
//! ```text
//! RUN/
//!   config.json      ImportedInfo: {"kind": "imported-predictions", "name": "MulT", "dataset_name", "dataset_path",
//!                    "labels", "values": "probabilities" | "labels", "threshold", "source", "rows"}
//!   predictions.csv  `id` + one column per label in the dataset's order: `p_<label>` probabilities
//!                    or 0/1 `<label>` (a label file, as `univa metrics --pred` reads)
//! ```
//! No model: metrics come from these predictions against the dataset's gold labels; a label is
//! predicted when its probability exceeds `threshold`, or when its 0/1 value is 1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunsError;
use crate::dataset::{Dataset, Split};
use crate::fsutil::write_atomic;
use crate::metrics::label_file::{self, LabelFile};
use crate::metrics::{self, Metrics};

pub const PREDICTIONS_FILE: &str = "predictions.csv";
/// The `kind` an imported run's config.json carries (a trained run's has none).
pub const IMPORTED_KIND: &str = "imported-predictions";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportedKind {
    #[serde(rename = "imported-predictions")]
    ImportedPredictions,
}

/// What the prediction values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PredictionValues {
    Probabilities,
    Labels,
}

/// An imported run's config.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedInfo {
    pub kind: ImportedKind,
    /// The system's name (MulT, TAILOR, …).
    pub name: String,
    pub dataset_name: String,
    /// Absolute, or relative to the run folder.
    pub dataset_path: PathBuf,
    /// Label names in column order (the dataset's).
    pub labels: Vec<String>,
    pub values: PredictionValues,
    /// Cut applied to probabilities (ignored for 0/1 labels, which are cut at 0.5).
    pub threshold: f32,
    /// The CSV the predictions were imported from.
    pub source: PathBuf,
    /// Utterances with a prediction.
    pub rows: usize,
}

impl ImportedInfo {
    fn cut(&self) -> f32 {
        match self.values {
            PredictionValues::Probabilities => self.threshold,
            PredictionValues::Labels => 0.5,
        }
    }
}

/// An imported run with its predictions loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedPredictions {
    pub dir: PathBuf,
    pub info: ImportedInfo,
    /// Values by utterance id, in the dataset's label order.
    rows: HashMap<String, Vec<f32>>,
}

impl ImportedPredictions {
    /// Reads `RUN/config.json` and `RUN/predictions.csv`.
    pub fn load(dir: &Path) -> Result<Self, RunsError> {
        let config = dir.join(super::CONFIG_FILE);
        let info: ImportedInfo = super::read_config(&config).and_then(|value| {
            serde_json::from_value(value)
                .map_err(|e| RunsError::Config { path: config.clone(), problem: e.to_string() })
        })?;
        Self::load_with(dir, info)
    }

    pub(super) fn load_with(dir: &Path, info: ImportedInfo) -> Result<Self, RunsError> {
        let path = dir.join(PREDICTIONS_FILE);
        let file = label_file::read(&path)?;
        if file.labels != info.labels {
            return Err(RunsError::Config {
                path,
                problem: format!(
                    "has labels {} but config.json says {}",
                    file.labels.join(", "),
                    info.labels.join(", ")
                ),
            });
        }
        Ok(Self { dir: dir.to_path_buf(), info, rows: file.rows })
    }

    /// Indices of the labels predicted for an utterance; `None` if it has no prediction.
    pub fn predicted(&self, id: &str) -> Option<Vec<usize>> {
        let cut = self.info.cut();
        let row = self.rows.get(id)?;
        Some(row.iter().enumerate().filter(|&(_, &v)| v > cut).map(|(j, _)| j).collect())
    }

    /// Metrics on `split` of `dataset`; every utterance of the split must have a prediction.
    pub fn metrics(&self, dataset: &Dataset, split: Split) -> Result<Metrics, RunsError> {
        let path = self.dir.join(PREDICTIONS_FILE);
        let names = dataset.label_names();
        if names != self.info.labels {
            return Err(RunsError::Labels {
                run: self.dir.clone(),
                dataset: dataset.root.clone(),
                run_labels: self.info.labels.join(", "),
                dataset_labels: names.join(", "),
            });
        }
        let mut gold = Vec::new();
        let mut pred = Vec::new();
        for index in dataset.split_indices(split) {
            let utterance = &dataset.utterances[index];
            let Some(row) = self.rows.get(&utterance.id) else {
                return Err(RunsError::MissingPrediction { path, id: utterance.id.clone(), split });
            };
            gold.push(utterance.label_vector(names.len()));
            pred.push(row.iter().map(|&v| v > self.info.cut()).collect());
        }
        let label_names: Vec<String> = self.info.labels.clone();
        metrics::compute(&gold, &pred, &label_names)
            .map_err(|source| RunsError::Metrics { run: self.dir.clone(), source })
    }
}

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportRequest<'a> {
    pub name: &'a str,
    pub csv: &'a Path,
    pub dataset: &'a Dataset,
    pub out: &'a Path,
    pub threshold: f32,
}

/// How many of each split's utterances an import covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    pub split: Split,
    pub covered: usize,
    pub total: usize,
}

/// Checks a CSV of another system's predictions against the dataset and writes it as a run
/// folder. Errors name the file, the row and the column.
pub fn import_predictions(request: &ImportRequest<'_>) -> Result<Vec<Coverage>, RunsError> {
    let ImportRequest { name, csv, dataset, out, threshold } = *request;
    if name.trim().is_empty() {
        return Err(RunsError::Import { path: csv.to_path_buf(), problem: "the system needs a --name".to_owned() });
    }
    if out.join(super::CONFIG_FILE).exists() {
        return Err(RunsError::Import {
            path: out.to_path_buf(),
            problem: "already holds a run (config.json); choose another --out or remove it".to_owned(),
        });
    }
    let file = label_file::read(csv)?;
    let columns = label_columns(csv, &file, dataset)?;
    let err = |row: usize, column: &str, problem: String| RunsError::Row {
        path: csv.to_path_buf(),
        row,
        column: column.to_owned(),
        problem,
    };
    let ids: HashMap<&str, Split> = dataset.utterances.iter().map(|u| (u.id.as_str(), u.split)).collect();
    let values = if file.probabilities { PredictionValues::Probabilities } else { PredictionValues::Labels };
    let mut text = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_owned()];
    header.extend(columns.iter().map(|&c| file.columns[c].clone()));
    let write_err = |e: csv::Error| RunsError::Write { path: out.join(PREDICTIONS_FILE), problem: e.to_string() };
    text.write_record(&header).map_err(write_err)?;
    for (position, id) in file.order.iter().enumerate() {
        let row = LabelFile::row_number(position);
        if !ids.contains_key(id.as_str()) {
            return Err(err(row, "id", format!("{id:?} is not an utterance of dataset {}", dataset.root.display())));
        }
        let Some(values_of_row) = file.rows.get(id) else { continue };
        let mut record = vec![id.clone()];
        for &c in &columns {
            let v = values_of_row[c];
            let column = &file.columns[c];
            match values {
                PredictionValues::Probabilities if !(0.0..=1.0).contains(&v) => {
                    return Err(err(row, column, format!("{v} is not a probability in [0, 1]")));
                }
                PredictionValues::Labels if v != 0.0 && v != 1.0 => {
                    return Err(err(row, column, format!("{v} is not a 0/1 label")));
                }
                _ => {}
            }
            // Shortest text that reads back as the same f32, so metrics equal the source file's.
            record.push(v.to_string());
        }
        text.write_record(&record).map_err(write_err)?;
    }
    if file.order.is_empty() {
        return Err(RunsError::Import { path: csv.to_path_buf(), problem: "has no rows".to_owned() });
    }
    let bytes =
        text.into_inner().map_err(|e| RunsError::Write { path: out.join(PREDICTIONS_FILE), problem: e.to_string() })?;

    let info = ImportedInfo {
        kind: ImportedKind::ImportedPredictions,
        name: name.trim().to_owned(),
        dataset_name: dataset.manifest.name.clone(),
        dataset_path: std::fs::canonicalize(&dataset.root).unwrap_or_else(|_| dataset.root.clone()),
        labels: dataset.label_names().iter().map(|l| (*l).to_owned()).collect(),
        values,
        threshold,
        source: std::fs::canonicalize(csv).unwrap_or_else(|_| csv.to_path_buf()),
        rows: file.order.len(),
    };
    std::fs::create_dir_all(out).map_err(|e| RunsError::Write { path: out.to_path_buf(), problem: e.to_string() })?;
    let write = |path: PathBuf, bytes: &[u8]| {
        write_atomic(&path, bytes).map_err(|e| RunsError::Write { path: path.clone(), problem: e.to_string() })
    };
    write(out.join(PREDICTIONS_FILE), &bytes)?;
    let config = serde_json::to_string_pretty(&info)
        .map_err(|e| RunsError::Write { path: out.join(super::CONFIG_FILE), problem: e.to_string() })?;
    write(out.join(super::CONFIG_FILE), config.as_bytes())?;

    let coverage = Split::ALL
        .into_iter()
        .map(|split| {
            let total = dataset.utterances.iter().filter(|u| u.split == split).count();
            let covered = file.order.iter().filter(|id| ids.get(id.as_str()) == Some(&split)).count();
            Coverage { split, covered, total }
        })
        .filter(|c| c.total > 0)
        .collect();
    Ok(coverage)
}

/// For each of the dataset's labels, in its order, the file's column index; every label needs a
/// column and every column must be a label.
fn label_columns(csv: &Path, file: &LabelFile, dataset: &Dataset) -> Result<Vec<usize>, RunsError> {
    let names = dataset.label_names();
    if !file.probabilities && file.columns.iter().any(|c| c.starts_with("p_")) {
        return Err(RunsError::Import {
            path: csv.to_path_buf(),
            problem: "mixes `p_<label>` probability columns with 0/1 label columns; use one kind".to_owned(),
        });
    }
    if let Some(c) = file.labels.iter().position(|l| !names.contains(&l.as_str())) {
        return Err(RunsError::Import {
            path: csv.to_path_buf(),
            problem: format!(
                "column {:?} is not a label of dataset {} (its labels: {})",
                file.columns[c],
                dataset.root.display(),
                names.join(", ")
            ),
        });
    }
    names
        .iter()
        .map(|name| {
            file.labels.iter().position(|l| l == name).ok_or_else(|| RunsError::Import {
                path: csv.to_path_buf(),
                problem: if file.probabilities || file.labels.is_empty() {
                    format!("has no column for label {name:?} (expected `p_{name}` or `{name}`)")
                } else {
                    format!("has no column for label {name:?} (expected `{name}` beside the other 0/1 label columns)")
                },
            })
        })
        .collect()
}
