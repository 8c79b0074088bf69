//! The application: the state it owns, the eframe `App` (logic apart from drawing), the window's
//! frame (menu bar, status bar, the tile tree or the maximised pane) and the one place
//! commands are applied (`handle.rs`). Above the panes and the state: nothing imports it.

mod clip_window;
mod explain;
mod explainers;
mod figure_export;
mod file_dialog;
mod handle;
mod handle_runs;
mod handle_workspace;
mod keys;
mod menu;
mod tiles;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

pub use figure_export::{ExportSettings, RunProbabilities, figure_for};
pub use keys::{BINDINGS, Binding, MORE_BINDINGS, When};

use self::figure_export::ExportWindow;
use self::worker::{JobResult, Worker};
use super::panes::{self, PaneContext};
use super::state::{
    AuditCommand, ClipPrediction, Cloud, Command, DISK_LOOK_EVERY, NUDGE_SETTLE, Notice, Pane, PlayerPanel, RunsState,
    Session, Theme, TrainingState, ViewSettings, ViewState,
};
use crate::jobs::JobManager;

/// The panes of the run browser and of training: the app looks at the disk and the jobs only
/// while one of them is shown.
const RUNS_PANES: [Pane; 4] = [Pane::Runs, Pane::RunsTable, Pane::ConfigDiff, Pane::RunsSweep];
const TRAINING_PANES: [Pane; 3] = [Pane::TrainingForm, Pane::Jobs, Pane::Curves];

pub struct StudioApp {
    pub settings: ViewSettings,
    pub session: Option<Session>,
    pub view: ViewState,
    pub notice: Option<Notice>,
    pub player: PlayerPanel,
    /// The run browser's state.
    pub runs: RunsState,
    /// Training's launch form and jobs (kept across datasets).
    pub training: TrainingState,
    worker: Option<Worker>,
    /// The window title last sent to the window.
    title: String,
    /// File → "Predict on a clip…".
    pub clip: ClipPrediction,
    /// Whether the first window has been fitted to the screen it opened on.
    fitted: bool,
    /// The figure export window, while open.
    figure_export: Option<ExportWindow>,
    /// Help → Keyboard shortcuts, while open.
    pub shortcuts_open: bool,
    /// What the commands asked of the window (full screen, close), sent after they are applied.
    viewport_commands: Vec<egui::ViewportCommand>,
    /// Each pane's rectangle as last drawn, in points.
    pane_rects: Vec<(Pane, egui::Rect)>,
    /// Where the tile tree was last drawn: a layout is fitted to its content only on a frame
    /// drawn where the last one was (not on the frame a zoom or window size changes).
    tree_area: Option<egui::Rect>,
    /// The theme and zoom last applied to the context.
    applied_look: Option<(Theme, f32)>,
    /// Whether F11 last asked for full screen.
    fullscreen: bool,
}

impl StudioApp {
    pub fn new(settings: ViewSettings) -> Self {
        Self::with_player(settings, PlayerPanel::default())
    }

    /// [`Self::new`] with a given player panel (e.g. one that never opens a sound output).
    pub fn with_player(settings: ViewSettings, player: PlayerPanel) -> Self {
        let mut app = Self {
            settings,
            session: None,
            view: ViewState::default(),
            notice: None,
            player,
            runs: RunsState::default(),
            training: TrainingState::default(),
            worker: None,
            title: String::new(),
            clip: ClipPrediction::default(),
            fitted: false,
            figure_export: None,
            shortcuts_open: false,
            viewport_commands: Vec::new(),
            pane_rects: Vec::new(),
            tree_area: None,
            applied_look: None,
            fullscreen: false,
        };
        app.load_case_card_systems();
        app
    }

    /// Created by eframe: restores persisted view settings, then queues the launch dataset.
    pub fn from_creation_context(cc: &eframe::CreationContext<'_>, launch: Option<(PathBuf, Option<PathBuf>)>) -> Self {
        let settings = cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default();
        let mut app = Self::new(settings);
        if let Some((dataset, run)) = launch {
            app.handle(Command::Open { dataset, run });
        }
        app
    }

