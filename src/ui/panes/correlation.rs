//! Label correlation heatmaps side by side on ONE colour scale: the VA prior M (Eq. 8), the
//! dataset's empirical co-occurrence and, with a run, the learned M. The scale is symmetric
//! around 0 (grey) and spans the largest magnitude among the values shown, so the three
//! matrices compare cell for cell; a colour bar marks the data's own minimum and maximum. The
//! matrices fit the pane without scrolling (side by side when it is wide), and the selected
//! utterance's gold and predicted labels are marked on their names.

use std::f32::consts::FRAC_PI_2;

use egui::epaint::TextShape;
use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::va::PriorRule;

use super::{PaneContext, export_button_ui};
use crate::ui::state::{Command, FigureRequest};
use crate::ui::widgets::theme;

/// The colour scale shared by every heatmap of the tab.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedScale {
    /// Smallest and largest finite value shown.
    pub min: f32,
    pub max: f32,
    /// Colours span [-limit, +limit]; `limit` = the largest magnitude, never 0.
    pub limit: f32,
}

impl SharedScale {
    /// The scale of the finite values of all `matrices` (a matrix with nothing finite gives ±1).
    pub fn of(matrices: &[&[Vec<f32>]]) -> Self {
        let mut min = f32::INFINITY;
        let mut max = f32::NEG_INFINITY;
        for value in matrices.iter().flat_map(|m| m.iter().flatten()).filter(|v| v.is_finite()) {
            min = min.min(*value);
            max = max.max(*value);
        }
        if min > max {
            return Self { min: -1.0, max: 1.0, limit: 1.0 };
        }
        let limit = min.abs().max(max.abs());
        Self { min, max, limit: if limit > 0.0 { limit } else { 1.0 } }
    }

    /// Position of `value` on the scale, in [-1, 1].
    pub fn normalized(&self, value: f32) -> f32 {
        (value / self.limit).clamp(-1.0, 1.0)
    }

    pub fn color(&self, value: f32) -> Color32 {
        if value.is_finite() { theme::diverging(self.normalized(value)) } else { theme::HEATMAP_MISSING }
    }
}

pub fn correlation_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let Some(session) = cx.session else { return };
    let n = session.label_names.len();
    if n == 0 {
        ui.label("The dataset has no labels.");
        return;
    }
    let marks = LabelMarks::of(cx);
    ui.horizontal_wrapped(|ui| {
        export_button_ui(ui, commands, || FigureRequest::Correlation);
        if let Some(id) = &marks.utterance {
            ui.colored_label(theme::gold(ui.visuals()), "■ gold");
            ui.colored_label(theme::BAR_PREDICTED, "▲ predicted");
            ui.weak(format!("labels of {id}"));
        }
    });
    let mut matrices: Vec<(&str, &[Vec<f32>])> = Vec::new();
    match &session.prior {
        Ok(prior) => matrices.push(("VA prior M (Eq. 8)", prior)),
        Err(error) => {
            ui.colored_label(theme::ERROR_TEXT, format!("No VA prior M: {error}"));
        }
    }
    matrices.push(("Empirical co-occurrence P(col | row)", &session.cooccurrence));
    match &session.run {
        Some(run) => matrices.push(("Learned M (run)", &run.learned)),
        None => {
            ui.weak("Open a trained run (File → Open run…) to see its learned M beside these.");
        }
    }
    let scale = SharedScale::of(&matrices.iter().map(|(_, m)| *m).collect::<Vec<_>>());
    ui.add(egui::Label::new(egui::RichText::new(prior_rule_note(session.prior_rule)).weak()).wrap());
    colour_bar_ui(ui, &scale);
    ui.add_space(4.0);

    let font = FontId::proportional(theme::HEATMAP_FONT_SIZE);
    let label_width = names_width(ui, &session.label_names, &font);
    let title_height = ui.text_style_height(&egui::TextStyle::Body) + ui.spacing().item_spacing.y;
    // Less a scroll bar's width, which the area below shows when the pane is too small anyway.
    let room = ui.available_size() - Vec2::new(ui.spacing().scroll.bar_width + ui.spacing().item_spacing.x, 0.0);
    let layout = Layout::fit(room, matrices.len(), n, label_width, title_height);
    egui::ScrollArea::both().id_salt("correlation_matrices").auto_shrink([false, false]).show(ui, |ui| {
        for row in matrices.chunks(layout.per_row) {
            ui.horizontal_top(|ui| {
                for (title, matrix) in row {
                    ui.vertical(|ui| {
                        ui.set_max_width(label_width + layout.cell * n as f32);
                        ui.strong(*title);
                        let heatmap = Heatmap { title, names: &session.label_names, matrix, scale: &scale };
                        heatmap.ui(ui, layout.cell, label_width, &marks);
                    });
                    ui.add_space(theme::HEATMAP_GAP);
                }
            });
            ui.add_space(theme::HEATMAP_GAP);
        }
    });
}

