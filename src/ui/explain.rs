//! The Explain tab (issue 28): for the selected utterance and the attached run, each
//! modality's attention over the clip as a strip of steps (a click on a step seeks the player
//! there), the transcript with each word shaded by its text attention, the contribution grid
//! (labels × modalities, Δ probability, flips starred) under either removal rule, and the
//! nearest training utterances per representation (a click selects one).
//!
//! Explanations are computed on the worker thread ([`ExplainerCache`] keeps the run's model
//! and training index between requests) and kept per run and utterance, so a frame never waits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::{Color32, RichText, Sense};

use super::app::StudioApp;
use super::commands::Command;
use super::player::Transport;
use super::session::Session;
use super::state::ViewState;
use super::theme;
use super::worker::Job;
use crate::dataset::Dataset;
use crate::explain::timeline::{ModalityAttention, TimeUnit};
use crate::explain::{Ablation, Explainer, Explanation, Rule, StepMapper};

/// Nearest training utterances shown per representation.
const NEIGHBOURS: usize = 5;
/// Height of one attention strip.
const STRIP_HEIGHT: f32 = 26.0;

/// What the Explain tab asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum ExplainCommand {
    /// Explain this utterance of the session with its run (on the worker thread).
    Request(usize),
    /// Show the contributions under this removal rule.
    SetRule(Rule),
}

/// The tab's answers per (run, utterance), the one request in flight, the rule shown.
#[derive(Debug, Default)]
pub struct ExplainView {
    answers: HashMap<(PathBuf, usize), Result<Arc<Explanation>, String>>,
    in_flight: Option<(PathBuf, usize)>,
    zero_rule: bool,
}

impl ExplainView {
    fn rule(&self) -> Rule {
        if self.zero_rule { Rule::Zero } else { Rule::TrainMean }
    }

    /// The answer for `utterance` with `run`, once the worker has given it.
    pub fn answer(&self, run: &Path, utterance: usize) -> Option<&Result<Arc<Explanation>, String>> {
        self.answers.get(&(run.to_path_buf(), utterance))
    }

    /// Keeps the worker's answer.
    pub(super) fn apply(&mut self, run: PathBuf, utterance: usize, result: Result<Box<Explanation>, String>) {
        if self.in_flight.as_ref().is_some_and(|(r, u)| *r == run && *u == utterance) {
            self.in_flight = None;
        }
        self.answers.insert((run, utterance), result.map(Arc::from));
    }
}

impl StudioApp {
    /// Applies an [`ExplainCommand`].
    pub(super) fn handle_explain(&mut self, command: ExplainCommand) {
        match command {
            ExplainCommand::SetRule(rule) => self.view.explain.zero_rule = rule == Rule::Zero,
            ExplainCommand::Request(utterance) => {
                let Some(session) = &self.session else { return };
                let Some(run) = session.run.as_ref().map(|r| r.dir.clone()) else { return };
                let key = (run.clone(), utterance);
                if self.view.explain.answers.contains_key(&key) || self.view.explain.in_flight.is_some() {
                    return;
                }
                let dataset = session.dataset.root.clone();
                let Some(worker) = self.started_worker() else { return };
                match worker.submit(Job::Explain { run, dataset, utterance }) {
                    Ok(()) => self.view.explain.in_flight = Some(key),
                    Err(message) => {
                        self.view.explain.answers.insert(key, Err(message));
                    }
                }
            }
        }
    }
}

/// The worker thread's explainer, kept while requests are for the same run and dataset.
#[derive(Default)]
pub(super) struct ExplainerCache {
    current: Option<Loaded>,
}

struct Loaded {
    run: PathBuf,
    dataset_root: PathBuf,
    dataset: Dataset,
    mapper: StepMapper,
    explainer: Explainer,
}

impl ExplainerCache {
    /// Explains `utterance` of the dataset at `dataset` with `run`, building the run's
    /// training index first when the run or dataset changed.
    pub(super) fn explain(&mut self, run: &Path, dataset: &Path, utterance: usize) -> Result<Explanation, String> {
        let fresh = self.current.as_ref().is_none_or(|c| c.run != run || c.dataset_root != dataset);
        if fresh {
            self.current = None;
            self.current =
                Some(load(run, dataset).map_err(|e| format!("Could not explain with {}: {e}", run.display()))?);
        }
        let Some(loaded) = &self.current else { return Err("no explainer".to_owned()) };
        loaded.explainer.explain(&loaded.dataset, &loaded.mapper, utterance, NEIGHBOURS).map_err(|e| e.to_string())
    }
}