    /// Shrinks the first window to the screen it opened on once the screen's size is known (the
    /// default size is taller than a 768 px laptop screen).
    fn fit_to_screen(&mut self, ctx: &egui::Context) {
        if self.fitted {
            return;
        }
        let (inner, monitor) = ctx.input(|i| (i.viewport().inner_rect, i.viewport().monitor_size));
        let (Some(inner), Some(monitor)) = (inner, monitor) else { return };
        self.fitted = true;
        if let Some(size) = fitted_size(inner.size(), monitor) {
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
            ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(egui::Pos2::ZERO));
        }
    }

    /// "UniVA Studio — <dataset> · <run>": what the window is showing, for the task bar.
    pub fn window_title(&self) -> String {
        let Some(session) = &self.session else { return APP_NAME.to_owned() };
        let dataset = &session.dataset.manifest.name;
        match session.run.as_ref().and_then(|run| run.dir.file_name()) {
            Some(run) => format!("{APP_NAME} — {dataset} · {}", run.to_string_lossy()),
            None => format!("{APP_NAME} — {dataset}"),
        }
    }

    pub fn is_loading(&self) -> bool {
        self.worker.as_ref().is_some_and(Worker::is_busy)
    }

    /// Applies finished background results. Called from `logic` every frame.
    pub fn poll_worker(&mut self) {
        while let Some(result) = self.worker.as_mut().and_then(Worker::poll) {
            self.apply_result(result);
        }
    }

    /// Blocks until the background jobs are done (tests and benchmarks have no event loop).
    pub fn wait_for_worker(&mut self) {
        while let Some(result) = self.worker.as_mut().and_then(Worker::wait) {
            self.apply_result(result);
        }
    }

    fn apply_result(&mut self, result: JobResult) {
        match result {
            JobResult::Opened { dataset, session } => {
                self.settings.remember(dataset, session.run.as_ref().map(|r| r.dir.clone()));
                let summary = format!(
                    "{}: {} utterances{}",
                    session.dataset.manifest.name,
                    session.len(),
                    session.run.as_ref().map(|r| format!(", run {}", r.dir.display())).unwrap_or_default()
                );
                self.view = ViewState { cloud: Cloud::of(&session), ..ViewState::default() };
                self.session = Some(*session);
                self.notice = Some(Notice::info(summary));
                self.refresh();
                if let Some(&first) = self.view.rows.first() {
                    self.view.selected = Some(first);
                }
                // The listing gains the attached run; runs that record no dataset may be
                // evaluable on this one.
                if self.runs.scanned {
                    self.list_runs();
                    self.request_run_metrics(true);
                }
            }
            JobResult::Failed(message) => self.notice = Some(Notice::error(message)),
            JobResult::Embedding { request_id, update } => {
                if let Some(notice) = self.view.embedding.apply(request_id, update) {
                    self.notice = Some(notice);
                }
            }
            JobResult::RunMetrics { request_id, update } => self.runs.apply(request_id, update),
            JobResult::Explained { run, utterance, result } => self.view.explain.apply(run, utterance, result),
            JobResult::ClipProgress { done, total } => self.clip.acquiring = Some((done, total)),
            JobResult::ClipAcquired { run, result } => {
                self.clip.draft = None;
                self.clip.acquiring = None;
                match result {
                    Ok((dataset, failures)) => {
                        self.handle(Command::Open { dataset, run: Some(run) });
                        if !failures.is_empty() {
                            self.notice = Some(Notice::error(format!("The clip has {}", failures.join("; "))));
                        }
                    }
                    Err(error) => self.notice = Some(Notice::error(error)),
                }
            }
        }
    }

    /// Recomputes what depends on the filter, threshold or metrics split.
    pub(super) fn refresh(&mut self) {
        let Some(session) = &self.session else { return };
        let threshold = self.settings.threshold;
        self.view.rows = self.view.filter.apply(session, threshold, &self.view.audit);
        let split = self.settings.metrics_split;
        self.view.metrics = session.metrics(split, threshold);
        if self.view.sweep_split != Some(split) {
            self.view.sweep = session.sweep(split);
            self.view.sweep_split = Some(split);
        }
    }

    /// Refilters the browser's rows after judgments changed, when the filter looks at them.
    pub(super) fn refresh_audited_rows(&mut self) {
        let Some(session) = &self.session else { return };
        if self.view.filter.audited != crate::ui::state::AuditedFilter::Any {
            self.view.rows = self.view.filter.apply(session, self.settings.threshold, &self.view.audit);
        }
    }

    /// Takes dropped folders as datasets to open.
    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        for path in dropped {
            if path.is_dir() {
                self.handle(Command::Open { dataset: path, run: None });
            } else {
                self.notice = Some(Notice::error(format!("{} is not a folder; drop a dataset folder", path.display())));
            }
        }
    }

    /// Whether the layout shown has any of `panes` open.
    fn shows_any(&self, panes: &[Pane]) -> bool {
        panes.iter().any(|&pane| self.settings.workspace.is_open(pane))
    }

    /// Each pane's rectangle as last drawn (points), for tests and measurements.
    pub fn pane_rect(&self, pane: Pane) -> Option<egui::Rect> {
        self.pane_rects.iter().find(|(p, _)| *p == pane).map(|(_, rect)| *rect)
    }

    /// Applies the theme and the layout's zoom when either changed.
    fn apply_look(&mut self, ctx: &egui::Context) {
        let look = (self.settings.theme, self.settings.workspace.zoom());
        if self.applied_look == Some(look) {
            return;
        }
        self.applied_look = Some(look);
        ctx.set_visuals(match look.0 {
            Theme::Dark => egui::Visuals::dark(),
            Theme::Light => egui::Visuals::light(),
        });
        ctx.set_zoom_factor(look.1);
        // The app's own Ctrl+=/−/0 keep a zoom per layout; egui's would change it behind them.
        ctx.options_mut(|o| o.zoom_with_keyboard = false);
    }

    /// The per-frame work that draws nothing: results, drops, playback, repaint while loading.
    pub fn tick(&mut self, ctx: &egui::Context) {
        self.poll_worker();
        self.fit_to_screen(ctx);
        self.apply_look(ctx);
        let title = self.window_title();
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
        if self.shows_any(&RUNS_PANES) {
            if !self.runs.scanned {
                self.rescan_runs();
            } else if !self.runs.changed_on_disk(&self.settings.runs_dir, &self.settings.runs_browser.added).is_empty()
            {
                // A run trained on (or appeared): list again, and compute what was forgotten.
                self.list_runs();
                self.request_run_metrics(true);
            }
            if self.runs.any_unfinished() || self.training.manager.as_ref().is_some_and(JobManager::is_active) {
                ctx.request_repaint_after(DISK_LOOK_EVERY);
            }
        }
        self.dropped_files(ctx);
        if ctx.input(|i| i.viewport().close_requested()) {
            // Nudges and a typed reason in progress are saved before the window goes.
            self.audit(AuditCommand::Leave);
        } else if self.view.audit.has_unsaved_nudges() {
            self.audit(AuditCommand::Settle);
            ctx.request_repaint_after(NUDGE_SETTLE / 4);
        }
        if self.view.audit.store.is_some() {
            // Other annotators' judgments, as the store's watcher finds them (it wakes the
            // window when it has some).
            if self.view.audit.take_changes() {
                self.refresh_audited_rows();
            }
        }
        if self.view.audit.wake.is_none() {
            let ctx = ctx.clone();
            self.view.audit.wake = Some(crate::store::Wake::new(move || ctx.request_repaint()));
        }
        self.player.tick(ctx, self.session.as_ref(), self.view.selected, self.settings.playback);
        if self.is_loading() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        let training_shown = self.shows_any(&TRAINING_PANES);
        if self.training.tick(self.session.as_ref(), &self.settings.runs_dir, training_shown) {
            // Jobs stream events; their channels are drained here.
            ctx.request_repaint_after(Duration::from_millis(200));
        }
    }

    /// Whether the layout shown, `as_shipped`, is fitted to its content this frame: its panes
    /// show an utterance, and they are drawn where the last frame drew them and at the layout's
    /// own zoom (the frame a layout switch lands on is still at the last one's).
    fn ready_to_fit(&mut self, ui: &egui::Ui, as_shipped: bool) -> bool {
        let zoomed = (ui.ctx().zoom_factor() - self.settings.workspace.zoom()).abs() < 1e-3;
        let steady = self.tree_area.replace(ui.max_rect()) == Some(ui.max_rect()) && zoomed;
        let shown = self.settings.workspace.maximized.is_none() && self.view.selected.is_some();
        let ready = as_shipped && shown && !self.is_loading();
        if ready && !steady {
            // The fitting frame follows at once, not at the next input.
            ui.ctx().request_repaint();
        }
        ready && steady
    }

    /// Draws the whole window and applies the commands its panes sent.
    pub fn studio_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        // Before the panes draw, so a focused button does not also take the space bar.
        let mut commands = keys::commands(&ctx, &self.key_state(&ctx));
        let has_run = self.session.as_ref().is_some_and(|s| s.run.is_some());
        egui::Panel::top("menu").show(ui, |ui| {
            menu::menu_bar_ui(ui, &self.settings, self.session.is_some(), has_run, &mut commands);
        });
        let server = self.view.audit.server_status();
        egui::Panel::bottom("status").show(ui, |ui| {
            menu::status_ui(ui, self.notice.as_ref(), self.is_loading(), server.as_ref(), &mut commands);
        });
        egui::CentralPanel::no_frame().show(ui, |ui| self.workspace_ui(ui, &mut commands));
        figure_export::export_window_ui(&ctx, self.session.as_ref(), &mut self.figure_export);
        clip_window::clip_window_ui(&ctx, &self.clip, &mut commands);
        if self.shortcuts_open {
            menu::shortcuts_window_ui(&ctx, &mut commands);
        }
        // The frame was drawn before the commands changed anything: draw the result too.
        if !commands.is_empty() {
            ctx.request_repaint();
        }
        for command in commands {
            self.handle(command);
        }
        for command in self.viewport_commands.drain(..) {
            ctx.send_viewport_cmd(command);
        }
    }

    fn key_state(&self, ctx: &egui::Context) -> keys::KeyState {
        let audit = &self.view.audit;
        let workspace = &self.settings.workspace;
        keys::KeyState {
            typing: ctx.text_edit_focused(),
            auditing: audit.is_auditing() && !audit.review,
            armed: audit.is_auditing() && !audit.review && audit.armed.is_some(),
            maximized: workspace.maximized.is_some(),
            layout: workspace.layout,
            zoom: workspace.zoom(),
        }
    }

    /// The layout's tile tree, the maximised pane alone, or the welcome screen when the layout
    /// shows a dataset and none is open.
    fn workspace_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let layout = self.settings.workspace.layout;
        if layout.needs_dataset() && self.session.is_none() {
            self.pane_rects.clear();
            egui::Frame::central_panel(ui.style()).show(ui, |ui| {
                ui.set_min_size(ui.available_size());
                panes::welcome_ui(ui, &self.settings.recent, self.is_loading(), commands);
            });
            return;
        }
        // A layout as it ships is fitted to the screen once its panes show an utterance (each
        // pane that scrolls gets the height its content wants, within limits); until then it
        // stays as shipped.
        let as_shipped = self.settings.workspace.shows_default();
        let fit = self.ready_to_fit(ui, as_shipped);
        let maximized = self.settings.workspace.maximized;
        // Out of the settings while the panes borrow them; a drag or resize is the user's own
        // arrangement of the layout, put back below.
        let mut tree = self.settings.workspace.take_tree();
        let systems = self.session.as_ref().map(|s| self.runs.systems_for(s)).unwrap_or_default();
        let cx = PaneContext {
            session: self.session.as_ref(),
            view: &self.view,
            settings: &self.settings,
            runs: &self.runs,
            training: &self.training,
            systems,
        };
        let mut behavior = tiles::Behavior {
            cx,
            player: &mut self.player,
            commands,
            rects: Vec::new(),
            wanted: Vec::new(),
            edited: false,
        };
        match maximized {
            Some(pane) => maximized_ui(ui, pane, &mut behavior),
            None => tree.ui(&mut behavior, ui),
        }
        if fit && !behavior.edited {
            tiles::fit_to_content(&mut tree, &behavior.rects, &behavior.wanted);
        }
        self.pane_rects = behavior.rects;
        // A layout as shipped that was not fitted yet stays as shipped, unless the user made
        // it theirs meanwhile.
        if !as_shipped || fit || behavior.edited {
            self.settings.workspace.put_back(tree);
        }
    }
}

