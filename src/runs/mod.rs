//! Run folders side by side: discovery under a runs directory (sweeps nest them as
//! `<runs>/<sweep>/<field>=<value>/`), each run's configuration flattened and compared, its
//! metrics on a split computed exactly as `univa eval` computes them, the ablation table, and
//! other systems' predictions imported as runs without a model.
//!
//! Metrics are computed each time, not cached in the run folder: a cache would also have to
//! know that the dataset's features and labels have not changed since.

pub mod config;
pub mod imported;
pub mod table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde_json::Value;

pub use config::{
    ConfigChange, FlatConfig, diff, differing_fields, display_value, flatten, sweep_series, swept_fields,
};
pub use imported::{Coverage, ImportRequest, ImportedInfo, ImportedPredictions, PredictionValues, import_predictions};
pub use table::{AblationTable, MetricKey, TableRow, best_marks};

use crate::dataset::{Dataset, DatasetError, Split};
use crate::metrics::label_file::LabelFileError;
use crate::metrics::{Metrics, MetricsError};
use crate::train::{self, RunInfo, TrainError, TrainerState};

/// A run folder's description, trained or imported.
pub const CONFIG_FILE: &str = train::run::CONFIG_FILE;
/// How deep below the runs directory run folders are looked for.
const MAX_DEPTH: usize = 6;
/// What a trained run's rows call the system.
pub const UNIVA_SYSTEM: &str = "UniVA";

/// Why a run could not be read, imported or evaluated; each message names the run or file.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("{}: {problem}", path.display())]
    Config { path: PathBuf, problem: String },
    #[error(transparent)]
    LabelFile(#[from] LabelFileError),
    #[error("{}: row {row}, column {column:?}: {problem}", path.display())]
    Row { path: PathBuf, row: usize, column: String, problem: String },
    #[error("{}: {problem}", path.display())]
    Import { path: PathBuf, problem: String },
    #[error("{}: could not write: {problem}", path.display())]
    Write { path: PathBuf, problem: String },
    #[error("{}: no prediction for utterance {id:?} of the {split} split", path.display())]
    MissingPrediction { path: PathBuf, id: String, split: Split },
    #[error("run {}: labels {run_labels} differ from the labels {dataset_labels} of dataset {}", run.display(), dataset.display())]
    Labels { run: PathBuf, dataset: PathBuf, run_labels: String, dataset_labels: String },
    #[error(
        "run {}: records no dataset folder (trained before runs recorded one); give its dataset (`--dataset D`, \
         or open it in the workbench)",
        run.display()
    )]
    NoDataset { run: PathBuf },
    #[error("run {}: its dataset {} is not there; if it moved, give the new folder (`--dataset D`)", run.display(), dataset.display())]
    DatasetMissing { run: PathBuf, dataset: PathBuf },
    #[error("run {}: {source}", run.display())]
    Dataset {
        run: PathBuf,
        #[source]
        source: DatasetError,
    },
    #[error("run {}: {source}", run.display())]
    Train {
        run: PathBuf,
        #[source]
        source: TrainError,
    },
    #[error("run {}: {source}", run.display())]
    Metrics {
        run: PathBuf,
        #[source]
        source: MetricsError,
    },
}

/// How far a trained run has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every configured epoch done (or a best checkpoint with no trainer state, as shipped runs are).
    Finished,
    /// Training, stopped or crashed part way; the best checkpoint so far is usable.
    Partial { epochs_done: usize, epochs: usize },
    /// No best checkpoint yet.
    NoModel,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RunKind {
    Trained { info: Box<RunInfo>, progress: Progress },
    Imported(Box<ImportedInfo>),
}

/// A run folder and what its config.json says.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub dir: PathBuf,
    pub kind: RunKind,
}

pub(crate) fn read_config(path: &Path) -> Result<Value, RunsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunsError::Config { path: path.to_path_buf(), problem: e.to_string() })?;
    serde_json::from_str(&text).map_err(|e| RunsError::Config { path: path.to_path_buf(), problem: e.to_string() })
}

impl Run {
    /// Reads `dir/config.json`: a trained run's RunInfo, or an imported run's description.
    pub fn load(dir: &Path) -> Result<Self, RunsError> {
        let path = dir.join(CONFIG_FILE);
        let value = read_config(&path)?;
        let problem = |e: serde_json::Error| RunsError::Config { path: path.clone(), problem: e.to_string() };
        let kind = if value.get("kind").and_then(Value::as_str) == Some(imported::IMPORTED_KIND) {
            RunKind::Imported(Box::new(serde_json::from_value(value).map_err(problem)?))
        } else {
            let info: RunInfo = serde_json::from_value(value).map_err(|e| RunsError::Config {
                path: path.clone(),
                problem: format!("not a run of this version: {e}"),
            })?;
            let progress = progress(dir, &info);
            RunKind::Trained { info: Box::new(info), progress }
        };
        Ok(Self { dir: dir.to_path_buf(), kind })
    }

