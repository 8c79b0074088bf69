//! The embedding tab (paper Fig. 3): a t-SNE map of the attached run's unimodal representations,
//! computed on the worker thread with progress, coloured by modality, by whether the gold labels
//! include a chosen label, or by VA quadrant; hover names the utterance and a click selects it in
//! the browser.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use egui::Color32;
use egui_plot::{HoverPosition, Legend, Plot, PlotPoint, Points};
use serde::{Deserialize, Serialize};

use crate::modality::Modality;
use crate::projection::{EmbeddedPoint, EmbeddingRequest, Stage};

use super::commands::Command;
use super::session::Session;
use super::settings::ViewSettings;
use super::state::{Notice, ViewState};
use super::worker::EmbeddingUpdate;
use super::{theme, va_plane};

/// What colours the map's points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmbeddingColour {
    #[default]
    Modality,
    /// Whether the utterance's gold labels include the chosen one
    /// ([`ViewSettings::embedding_label`]): multi-label utterances belong to several labels.
    Label,
    /// The quadrant of the point's own modality VA.
    Quadrant,
}

/// The map's plot id, fixed like the VA plane's (see `va_plane::va_plane_id`).
pub fn embedding_plot_id() -> egui::Id {
    egui::Id::unique("univa embedding map")
}

const MIN_MAP_HEIGHT: f32 = 220.0;
const MAX_POINTS_CHOICES: [usize; 3] = [500, 1000, 2000];
/// How far from a map point (in points on screen) a click still selects it.
const CLICK_RADIUS: f32 = 8.0;

/// Request ids are unique for the process, so an answer to a request made for a dataset that has
/// since been closed can never match a new one.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

pub(super) fn next_request_id() -> u64 {
    NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug, Default)]
pub enum EmbeddingStatus {
    #[default]
    Idle,
    Running {
        request_id: u64,
        stage: Stage,
        fraction: f32,
        stop: Arc<AtomicBool>,
    },
    Done,
    Failed(String),
}

/// The tab's state for the open session. Dropping it (a new dataset opened) stops its job.
#[derive(Debug, Default)]
pub struct EmbeddingView {
    pub status: EmbeddingStatus,
    pub points: Vec<EmbeddedPoint>,
}

impl EmbeddingView {
    pub fn is_running(&self) -> bool {
        matches!(self.status, EmbeddingStatus::Running { .. })
    }

    /// Asks the running job, if any, to stop; its answer is then ignored.
    pub fn stop(&mut self) {
        if let EmbeddingStatus::Running { stop, .. } = &self.status {
            stop.store(true, Ordering::Relaxed);
            self.status = EmbeddingStatus::Idle;
        }
    }

