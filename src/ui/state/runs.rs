//! State of the run browser (the Runs room): the runs listed, their metrics as the worker
//! answers, the two runs picked for comparison, and the imported systems the case card shows.
//! Plain data, no egui; [`RunsCommand`]s change it (applied in `app/handle_runs.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::dataset::Split;
use crate::metrics::Metrics;
use crate::runs::{self, FlatConfig, ImportedPredictions, MetricKey, Progress, Run, RunKind};

use super::session::Session;

/// The run browser's persisted choices (part of the view settings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunsBrowserSettings {
    /// Run folders added by hand, listed beside those found under the runs folder.
    pub added: Vec<PathBuf>,
    /// Imported runs whose predictions the case card shows, one row per system.
    pub in_case_card: Vec<PathBuf>,
    /// The split the metrics are computed on.
    pub split: Split,
    pub sweep_field: Option<String>,
    pub sweep_metric: MetricKey,
}

impl Default for RunsBrowserSettings {
    fn default() -> Self {
        Self {
            added: Vec::new(),
            in_case_card: Vec::new(),
            split: Split::Test,
            sweep_field: None,
            sweep_metric: MetricKey::default(),
        }
    }
}

/// What the run browser asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum RunsCommand {
    /// List the runs again (runs folder and hand-added folders) and recompute their metrics.
    Rescan,
    /// Ask for another runs folder with the native dialog.
    ChooseRunsDirDialog,
    SetRunsDir(PathBuf),
    /// Ask for a run folder (or a folder of runs) to list beside the runs folder's.
    AddRunFolderDialog,
    AddRunFolder(PathBuf),
    /// Stop listing a hand-added folder.
    RemoveRunFolder(PathBuf),
    SetSplit(Split),
    /// Pick a run for the side-by-side comparison (two at most; a third replaces the oldest),
    /// or unpick it.
    TogglePicked(PathBuf),
    /// Show an imported system's predictions in the case card, or stop showing them.
    SetInCaseCard(PathBuf, bool),
    /// Open the run's dataset in the workbench with the run attached (imported runs: shown in
    /// the case card).
    OpenInWorkbench(PathBuf),
    SetSweepField(String),
    SetSweepMetric(MetricKey),
}

/// A run's metrics on the browser's split.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricsStatus {
    Pending,
    Done(Metrics),
    Failed(String),
}

/// One listed run folder.
#[derive(Clone, Debug)]
pub struct RunEntry {
    pub dir: PathBuf,
    /// Its path under the runs folder, or its whole path.
    pub name: String,
    /// The run, or why its config.json could not be read.
    pub run: Result<Run, String>,
    /// The flattened config (empty when the run could not be read).
    pub config: FlatConfig,
    /// Found under a hand-added folder, or the workbench's run, rather than under the runs folder.
    pub added: bool,
}

/// What the listed run folders look like on disk: each folder with the times its
/// `config.json` (a new best epoch) and `trainer_state.json` (a finished epoch) were written.
type DiskStamp = Vec<(PathBuf, Option<SystemTime>, Option<SystemTime>)>;

/// How often the Runs room looks at the disk for runs that train on or appear.
pub const DISK_LOOK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct RunsState {
    pub entries: Vec<RunEntry>,
    /// Whether the runs have been listed since the room was first shown.
    pub scanned: bool,
    /// Metrics per run folder on `metrics_split`.
    pub metrics: HashMap<PathBuf, MetricsStatus>,
    pub metrics_split: Option<Split>,
    /// The metrics request the answers must carry; older answers are dropped.
    pub request_id: u64,
    pub stop: Option<Arc<AtomicBool>>,
    /// Up to two run folders for the comparison, oldest first.
    pub picked: Vec<PathBuf>,
    /// Imported systems loaded for the case card.
    pub case_card_systems: Vec<ImportedPredictions>,
    /// The listed folders as last seen on disk, and when they were looked at.
    stamp: DiskStamp,
    looked: Option<Instant>,
}

impl RunsState {
    /// Lists the runs under `runs_dir`, under each hand-added folder, and the run attached in
    /// the workbench wherever it lies (each folder once).
    pub fn scan(&mut self, runs_dir: &Path, added: &[PathBuf], attached: Option<&Path>) {
        let mut entries: Vec<RunEntry> = Vec::new();
        // The same folder may be spelled two ways (the workbench's run given as a relative path).
        let mut seen: Vec<PathBuf> = Vec::new();
        let mut push = |dir: PathBuf, name: String, added: bool| {
            let key = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if seen.contains(&key) {
                return;
            }
            seen.push(key);
            let run = Run::load(&dir).map_err(|e| e.to_string());
            let config = run.as_ref().map(Run::flat_config).unwrap_or_default();
            entries.push(RunEntry { dir, name, run, config, added });
        };
        for dir in runs::discover(runs_dir) {
            let name = runs::display_name(runs_dir, &dir);
            push(dir, name, false);
        }
        for folder in added {
            for dir in runs::discover(folder) {
                let name = dir.display().to_string();
                push(dir, name, true);
            }
        }
        if let Some(dir) = attached {
            push(dir.to_path_buf(), format!("{} (the open dataset's run)", dir.display()), true);
        }
        self.entries = entries;
        self.picked.retain(|p| self.entries.iter().any(|e| &e.dir == p));
        self.scanned = true;
        self.stamp = self.disk_stamp(runs_dir, added);
        self.looked = Some(Instant::now());
    }

