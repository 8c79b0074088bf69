//! Label correlation heatmaps on one colour scale: the VA prior M (Eq. 8), the dataset's
//! empirical co-occurrence and, with a run, the learned M.

use egui::{Align2, FontId, Rect, Sense, Stroke, StrokeKind, Vec2};

use super::session::Session;
use super::theme;

pub fn correlation_ui(ui: &mut egui::Ui, session: &Session) {
    let mut matrices: Vec<(&str, &Vec<Vec<f32>>)> =
        vec![("VA prior M (Eq. 8)", &session.prior), ("Empirical co-occurrence P(col | row)", &session.cooccurrence)];
    if let Some(run) = &session.run {
        matrices.push(("Learned M (run)", &run.learned));
    }
    let n = session.label_names.len();
    if n == 0 {
        ui.label("The dataset has no labels.");
        return;
    }
    ui.horizontal(|ui| {
        ui.label("Shared colour scale:");
        scale_ui(ui);
    });
    let label_width = theme::HEATMAP_LABEL_WIDTH;
    let per_matrix = ui.available_width() / matrices.len() as f32 - theme::HEATMAP_GAP;
    let cell = ((per_matrix - label_width) / n as f32).clamp(theme::HEATMAP_CELL_MIN, theme::HEATMAP_CELL_MAX);
    ui.horizontal_top(|ui| {
        for (title, matrix) in matrices {
            ui.vertical(|ui| {
                ui.set_max_width(label_width + cell * n as f32);
                ui.strong(title);
                heatmap_ui(ui, &session.label_names, matrix, cell, label_width);
            });
            ui.add_space(theme::HEATMAP_GAP);
        }
    });
}

fn scale_ui(ui: &mut egui::Ui) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(200.0, 14.0), Sense::hover());
    let steps = 40;
    for i in 0..steps {
        let t = i as f32 / (steps - 1) as f32;
        let x0 = rect.left() + rect.width() * i as f32 / steps as f32;
        let cell = Rect::from_min_size(
            egui::pos2(x0, rect.top()),
            Vec2::new(rect.width() / steps as f32 + 0.5, rect.height()),
        );
        ui.painter().rect_filled(cell, 0.0, theme::diverging(2.0 * t - 1.0));
    }
    ui.label("−1 … 0 … +1");
}

fn heatmap_ui(ui: &mut egui::Ui, names: &[String], matrix: &[Vec<f32>], cell: f32, label_width: f32) {
    let n = names.len();
    let size = Vec2::new(label_width + cell * n as f32, cell * (n as f32 + 1.0));
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    let font = FontId::proportional((cell * 0.42).clamp(8.0, 13.0));
    let text_color = ui.visuals().text_color();
    let origin = rect.min + Vec2::new(label_width, cell);
    for (l, name) in names.iter().enumerate() {
        let short: String = name.chars().take(3).collect();
        let center = egui::pos2(origin.x + (l as f32 + 0.5) * cell, rect.top() + cell * 0.5);
        painter.text(center, Align2::CENTER_CENTER, short, font.clone(), text_color);
    }
    for (j, row) in matrix.iter().enumerate().take(n) {
        let y = origin.y + j as f32 * cell;
        if let Some(name) = names.get(j) {
            painter.text(egui::pos2(rect.left(), y + cell * 0.5), Align2::LEFT_CENTER, name, font.clone(), text_color);
        }
        for (l, &value) in row.iter().enumerate().take(n) {
            let cell_rect = Rect::from_min_size(egui::pos2(origin.x + l as f32 * cell, y), Vec2::splat(cell));
            painter.rect_filled(cell_rect, 0.0, theme::diverging(value));
            painter.rect_stroke(cell_rect, 0.0, Stroke::new(0.5, egui::Color32::GRAY), StrokeKind::Inside);
            if cell >= theme::HEATMAP_CELL_WITH_VALUE {
                painter.text(
                    cell_rect.center(),
                    Align2::CENTER_CENTER,
                    format!("{value:.2}"),
                    font.clone(),
                    egui::Color32::BLACK,
                );
            }
        }
    }
}