    pub fn is_imported(&self) -> bool {
        matches!(self.kind, RunKind::Imported(_))
    }

    /// A trained run with every epoch done, or an imported one.
    pub fn is_finished(&self) -> bool {
        match &self.kind {
            RunKind::Trained { progress, .. } => *progress == Progress::Finished,
            RunKind::Imported(_) => true,
        }
    }

    /// `UniVA` for trained runs, the system's name for imported ones.
    pub fn system(&self) -> &str {
        match &self.kind {
            RunKind::Trained { .. } => UNIVA_SYSTEM,
            RunKind::Imported(info) => &info.name,
        }
    }

    pub fn dataset_name(&self) -> &str {
        match &self.kind {
            RunKind::Trained { info, .. } => &info.dataset_name,
            RunKind::Imported(info) => &info.dataset_name,
        }
    }

    /// The dataset folder the run records, relative paths taken from the run folder.
    pub fn recorded_dataset(&self) -> Option<PathBuf> {
        let path = match &self.kind {
            RunKind::Trained { info, .. } => info.dataset_path.clone()?,
            RunKind::Imported(info) => info.dataset_path.clone(),
        };
        Some(if path.is_absolute() { path } else { self.dir.join(path) })
    }

    /// The dataset to evaluate on: `given` if any, else the one the run records.
    pub fn dataset(&self, given: Option<&Path>) -> Result<PathBuf, RunsError> {
        if let Some(given) = given {
            return Ok(given.to_path_buf());
        }
        let Some(recorded) = self.recorded_dataset() else {
            return Err(RunsError::NoDataset { run: self.dir.clone() });
        };
        if !recorded.is_dir() {
            return Err(RunsError::DatasetMissing { run: self.dir.clone(), dataset: recorded });
        }
        Ok(recorded)
    }

    /// The configuration as dotted keys, plus `system` and `dataset` (the dataset's name).
    pub fn flat_config(&self) -> FlatConfig {
        let mut flat = match &self.kind {
            // Through text, as config.json stores it: `to_value` would widen an f32 such as
            // δ = 0.05 to 0.05000000074505806.
            RunKind::Trained { info, .. } => serde_json::to_string(&info.config)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .map(|v| flatten(&v))
                .unwrap_or_default(),
            RunKind::Imported(_) => FlatConfig::new(),
        };
        flat.insert("system".to_owned(), Value::String(self.system().to_owned()));
        flat.insert("dataset".to_owned(), Value::String(self.dataset_name().to_owned()));
        flat
    }

    /// A few words on the run's state, for listings.
    pub fn status(&self) -> String {
        match &self.kind {
            RunKind::Trained { progress: Progress::Finished, .. } => "finished".to_owned(),
            RunKind::Trained { progress: Progress::Partial { epochs_done, epochs }, .. } => {
                format!("{epochs_done} of {epochs} epochs")
            }
            RunKind::Trained { progress: Progress::NoModel, .. } => "no checkpoint yet".to_owned(),
            RunKind::Imported(info) => format!("imported predictions ({} rows)", info.rows),
        }
    }
}

fn progress(dir: &Path, info: &RunInfo) -> Progress {
    if !dir.join(train::run::BEST_WEIGHTS).is_file() {
        return Progress::NoModel;
    }
    let state = std::fs::read_to_string(dir.join(train::run::TRAINER_STATE))
        .ok()
        .and_then(|text| serde_json::from_str::<TrainerState>(&text).ok());
    match state {
        Some(state) if state.epochs_done < info.config.train.epochs => {
            Progress::Partial { epochs_done: state.epochs_done, epochs: info.config.train.epochs }
        }
        _ => Progress::Finished,
    }
}

/// Every folder under `root` (or `root` itself) holding a config.json, sorted. A run's own
/// subfolders, hidden folders and symbolic links are not searched.
pub fn discover(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(root, 0, &mut found);
    found.sort();
    found
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if dir.join(CONFIG_FILE).is_file() {
        found.push(dir.to_path_buf());
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&entry.path(), depth + 1, found);
        }
    }
}

/// How a listing names a run: its path under `root`, or its whole path when it lies elsewhere.
pub fn display_name(root: &Path, dir: &Path) -> String {
    match dir.strip_prefix(root) {
        Ok(relative) if !relative.as_os_str().is_empty() => relative.display().to_string(),
        _ => dir.display().to_string(),
    }
}

/// Computes runs' metrics, opening each dataset once.
pub struct Evaluator {
    device: Device,
    datasets: HashMap<PathBuf, Dataset>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator").field("datasets", &self.datasets.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Evaluator {
    pub fn new(device: Device) -> Self {
        Self { device, datasets: HashMap::new() }
    }