fn load(run: &Path, dataset_root: &Path) -> Result<Loaded, crate::explain::ExplainError> {
    let dataset = Dataset::open_lazy(dataset_root).map_err(crate::train::TrainError::from)?;
    let trained = crate::explain::load_run(run)?;
    let training = crate::explain::training_dataset_path(run, &trained).ok().filter(|p| p.is_dir());
    let explainer = match training {
        Some(path) if std::fs::canonicalize(&path).ok() != std::fs::canonicalize(dataset_root).ok() => {
            let training = Dataset::open_lazy(&path).map_err(crate::train::TrainError::from)?;
            Explainer::new(trained, &training, None)?
        }
        _ => Explainer::new(trained, &dataset, None)?,
    };
    let mapper = StepMapper::for_dataset(&dataset);
    Ok(Loaded { run: run.to_path_buf(), dataset_root: dataset_root.to_path_buf(), dataset, mapper, explainer })
}

/// The tab: asks for the selected utterance's explanation and draws it once it is there.
pub fn explain_ui(ui: &mut egui::Ui, session: &Session, view: &ViewState, commands: &mut Vec<Command>) {
    let Some(run) = session.run.as_ref() else {
        ui.label("Attach a trained run (File → Attach run…) to see why it predicts what it does.");
        return;
    };
    let Some(selected) = view.selected else {
        ui.label("Select an utterance.");
        return;
    };
    match view.explain.answer(&run.dir, selected) {
        None => {
            commands.push(Command::Explain(ExplainCommand::Request(selected)));
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Explaining… (the first utterance of a run also encodes its training split)");
            });
        }
        Some(Err(message)) => {
            ui.colored_label(theme::ERROR_TEXT, message);
        }
        Some(Ok(explanation)) => explanation_ui(ui, session, explanation, view.explain.rule(), commands),
    }
}

fn explanation_ui(ui: &mut egui::Ui, session: &Session, e: &Explanation, rule: Rule, commands: &mut Vec<Command>) {
    ui.strong("Attention over time");
    for attention in &e.attention {
        strip_ui(ui, attention, commands);
    }
    if let Some(text) = e.attention.iter().find(|a| !a.words.is_empty()) {
        words_ui(ui, text);
    }
    ui.separator();
    contributions_ui(ui, e, rule, commands);
    ui.separator();
    neighbours_ui(ui, session, e, commands);
}

/// One modality's α over its steps as bars on the clip's time axis (a line marks uniform
/// attention, 1/n); each step is a target of its own ("vision step 3: α 0.210 at 1.20 s"), a click seeks the player to its start.
fn strip_ui(ui: &mut egui::Ui, a: &ModalityAttention, commands: &mut Vec<Command>) {
    let (Some(first), Some(last)) = (a.steps.first(), a.steps.last()) else {
        ui.label(format!("{}: no real steps", a.modality));
        return;
    };
    let range = (first.span.start, last.span.end.max(first.span.start + 1e-9));
    ui.horizontal(|ui| {
        ui.add_sized([56.0, STRIP_HEIGHT], egui::Label::new(a.modality.name())).on_hover_text(&a.placement);
        let width = ui.available_width().max(100.0);
        bars_ui(ui, a, range, width, "", commands);
    });
    if !a.exact && a.modality != crate::modality::Modality::Text {
        ui.weak(format!("    {}", a.placement));
    }
}

/// The strips of the modalities placed on the clip's time (vision, audio) under the player's
/// timeline, on its axis: `range` is the timeline's window (file seconds).
pub fn player_strips_ui(ui: &mut egui::Ui, e: &Explanation, range: (f64, f64), commands: &mut Vec<Command>) {
    for a in e.attention.iter().filter(|a| a.unit == TimeUnit::Seconds && !a.steps.is_empty()) {
        let width = ui.available_width();
        let rect = bars_ui(ui, a, range, width, "timeline: ", commands);
        // The name on a patch of the panel's colour, legible over the bars.
        let name = format!("{} attention", a.modality);
        let painter = ui.painter();
        let galley = painter.layout_no_wrap(name, egui::FontId::proportional(10.0), ui.visuals().strong_text_color());
        let at = rect.left_top() + egui::vec2(3.0, 1.0);
        painter.rect_filled(egui::Rect::from_min_size(at, galley.size()).expand(1.0), 2.0, ui.visuals().panel_fill);
        painter.galley(at, galley, ui.visuals().strong_text_color());
    }
}

