//! The embedding tab (paper Fig. 3): a map of the attached run's unimodal representations of a
//! whole split (UMAP; exact t-SNE on at most 2,500 points), computed on the worker thread with
//! progress and a Stop button, its layout streaming in while it optimises. Points are coloured
//! by modality, by whether the gold or the predicted labels include a chosen label, by VA
//! quadrant, or by the point's valence or arousal on a continuous scale. A second run (e.g. the
//! w/o VA-CL ablation, Fig. 3 b) can be mapped beside it; a click in either map selects the
//! utterance in the browser and rings it in both. The maps can move into a resizable window of
//! their own when the tab is too small for them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use egui::Color32;
use egui_plot::{HoverPosition, Legend, Plot, PlotItem as _, PlotPoint, Points};
use serde::{Deserialize, Serialize};

use crate::dataset::Split;
use crate::figures::data::MapRow;
use crate::figures::plots::Colouring;
use crate::modality::Modality;
use crate::projection::{EXACT_TSNE_MAX_POINTS, EmbeddedPoint, EmbeddingRequest, Method, Stage};
use crate::runs;
use crate::train::run::BEST_WEIGHTS;

use super::commands::Command;
use super::embedding_map::{MapItem, diverging};
use super::figure_export::{self, FigureRequest};
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
    fn plot_id(self) -> egui::Id {
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

const MIN_MAP_HEIGHT: f32 = 220.0;
/// The map window's first size, in points; it is resizable and remembered by egui.
const WINDOW_DEFAULT_SIZE: [f32; 2] = [780.0, 620.0];
/// Where the map window first opens: right of the browser, whose selection a click in the map
/// changes, so that both stay in sight.
const WINDOW_DEFAULT_POS: [f32; 2] = [theme::PANEL_BROWSER_WIDTH + 12.0, 40.0];
const MAX_POINTS_CHOICES: [Option<usize>; 4] = [Some(2000), Some(10_000), Some(50_000), None];
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
    pub(super) fn start(&mut self, request_id: u64, method: Method, stop: Arc<AtomicBool>) {
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

    pub(super) fn start_main(&mut self, request_id: u64, method: Method, stop: Arc<AtomicBool>) {
        self.with_main(|m| m.start(request_id, method, stop));
    }

    /// Applies an update of the worker to the map whose request it answers; returns a notice
    /// for the status bar on failure.
    pub(super) fn apply(&mut self, request_id: u64, update: EmbeddingUpdate) -> Option<Notice> {
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
    let choice = settings.embedding;
    ui.horizontal_wrapped(|ui| {
        // First, so that it is in sight however little room the tab has.
        let (text, hover) = if settings.embedding_window {
            ("Back into the tab", "Draw the map here again")
        } else {
            ("Open in a window", "A large, resizable window for the map, beside the browser and the player")
        };
        if ui.small_button(text).on_hover_text(hover).clicked() {
            commands.push(Command::SetEmbeddingWindow(!settings.embedding_window));
        }
        ui.strong(format!("{} of the unimodal representations", choice.method.name()));
        ui.weak(format!("run {}", run.dir.display()));
    });
    ui.horizontal_wrapped(|ui| {
        if !compute_or_stop_ui(ui, embedding, choice, commands) {
            settings_ui(ui, choice, commands);
        }
    });
    // In window mode the window has the colouring, by the map it colours.
    if !settings.embedding_window {
        ui.horizontal_wrapped(|ui| colour_ui(ui, session, settings, commands));
    }
    ui.horizontal_wrapped(|ui| match &embedding.compare_run {
        Some(other) => {
            ui.label(format!("beside: run {}", other.display()));
            if ui.button("Remove").clicked() {
                commands.push(Command::SetEmbeddingCompareRun(None));
            }
        }
        None => compare_choice_ui(ui, session, settings, commands),
    });
    for status in [&embedding.status, &embedding.compare.status] {
        if let EmbeddingStatus::Failed(message) = status {
            ui.colored_label(theme::ERROR_TEXT, message);
        }
    }
    if embedding.points.is_empty() && embedding.compare.points.is_empty() {
        if !embedding.is_running() {
            ui.weak(match choice.max_points {
                Some(max) => {
                    format!("Up to {max} points (utterances × modalities, a seeded sample) are mapped together.")
                }
                None => "Every utterance of the split, in each modality, is mapped together.".to_owned(),
            });
        }
        return;
    }
    if settings.embedding_window {
        ui.weak("The map is in its own window.");
        return;
    }
    // The map fills what is visible of the tab (it sits in a scroll area), with a floor.
    let height = ui.clip_rect().bottom() - ui.cursor().top() - 8.0;
    maps_ui(ui, session, view, settings, height, commands);
}

/// The map (or the pair of maps) in a window of its own, when the tab is too small for it:
/// Compute (or the progress and Stop) and the colouring on top, the maps filling the rest.
/// Closing it brings the map back into the tab.
pub fn embedding_window(
    ctx: &egui::Context,
    session: &Session,
    view: &ViewState,
    settings: &ViewSettings,
    commands: &mut Vec<Command>,
) {
    if !settings.embedding_window || session.run.is_none() {
        return;
    }
    let embedding = &view.embedding;
    let mut open = true;
    egui::Window::new(format!("Embedding map ({})", settings.embedding.method.name()))
        .id(egui::Id::unique("univa embedding window"))
        .open(&mut open)
        .default_pos(WINDOW_DEFAULT_POS)
        .default_size(WINDOW_DEFAULT_SIZE)
        .resizable(true)
        .constrain(true)
        .show(ctx, |ui| {
            ui.horizontal_wrapped(|ui| {
                compute_or_stop_ui(ui, embedding, settings.embedding, commands);
            });
            ui.horizontal_wrapped(|ui| colour_ui(ui, session, settings, commands));
            if embedding.points.is_empty() && embedding.compare.points.is_empty() {
                ui.weak(if embedding.is_running() {
                    "The map appears here with its first layout."
                } else {
                    "No map yet (the method, split and points are chosen in the Embedding tab)."
                });
                // Keep the window its size until the map comes.
                ui.allocate_space(ui.available_size());
                return;
            }
            // Exactly the room left, or the window would grow to fit a larger map, frame after
            // frame.
            let height = ui.available_height();
            maps_ui(ui, session, view, settings, height, commands);
        });
    if !open {
        commands.push(Command::SetEmbeddingWindow(false));
    }
}

/// A progress bar for each map being computed and one Stop for them, or the button that
/// computes the map with the chosen settings; returns whether a map is being computed.
fn compute_or_stop_ui(
    ui: &mut egui::Ui,
    embedding: &EmbeddingView,
    choice: EmbeddingSettings,
    commands: &mut Vec<Command>,
) -> bool {
    if !embedding.is_running() {
        let label = if embedding.points.is_empty() { "Compute map" } else { "Recompute" };
        if ui.button(label).clicked() {
            commands.push(Command::ComputeEmbedding(choice.request()));
        }
        return false;
    }
    for map in [&embedding.status, &embedding.compare.status] {
        if let EmbeddingStatus::Running { method, stage, done, total, .. } = map {
            let text = match stage {
                Stage::Encoding => format!("encoding utterances {done}/{total}"),
                Stage::Neighbours => "nearest neighbours…".to_owned(),
                Stage::Projecting => format!("{} iteration {done}/{total}", method.name()),
            };
            let fraction = *done as f32 / (*total).max(1) as f32;
            ui.add(egui::ProgressBar::new(fraction).desired_width(220.0).text(text));
        }
    }
    if ui.button("Stop").clicked() {
        commands.push(Command::StopEmbedding);
    }
    true
}

/// What colours the points: the choices, and the label for the label colourings.
fn colour_ui(ui: &mut egui::Ui, session: &Session, settings: &ViewSettings, commands: &mut Vec<Command>) {
    ui.label("Colour by");
    for (colour, name) in [
        (EmbeddingColour::Modality, "modality"),
        (EmbeddingColour::Label, "gold label"),
        (EmbeddingColour::Predicted, "predicted label"),
        (EmbeddingColour::Quadrant, "VA quadrant"),
        (EmbeddingColour::Valence, "valence"),
        (EmbeddingColour::Arousal, "arousal"),
    ] {
        if ui.selectable_label(settings.embedding_colour == colour, name).clicked() {
            commands.push(Command::SetEmbeddingColour(colour));
        }
        if matches!(colour, EmbeddingColour::Label | EmbeddingColour::Predicted) && settings.embedding_colour == colour
        {
            label_choice(ui, session, settings, commands);
        }
    }
}

/// The attached run's map, or it and the compared run's side by side.
fn maps_ui(
    ui: &mut egui::Ui,
    session: &Session,
    view: &ViewState,
    settings: &ViewSettings,
    height: f32,
    commands: &mut Vec<Command>,
) {
    let embedding = &view.embedding;
    let classing = Classing::new(session, settings);
    if let Some(other) = &embedding.compare_run {
        let this = session.run.as_ref().map_or_else(String::new, |run| format!("this run: {}", run_name(&run.dir)));
        let beside = format!("compared run: {}", run_name(other));
        ui.columns(2, |columns| {
            let [left, right] = columns else { return };
            map_ui(left, session, view, settings, &classing, MapSide::Attached, &this, height, commands);
            map_ui(right, session, view, settings, &classing, MapSide::Compared, &beside, height, commands);
        });
    } else {
        map_ui(ui, session, view, settings, &classing, MapSide::Attached, "", height, commands);
    }
}

/// The maps as a figure (`univa figure embedding` on the same points), coloured as close to
/// the tab as the figure's colourings go: the prediction colouring has no figure and is drawn
/// by gold label.
fn figure_request(session: &Session, view: &ViewState, settings: &ViewSettings) -> FigureRequest {
    let rows = |points: &[EmbeddedPoint]| -> Vec<MapRow> {
        points
            .iter()
            .filter_map(|p| {
                let id = session.utterance(p.utterance)?.id.clone();
                Some(MapRow { id, modality: p.modality, x: p.position[0], y: p.position[1] })
            })
            .collect()
    };
    let name = |dir: Option<&std::path::Path>| dir.map_or_else(|| "this run".to_owned(), run_name);
    let embedding = &view.embedding;
    let mut maps = vec![(name(session.run.as_ref().map(|r| r.dir.as_path())), rows(&embedding.points))];
    if let Some(other) = &embedding.compare_run
        && !embedding.compare.points.is_empty()
    {
        maps.push((run_name(other), rows(&embedding.compare.points)));
    }
    let colouring = match settings.embedding_colour {
        EmbeddingColour::Modality => Colouring::Modality,
        EmbeddingColour::Label | EmbeddingColour::Predicted => Colouring::Label,
        EmbeddingColour::Quadrant => Colouring::Quadrant,
        EmbeddingColour::Valence => Colouring::Valence,
        EmbeddingColour::Arousal => Colouring::Arousal,
    };
    FigureRequest::Embedding { maps, colouring }
}

/// The run to map beside this one: a trained run of the runs folder (listed while the choice
/// is open), or any run folder through the file dialog.
fn compare_choice_ui(ui: &mut egui::Ui, session: &Session, settings: &ViewSettings, commands: &mut Vec<Command>) {
    let this = session.run.as_ref().map(|run| run.dir.as_path());
    egui::ComboBox::from_label("beside it")
        .selected_text("Compare with run…")
        .show_ui(ui, |ui| {
            let runs_dir = &settings.runs_dir;
            let trained: Vec<PathBuf> = runs::discover(runs_dir)
                .into_iter()
                .filter(|dir| dir.join(BEST_WEIGHTS).is_file() && Some(dir.as_path()) != this)
                .collect();
            if trained.is_empty() {
                ui.weak(format!("no trained runs in {}", runs_dir.display()));
            }
            for dir in trained {
                if ui.selectable_label(false, runs::display_name(runs_dir, &dir)).clicked() {
                    commands.push(Command::SetEmbeddingCompareRun(Some(dir)));
                }
            }
            ui.separator();
            if ui.selectable_label(false, "Other run folder…").clicked() {
                commands.push(Command::ChooseEmbeddingCompareRun);
            }
        })
        .response
        .on_hover_text("e.g. the w/o VA-CL ablation (Fig. 3 b), mapped with the same seed");
}

/// Method, split and point limit.
fn settings_ui(ui: &mut egui::Ui, choice: EmbeddingSettings, commands: &mut Vec<Command>) {
    let mut set = |new: EmbeddingSettings| commands.push(Command::SetEmbeddingSettings(new));
    egui::ComboBox::from_label("method").selected_text(choice.method.name()).show_ui(ui, |ui| {
        for method in [Method::Umap, Method::Tsne] {
            if ui.selectable_label(choice.method == method, method.name()).clicked() {
                set(EmbeddingSettings { method, ..choice });
            }
        }
    });
    let split_name = |s: Option<Split>| s.map_or("all splits", Split::name);
    egui::ComboBox::from_label("split").selected_text(split_name(choice.split)).show_ui(ui, |ui| {
        for split in [Some(Split::Train), Some(Split::Valid), Some(Split::Test), None] {
            if ui.selectable_label(choice.split == split, split_name(split)).clicked() {
                set(EmbeddingSettings { split, ..choice });
            }
        }
    });
    if choice.method == Method::Tsne {
        // Exact t-SNE costs O(n²) per iteration.
        ui.weak(format!("≤ {EXACT_TSNE_MAX_POINTS} points (exact)"));
        return;
    }
    let points_name = |p: Option<usize>| p.map_or_else(|| "all points".to_owned(), |p| format!("≤ {p} points"));
    egui::ComboBox::from_label("points").selected_text(points_name(choice.max_points)).show_ui(ui, |ui| {
        for max_points in MAX_POINTS_CHOICES {
            if ui.selectable_label(choice.max_points == max_points, points_name(max_points)).clicked() {
                set(EmbeddingSettings { max_points, ..choice });
            }
        }
    });
}

/// A run folder's last component, which names the run (its full path is in the tab).
fn run_name(dir: &std::path::Path) -> String {
    dir.file_name().map_or_else(|| dir.display().to_string(), |name| name.to_string_lossy().into_owned())
}

/// One map in `height` (its title rows included): its legend items as meshes, the selected
/// utterance ringed, a click selecting.
#[allow(clippy::too_many_arguments)]
fn map_ui(
    ui: &mut egui::Ui,
    session: &Session,
    view: &ViewState,
    settings: &ViewSettings,
    classing: &Classing<'_>,
    side: MapSide,
    title: &str,
    height: f32,
    commands: &mut Vec<Command>,
) {
    let (points, id) = (side.points(&view.embedding), side.plot_id());
    let top = ui.cursor().top();
    if !title.is_empty() {
        ui.weak(title);
    }
    ui.horizontal(|ui| {
        ui.label(format!("{} points", points.len()));
        if !points.is_empty()
            && ui.small_button("Save CSV…").on_hover_text("id, modality, x, y: what `univa project` writes").clicked()
        {
            commands.push(Command::SaveEmbeddingCsv(side, None));
        }
        // One figure of the map, or of the compared pair, in the first map's row (which the
        // map's height already counts).
        if side == MapSide::Attached && !points.is_empty() && !view.embedding.is_running() {
            figure_export::export_button_ui(ui, || figure_request(session, view, settings));
        }
    });
    if points.is_empty() {
        return;
    }
    // What the title rows left of the map's height.
    let plot_height = (height - (ui.cursor().top() - top)).max(MIN_MAP_HEIGHT);
    let items = items(session, points, classing);
    let selected: Vec<[f64; 2]> = points
        .iter()
        .filter(|p| Some(p.utterance) == view.selected)
        .map(|p| [f64::from(p.position[0]), f64::from(p.position[1])])
        .collect();
    let names: Vec<(String, Vec<usize>)> = items.iter().map(|i| (i.name().to_owned(), i.members.clone())).collect();
    let response = Plot::new(id)
        .id(id)
        .height(plot_height)
        .data_aspect(1.0)
        .show_axes(false)
        .show_grid(false)
        .legend(Legend::default())
        .label_formatter(|hover| hover_label(session, points, &names, hover))
        .show(ui, |plot| {
            for item in items {
                plot.add(item);
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
        if let Some(index) = nearest(points, pointer, radius) {
            commands.push(Command::Select(index));
        }
    }
}

/// The label whose gold holders (or predicted holders) the map highlights.
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
    items: &[(String, Vec<usize>)],
    hover: &HoverPosition<'_>,
) -> Option<String> {
    let HoverPosition::NearDataPoint { plot_name, index, .. } = hover else { return None };
    let (_, members) = items.iter().find(|(name, _)| name == plot_name)?;
    let point = points.get(*members.get(*index)?)?;
    let utterance = session.utterance(point.utterance)?;
    let labels: Vec<&str> =
        utterance.labels.iter().filter_map(|&j| session.label_names.get(j).map(String::as_str)).collect();
    let mut text = format!("{} ({})\ngold: {}", utterance.id, point.modality, labels.join(", "));
    if let Some(va) = utterance.va.get(point.modality) {
        text.push_str(&format!("\nV {:+.2}  A {:+.2}", va.valence, va.arousal));
    }
    if !utterance.text.is_empty() {
        text.push('\n');
        text.extend(utterance.text.chars().take(60));
    }
    Some(text)
}

/// How the map's points are classed: the colouring, with the highlighted label and its name
/// where one is chosen, and the threshold predictions are made at.
enum Classing<'a> {
    Modality,
    Label(Option<(usize, &'a str)>),
    Predicted(Option<(usize, &'a str)>, f32),
    Quadrant,
    Valence,
    Arousal,
}

/// A point's class: an index into [`Classing::classes`] and its colour (which differs within a
/// class only on the continuous scales).
struct Class(usize, Color32);

impl<'a> Classing<'a> {
    fn new(session: &'a Session, settings: &ViewSettings) -> Self {
        let label = || highlighted_label(session, settings).map(|j| (j, session.label_names[j].as_str()));
        match settings.embedding_colour {
            EmbeddingColour::Modality => Self::Modality,
            EmbeddingColour::Label => Self::Label(label()),
            EmbeddingColour::Predicted => Self::Predicted(label(), settings.threshold),
            EmbeddingColour::Quadrant => Self::Quadrant,
            EmbeddingColour::Valence => Self::Valence,
            EmbeddingColour::Arousal => Self::Arousal,
        }
    }

    /// The legend entries, in drawing order (later ones on top): the modalities in their fixed
    /// order, a label's others under its holders, the quadrants, a VA scale.
    fn classes(&self) -> Vec<(String, Color32)> {
        let missing = ("no VA".to_owned(), theme::ANCHOR);
        match self {
            Self::Modality => {
                Modality::ALL.into_iter().map(|m| (m.name().to_owned(), theme::modality_color(m))).collect()
            }
            Self::Label(Some((j, name))) => {
                vec![(format!("not {name}"), theme::ANCHOR), ((*name).to_owned(), theme::label_color(*j))]
            }
            Self::Predicted(Some((j, name)), _) => vec![
                (format!("{name} not predicted"), theme::ANCHOR),
                (format!("{name} predicted"), theme::label_color(*j)),
                ("no prediction".to_owned(), theme::ANCHOR),
            ],
            Self::Label(None) | Self::Predicted(None, _) => vec![("no label".to_owned(), theme::ANCHOR)],
            Self::Quadrant => {
                let mut classes: Vec<(String, Color32)> =
                    (0..4).map(|q| (va_plane::quadrant_name(q).to_owned(), theme::quadrant_color(q))).collect();
                classes.push(missing);
                classes
            }
            Self::Valence => vec![("valence −1 … +1".to_owned(), diverging(1.0)), missing],
            Self::Arousal => vec![("arousal −1 … +1".to_owned(), diverging(1.0)), missing],
        }
    }

    fn class_of(&self, session: &Session, point: &EmbeddedPoint) -> Class {
        let utterance = session.utterance(point.utterance);
        let va = || utterance.and_then(|u| *u.va.get(point.modality));
        match self {
            Self::Modality => Class(point.modality.index(), theme::modality_color(point.modality)),
            Self::Label(Some((j, _))) => {
                if utterance.is_some_and(|u| u.labels.contains(j)) {
                    Class(1, theme::label_color(*j))
                } else {
                    Class(0, theme::ANCHOR)
                }
            }
            Self::Predicted(Some((j, _)), threshold) => match session.predicted(point.utterance, *threshold) {
                Some(predicted) if predicted.contains(j) => Class(1, theme::label_color(*j)),
                Some(_) => Class(0, theme::ANCHOR),
                None => Class(2, theme::ANCHOR),
            },
            Self::Label(None) | Self::Predicted(None, _) => Class(0, theme::ANCHOR),
            Self::Quadrant => match va() {
                Some(va) => {
                    let q = va_plane::quadrant(va.valence, va.arousal);
                    Class(q, theme::quadrant_color(q))
                }
                None => Class(4, theme::ANCHOR),
            },
            Self::Valence => va().map_or(Class(1, theme::ANCHOR), |va| Class(0, diverging(va.valence))),
            Self::Arousal => va().map_or(Class(1, theme::ANCHOR), |va| Class(0, diverging(va.arousal))),
        }
    }
}

/// The map's legend items, each one mesh; empty ones are left out.
fn items(session: &Session, points: &[EmbeddedPoint], classing: &Classing<'_>) -> Vec<MapItem> {
    let mut items: Vec<MapItem> =
        classing.classes().into_iter().map(|(name, color)| MapItem::new(name, color)).collect();
    for (i, point) in points.iter().enumerate() {
        let Class(class, color) = classing.class_of(session, point);
        if let Some(item) = items.get_mut(class) {
            item.push(i, point.position, color);
        }
    }
    items.retain(|item| !item.is_empty());
    items
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn nearest_point_within_radius() {
        let points = [point(4, 0.0, 0.0), point(9, 1.0, 1.0), point(2, 0.2, 0.0)];
        assert_eq!(nearest(&points, PlotPoint::new(0.15, 0.0), 0.1), Some(2));
        assert_eq!(nearest(&points, PlotPoint::new(0.9, 0.9), 0.5), Some(9));
        assert_eq!(nearest(&points, PlotPoint::new(5.0, 5.0), 0.5), None);
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
