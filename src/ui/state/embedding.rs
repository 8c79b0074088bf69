//! The embedding map's state (paper Fig. 3): what the user chose (colouring, method, split,
//! point limit, seed), the maps computed on the worker thread for the attached run and a
//! compared one, and each computation's progress.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::notice::Notice;
use crate::dataset::Split;
use crate::projection::{EXACT_TSNE_MAX_POINTS, EmbeddedPoint, EmbeddingRequest, Method, Stage};

#[derive(Debug)]
pub enum EmbeddingUpdate {
    /// Not an answer: how far the job has come (`done` of `total` steps of the stage).
    Progress {
        stage: Stage,
        done: usize,
        total: usize,
    },
    /// Not an answer: the layout so far, while the projection optimises.
    Layout(Vec<EmbeddedPoint>),
    Done(Vec<EmbeddedPoint>),
    Failed(String),
    Stopped,
}

/// What colours the map's points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmbeddingColour {
    #[default]
    Modality,
    /// Whether the utterance's gold labels include the chosen one
    /// ([`ViewSettings::embedding_label`]): multi-label utterances belong to several labels.
    Label,
    /// Whether the run predicts the chosen label for the utterance (at the view's threshold).
    Predicted,
    /// The quadrant of the point's own modality VA.
    Quadrant,
    /// The point's own modality valence, on a diverging scale.
    Valence,
    /// The point's own modality arousal, on a diverging scale.
    Arousal,
}

/// How the map is computed; persisted with the view settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddingSettings {
    pub method: Method,
    /// `None`: every utterance of the dataset.
    pub split: Option<Split>,
    /// Points at most (utterances × modalities, a seeded sample); `None`: all of the split.
    pub max_points: Option<usize>,
    pub seed: u64,
}

impl Default for EmbeddingSettings {
    fn default() -> Self {
        Self { method: Method::Umap, split: Some(Split::Train), max_points: None, seed: 1111 }
    }
}

impl EmbeddingSettings {
    /// The request these settings make; exact t-SNE is always capped at what it can map.
    pub fn request(&self) -> EmbeddingRequest {
        let max_points = match self.method {
            Method::Umap => self.max_points,
            Method::Tsne => Some(self.max_points.unwrap_or(EXACT_TSNE_MAX_POINTS).min(EXACT_TSNE_MAX_POINTS)),
        };
        EmbeddingRequest { method: self.method, split: self.split, max_points, seed: self.seed, ..Default::default() }
    }
}

/// The map's plot id, fixed like the VA plane's (see `va_plane::va_plane_id`).
pub fn embedding_plot_id() -> egui::Id {
    egui::Id::unique("univa embedding map")
}

/// The second map's plot id (the compared run).
pub fn compare_plot_id() -> egui::Id {
    egui::Id::unique("univa embedding map compared")
}

/// Which of the tab's maps: the attached run's, or the compared run's beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapSide {
    Attached,
    Compared,
}

impl MapSide {
    pub fn plot_id(self) -> egui::Id {
        match self {
            Self::Attached => embedding_plot_id(),
            Self::Compared => compare_plot_id(),
        }
    }

    /// The side's points.
    pub fn points(self, view: &EmbeddingView) -> &[EmbeddedPoint] {
        match self {
            Self::Attached => &view.points,
            Self::Compared => &view.compare.points,
        }
    }
}

/// Request ids are unique for the process, so an answer to a request made for a dataset that has
/// since been closed can never match a new one.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

pub fn next_request_id() -> u64 {
    NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug, Default)]
pub enum EmbeddingStatus {
    #[default]
    Idle,
    Running {
        request_id: u64,
        method: Method,
        stage: Stage,
        /// `done` of `total` steps of the stage (utterances, search ‰, iterations).
        done: usize,
        total: usize,
        stop: Arc<AtomicBool>,
    },
    Done,
    Failed(String),
}

/// One map: its job's status and its points (the layout so far while it runs).
#[derive(Debug, Default)]
pub struct EmbeddingMap {
    pub status: EmbeddingStatus,
    pub points: Vec<EmbeddedPoint>,
}

impl EmbeddingMap {
    pub fn is_running(&self) -> bool {
        matches!(self.status, EmbeddingStatus::Running { .. })
    }

