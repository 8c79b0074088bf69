//! Every [`Command`] applied in one place (STYLE.md 2), after the frame's drawing; file
//! dialogs are opened here, and their answers passed on as the commands that set them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::projection::EmbeddingRequest;

use super::StudioApp;
use super::figure_export::ExportWindow;
use super::file_dialog::FileDialog;
use super::worker::{Job, Worker};
use crate::ui::panes::case_card_markdown;
use crate::ui::state::{
    AuditCommand, ClipCommand, Command, EmbeddingMap, MapSide, Notice, TrainingCommand, TrainingPick, next_request_id,
};

impl StudioApp {
    pub fn handle(&mut self, command: Command) {
        match command {
            Command::OpenDialog => {
                if let Some(dataset) = FileDialog::new("Open dataset folder").pick_folder() {
                    self.handle(Command::Open { dataset, run: None });
                }
            }
            Command::AttachRunDialog => {
                let Some(session) = &self.session else { return };
                let dataset = session.dataset.root.clone();
                if let Some(run) = FileDialog::new("Open run folder").directory(&self.settings.runs_dir).pick_folder() {
                    self.handle(Command::Open { dataset, run: Some(run) });
                }
            }
            Command::Open { dataset, run } => self.open(dataset, run),
            Command::Select(index) => {
                if self.session.as_ref().is_some_and(|s| index < s.len()) {
                    if self.view.selected != Some(index) {
                        // What is armed, nudged or typed belongs to the utterance being left.
                        self.audit(AuditCommand::Leave);
                    }
                    self.view.selected = Some(index);
                    self.view.scroll_to_selected = true;
                }
            }
            Command::SelectNext => self.step_selection(1),
            Command::SelectPrevious => self.step_selection(-1),
            Command::SetThreshold(threshold) => {
                self.settings.threshold = threshold.clamp(0.0, 1.0);
                self.refresh();
            }
            Command::SetFilter(filter) => {
                self.view.filter = filter;
                self.refresh();
            }
            Command::SetMetricsSplit(split) => {
                self.settings.metrics_split = split;
                self.view.sweep_split = None;
                self.refresh();
            }
            Command::SetShowCloud(show) => self.settings.show_cloud = show,
            Command::SetCloudModality(modality, on) => {
                if let Some(slot) = self.settings.cloud_modalities.get_mut(modality.index()) {
                    *slot = on;
                }
            }
            Command::Explain(command) => self.handle_explain(command),
            Command::ExportCaseCard => self.export_case_card(),
            Command::ComputeEmbedding(request) => self.start_embedding(request),
            Command::StopEmbedding => self.view.embedding.stop(),
            Command::SetEmbeddingColour(colour) => self.settings.embedding_colour = colour,
            Command::SetEmbeddingLabel(label) => self.settings.embedding_label = label,
            Command::SetEmbeddingSettings(embedding) => self.settings.embedding = embedding,
            Command::SetEmbeddingCompareRun(run) => self.set_compare_run(run),
            Command::ChooseEmbeddingCompareRun => {
                if let Some(run) = FileDialog::new("Run folder to map beside this one")
                    .directory(&self.settings.runs_dir)
                    .pick_folder()
                {
                    self.set_compare_run(Some(run));
                }
            }
            Command::SaveEmbeddingCsv(side, path) => self.save_embedding_csv(side, path),
            Command::Transport(transport) => self.player.apply(transport, &mut self.settings.playback),
            Command::DismissNotice => self.notice = None,
            Command::Training(command) => {
                if let Some(notice) = self.training.apply(command, self.session.as_ref(), &mut self.settings.runs_dir) {
                    self.notice = Some(notice);
                }
            }
            Command::ChooseForTraining(pick) => {
                if let Some(command) = self.choose_for_training(pick) {
                    self.handle(Command::Training(command));
                }
            }
            Command::Runs(command) => self.handle_runs(command),
            Command::ExportFigure(request) => self.figure_export = Some(ExportWindow::new(request)),
            Command::Workspace(command) => self.handle_workspace(command),
            Command::Audit(command) => self.audit(command),
            Command::PredictOnClip(command) => self.predict_on_clip(command),
        }
    }