    /// Metrics of `run` on `split` of the dataset at `dataset`. A trained run is evaluated by
    /// the call `univa eval` makes (`train::evaluate` at the run's threshold ζ), so the numbers
    /// are the ones `univa eval --json` prints; an imported run's come from its predictions.
    pub fn metrics(&mut self, run: &Run, dataset: &Path, split: Split) -> Result<Metrics, RunsError> {
        if !self.datasets.contains_key(dataset) {
            let opened =
                Dataset::open(dataset).map_err(|source| RunsError::Dataset { run: run.dir.clone(), source })?;
            self.datasets.insert(dataset.to_path_buf(), opened);
        }
        let Some(data) = self.datasets.get(dataset) else {
            return Err(RunsError::DatasetMissing { run: run.dir.clone(), dataset: dataset.to_path_buf() });
        };
        match &run.kind {
            RunKind::Trained { .. } => {
                let wrap = |source| RunsError::Train { run: run.dir.clone(), source };
                let trained = train::load_run(&run.dir, &self.device).map_err(wrap)?;
                let threshold = trained.info.config.train.threshold;
                Ok(train::evaluate(&trained, data, split, threshold).map_err(wrap)?.metrics)
            }
            RunKind::Imported(info) => ImportedPredictions::load_with(&run.dir, (**info).clone())?.metrics(data, split),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_finds_nested_runs_and_skips_their_insides_and_hidden_folders() {
        let root = tempfile::tempdir().unwrap();
        let make = |relative: &str| {
            let dir = root.path().join(relative);
            std::fs::create_dir_all(&dir).unwrap();
            crate::fsutil::write_atomic(&dir.join(CONFIG_FILE), b"{}").unwrap();
        };
        make("plain");
        make("delta-sweep/loss.delta=0.1");
        make("delta-sweep/loss.delta=0.3");
        make("plain/inner");
        make(".trash/old");
        std::fs::create_dir_all(root.path().join("empty/deeper")).unwrap();
        let names: Vec<String> = discover(root.path()).iter().map(|d| display_name(root.path(), d)).collect();
        assert_eq!(names, ["delta-sweep/loss.delta=0.1", "delta-sweep/loss.delta=0.3", "plain"]);
        // A run folder given as the root is itself the one run.
        let plain = root.path().join("plain");
        assert_eq!(discover(&plain), std::slice::from_ref(&plain));
        assert_eq!(display_name(root.path(), &plain), "plain");
        assert_eq!(display_name(&plain, root.path()), root.path().display().to_string());
    }

    #[test]
    fn progress_reads_the_checkpoint_and_trainer_state() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = std::fs::read(crate::bundle::path("models/demo/config.json")).unwrap();
        crate::fsutil::write_atomic(&dir.path().join(CONFIG_FILE), &shipped).unwrap();
        let progress = || match Run::load(dir.path()).unwrap().kind {
            RunKind::Trained { progress, .. } => progress,
            RunKind::Imported(_) => unreachable!(),
        };
        assert_eq!(progress(), Progress::NoModel);
        crate::fsutil::write_atomic(&dir.path().join(train::run::BEST_WEIGHTS), b"").unwrap();
        // No trainer state, as in shipped runs: finished.
        assert_eq!(progress(), Progress::Finished);
        let state = br#"{"epochs_done": 3, "global_step": 30, "best_micro_f1": 0.5, "best_epoch": 2}"#;
        crate::fsutil::write_atomic(&dir.path().join(train::run::TRAINER_STATE), state).unwrap();
        assert_eq!(progress(), Progress::Partial { epochs_done: 3, epochs: 40 });
        let run = Run::load(dir.path()).unwrap();
        assert!(!run.is_finished());
        assert_eq!(run.status(), "3 of 40 epochs");
        // The shipped run records its dataset relative to its folder.
        assert_eq!(run.recorded_dataset(), Some(dir.path().join("../../assets/demo")));
        assert_eq!(run.flat_config()["loss.delta"], serde_json::json!(0.1));
        assert_eq!(run.flat_config()["system"], serde_json::json!(UNIVA_SYSTEM));
    }

    #[test]
    fn a_config_that_is_neither_kind_of_run_is_a_one_line_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        crate::fsutil::write_atomic(&dir.path().join(CONFIG_FILE), br#"{"hidden_size": 8}"#).unwrap();
        let err = Run::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.json: not a run of this version") && !err.contains('\n'), "{err}");
        crate::fsutil::write_atomic(&dir.path().join(CONFIG_FILE), br#"{"kind": "imported-predictions"}"#).unwrap();
        let err = Run::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.json: missing field"), "{err}");
    }
}