/// One pane filling the window, under a bar with its name and the restore button.
fn maximized_ui(ui: &mut egui::Ui, pane: Pane, behavior: &mut tiles::Behavior<'_>) {
    egui::Panel::top("maximized_bar").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.strong(pane.title());
            if ui.button("Restore layout").on_hover_text("Esc").clicked() {
                behavior.commands.push(Command::Workspace(super::state::WorkspaceCommand::Maximize(None)));
            }
        });
    });
    egui::CentralPanel::no_frame().show(ui, |ui| behavior.draw(ui, pane));
}

impl eframe::App for StudioApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.tick(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.studio_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}

/// Room a window manager's title bar and a desktop's panel take (points).
const SCREEN_DECORATIONS: egui::Vec2 = egui::vec2(16.0, 80.0);

/// The window's size on a screen of `monitor` size when `inner` does not fit on it, else `None`.
pub fn fitted_size(inner: egui::Vec2, monitor: egui::Vec2) -> Option<egui::Vec2> {
    let room = (monitor - SCREEN_DECORATIONS).max(egui::vec2(320.0, 240.0));
    (inner.x > room.x || inner.y > room.y).then(|| inner.min(room))
}

/// The product's name, first in the window title.
pub const APP_NAME: &str = "UniVA Studio";