    pub(super) fn audit(&mut self, command: AuditCommand) {
        let command = match command {
            AuditCommand::PickStoreDialog => {
                let picked =
                    FileDialog::new("Choose or create an audit store").filter("UniVA store", &["sqlite"]).save_file();
                let Some(store) = picked else { return };
                let store = Some(crate::store::StoreAddress::File(store));
                AuditCommand::Start { store, remembered: self.settings.last_annotator.clone() }
            }
            AuditCommand::PickMergeDialog => {
                let dialog =
                    FileDialog::new("Merge another audit store of this dataset").filter("UniVA store", &["sqlite"]);
                let dialog = match self.session.as_ref() {
                    Some(session) => dialog.directory(&session.dataset.root),
                    None => dialog,
                };
                let Some(store) = dialog.pick_file() else { return };
                AuditCommand::PreviewMerge(store)
            }
            other => other,
        };
        let Some(session) = &self.session else { return };
        let outcome =
            self.view.audit.apply(command, session, self.view.selected, &self.view.rows, self.settings.threshold);
        self.refresh_audited_rows();
        if let Some(name) = outcome.annotator {
            self.settings.last_annotator = Some(name);
        }
        if let Some(server) = outcome.server {
            self.settings.last_server = Some(server);
        }
        if let Some(notice) = outcome.notice {
            self.notice = Some(notice);
        }
        if let Some(index) = outcome.select {
            self.handle(Command::Select(index));
        }
    }

    /// Asks for what the training form wants chosen; `None` when the dialog was cancelled.
    fn choose_for_training(&self, pick: TrainingPick) -> Option<TrainingCommand> {
        match pick {
            TrainingPick::RunsDir => FileDialog::new("Runs folder")
                .directory(&self.settings.runs_dir)
                .pick_folder()
                .map(TrainingCommand::SetRunsDir),
            TrainingPick::Dataset => {
                let mut dialog = FileDialog::new("Dataset folder to train on");
                let current = self.training.form.dataset.trim();
                if !current.is_empty() {
                    dialog = dialog.directory(current);
                }
                dialog.pick_folder().map(TrainingCommand::SetDataset)
            }
            TrainingPick::Overlay => FileDialog::new("VA overlay to train on")
                .filter("VA overlay", &["csv"])
                .pick_file()
                .map(TrainingCommand::SetOverlay),
        }
    }

    fn predict_on_clip(&mut self, command: ClipCommand) {
        match command {
            ClipCommand::Choose => {
                let picked = FileDialog::new("Clip to predict on")
                    .filter("Video or audio", &["mp4", "mkv", "webm", "mov", "avi", "wav", "mp3", "flac", "ogg", "m4a"])
                    .pick_file();
                let Some(clip) = picked else { return };
                match crate::explain::clip::transcript(&clip, None, None) {
                    Ok(found) => self.clip.draft = Some((clip, found.unwrap_or_default())),
                    Err(error) => self.notice = Some(Notice::error(error.to_string())),
                }
            }
            ClipCommand::SetTranscript(text) => {
                if let Some((_, transcript)) = &mut self.clip.draft {
                    *transcript = text;
                }
            }
            ClipCommand::Predict => {
                let run = self.session.as_ref().and_then(|s| s.run.as_ref()).map(|r| r.dir.clone());
                let (Some(run), Some((clip, transcript))) = (run, self.clip.draft.clone()) else {
                    self.notice = Some(Notice::error("Open a trained run (File → Open run…) to predict on a clip."));
                    return;
                };
                let transcript = Some(transcript).filter(|t| !t.trim().is_empty());
                let scratch = match self.clip.scratch.clone().map_or_else(crate::explain::clip::scratch_root, Ok) {
                    Ok(scratch) => scratch,
                    Err(error) => {
                        self.notice = Some(Notice::error(error.to_string()));
                        return;
                    }
                };
                let Some(worker) = self.started_worker() else { return };
                match worker.submit(Job::AcquireClip { run, clip: clip.clone(), transcript, scratch }) {
                    Ok(()) => {
                        self.clip.acquiring = Some((0, 0));
                        self.notice = Some(Notice::info(format!("Acquiring {}…", clip.display())));
                    }
                    Err(error) => self.notice = Some(Notice::error(error)),
                }
            }
            ClipCommand::Close => {
                if self.clip.acquiring.is_none() {
                    self.clip.draft = None;
                }
            }
        }
    }

    fn open(&mut self, dataset: PathBuf, run: Option<PathBuf>) {
        // The audit of the dataset being left saves what is in progress.
        self.audit(AuditCommand::Leave);
        // The worker runs one job at a time: a projection in progress would hold the opening up.
        self.view.embedding.stop();
        let Some(worker) = self.started_worker() else { return };
        let message = format!("Opening {}…", dataset.display());
        match worker.submit(Job::Open { dataset, run }) {
            Ok(()) => self.notice = Some(Notice::info(message)),
            Err(error) => self.notice = Some(Notice::error(error)),
        }
    }

