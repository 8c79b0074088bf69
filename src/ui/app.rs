//! The workbench application: state, the eframe `App` (logic apart from drawing) and layout.

use std::path::PathBuf;
use std::time::Duration;

use super::audit_state::{AuditCommand, NUDGE_SETTLE};
use super::clip_predict::{self, ClipCommand, ClipPrediction};
use super::cloud::Cloud;
use super::commands::Command;
use super::player::{PlayerPanel, SEEK_STEP_SECS, Transport, player_ui};
use super::runs_state::DISK_LOOK_EVERY;
use super::session::Session;
use super::settings::{DetailTab, PlaybackSettings, Room, ViewSettings};
use super::state::{Notice, RunsState, TrainingState, ViewState};
use super::worker::{JobResult, Worker};
use super::{
    audit, browser, case_card, correlation, embedding, explain, figure_export, predictions, runs_browser, theme,
    training, va_plane, welcome,
};
use crate::jobs::JobManager;

pub struct StudioApp {
    pub settings: ViewSettings,
    pub session: Option<Session>,
    pub view: ViewState,
    pub notice: Option<Notice>,
    pub player: PlayerPanel,
    /// The run browser (the Runs room).
    pub runs: RunsState,
    /// The Training room: launch form and jobs (kept across datasets).
    pub training: TrainingState,
    pub(super) worker: Option<Worker>,
    /// The window title last sent to the window.
    title: String,
    /// File → "Predict on a clip…".
    pub clip: ClipPrediction,
    /// Whether the first window has been fitted to the screen it opened on.
    fitted: bool,
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
        self.view.rows = self.view.filter.apply(session, threshold);
        let split = self.settings.metrics_split;
        self.view.metrics = session.metrics(split, threshold);
        if self.view.sweep_split != Some(split) {
            self.view.sweep = session.sweep(split);
            self.view.sweep_split = Some(split);
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

    /// The per-frame work that draws nothing: results, drops, playback, repaint while loading.
    pub fn tick(&mut self, ctx: &egui::Context) {
        self.poll_worker();
        self.fit_to_screen(ctx);
        let title = self.window_title();
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
        if self.settings.room == Room::Runs {
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
        self.player.tick(ctx, self.session.as_ref(), self.view.selected, self.settings.playback);
        if self.is_loading() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        let in_training = self.settings.room == Room::Training;
        if self.training.tick(self.session.as_ref(), &self.settings.runs_dir, in_training) {
            // Jobs stream events; their channels are drained here.
            ctx.request_repaint_after(Duration::from_millis(200));
        }
    }

    /// Draws the whole workbench and applies the commands its panels sent.
    pub fn studio_ui(&mut self, ui: &mut egui::Ui) {
        let mut commands = Vec::new();
        // Before the panels draw, so a focused button does not also take the space bar; the
        // audit's first, so that an armed point takes the arrows from the player.
        audit::audit_keys(ui.ctx(), &self.view.audit, &mut commands);
        playback_keys(ui.ctx(), &mut commands);
        self.layout_ui(ui, &mut commands);
        // In every room: the Training room exports curves too.
        figure_export::export_window_ui(ui.ctx(), self.session.as_ref());
        clip_predict::clip_window_ui(ui.ctx(), &self.clip, &mut commands);
        if !ui.ctx().egui_wants_keyboard_input() {
            ui.input(|i| {
                if i.key_pressed(egui::Key::ArrowDown) {
                    commands.push(Command::SelectNext);
                }
                if i.key_pressed(egui::Key::ArrowUp) {
                    commands.push(Command::SelectPrevious);
                }
            });
        }
        // Closing goes through eframe, which saves the view settings and egui's memory on the way out.
        if ui.input_mut(|i| i.consume_shortcut(&QUIT_SHORTCUT)) {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // The frame was drawn before the commands changed anything: draw the result too.
        if !commands.is_empty() {
            ui.ctx().request_repaint();
        }
        for command in commands {
            self.handle(command);
        }
    }

    fn layout_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let has_run = self.session.as_ref().is_some_and(|s| s.run.is_some());
        egui::Panel::top("menu")
            .show(ui, |ui| menu_bar_ui(ui, &self.settings, self.session.is_some(), has_run, commands));
        egui::Panel::bottom("status").show(ui, |ui| status_ui(ui, self.notice.as_ref(), self.is_loading(), commands));
        if self.settings.room == Room::Runs {
            egui::CentralPanel::default_margins()
                .show(ui, |ui| runs_browser::runs_browser_ui(ui, &self.runs, &self.settings, commands));
            return;
        }
        if self.settings.room == Room::Training {
            let (training, runs_dir) = (&self.training, &self.settings.runs_dir);
            egui::CentralPanel::default_margins()
                .show(ui, |ui| training::training_ui(ui, training, runs_dir, commands));
            return;
        }
        let Some(session) = &self.session else {
            egui::CentralPanel::default_margins()
                .show(ui, |ui| welcome::welcome_ui(ui, &self.settings.recent, self.is_loading(), commands));
            return;
        };
        let settings = &self.settings;
        let view = &self.view;
        let systems = self.runs.systems_for(session);
        let player = &mut self.player;
        egui::Panel::left("browser")
            .default_size(theme::PANEL_BROWSER_WIDTH)
            .show(ui, |ui| browser::browser_ui(ui, session, view, settings.threshold, commands));
        egui::Panel::right("predictions")
            .default_size(theme::PANEL_PREDICTIONS_WIDTH)
            .show(ui, |ui| predictions::predictions_ui(ui, session, view, settings, commands));
        egui::CentralPanel::default_margins().show(ui, |ui| {
            let explanation = session
                .run
                .as_ref()
                .zip(view.selected)
                .and_then(|(run, index)| view.explain.answer(&run.dir, index)?.as_ref().ok());
            player_section_ui(ui, player, settings.playback, explanation.map(AsRef::as_ref), commands);
            // The VA plane's panel trades room with the detail tabs below it: drag its lower edge.
            // A fixed default, since the room on the first frame (before the player's picture)
            // is not the room after.
            let largest = (ui.available_height() - theme::DETAILS_MIN_HEIGHT).max(theme::PLANE_PANEL_MIN_HEIGHT);
            egui::Panel::top("va_plane")
                .frame(egui::Frame::NONE)
                .resizable(true)
                .default_size(theme::PLANE_PANEL_DEFAULT_HEIGHT)
                .size_range(theme::PLANE_PANEL_MIN_HEIGHT..=largest)
                .show(ui, |ui| va_plane::va_plane_ui(ui, session, view, settings, commands));
            detail_tabs_ui(ui, settings.detail_tab, commands);
            egui::ScrollArea::both().id_salt("details").show(ui, |ui| match settings.detail_tab {
                DetailTab::CaseCard => {
                    case_card::case_card_ui(ui, session, view.selected, settings.threshold, &systems, commands);
                }
                DetailTab::Correlation => correlation::correlation_ui(ui, session),
                DetailTab::Sweep => predictions::sweep_ui(ui, view, settings),
                DetailTab::Embedding => embedding::embedding_ui(ui, session, view, settings, commands),
                DetailTab::Audit => audit::audit_ui(ui, session, view, settings, commands),
                DetailTab::Explain => explain::explain_ui(ui, session, view, commands),
            });
        });
        embedding::embedding_window(ui.ctx(), session, view, settings, commands);
    }
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

const QUIT_SHORTCUT: egui::KeyboardShortcut = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::Q);

fn menu_bar_ui(
    ui: &mut egui::Ui,
    settings: &ViewSettings,
    has_session: bool,
    has_run: bool,
    commands: &mut Vec<Command>,
) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open dataset…").clicked() {
                commands.push(Command::OpenDialog);
            }
            if ui.add_enabled(has_session, egui::Button::new("Open run…")).clicked() {
                commands.push(Command::AttachRunDialog);
            }
            let predict = egui::Button::new("Predict on a clip…");
            if ui.add_enabled(has_run, predict).on_disabled_hover_text("open a trained run first").clicked() {
                commands.push(Command::PredictOnClip(ClipCommand::Choose));
            }
            ui.menu_button("Recent datasets", |ui| {
                if settings.recent.is_empty() {
                    ui.label("none yet");
                }
                for recent in &settings.recent {
                    if welcome::recent_button_ui(ui, recent).clicked() {
                        commands.push(Command::Open { dataset: recent.dataset.clone(), run: recent.run.clone() });
                    }
                }
            });
            ui.separator();
            let quit = egui::Button::new("Quit").shortcut_text(ui.ctx().format_shortcut(&QUIT_SHORTCUT));
            if ui.add(quit).clicked() {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
        ui.menu_button("View", |ui| {
            let mut show_cloud = settings.show_cloud;
            if ui.checkbox(&mut show_cloud, "Cloud of all utterances").changed() {
                commands.push(Command::SetShowCloud(show_cloud));
            }
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            // Right to left: the last room is drawn first.
            for (room, name) in ROOMS.iter().rev() {
                if ui.selectable_label(settings.room == *room, *name).clicked() {
                    commands.push(Command::SetRoom(*room));
                }
            }
        });
    });
}

