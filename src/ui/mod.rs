//! The GUI (eframe/egui), in four layers that import downwards only: `widgets` (drawing
//! helpers), `state` (commands, view state, settings, layouts), `panes` (each view, drawn from a
//! borrowed context, pushing commands) and `app` (the window, the tile tree, the command
//! handler, the background worker). `play_window` is `univa play`'s own small window.

mod app;
mod panes;
pub mod play_window;
mod state;
mod widgets;

use std::path::PathBuf;

pub use app::{
    BINDINGS, Binding, ExportSettings, MORE_BINDINGS, RunProbabilities, StudioApp, When, figure_for, fitted_size,
};
pub use panes::{AgreementRow, agreement_rows, case_card_markdown, nearest_utterance, va_plane_id};
pub use state::{
    AUDITED_DIR, AuditCommand, AuditDraft, AuditState, AuditedFilter, ClipCommand, ClipPrediction, Cloud, Command,
    DEFAULT_THRESHOLD, EmbeddingColour, EmbeddingMap, EmbeddingSettings, EmbeddingStatus, EmbeddingView, ErrorFilter,
    ExplainCommand, ExplainView, FigureRequest, Filter, Layout, MapSide, MetricsStatus, NUDGE_STEP, NUDGE_STEP_LARGE,
    Notice, OpenError, Pane, PlaybackSettings, PlayerPanel, QueueOrder, QueueSettings, Recent, RunEntry, RunResults,
    RunsBrowserSettings, RunsCommand, RunsState, SEEK_STEP_SECS, Session, Side, SweepForm, TargetForm, TargetKind,
    Theme, TrainingCommand, TrainingForm, TrainingPick, TrainingState, Transport, VaSource, ViewSettings, ViewState,
    Workspace, WorkspaceCommand, audit_order, compare_plot_id, default_runs_dir, embedding_plot_id,
};

/// The window's app id (Wayland) and WM class (X11): the desktop entry's StartupWMClass.
pub const APP_ID: &str = "univa-studio";

/// What to open at launch: a dataset folder and optionally a trained run.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    pub dataset: Option<PathBuf>,
    pub run: Option<PathBuf>,
}

/// Opens the workbench window and blocks until it is closed.
pub fn run(launch: Launch) -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1560.0, 960.0])
            .with_title(app::APP_NAME)
            .with_app_id(APP_ID),
        ..Default::default()
    };
    let open = launch.dataset.map(|dataset| (dataset, launch.run));
    eframe::run_native(
        app::APP_NAME,
        options,
        Box::new(move |cc| Ok(Box::new(StudioApp::from_creation_context(cc, open)))),
    )
}