    /// The worker, started on first use; `None`, with an error notice, if it cannot start.
    pub(super) fn started_worker(&mut self) -> Option<&mut Worker> {
        if self.worker.is_none() {
            match Worker::start() {
                Ok(worker) => self.worker = Some(worker),
                Err(error) => {
                    self.notice = Some(Notice::error(format!("Could not start the background worker: {error}")));
                    return None;
                }
            }
        }
        self.worker.as_mut()
    }

    fn step_selection(&mut self, delta: isize) {
        let rows = &self.view.rows;
        if rows.is_empty() {
            return;
        }
        let position = self.view.selected.and_then(|s| rows.iter().position(|&r| r == s));
        let next = match position {
            Some(p) => p.saturating_add_signed(delta).min(rows.len() - 1),
            None => 0,
        };
        if let Some(&index) = rows.get(next) {
            self.handle(Command::Select(index));
        }
    }

    fn export_case_card(&mut self) {
        let (Some(session), Some(index)) = (&self.session, self.view.selected) else { return };
        let systems = self.runs.systems_for(session);
        let Some(markdown) = case_card_markdown(session, index, self.settings.threshold, &systems) else { return };
        let name = session.utterance(index).map_or_else(|| "case".to_owned(), |u| u.id.clone());
        let Some(path) = FileDialog::new("Save the case card as Markdown").file_name(format!("{name}.md")).save_file()
        else {
            return;
        };
        self.notice = Some(match crate::fsutil::write_atomic(&path, markdown.as_bytes()) {
            Ok(()) => Notice::info(format!("Saved the case card to {}", path.display())),
            Err(error) => Notice::error(format!("Could not save {}: {error}", path.display())),
        });
    }
}

impl StudioApp {
    /// Starts projecting the attached run's representations, and the compared run's, on the
    /// worker thread (one job each, answered in turn).
    pub(super) fn start_embedding(&mut self, request: EmbeddingRequest) {
        let Some(session) = &self.session else { return };
        let Some(run) = &session.run else {
            self.notice = Some(Notice::error("Attach a trained run (File → Open run…) to compute its embedding."));
            return;
        };
        let (dataset, run) = (session.dataset.root.clone(), run.dir.clone());
        let compare = self.view.embedding.compare_run.clone();
        self.view.embedding.stop();
        let Some(worker) = self.started_worker() else { return };
        let method = request.method;
        let mut submit = |run: PathBuf| -> Result<(u64, Arc<AtomicBool>), String> {
            let request_id = next_request_id();
            let stop = Arc::new(AtomicBool::new(false));
            let job = Job::Embed {
                request_id,
                dataset: dataset.clone(),
                run,
                request: request.clone(),
                stop: Arc::clone(&stop),
            };
            worker.submit(job).map(|()| (request_id, stop))
        };
        let main = submit(run);
        let other = compare.map(&mut submit);
        match main {
            Ok((request_id, stop)) => self.view.embedding.start_main(request_id, method, stop),
            Err(error) => self.notice = Some(Notice::error(error)),
        }
        match other {
            Some(Ok((request_id, stop))) => self.view.embedding.compare.start(request_id, method, stop),
            Some(Err(error)) => self.notice = Some(Notice::error(error)),
            None => {}
        }
    }

    /// Saves one of the tab's maps as `univa project` writes it, asking where when no path
    /// is given.
    fn save_embedding_csv(&mut self, side: MapSide, path: Option<PathBuf>) {
        let Some(session) = &self.session else { return };
        let run = match side {
            MapSide::Attached => session.run.as_ref().map(|run| run.dir.clone()),
            MapSide::Compared => self.view.embedding.compare_run.clone(),
        };
        let name = run
            .as_deref()
            .and_then(Path::file_name)
            .map_or_else(|| "embedding-map.csv".to_owned(), |name| format!("{}-map.csv", name.to_string_lossy()));
        let Some(path) = path.or_else(|| FileDialog::new("Save the map as CSV").file_name(name).save_file()) else {
            return;
        };
        let points = side.points(&self.view.embedding);
        let written = crate::projection::map_csv(points, &session.dataset)
            .and_then(|bytes| crate::fsutil::write_atomic(&path, &bytes));
        self.notice = Some(match written {
            Ok(()) => Notice::info(format!("Saved {} map points to {}", points.len(), path.display())),
            Err(error) => Notice::error(format!("Could not save {}: {error}", path.display())),
        });
    }

    /// Chooses (or clears) the run mapped beside the attached one; its old map goes.
    fn set_compare_run(&mut self, run: Option<PathBuf>) {
        self.view.embedding.compare.stop();
        self.view.embedding.compare = EmbeddingMap::default();
        self.view.embedding.compare_run = run;
    }
}
