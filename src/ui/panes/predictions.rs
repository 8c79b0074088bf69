//! The Predictions pane (the selected utterance's probability bars against the threshold), the
//! Metrics pane (the run's metrics on a split, recomputed when the threshold moves) and the
//! threshold sweep plot.

use egui::{Rect, Sense, Stroke, Vec2};
use egui_plot::{Legend, Line, Plot, VLine};

use crate::dataset::Split;
use crate::metrics::Metrics;

use super::{PaneContext, export_button_ui};
use crate::ui::state::{Command, FigureRequest, Session};
use crate::ui::widgets::{self, theme};

pub fn predictions_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (Some(session), view, settings) = (cx.session, cx.view, cx.settings) else { return };
    if session.run.is_none() {
        ui.label("No trained run is open. File → Open run… to see predictions and metrics.");
        return;
    }
    // One line above the bars (the Demo layout gives this pane a strip under the clip); the
    // status bar names the run.
    ui.horizontal_wrapped(|ui| {
        if let Some(index) = view.selected {
            ui.strong(session.utterance(index).map_or("", |u| u.id.as_str()));
            if let Some(outcome) = session.outcome(index, settings.threshold) {
                ui.colored_label(theme::outcome_color(outcome), outcome.marked());
            }
        }
        let mut threshold = settings.threshold;
        let slider = egui::Slider::new(&mut threshold, 0.0..=1.0).step_by(0.01);
        if widgets::labelled_slider(ui, "Threshold", slider).changed() {
            commands.push(Command::SetThreshold(threshold));
        }
    });
    match view.selected {
        Some(index) => bars_ui(ui, session, index, settings.threshold),
        None => {
            ui.label("Select an utterance.");
        }
    }
}

/// The run's metrics and per-label table on the chosen split, at the threshold.
pub fn metrics_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (Some(session), view, settings) = (cx.session, cx.view, cx.settings) else { return };
    if session.run.is_none() {
        ui.label("No trained run is open. File → Open run… to see its metrics.");
        return;
    }
    ui.horizontal(|ui| {
        ui.strong("Metrics on");
        for split in Split::ALL {
            if ui.selectable_label(settings.metrics_split == split, split.name()).clicked() {
                commands.push(Command::SetMetricsSplit(split));
            }
        }
    });
    match &view.metrics {
        Some(metrics) => metrics_ui(ui, metrics),
        None => {
            ui.label("The run has no predictions on this split.");
        }
    }
}

/// One bar per label: probability, threshold line, gold marker and ✓/×. A wide pane holds the
/// labels in several columns (read down, then across), so a short one still shows every bar.
fn bars_ui(ui: &mut egui::Ui, session: &Session, index: usize, threshold: f32) {
    let Some(probabilities) = session.probabilities(index) else {
        ui.label("The run did not evaluate this utterance.");
        return;
    };
    let gold = session.gold(index);
    let name = |j: usize| {
        let name = session.label_names.get(j).map_or("?", String::as_str);
        if gold.get(j).copied().unwrap_or(false) { format!("● {name}") } else { format!("   {name}") }
    };
    // A column of bars: the widest name, the bar, the probability, the mark, and the gaps
    // between them and to the next column; as many columns as fit with the shortest bars.
    let labels = probabilities.len().max(1);
    let beside_bar = (0..labels).map(|j| widgets::text_width(ui, &name(j))).fold(0.0, f32::max)
        + widgets::text_width(ui, "0.000")
        + widgets::text_width(ui, "✓")
        + 4.0 * BAR_GRID_SPACING;
    let columns = ((ui.available_width() / (beside_bar + BAR_MIN_WIDTH)).floor() as usize).clamp(1, labels);
    let rows = labels.div_ceil(columns);
    let bar_width = (ui.available_width() / columns as f32 - beside_bar).clamp(BAR_MIN_WIDTH, BAR_MAX_WIDTH);
    let spacing = [BAR_GRID_SPACING, 3.0];
    egui::Grid::new("prediction_bars").num_columns(4 * columns).min_col_width(0.0).spacing(spacing).show(ui, |ui| {
        for row in 0..rows {
            for j in (0..columns).map(|column| column * rows + row).filter(|&j| j < probabilities.len()) {
                let (p, is_gold) = (probabilities[j], gold.get(j).copied().unwrap_or(false));
                if is_gold {
                    ui.colored_label(theme::gold(ui.visuals()), name(j));
                } else {
                    ui.label(name(j));
                }
                bar_ui(ui, p, threshold, bar_width);
                ui.label(format!("{p:.3}"));
                let predicted = p > threshold;
                let (mark, color) = if predicted == is_gold { ("✓", theme::HIT) } else { ("×", theme::MISS) };
                ui.colored_label(color, mark).on_hover_text(match (predicted, is_gold) {
                    (true, true) => "true positive",
                    (false, false) => "true negative",
                    (true, false) => "false positive",
                    (false, true) => "false negative",
                });
            }
            ui.end_row();
        }
    });
}

