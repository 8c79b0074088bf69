//! State the panels read, apart from the app that owns it (`app.rs`), so a panel imports this
//! file and never the app: the status-bar notice, the per-dataset view state, the run
//! browser's state (its own file, `runs_state.rs`) and the Training room's (`training_state.rs`;
//! it outlives any one dataset).

use crate::dataset::Split;
use crate::metrics::Metrics;

use super::audit_state::AuditState;
use super::cloud::Cloud;
use super::embedding::EmbeddingView;
use super::filter::Filter;
pub use super::runs_state::{MetricsStatus, RunEntry, RunsBrowserSettings, RunsCommand, RunsState, RunsTab};
pub use super::training_state::TrainingState;

/// A message in the status bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Self {
        Self { text: text.into(), is_error: false }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self { text: text.into(), is_error: true }
    }
}

/// State of the open session's views that is not persisted (it belongs to one dataset).
#[derive(Debug, Default)]
pub struct ViewState {
    pub filter: Filter,
    /// Utterance indices the browser lists, after the filter.
    pub rows: Vec<usize>,
    pub selected: Option<usize>,
    /// Scroll the browser to the selection on the next frame (set by keyboard and plot clicks).
    pub scroll_to_selected: bool,
    /// Run metrics on the metrics split at the current threshold.
    pub metrics: Option<Metrics>,
    pub sweep: Vec<(f32, Metrics)>,
    /// The split `sweep` was computed for (the sweep does not depend on the threshold).
    pub sweep_split: Option<Split>,
    pub cloud: Cloud,
    pub embedding: EmbeddingView,
    /// The audit: store, annotator, judgments, undo history, queue.
    pub audit: AuditState,
    /// The Explain tab's answers per run and utterance.
    pub explain: super::explain::ExplainView,
}