/// The rooms of the selector at the right of the menu bar, in reading order.
const ROOMS: [(Room, &str); 3] = [(Room::Workbench, "Workbench"), (Room::Training, "Training"), (Room::Runs, "Runs")];

fn status_ui(ui: &mut egui::Ui, notice: Option<&Notice>, loading: bool, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        if loading {
            ui.spinner();
        }
        if let Some(notice) = notice {
            if notice.is_error {
                ui.colored_label(theme::ERROR_TEXT, &notice.text);
                if ui.small_button("Dismiss").clicked() {
                    commands.push(Command::DismissNotice);
                }
            } else {
                ui.label(&notice.text);
            }
        }
    });
}

fn detail_tabs_ui(ui: &mut egui::Ui, current: DetailTab, commands: &mut Vec<Command>) {
    // Wrapped: on a laptop screen the last tabs would be past the panel's edge.
    ui.horizontal_wrapped(|ui| {
        for (tab, name) in [
            (DetailTab::CaseCard, "Case card"),
            (DetailTab::Correlation, "Correlation"),
            (DetailTab::Sweep, "Threshold sweep"),
            (DetailTab::Embedding, "Embedding"),
            (DetailTab::Audit, "Audit"),
            (DetailTab::Explain, "Explain"),
        ] {
            if ui.selectable_label(current == tab, name).clicked() {
                commands.push(Command::SetDetailTab(tab));
            }
        }
    });
}

