//! State of the open session's views that is not persisted (it belongs to one dataset).

use crate::dataset::Split;
use crate::metrics::Metrics;

use super::audit::AuditState;
use super::cloud::Cloud;
use super::embedding::EmbeddingView;
use super::explain::ExplainView;
use super::filter::Filter;

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
    pub explain: ExplainView,
}