/// The selected utterance's gold and predicted labels, marked on the matrices' names.
#[derive(Default)]
struct LabelMarks {
    utterance: Option<String>,
    gold: Vec<bool>,
    predicted: Vec<bool>,
}

impl LabelMarks {
    fn of(cx: &PaneContext<'_>) -> Self {
        let Some((session, index)) = cx.session.zip(cx.view.selected) else { return Self::default() };
        let Some(utterance) = session.utterance(index) else { return Self::default() };
        let predicted = session
            .probabilities(index)
            .map(|p| p.iter().map(|&p| p >= cx.settings.threshold).collect())
            .unwrap_or_default();
        let gold = utterance.label_vector(session.label_names.len());
        Self { utterance: Some(utterance.id.clone()), gold, predicted }
    }

    fn gold(&self, label: usize) -> bool {
        self.gold.get(label).copied().unwrap_or(false)
    }

    fn predicted(&self, label: usize) -> bool {
        self.predicted.get(label).copied().unwrap_or(false)
    }
}

/// How the prior's label VA was scaled, under the matrices.
fn prior_rule_note(rule: PriorRule) -> &'static str {
    match rule {
        PriorRule::LabelSetMinMax => {
            "M: cosines of the labels' NRC-VAD valence and arousal, each min-max scaled to [-1, 1] over this label set (the reference code)."
        }
        PriorRule::Centred => {
            "M: cosines of the labels' NRC-VAD valence and arousal mapped by 2x − 1 (the run's centred rule, not the reference)."
        }
    }
}

/// How many matrices go side by side and how large a cell is: the arrangement whose cells are
/// largest while every matrix fits in `room` (names and titles included).
struct Layout {
    per_row: usize,
    cell: f32,
}

impl Layout {
    fn fit(room: Vec2, count: usize, n: usize, label_width: f32, title_height: f32) -> Self {
        let count = count.max(1);
        let cell_for = |per_row: usize| {
            let rows = count.div_ceil(per_row) as f32;
            let across = room.x / per_row as f32 - theme::HEATMAP_GAP - label_width;
            let down = room.y / rows - theme::HEATMAP_GAP - label_width - title_height;
            across.min(down) / n.max(1) as f32
        };
        let per_row = (1..=count).max_by(|&a, &b| cell_for(a).total_cmp(&cell_for(b))).unwrap_or(1);
        Self { per_row, cell: cell_for(per_row).clamp(theme::HEATMAP_CELL_MIN, theme::HEATMAP_CELL_MAX) }
    }
}

/// Widest label name, for the row labels (and the height of the rotated column labels).
fn names_width(ui: &egui::Ui, names: &[String], font: &FontId) -> f32 {
    let widest = names
        .iter()
        .map(|name| ui.painter().layout_no_wrap(name.clone(), font.clone(), Color32::WHITE).size().x)
        .fold(0.0f32, f32::max);
    widest + 6.0
}

