//! The workbench GUI (eframe/egui): the workbench and the run browser, each a room of the
//! window. Panels draw from borrowed state and send [`Command`]s to
//! one handler; loading runs on a named worker thread; only view settings are persisted.

mod app;
mod audit;
mod audit_agreement;
mod audit_plane;
mod audit_queue;
mod audit_state;
mod browser;
mod case_card;
mod clip_predict;
mod cloud;
mod commands;
mod correlation;
mod embedding;
mod embedding_map;
mod explain;
pub mod figure_export;
mod file_dialog;
mod filter;
pub mod play_window;
mod player;
mod predictions;
mod runs_browser;
mod runs_commands;
mod runs_state;
mod session;
mod settings;
mod state;
mod theme;
mod training;
mod training_state;
mod training_target;
mod va_plane;
mod welcome;
mod worker;

use std::path::PathBuf;

pub use app::{StudioApp, fitted_size};
pub use audit_agreement::{AgainstModel, AgreementRow, agreement_rows};
pub use audit_queue::{QueueOrder, QueueSettings, ordered as audit_order};
pub use audit_state::{AuditCommand, AuditDraft, AuditState, NUDGE_STEP, NUDGE_STEP_LARGE};
pub use case_card::markdown as case_card_markdown;
pub use clip_predict::{ClipCommand, ClipPrediction};
pub use cloud::Cloud;
pub use commands::Command;
pub use embedding::{
    EmbeddingColour, EmbeddingMap, EmbeddingSettings, EmbeddingStatus, EmbeddingView, MapSide, compare_plot_id,
    embedding_plot_id,
};
pub use explain::{ExplainCommand, ExplainView};
pub use filter::{ErrorFilter, Filter};
pub use player::{PlayerPanel, SEEK_STEP_SECS, Transport};
pub use session::{OpenError, RunResults, Session};
pub use settings::{DEFAULT_THRESHOLD, DetailTab, PlaybackSettings, Recent, Room, ViewSettings, default_runs_dir};
pub use state::{MetricsStatus, Notice, RunEntry, RunsBrowserSettings, RunsCommand, RunsState, RunsTab, ViewState};
pub use training_state::{
    AUDITED_DIR, SweepForm, TargetForm, TargetKind, TrainingCommand, TrainingForm, TrainingState, VaSource,
};
pub use va_plane::{nearest_utterance, va_plane_id};

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
