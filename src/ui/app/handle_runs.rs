//! How the run browser's commands change the app (the Runs panes' part of `handle.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::runs::{ImportedPredictions, RunKind};

use super::StudioApp;
use super::file_dialog::FileDialog;
use super::worker::Job;
use crate::ui::state::{Command, Layout, MetricsStatus, Notice, RunsCommand, WorkspaceCommand, dataset_for};

impl StudioApp {
    pub(super) fn handle_runs(&mut self, command: RunsCommand) {
        match command {
            RunsCommand::Rescan => self.rescan_runs(),
            RunsCommand::ChooseRunsDirDialog => {
                let dialog = FileDialog::new("Folder of run folders").directory(&self.settings.runs_dir);
                if let Some(dir) = dialog.pick_folder() {
                    self.handle_runs(RunsCommand::SetRunsDir(dir));
                }
            }
            RunsCommand::SetRunsDir(dir) => {
                // One runs folder for the run browser and the Training room's jobs: its job list
                // opens again on the new folder, which it cannot while jobs run in the old one.
                if self.training.manager.as_ref().is_some_and(crate::jobs::JobManager::is_active) {
                    self.notice = Some(Notice::error(
                        "Jobs are queued or running in this runs folder; wait or cancel them first.",
                    ));
                    return;
                }
                self.training.manager = None;
                self.settings.runs_dir = dir;
                self.rescan_runs();
            }
            RunsCommand::AddRunFolderDialog => {
                if let Some(dir) = FileDialog::new("Add a run folder (or a folder of runs)").pick_folder() {
                    self.handle_runs(RunsCommand::AddRunFolder(dir));
                }
            }
            RunsCommand::AddRunFolder(dir) => {
                if crate::runs::discover(&dir).is_empty() {
                    self.notice = Some(Notice::error(format!(
                        "{} holds no run folders (none with a {})",
                        dir.display(),
                        crate::runs::CONFIG_FILE
                    )));
                    return;
                }
                let added = &mut self.settings.runs_browser.added;
                if !added.contains(&dir) {
                    added.push(dir);
                }
                self.rescan_runs();
            }
            RunsCommand::RemoveRunFolder(dir) => {
                self.settings.runs_browser.added.retain(|d| d != &dir);
                self.rescan_runs();
            }
            RunsCommand::SetSplit(split) => {
                self.settings.runs_browser.split = split;
                self.request_run_metrics(false);
            }
            RunsCommand::TogglePicked(dir) => {
                let picked = &mut self.runs.picked;
                if let Some(position) = picked.iter().position(|p| p == &dir) {
                    picked.remove(position);
                } else {
                    if picked.len() == 2 {
                        picked.remove(0);
                    }
                    picked.push(dir);
                }
            }
            RunsCommand::SetInCaseCard(dir, on) => self.set_in_case_card(dir, on),
            RunsCommand::OpenInWorkbench(dir) => self.open_run_in_workbench(&dir),
            RunsCommand::SetSweepField(field) => self.settings.runs_browser.sweep_field = Some(field),
            RunsCommand::SetSweepMetric(metric) => self.settings.runs_browser.sweep_metric = metric,
        }
    }

    /// Lists the runs again and asks for every run's metrics.
    pub(super) fn rescan_runs(&mut self) {
        self.list_runs();
        self.request_run_metrics(false);
    }

    /// Lists the runs (the runs folder's, the added folders', the workbench's).
    pub(super) fn list_runs(&mut self) {
        let attached = self.session.as_ref().and_then(|s| s.run.as_ref()).map(|run| run.dir.clone());
        self.runs.scan(&self.settings.runs_dir, &self.settings.runs_browser.added, attached.as_deref());
    }

    /// Asks the worker for the metrics of the listed runs on the browser's split; with
    /// `only_missing`, only of those without metrics on it (e.g. once a dataset is open that a
    /// run can be evaluated on).
    pub(super) fn request_run_metrics(&mut self, only_missing: bool) {
        let split = self.settings.runs_browser.split;
        if self.runs.metrics_split != Some(split) {
            self.runs.metrics.clear();
            self.runs.metrics_split = Some(split);
        } else if !only_missing {
            self.runs.metrics.clear();
        }
        self.runs.stop();
        let mut jobs = Vec::new();
        for entry in &self.runs.entries {
            if matches!(self.runs.metrics.get(&entry.dir), Some(MetricsStatus::Done(_))) {
                continue;
            }
            let Ok(run) = &entry.run else { continue };
            if let RunKind::Trained { progress: crate::runs::Progress::NoModel, .. } = run.kind {
                continue;
            }
            match dataset_for(run, self.session.as_ref()) {
                Ok(dataset) => {
                    jobs.push((run.clone(), dataset));
                    self.runs.metrics.insert(entry.dir.clone(), MetricsStatus::Pending);
                }
                Err(error) => {
                    self.runs.metrics.insert(entry.dir.clone(), MetricsStatus::Failed(error));
                }
            }
        }
        if jobs.is_empty() {
            return;
        }
        self.runs.request_id += 1;
        let request_id = self.runs.request_id;
        let stop = Arc::new(AtomicBool::new(false));
        let Some(worker) = self.started_worker() else { return };
        match worker.submit(Job::RunMetrics { request_id, runs: jobs, split, stop: Arc::clone(&stop) }) {
            Ok(()) => self.runs.stop = Some(stop),
            Err(error) => {
                self.runs.metrics.retain(|_, s| *s != MetricsStatus::Pending);
                self.notice = Some(Notice::error(error));
            }
        }
    }

    /// Loads (or drops) an imported system's predictions for the case card.
    fn set_in_case_card(&mut self, dir: PathBuf, on: bool) {
        let listed = &mut self.settings.runs_browser.in_case_card;
        listed.retain(|d| d != &dir);
        self.runs.case_card_systems.retain(|s| s.dir != dir);
        if !on {
            return;
        }
        match ImportedPredictions::load(&dir) {
            Ok(system) => {
                listed.push(dir);
                self.runs.case_card_systems.push(system);
            }
            Err(error) => self.notice = Some(Notice::error(format!("Could not load {}: {error}", dir.display()))),
        }
    }

    /// Loads the systems the settings list for the case card (at start-up); drops those that
    /// cannot be read any more.
    pub(super) fn load_case_card_systems(&mut self) {
        let listed = std::mem::take(&mut self.settings.runs_browser.in_case_card);
        for dir in listed {
            self.set_in_case_card(dir, true);
        }
    }

    fn open_run_in_workbench(&mut self, dir: &Path) {
        let Some(entry) = self.runs.entry(dir) else { return };
        let run = match &entry.run {
            Ok(run) => run.clone(),
            Err(error) => {
                self.notice = Some(Notice::error(error.clone()));
                return;
            }
        };
        let dataset = match dataset_for(&run, self.session.as_ref()) {
            Ok(dataset) => dataset,
            Err(error) => {
                self.notice = Some(Notice::error(error));
                return;
            }
        };
        // The worker runs one job at a time: the browser's metrics would hold the opening up.
        self.runs.stop();
        self.handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::CaseStudy)));
        if run.is_imported() {
            self.set_in_case_card(run.dir.clone(), true);
            let open = self.session.as_ref().map(|s| s.dataset.root.as_path());
            let same = open
                .zip(std::fs::canonicalize(&dataset).ok())
                .is_some_and(|(open, wanted)| std::fs::canonicalize(open).is_ok_and(|open| open == wanted));
            if !same {
                self.handle(Command::Open { dataset, run: None });
            }
        } else {
            self.handle(Command::Open { dataset, run: Some(run.dir) });
        }
    }
}
