//! What the panes read and the app owns: the [`Command`]s panes push, the status bar's
//! [`Notice`], each view's state, the persisted settings and the workspace's layouts. Imports no
//! pane and no app file; drawing helpers come from `widgets`.

mod audit;
mod audit_queue;
mod clip;
mod cloud;
mod command;
mod embedding;
mod explain;
mod figure;
mod filter;
mod layout;
mod notice;
pub mod player;
mod runs;
mod session;
mod settings;
mod training;
mod view;

pub use audit::{AuditCommand, AuditDraft, AuditState, NUDGE_SETTLE, NUDGE_STEP, NUDGE_STEP_LARGE};
pub use audit_queue::{QueueOrder, QueueSettings, ordered as audit_order};
pub use clip::{ClipCommand, ClipPrediction};
pub use cloud::Cloud;
pub use command::{Command, WorkspaceCommand};
pub use embedding::{
    EmbeddingColour, EmbeddingMap, EmbeddingSettings, EmbeddingStatus, EmbeddingUpdate, EmbeddingView, MapSide,
    compare_plot_id, embedding_plot_id, next_request_id,
};
pub use explain::{ExplainCommand, ExplainView};
pub use figure::FigureRequest;
pub use filter::{AuditedFilter, ErrorFilter, Filter};
pub use layout::{Layout, Pane, Side, Workspace, ZOOM_RANGE, simplification};
pub use notice::Notice;
pub use player::{PlayerPanel, SEEK_STEP_SECS, Transport};
pub use runs::{
    DISK_LOOK_EVERY, MetricsStatus, RunEntry, RunMetricsUpdate, RunsBrowserSettings, RunsCommand, RunsState,
    dataset_for,
};
pub use session::{OpenError, RunResults, Session, split_rows};
pub use settings::{DEFAULT_THRESHOLD, PlaybackSettings, Recent, Theme, ViewSettings, default_runs_dir};
pub use training::{
    AUDITED_DIR, SweepForm, TargetForm, TargetKind, TrainingCommand, TrainingForm, TrainingPick, TrainingState,
    VaSource,
};
pub use view::ViewState;