    /// Applies an update of the worker; returns a notice for the status bar on failure.
    pub(super) fn apply(&mut self, request_id: u64, update: EmbeddingUpdate) -> Option<Notice> {
        let EmbeddingStatus::Running { request_id: current, stage, fraction, .. } = &mut self.status else {
            return None;
        };
        if *current != request_id {
            return None;
        }
        match update {
            EmbeddingUpdate::Progress { stage: s, fraction: f } => {
                *stage = s;
                *fraction = f;
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

impl Drop for EmbeddingView {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A group of points drawn in one colour, with each point's index into the map's points.
struct Group {
    name: String,
    color: Color32,
    positions: Vec<[f64; 2]>,
    members: Vec<usize>,
}

pub fn embedding_ui(
    ui: &mut egui::Ui,
    session: &Session,
    view: &ViewState,
    settings: &ViewSettings,
    commands: &mut Vec<Command>,
) {
    let Some(run) = &session.run else {
        ui.label("No trained run is attached, so there are no representations to map.");
        ui.weak("Open one with File → Open run…, or start with `univa gui DATASET --run RUN`.");
        return;
    };
    let embedding = &view.embedding;
    ui.horizontal_wrapped(|ui| {
        ui.strong("t-SNE of the unimodal representations");
        ui.weak(format!("run {}", run.dir.display()));
    });
    ui.horizontal_wrapped(|ui| {
        if let EmbeddingStatus::Running { stage, fraction, .. } = &embedding.status {
            let text = match stage {
                Stage::Encoding => "encoding utterances…",
                Stage::Projecting => "t-SNE…",
            };
            ui.add(egui::ProgressBar::new(*fraction).desired_width(180.0).text(text));
            if ui.button("Stop").clicked() {
                commands.push(Command::StopEmbedding);
            }
        } else {
            let label = if embedding.points.is_empty() { "Compute t-SNE" } else { "Recompute" };
            if ui.button(label).clicked() {
                let request =
                    EmbeddingRequest { max_points: settings.embedding_max_points, ..EmbeddingRequest::default() };
                commands.push(Command::ComputeEmbedding(request));
            }
            // Exact t-SNE costs O(n²) per iteration: fewer points answer much sooner.
            egui::ComboBox::from_id_salt("embedding_points")
                .selected_text(format!("≤ {} points", settings.embedding_max_points))
                .show_ui(ui, |ui| {
                    for points in MAX_POINTS_CHOICES {
                        if ui
                            .selectable_label(settings.embedding_max_points == points, format!("≤ {points} points"))
                            .clicked()
                        {
                            commands.push(Command::SetEmbeddingMaxPoints(points));
                        }
                    }
                });
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Colour by");
        for (colour, name) in [
            (EmbeddingColour::Modality, "modality"),
            (EmbeddingColour::Label, "gold label"),
            (EmbeddingColour::Quadrant, "VA quadrant"),
        ] {
            if ui.selectable_label(settings.embedding_colour == colour, name).clicked() {
                commands.push(Command::SetEmbeddingColour(colour));
            }
            if colour == EmbeddingColour::Label && settings.embedding_colour == colour {
                label_choice(ui, session, settings, commands);
            }
        }
    });
    if let EmbeddingStatus::Failed(message) = &embedding.status {
        ui.colored_label(theme::ERROR_TEXT, message);
    }
    if embedding.points.is_empty() {
        if !embedding.is_running() {
            ui.weak(format!(
                "Up to {} points (utterances × modalities, a seeded sample) are projected together.",
                settings.embedding_max_points
            ));
        }
        return;
    }
    ui.label(format!("{} points", embedding.points.len()));
    let groups = groups(session, &embedding.points, &Classing::new(session, settings));
    let selected: Vec<[f64; 2]> = embedding
        .points
        .iter()
        .filter(|p| Some(p.utterance) == view.selected)
        .map(|p| [f64::from(p.position[0]), f64::from(p.position[1])])
        .collect();
    // The map fills what is visible of the tab (it sits in a scroll area), with a floor.
    let height = (ui.clip_rect().bottom() - ui.cursor().top() - 8.0).max(MIN_MAP_HEIGHT);
    let response = Plot::new("embedding")
        .id(embedding_plot_id())
        .height(height)
        .data_aspect(1.0)
        .show_axes(false)
        .show_grid(false)
        .legend(Legend::default())
        .label_formatter(|hover| hover_label(session, &embedding.points, &groups, hover))
        .show(ui, |plot| {
            for group in &groups {
                plot.points(Points::new(group.name.as_str(), group.positions.clone()).color(group.color).radius(2.5));
            }
            if !selected.is_empty() {
                plot.points(
                    Points::new("selected utterance", selected.clone())
                        .radius(6.0)
                        .color(theme::MAP_SELECTED_RING)
                        .filled(false),
                );
            }
            plot.pointer_coordinate()
        });
    if response.response.clicked()
        && let Some(pointer) = response.inner
    {
        let [dx, dy] = response.transform.dvalue_dpos();
        let radius = f64::from(CLICK_RADIUS) * dx.abs().max(dy.abs());
        if let Some(index) = nearest(&embedding.points, pointer, radius) {
            commands.push(Command::Select(index));
        }
    }
}

/// The label whose gold holders the map highlights.
fn label_choice(ui: &mut egui::Ui, session: &Session, settings: &ViewSettings, commands: &mut Vec<Command>) {
    let Some(current) = highlighted_label(session, settings) else { return };
    egui::ComboBox::from_id_salt("embedding_label").selected_text(session.label_names[current].as_str()).show_ui(
        ui,
        |ui| {
            for (j, name) in session.label_names.iter().enumerate() {
                if ui.selectable_label(j == current, name.as_str()).clicked() {
                    commands.push(Command::SetEmbeddingLabel(j));
                }
            }
        },
    );
}

/// The chosen label, kept within this dataset's labels (the setting outlives the dataset);
/// `None` for a dataset without labels.
fn highlighted_label(session: &Session, settings: &ViewSettings) -> Option<usize> {
    let count = session.label_names.len();
    (count > 0).then(|| settings.embedding_label.min(count - 1))
}

/// The utterance of the map point nearest to `at` within `radius` (map units).
pub fn nearest(points: &[EmbeddedPoint], at: PlotPoint, radius: f64) -> Option<usize> {
    points
        .iter()
        .map(|p| (p.utterance, (f64::from(p.position[0]) - at.x).powi(2) + (f64::from(p.position[1]) - at.y).powi(2)))
        .filter(|&(_, d)| d <= radius * radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(utterance, _)| utterance)
}

fn hover_label(
    session: &Session,
    points: &[EmbeddedPoint],
    groups: &[Group],
    hover: &HoverPosition<'_>,
) -> Option<String> {
    let HoverPosition::NearDataPoint { plot_name, index, .. } = hover else { return None };
    let group = groups.iter().find(|g| g.name == *plot_name)?;
    let point = points.get(*group.members.get(*index)?)?;
    let utterance = session.utterance(point.utterance)?;
    let labels: Vec<&str> =
        utterance.labels.iter().filter_map(|&j| session.label_names.get(j).map(String::as_str)).collect();
    let mut text = format!("{} ({})\ngold: {}", utterance.id, point.modality, labels.join(", "));
    if !utterance.text.is_empty() {
        text.push('\n');
        text.extend(utterance.text.chars().take(60));
    }
    Some(text)
}

/// How the map's points are classed: the colouring, and for [`EmbeddingColour::Label`] the
/// highlighted label with its name.
enum Classing<'a> {
    Modality,
    Label(Option<(usize, &'a str)>),
    Quadrant,
}

impl<'a> Classing<'a> {
    fn new(session: &'a Session, settings: &ViewSettings) -> Self {
        match settings.embedding_colour {
            EmbeddingColour::Modality => Self::Modality,
            EmbeddingColour::Label => {
                Self::Label(highlighted_label(session, settings).map(|j| (j, session.label_names[j].as_str())))
            }
            EmbeddingColour::Quadrant => Self::Quadrant,
        }
    }

    /// The classes drawn first, in this order, whether or not a point falls in them: the
    /// modalities in their fixed order, or the label's non-holders under its holders.
    fn fixed_classes(&self) -> Vec<(String, Color32)> {
        match self {
            Self::Modality => {
                Modality::ALL.into_iter().map(|m| (m.name().to_owned(), theme::modality_color(m))).collect()
            }
            Self::Label(Some((j, name))) => {
                vec![(format!("not {name}"), theme::ANCHOR), ((*name).to_owned(), theme::label_color(*j))]
            }
            Self::Label(None) | Self::Quadrant => Vec::new(),
        }
    }

    /// The class of a point, as (name, colour).
    fn class_of(&self, session: &Session, point: &EmbeddedPoint) -> (String, Color32) {
        let utterance = session.utterance(point.utterance);
        match self {
            Self::Modality => (point.modality.name().to_owned(), theme::modality_color(point.modality)),
            Self::Label(Some((j, name))) => {
                if utterance.is_some_and(|u| u.labels.contains(j)) {
                    ((*name).to_owned(), theme::label_color(*j))
                } else {
                    (format!("not {name}"), theme::ANCHOR)
                }
            }
            Self::Label(None) => ("no label".to_owned(), theme::ANCHOR),
            Self::Quadrant => match utterance.and_then(|u| *u.va.get(point.modality)) {
                Some(va) => {
                    let q = va_plane::quadrant(va.valence, va.arousal);
                    (va_plane::quadrant_name(q).to_owned(), theme::quadrant_color(q))
                }
                None => ("no VA".to_owned(), theme::ANCHOR),
            },
        }
    }
}

/// Points grouped by class: the fixed classes first, then the others in order of first
/// appearance; empty groups are left out.
fn groups(session: &Session, points: &[EmbeddedPoint], classing: &Classing<'_>) -> Vec<Group> {
    let mut groups: Vec<Group> = classing
        .fixed_classes()
        .into_iter()
        .map(|(name, color)| Group { name, color, positions: Vec::new(), members: Vec::new() })
        .collect();
    for (i, point) in points.iter().enumerate() {
        let (name, color) = classing.class_of(session, point);
        let position = [f64::from(point.position[0]), f64::from(point.position[1])];
        match groups.iter_mut().find(|g| g.name == name) {
            Some(group) => {
                group.positions.push(position);
                group.members.push(i);
            }
            None => groups.push(Group { name, color, positions: vec![position], members: vec![i] }),
        }
    }
    groups.retain(|g| !g.members.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(utterance: usize, x: f32, y: f32) -> EmbeddedPoint {
        EmbeddedPoint { utterance, modality: Modality::Text, position: [x, y] }
    }

    #[test]
    fn nearest_point_within_radius() {
        let points = [point(4, 0.0, 0.0), point(9, 1.0, 1.0), point(2, 0.2, 0.0)];
        assert_eq!(nearest(&points, PlotPoint::new(0.15, 0.0), 0.1), Some(2));
        assert_eq!(nearest(&points, PlotPoint::new(0.9, 0.9), 0.5), Some(9));
        assert_eq!(nearest(&points, PlotPoint::new(5.0, 5.0), 0.5), None);
    }

    #[test]
    fn updates_for_other_requests_are_ignored_and_failures_notify() {
        let stop = Arc::new(AtomicBool::new(false));
        let mut view = EmbeddingView {
            status: EmbeddingStatus::Running {
                request_id: 7,
                stage: Stage::Encoding,
                fraction: 0.0,
                stop: stop.clone(),
            },
            points: Vec::new(),
        };
        assert!(view.apply(6, EmbeddingUpdate::Done(vec![point(0, 0.0, 0.0)])).is_none());
        assert!(view.points.is_empty() && view.is_running());
        view.apply(7, EmbeddingUpdate::Progress { stage: Stage::Projecting, fraction: 0.5 });
        assert!(matches!(view.status, EmbeddingStatus::Running { stage: Stage::Projecting, .. }));
        let notice = view.apply(7, EmbeddingUpdate::Failed("run r: broken".into())).unwrap();
        assert!(notice.is_error && notice.text.contains("broken"));
        assert!(matches!(view.status, EmbeddingStatus::Failed(_)));
        assert!(!stop.load(Ordering::Relaxed));
    }

    #[test]
    fn dropping_the_view_stops_its_job() {
        let stop = Arc::new(AtomicBool::new(false));
        drop(EmbeddingView {
            status: EmbeddingStatus::Running {
                request_id: 1,
                stage: Stage::Encoding,
                fraction: 0.0,
                stop: stop.clone(),
            },
            points: Vec::new(),
        });
        assert!(stop.load(Ordering::Relaxed));
    }
}