    /// Once every [`DISK_LOOK_EVERY`]: the run folders that appeared, went or were written since
    /// the listing (a run training on finishes epochs), so that the room follows them without a
    /// rescan; their metrics are forgotten, to be computed again.
    pub fn changed_on_disk(&mut self, runs_dir: &Path, added: &[PathBuf]) -> Vec<PathBuf> {
        if self.looked.is_some_and(|at| at.elapsed() < DISK_LOOK_EVERY) {
            return Vec::new();
        }
        self.looked = Some(Instant::now());
        let now = self.disk_stamp(runs_dir, added);
        if now == self.stamp {
            return Vec::new();
        }
        let changed: Vec<PathBuf> = now
            .iter()
            .filter(|entry| !self.stamp.contains(entry))
            .map(|(dir, _, _)| dir.clone())
            .chain(self.stamp.iter().filter(|(dir, _, _)| !now.iter().any(|(d, _, _)| d == dir)).map(|e| e.0.clone()))
            .collect();
        for dir in &changed {
            self.metrics.remove(dir);
        }
        changed
    }

    fn disk_stamp(&self, runs_dir: &Path, added: &[PathBuf]) -> DiskStamp {
        let written = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        std::iter::once(runs_dir)
            .chain(added.iter().map(PathBuf::as_path))
            .flat_map(runs::discover)
            .map(|dir| {
                let config = written(dir.join(runs::CONFIG_FILE));
                let state = written(dir.join(crate::train::run::TRAINER_STATE));
                (dir, config, state)
            })
            .collect()
    }

    /// Whether a listed run may still change (a trained run with epochs to go, or none yet).
    pub fn any_unfinished(&self) -> bool {
        self.entries.iter().any(|e| {
            matches!(&e.run, Ok(run) if matches!(run.kind, RunKind::Trained { progress: Progress::Partial { .. } | Progress::NoModel, .. }))
        })
    }

    pub fn entry(&self, dir: &Path) -> Option<&RunEntry> {
        self.entries.iter().find(|e| e.dir == dir)
    }

    pub fn status(&self, dir: &Path) -> Option<&MetricsStatus> {
        self.metrics.get(dir)
    }

    pub fn done(&self, dir: &Path) -> Option<&Metrics> {
        match self.metrics.get(dir) {
            Some(MetricsStatus::Done(m)) => Some(m),
            _ => None,
        }
    }

    /// Finished runs with metrics, in listing order: the rows of the table and the sweep plot.
    pub fn finished(&self) -> Vec<(&RunEntry, &Metrics)> {
        self.entries
            .iter()
            .filter(|e| e.run.as_ref().is_ok_and(Run::is_finished))
            .filter_map(|e| self.done(&e.dir).map(|m| (e, m)))
            .collect()
    }

    /// Whether the worker still owes answers to the current request.
    pub fn computing(&self) -> bool {
        self.metrics.values().any(|s| *s == MetricsStatus::Pending)
    }

    /// Stops the current metrics request (its remaining runs stay pending until asked again).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.store(true, Ordering::Relaxed);
        }
    }

    /// Applies a worker answer to request `request_id`.
    pub fn apply(&mut self, request_id: u64, update: RunMetricsUpdate) {
        if request_id != self.request_id {
            return;
        }
        match update {
            RunMetricsUpdate::Run { dir, result } => {
                let status = match result {
                    Ok(metrics) => MetricsStatus::Done(metrics),
                    Err(error) => MetricsStatus::Failed(error),
                };
                self.metrics.insert(dir, status);
            }
            RunMetricsUpdate::Done => {
                self.stop = None;
                // A stopped request leaves runs unanswered; they are asked again on the next scan.
                self.metrics.retain(|_, s| *s != MetricsStatus::Pending);
            }
        }
    }

    /// The imported systems to show in the case card of `session`'s dataset.
    pub fn systems_for<'a>(&'a self, session: &Session) -> Vec<&'a ImportedPredictions> {
        self.case_card_systems.iter().filter(|s| s.info.dataset_name == session.dataset.manifest.name).collect()
    }
}

/// The dataset to evaluate `run` on: the one it records, else the workbench's open dataset when
/// its name is the run's (runs written before the dataset path was recorded).
pub fn dataset_for(run: &Run, session: Option<&Session>) -> Result<PathBuf, String> {
    match run.dataset(None) {
        Ok(path) => Ok(path),
        Err(error) => match session {
            Some(session) if session.dataset.manifest.name == run.dataset_name() => Ok(session.dataset.root.clone()),
            _ => Err(error.to_string()),
        },
    }
}

#[derive(Debug)]
pub enum RunMetricsUpdate {
    /// Not an answer: one run's metrics, or why they could not be computed.
    Run { dir: PathBuf, result: Result<Metrics, String> },
    /// Every run answered, or the job was stopped.
    Done,
}
