//! The embedding map pane (paper Fig. 3): a map of the attached run's unimodal representations of a
//! whole split (UMAP; exact t-SNE on at most 2,500 points), computed on the worker thread with
//! progress and a Stop button, its layout streaming in while it optimises. Points are coloured
//! by modality, by whether the gold or the predicted labels include a chosen label, by VA
//! quadrant, or by the point's valence or arousal on a continuous scale. A second run (e.g. the
//! w/o VA-CL ablation, Fig. 3 b) can be mapped beside it; a click in either map selects the
//! utterance in the browser and rings it in both. Maximise the pane for a large map.

use std::path::PathBuf;

use egui::Color32;
use egui_plot::{HoverPosition, Legend, Plot, PlotItem as _, PlotPoint, Points};

use crate::dataset::Split;
use crate::figures::data::MapRow;
use crate::figures::plots::Colouring;
use crate::modality::Modality;
use crate::projection::{EXACT_TSNE_MAX_POINTS, EmbeddedPoint, Method, Stage};
use crate::runs;
use crate::train::run::BEST_WEIGHTS;
use crate::va::{quadrant, quadrant_name};

use super::{PaneContext, export_button_ui};
use crate::ui::state::{
    Command, EmbeddingColour, EmbeddingSettings, EmbeddingStatus, EmbeddingView, FigureRequest, MapSide, Session,
    ViewSettings, ViewState,
};
use crate::ui::widgets::point_mesh::MapItem;
use crate::ui::widgets::theme::{self, diverging};

const MIN_MAP_HEIGHT: f32 = 220.0;
const MAX_POINTS_CHOICES: [Option<usize>; 4] = [Some(2000), Some(10_000), Some(50_000), None];
/// How far from a map point (in points on screen) a click still selects it.
const CLICK_RADIUS: f32 = 8.0;

pub fn embedding_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (Some(session), view, settings) = (cx.session, cx.view, cx.settings) else { return };
    let Some(run) = &session.run else {
        ui.label("No trained run is attached, so there are no representations to map.");
        ui.weak("Open one with File → Open run…, or start with `univa gui DATASET --run RUN`.");
        return;
    };
    let embedding = &view.embedding;
    let choice = settings.embedding;
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!("{} of the unimodal representations", choice.method.name()));
        ui.weak(format!("run {}", run.dir.display()));
    });
    ui.horizontal_wrapped(|ui| {
        if !compute_or_stop_ui(ui, embedding, choice, commands) {
            settings_ui(ui, choice, commands);
        }
    });
    ui.horizontal_wrapped(|ui| colour_ui(ui, session, settings, commands));
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
    // The map fills the rest of the pane, with a floor.
    let height = ui.available_height();
    maps_ui(ui, session, view, settings, height, commands);
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
            export_button_ui(ui, commands, || figure_request(session, view, settings));
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
                    (0..4).map(|q| (quadrant_name(q).to_owned(), theme::quadrant_color(q))).collect();
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
                    let q = quadrant(va.valence, va.arousal);
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

    #[test]
    fn nearest_point_within_radius() {
        let points = [point(4, 0.0, 0.0), point(9, 1.0, 1.0), point(2, 0.2, 0.0)];
        assert_eq!(nearest(&points, PlotPoint::new(0.15, 0.0), 0.1), Some(2));
        assert_eq!(nearest(&points, PlotPoint::new(0.9, 0.9), 0.5), Some(9));
        assert_eq!(nearest(&points, PlotPoint::new(5.0, 5.0), 0.5), None);
    }
}