/// The shared scale as a bar from −limit to +limit, with the data's minimum and maximum marked.
fn colour_bar_ui(ui: &mut egui::Ui, scale: &SharedScale) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Shared colour scale");
        ui.label(format!("{:+.2}", -scale.limit));
        let (rect, response) = ui.allocate_exact_size(Vec2::new(theme::HEATMAP_BAR_WIDTH, 16.0), Sense::hover());
        let painter = ui.painter_at(rect.expand(4.0));
        let steps = 64;
        for i in 0..steps {
            let t = (i as f32 + 0.5) / steps as f32;
            let x0 = rect.left() + rect.width() * i as f32 / steps as f32;
            let step = Rect::from_min_size(
                Pos2::new(x0, rect.top()),
                Vec2::new(rect.width() / steps as f32 + 0.5, rect.height()),
            );
            painter.rect_filled(step, 0.0, theme::diverging(2.0 * t - 1.0));
        }
        painter.rect_stroke(rect, 0.0, Stroke::new(0.5, Color32::GRAY), StrokeKind::Outside);
        let text = ui.visuals().text_color();
        for value in [scale.min, scale.max] {
            let x = rect.left() + rect.width() * (scale.normalized(value) + 1.0) / 2.0;
            painter.line_segment(
                [Pos2::new(x, rect.top() - 3.0), Pos2::new(x, rect.bottom() + 3.0)],
                Stroke::new(2.0, text),
            );
        }
        let zero = rect.center().x;
        painter.line_segment(
            [Pos2::new(zero, rect.top()), Pos2::new(zero, rect.bottom())],
            Stroke::new(0.5, Color32::GRAY),
        );
        ui.label(format!("{:+.2}", scale.limit));
        let range = egui::RichText::new(format!("data {:.2} … {:.2}", scale.min, scale.max)).weak();
        ui.add(egui::Label::new(range).extend());
        response.on_hover_text("Grey is 0; the bars mark the smallest and largest value shown.");
    });
}

/// One matrix of the pane, drawn on the shared scale.
struct Heatmap<'a> {
    title: &'a str,
    names: &'a [String],
    matrix: &'a [Vec<f32>],
    scale: &'a SharedScale,
}

impl Heatmap<'_> {
    fn ui(&self, ui: &mut egui::Ui, cell: f32, label_width: f32, marks: &LabelMarks) {
        let (names, scale, title) = (self.names, self.scale, self.title);
        let n = names.len();
        // Column names are rotated to read upwards, so the header is as tall as the widest name.
        let size = Vec2::new(label_width + cell * n as f32, label_width + cell * n as f32);
        let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, format!("heatmap: {title}")));
        let painter = ui.painter_at(rect);
        let label_font = FontId::proportional(theme::HEATMAP_FONT_SIZE);
        let value_font = FontId::proportional((cell * 0.34).clamp(8.0, theme::HEATMAP_FONT_SIZE));
        let (text_color, gold) = (ui.visuals().text_color(), theme::gold(ui.visuals()));
        let name_color = |l: usize| if marks.gold(l) { gold } else { text_color };
        let origin = rect.min + Vec2::new(label_width, label_width);
        for (l, name) in names.iter().enumerate() {
            let galley = painter.layout_no_wrap(name.clone(), label_font.clone(), name_color(l));
            let x = origin.x + (l as f32 + 0.5) * cell - galley.size().y / 2.0;
            let bottom = origin.y - 4.0;
            painter.add(TextShape::new(Pos2::new(x, bottom), galley, name_color(l)).with_angle(-FRAC_PI_2));
            if marks.predicted(l) {
                predicted_mark(&painter, Pos2::new(origin.x + (l as f32 + 0.5) * cell, origin.y - 2.0), true);
            }
        }
        for (j, name) in names.iter().enumerate() {
            let y = origin.y + j as f32 * cell;
            painter.text(
                Pos2::new(origin.x - 4.0, y + cell * 0.5),
                Align2::RIGHT_CENTER,
                name,
                label_font.clone(),
                name_color(j),
            );
            if marks.predicted(j) {
                predicted_mark(&painter, Pos2::new(origin.x - 2.0, y + cell * 0.5), false);
            }
            for (l, column) in names.iter().enumerate() {
                let value = self.matrix.get(j).and_then(|row| row.get(l)).copied().unwrap_or(f32::NAN);
                let cell_rect = Rect::from_min_size(Pos2::new(origin.x + l as f32 * cell, y), Vec2::splat(cell));
                painter.rect_filled(cell_rect, 0.0, scale.color(value));
                painter.rect_stroke(cell_rect, 0.0, Stroke::new(0.5, Color32::GRAY), StrokeKind::Inside);
                if cell >= theme::HEATMAP_CELL_WITH_VALUE && value.is_finite() {
                    // Dark text on the pale middle of the scale, white on the saturated ends.
                    let ink = if scale.normalized(value).abs() > 0.65 { Color32::WHITE } else { Color32::BLACK };
                    let text = format!("{value:.2}");
                    painter.text(cell_rect.center(), Align2::CENTER_CENTER, text, value_font.clone(), ink);
                }
                ui.interact(cell_rect, ui.scope_id().with((title, j, l)), Sense::hover())
                    .on_hover_text(format!("{title}\n{name} → {column}: {value:.3}"));
            }
        }
    }
}