/// Space play/pause, ←/→ seek ∓2 s (shift: one frame), L loop; not while a text field has focus.
fn playback_keys(ctx: &egui::Context, commands: &mut Vec<Command>) {
    if ctx.text_edit_focused() {
        return;
    }
    let keys = [
        (egui::Modifiers::SHIFT, egui::Key::ArrowLeft, Transport::StepFrames(-1)),
        (egui::Modifiers::SHIFT, egui::Key::ArrowRight, Transport::StepFrames(1)),
        (egui::Modifiers::NONE, egui::Key::ArrowLeft, Transport::SeekBy(-SEEK_STEP_SECS)),
        (egui::Modifiers::NONE, egui::Key::ArrowRight, Transport::SeekBy(SEEK_STEP_SECS)),
        (egui::Modifiers::NONE, egui::Key::Space, Transport::TogglePlay),
        (egui::Modifiers::NONE, egui::Key::L, Transport::ToggleLooping),
    ];
    ctx.input_mut(|input| {
        for (modifiers, key, transport) in keys {
            if input.consume_key(modifiers, key) {
                commands.push(Command::Transport(transport));
            }
        }
    });
}

/// The player, collapsible, above the VA plane; under its timeline the attention of the
/// selected utterance's explanation once the Explain tab has it (on the timeline's axis).
fn player_section_ui(
    ui: &mut egui::Ui,
    player: &mut PlayerPanel,
    playback: PlaybackSettings,
    explanation: Option<&crate::explain::Explanation>,
    commands: &mut Vec<Command>,
) {
    let header =
        egui::CollapsingHeader::new("Player").id_salt("player").open(Some(playback.show_player)).show(ui, |ui| {
            player_ui(ui, player, playback, commands);
            if let (Some(explanation), Some(window)) = (explanation, player.timeline_window()) {
                explain::player_strips_ui(ui, explanation, window, commands);
            }
        });
    if header.header_response.clicked() {
        commands.push(Command::Transport(Transport::SetShown(!playback.show_player)));
    }
    ui.separator();
}
