//! The Explain pane (issue 28): for the selected utterance and the attached run, each
//! modality's attention over the clip as a strip of steps (a click on a step seeks the player
//! there), the transcript with each word shaded by its text attention, the contribution grid
//! (labels × modalities, Δ probability, flips starred) under either removal rule, and the
//! nearest training utterances per representation (a click selects one).

use egui::{Color32, RichText, Sense};

use super::PaneContext;
use crate::explain::timeline::{ModalityAttention, TimeUnit};
use crate::explain::{Ablation, Explanation, Rule};
use crate::ui::state::{Command, ExplainCommand, Session, Transport};
use crate::ui::widgets::theme;

/// Height of one attention strip.
const STRIP_HEIGHT: f32 = 26.0;

/// The pane: asks for the selected utterance's explanation and draws it once it is there.
pub fn explain_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (Some(session), view) = (cx.session, cx.view) else { return };
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

/// The height [`player_strips_ui`] takes for `e`.
pub fn strips_height(e: &Explanation) -> f32 {
    let strips = e.attention.iter().filter(|a| a.unit == TimeUnit::Seconds && !a.steps.is_empty()).count();
    strips as f32 * (STRIP_HEIGHT + 4.0)
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