/// A small triangle at `tip` pointing at a predicted label's column (down) or row (right).
fn predicted_mark(painter: &egui::Painter, tip: Pos2, down: bool) {
    let r = 4.0;
    let points = if down {
        vec![tip, tip + Vec2::new(-r, -r), tip + Vec2::new(r, -r)]
    } else {
        vec![tip, tip + Vec2::new(-r, -r), tip + Vec2::new(-r, r)]
    };
    painter.add(egui::Shape::convex_polygon(points, theme::BAR_PREDICTED, Stroke::NONE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_scale_spans_the_largest_magnitude_of_all_matrices() {
        let prior = vec![vec![1.0, -0.4], vec![-0.4, 1.0]];
        let cooccurrence = vec![vec![1.0, 0.2], vec![0.3, 1.0]];
        let learned = vec![vec![1.6, -0.9], vec![f32::NAN, 1.2]];
        let scale = SharedScale::of(&[&prior, &cooccurrence, &learned]);
        assert_eq!((scale.min, scale.max, scale.limit), (-0.9, 1.6, 1.6));
        assert!((scale.normalized(0.8) - 0.5).abs() < 1e-6);
        assert_eq!(scale.normalized(-5.0), -1.0);
        // The same value has the same colour whichever matrix it is in.
        assert_eq!(scale.color(1.0), scale.color(1.0));
        assert_eq!(scale.color(0.0), theme::diverging(0.0));
        assert_eq!(scale.color(f32::NAN), theme::HEATMAP_MISSING);
    }

    #[test]
    fn shared_scale_of_nothing_finite_is_unit() {
        let empty: Vec<Vec<f32>> = vec![vec![f32::NAN]];
        assert_eq!(SharedScale::of(&[&empty]).limit, 1.0);
        let zeros = vec![vec![0.0f32; 2]; 2];
        assert_eq!(SharedScale::of(&[&zeros]).limit, 1.0);
    }

    #[test]
    fn layout_goes_side_by_side_when_wide_and_stacks_when_tall() {
        let wide = Layout::fit(Vec2::new(1400.0, 400.0), 3, 6, 60.0, 20.0);
        assert_eq!(wide.per_row, 3);
        let tall = Layout::fit(Vec2::new(400.0, 1400.0), 3, 6, 60.0, 20.0);
        assert_eq!(tall.per_row, 1);
        // Every matrix fits the room it was given.
        let fits = |room: Vec2, l: &Layout| {
            let rows = 3usize.div_ceil(l.per_row) as f32;
            l.per_row as f32 * (60.0 + 6.0 * l.cell + theme::HEATMAP_GAP) <= room.x + 1e-3
                && rows * (60.0 + 20.0 + 6.0 * l.cell + theme::HEATMAP_GAP) <= room.y + 1e-3
        };
        assert!(fits(Vec2::new(1400.0, 400.0), &wide) && fits(Vec2::new(400.0, 1400.0), &tall));
    }
}