    fn request_id(&self) -> Option<u64> {
        match self.status {
            EmbeddingStatus::Running { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// Asks the running job, if any, to stop; its answer is then ignored.
    pub fn stop(&mut self) {
        if let EmbeddingStatus::Running { stop, .. } = &self.status {
            stop.store(true, Ordering::Relaxed);
            self.status = EmbeddingStatus::Idle;
        }
    }

    /// Starts waiting for request `request_id`; the old points stay until the new layout comes.
    pub(in crate::ui) fn start(&mut self, request_id: u64, method: Method, stop: Arc<AtomicBool>) {
        self.stop();
        self.status = EmbeddingStatus::Running { request_id, method, stage: Stage::Encoding, done: 0, total: 0, stop };
    }

    fn apply(&mut self, update: EmbeddingUpdate) -> Option<Notice> {
        let EmbeddingStatus::Running { stage, done, total, .. } = &mut self.status else { return None };
        match update {
            EmbeddingUpdate::Progress { stage: s, done: d, total: t } => {
                (*stage, *done, *total) = (s, d, t);
                None
            }
            EmbeddingUpdate::Layout(points) => {
                self.points = points;
                None
            }
            EmbeddingUpdate::Done(points) => {
                self.points = points;
                self.status = EmbeddingStatus::Done;
                None
            }
            EmbeddingUpdate::Failed(message) => {
                self.status = EmbeddingStatus::Failed(message.clone());
                Some(Notice::error(message))
            }
            EmbeddingUpdate::Stopped => {
                self.status = EmbeddingStatus::Idle;
                None
            }
        }
    }
}

/// The tab's state for the open session: the attached run's map and, when a second run is
/// chosen, its map beside it. Dropping it (a new dataset opened) stops their jobs.
#[derive(Debug, Default)]
pub struct EmbeddingView {
    pub status: EmbeddingStatus,
    pub points: Vec<EmbeddedPoint>,
    /// The run mapped beside the attached one (Fig. 3's with/without VA-CL pair).
    pub compare_run: Option<PathBuf>,
    pub compare: EmbeddingMap,
}

impl EmbeddingView {
    pub fn is_running(&self) -> bool {
        matches!(self.status, EmbeddingStatus::Running { .. }) || self.compare.is_running()
    }

    /// The attached run's map (status and points), taken apart and put back so that the
    /// fields stay plain for the panel.
    fn with_main<T>(&mut self, f: impl FnOnce(&mut EmbeddingMap) -> T) -> T {
        let mut main =
            EmbeddingMap { status: std::mem::take(&mut self.status), points: std::mem::take(&mut self.points) };
        let out = f(&mut main);
        (self.status, self.points) = (main.status, main.points);
        out
    }

    /// Asks the running jobs, if any, to stop; their answers are then ignored.
    pub fn stop(&mut self) {
        self.with_main(EmbeddingMap::stop);
        self.compare.stop();
    }

    pub(in crate::ui) fn start_main(&mut self, request_id: u64, method: Method, stop: Arc<AtomicBool>) {
        self.with_main(|m| m.start(request_id, method, stop));
    }

    /// Applies an update of the worker to the map whose request it answers; returns a notice
    /// for the status bar on failure.
    pub(in crate::ui) fn apply(&mut self, request_id: u64, update: EmbeddingUpdate) -> Option<Notice> {
        if self.compare.request_id() == Some(request_id) {
            return self.compare.apply(update);
        }
        self.with_main(|m| if m.request_id() == Some(request_id) { m.apply(update) } else { None })
    }
}

impl Drop for EmbeddingView {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modality::Modality;

    fn point(utterance: usize, x: f32, y: f32) -> EmbeddedPoint {
        EmbeddedPoint { utterance, modality: Modality::Text, position: [x, y] }
    }

    fn running(request_id: u64, stop: &Arc<AtomicBool>) -> EmbeddingStatus {
        EmbeddingStatus::Running {
            request_id,
            method: Method::Umap,
            stage: Stage::Encoding,
            done: 0,
            total: 0,
            stop: stop.clone(),
        }
    }

    #[test]
    fn updates_for_other_requests_are_ignored_and_failures_notify() {
        let stop = Arc::new(AtomicBool::new(false));
        let mut view = EmbeddingView::default();
        view.status = running(7, &stop);
        assert!(view.apply(6, EmbeddingUpdate::Done(vec![point(0, 0.0, 0.0)])).is_none());
        assert!(view.points.is_empty() && view.is_running());
        view.apply(7, EmbeddingUpdate::Progress { stage: Stage::Projecting, done: 5, total: 200 });
        assert!(matches!(view.status, EmbeddingStatus::Running { stage: Stage::Projecting, done: 5, .. }));
        // A layout streamed in while it runs replaces the points and keeps it running.
        view.apply(7, EmbeddingUpdate::Layout(vec![point(3, 1.0, 2.0)]));
        assert_eq!(view.points, vec![point(3, 1.0, 2.0)]);
        assert!(view.is_running());
        let notice = view.apply(7, EmbeddingUpdate::Failed("run r: broken".into())).unwrap();
        assert!(notice.is_error && notice.text.contains("broken"));
        assert!(matches!(view.status, EmbeddingStatus::Failed(_)));
        assert!(!stop.load(Ordering::Relaxed));
    }

    #[test]
    fn answers_go_to_the_map_that_asked() {
        let (a, b) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let mut view = EmbeddingView::default();
        view.status = running(1, &a);
        view.compare.start(2, Method::Umap, b.clone());
        view.apply(2, EmbeddingUpdate::Done(vec![point(5, 0.0, 0.0)]));
        assert!(view.points.is_empty() && view.compare.points.len() == 1);
        assert!(matches!(view.compare.status, EmbeddingStatus::Done));
        view.apply(1, EmbeddingUpdate::Done(vec![point(6, 0.0, 0.0), point(7, 1.0, 0.0)]));
        assert_eq!(view.points.len(), 2);
        assert!(!view.is_running());
    }

    #[test]
    fn dropping_the_view_stops_its_jobs() {
        let (a, b) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let mut view = EmbeddingView::default();
        view.status = running(1, &a);
        view.compare.start(2, Method::Umap, b.clone());
        drop(view);
        assert!(a.load(Ordering::Relaxed) && b.load(Ordering::Relaxed));
    }

    #[test]
    fn exact_tsne_requests_are_capped() {
        let tsne = EmbeddingSettings { method: Method::Tsne, max_points: None, ..EmbeddingSettings::default() };
        assert_eq!(tsne.request().max_points, Some(EXACT_TSNE_MAX_POINTS));
        let umap = EmbeddingSettings::default();
        assert_eq!(umap.request().max_points, None);
        assert_eq!(umap.request().split, Some(Split::Train));
    }
}