/// The bars of one strip over `range` (seconds or steps), `width` wide; where it was drawn.
/// Each step is named `{where_}{modality} step {i}` for screen readers and tests.
fn bars_ui(
    ui: &mut egui::Ui,
    a: &ModalityAttention,
    (start, end): (f64, f64),
    width: f32,
    where_: &str,
    commands: &mut Vec<Command>,
) -> egui::Rect {
    let end = end.max(start + 1e-9);
    let max = a.steps.iter().map(|s| s.weight).fold(0.0f32, f32::max).max(1e-12);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, STRIP_HEIGHT), Sense::hover());
    ui.painter().rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let colour = theme::modality_color(a.modality);
    let seconds = a.unit == TimeUnit::Seconds;
    // Steps outside the range (the timeline's window is the utterance with some context) are cut.
    let x_of = |t: f64| rect.left() + rect.width() * (((t - start) / (end - start)) as f32).clamp(0.0, 1.0);
    for step in &a.steps {
        let (x0, x1) = (x_of(step.span.start), x_of(step.span.end));
        let height = rect.height() * (step.weight / max);
        let bar = egui::Rect::from_min_max(
            egui::pos2(x0, rect.bottom() - height),
            egui::pos2(x1.max(x0 + 1.0), rect.bottom()),
        );
        let target = egui::Rect::from_min_max(egui::pos2(x0, rect.top()), egui::pos2(x1.max(x0 + 1.0), rect.bottom()));
        let id = ui.scope_id().with((where_, a.modality, step.index));
        let response = ui.interact(target, id, if seconds { Sense::click() } else { Sense::hover() });
        let label = if seconds {
            format!("{where_}{} step {}: α {:.3} at {:.2} s", a.modality, step.index, step.weight, step.span.start)
        } else {
            format!("{where_}{} step {}: α {:.3}", a.modality, step.index, step.weight)
        };
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, seconds, &label));
        let fill = if response.hovered() { theme::SELECTED_RING } else { colour };
        ui.painter().rect_filled(bar, 0.0, fill);
        if response.on_hover_text(&label).clicked() {
            commands.push(Command::Transport(Transport::Seek(step.span.start)));
        }
    }
    // Uniform attention (1/n per step) for reference: bars above it are what stands out.
    let uniform = rect.bottom() - rect.height() * (1.0 / a.steps.len() as f32 / max).min(1.0);
    let stroke = egui::Stroke::new(1.0, ui.visuals().text_color());
    ui.painter().hline(rect.x_range(), uniform, stroke);
    rect
}

/// The transcript, each word on a background as strong as its share of the text attention.
fn words_ui(ui: &mut egui::Ui, text: &ModalityAttention) {
    let max = text.words.iter().map(|w| w.weight).fold(0.0f32, f32::max).max(1e-12);
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 3.0;
        for word in &text.words {
            let alpha = (40.0 + 215.0 * word.weight / max) as u8;
            let [r, g, b, _] = theme::modality_color(crate::modality::Modality::Text).to_array();
            let background = Color32::from_rgba_unmultiplied(r, g, b, alpha);
            ui.label(RichText::new(&word.word).background_color(background).color(Color32::BLACK))
                .on_hover_text(format!("{:.3} of the text attention", word.weight));
        }
    });
    if !text.words_exact {
        ui.weak(&text.placement);
    }
}

/// Labels × (without / only each modality): Δ probability, `*` where the decision flips.
fn contributions_ui(ui: &mut egui::Ui, e: &Explanation, rule: Rule, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.strong("Contributions");
        for (r, name) in [(Rule::TrainMean, "removed = training mean"), (Rule::Zero, "removed = zeros")] {
            if ui.selectable_label(rule == r, name).clicked() && rule != r {
                commands.push(Command::Explain(ExplainCommand::SetRule(r)));
            }
        }
    });
    egui::Grid::new("explain_contributions").striped(true).show(ui, |ui| {
        ui.label("");
        for label in &e.labels {
            ui.strong(label);
        }
        ui.end_row();
        ui.label("p");
        for (p, predicted) in e.probabilities.iter().zip(&e.predicted) {
            let text = RichText::new(format!("{p:.3}"));
            ui.label(if *predicted { text.strong() } else { text });
        }
        ui.end_row();
        for ablation in Ablation::ALL {
            for c in e.contributions.iter().filter(|c| c.rule == rule && c.ablation == ablation) {
                ui.label(format!("{} {}", ablation.name(), c.modality));
                for (d, flip) in c.delta.iter().zip(&c.flips) {
                    let colour = if *d < 0.0 { theme::MISS } else { theme::HIT };
                    let text = format!("{d:+.3}{}", if *flip { "*" } else { "" });
                    let cell = ui.colored_label(colour, text);
                    if *flip {
                        cell.on_hover_text("the decision at the threshold flips");
                    }
                }
                ui.end_row();
            }
        }
    });
}

/// The nearest training utterances per representation; a click selects one in the session.
fn neighbours_ui(ui: &mut egui::Ui, session: &Session, e: &Explanation, commands: &mut Vec<Command>) {
    ui.strong("Nearest training utterances");
    for list in &e.neighbours {
        ui.collapsing(format!("in {}", list.space.name()), |ui| {
            egui::Grid::new(("explain_neighbours", list.space.name())).striped(true).show(ui, |ui| {
                for n in &list.neighbours {
                    let index = (0..session.len()).find(|&i| session.utterance(i).is_some_and(|u| u.id == n.id));
                    let button = ui.add_enabled(index.is_some(), egui::Button::new(&n.id));
                    if let (true, Some(index)) = (button.clicked(), index) {
                        commands.push(Command::Select(index));
                    }
                    ui.label(format!("{:.3}", n.distance));
                    ui.label(if n.labels.is_empty() { "-".to_owned() } else { n.labels.join(", ") });
                    ui.end_row();
                }
            });
        });
    }
}