const BAR_GRID_SPACING: f32 = 6.0;
const BAR_MIN_WIDTH: f32 = 80.0;
const BAR_MAX_WIDTH: f32 = 150.0;

fn bar_ui(ui: &mut egui::Ui, probability: f32, threshold: f32, width: f32) {
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, theme::BAR_HEIGHT), Sense::hover());
    response
        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::ProgressIndicator, true, format!("{probability:.3}")));
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let fill = if probability > threshold { theme::BAR_PREDICTED } else { theme::BAR };
    let filled = Rect::from_min_size(rect.min, Vec2::new(width * probability.clamp(0.0, 1.0), rect.height()));
    painter.rect_filled(filled, 2.0, fill);
    let x = rect.left() + width * threshold.clamp(0.0, 1.0);
    painter.line_segment(
        [egui::pos2(x, rect.top() - 2.0), egui::pos2(x, rect.bottom() + 2.0)],
        Stroke::new(2.0, theme::THRESHOLD),
    );
}

fn metrics_ui(ui: &mut egui::Ui, metrics: &Metrics) {
    egui::Grid::new("metrics_summary").num_columns(2).striped(true).show(ui, |ui| {
        for (name, value) in [
            ("Acc", metrics.acc),
            ("Subset Acc", metrics.subset_acc),
            ("HL", metrics.hamming_loss),
            ("miF1", metrics.micro_f1),
            ("maF1", metrics.macro_f1),
        ] {
            ui.label(name);
            ui.label(format!("{value:.3}"))
                .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, format!("{name} {value:.3}")));
            ui.end_row();
        }
    });
    ui.add_space(4.0);
    egui::Grid::new("metrics_per_label").num_columns(5).striped(true).show(ui, |ui| {
        for header in ["label", "P", "R", "F1", "n"] {
            ui.strong(header);
        }
        ui.end_row();
        for label in &metrics.per_label {
            ui.label(&label.label);
            ui.label(format!("{:.2}", label.precision));
            ui.label(format!("{:.2}", label.recall));
            ui.label(format!("{:.2}", label.f1));
            ui.label(label.support.to_string());
            ui.end_row();
        }
    });
}

/// Acc, miF1 and maF1 over thresholds on the metrics split, with the current threshold marked.
pub fn sweep_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (view, settings) = (cx.view, cx.settings);
    if view.sweep.is_empty() {
        ui.label("No run predictions on this split to sweep.");
        return;
    }
    export_button_ui(ui, commands, || FigureRequest::ThresholdSweep { split: settings.metrics_split });
    let series = |pick: fn(&Metrics) -> f64| -> Vec<[f64; 2]> {
        view.sweep.iter().map(|(t, m)| [f64::from(*t), pick(m)]).collect()
    };
    Plot::new("threshold_sweep")
        .legend(Legend::default())
        .height(ui.available_height().max(160.0))
        .x_axis_label(format!("threshold ({} split)", settings.metrics_split))
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |plot| {
            plot.line(Line::new("Acc", series(|m| m.acc)));
            plot.line(Line::new("miF1", series(|m| m.micro_f1)));
            plot.line(Line::new("maF1", series(|m| m.macro_f1)));
            plot.line(Line::new("Subset Acc", series(|m| m.subset_acc)));
            plot.vline(VLine::new("threshold", f64::from(settings.threshold)).color(theme::THRESHOLD));
        });
}
