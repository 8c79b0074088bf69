//! Drawing helpers every pane may use and that know nothing of the app: the theme (colours,
//! sizes, dark and light visuals), the point-mesh plot item of the large maps, the clip's
//! timeline, the badge of a server store's connection, and a label-and-slider pair.

pub mod point_mesh;
pub mod sync_badge;
pub mod theme;
pub mod timeline;

/// A label and a slider that a wrapping row moves to a line of their own when they do not fit
/// beside what is there. A slider lays itself out in a row of its own, so neither it nor its
/// `.text` can be wrapped once placed: they would be clipped at a narrow pane's edge.
pub fn labelled_slider(ui: &mut egui::Ui, label: &str, slider: egui::Slider<'_>) -> egui::Response {
    let label = egui::WidgetText::from(label).into_galley(
        ui,
        Some(egui::TextWrapMode::Extend),
        f32::INFINITY,
        egui::TextStyle::Body,
    );
    let spacing = ui.spacing();
    // The slider's rail, its value box (about two interaction widths for a few digits) and the
    // gaps between the three.
    let needed = label.size().x + spacing.slider_width + 2.0 * spacing.interact_size.x + 3.0 * spacing.item_spacing.x;
    if ui.available_size_before_wrap().x < needed {
        ui.end_row();
    }
    let label = ui.label(label);
    ui.add(slider).labelled_by(label.id)
}
