//! Text as the panes lay it out: its measured size (to reserve room before drawing), and labels
//! kept on one line with the slider or combo box they name where a row wraps.

/// Lays `label` out, first starting a new line of a wrapping row when it and a widget
/// `widget_width` wide would not both fit on this one: the wrap never parts a label from the
/// widget it names. (Sliders and combo boxes lay themselves out in rows of their own, which a
/// wrapping row cannot break, so the row cannot do this by itself.)
fn label_kept_with(ui: &mut egui::Ui, label: &str, widget_width: f32) -> egui::Response {
    let galley = body_galley(ui, label);
    if ui.available_size_before_wrap().x < galley.size().x + ui.spacing().item_spacing.x + widget_width {
        ui.end_row();
    }
    ui.label(galley)
}

/// `text` laid out on one line in the body style, as a label shows it.
fn body_galley(ui: &egui::Ui, text: &str) -> std::sync::Arc<egui::Galley> {
    egui::WidgetText::from(text).into_galley(ui, Some(egui::TextWrapMode::Extend), f32::INFINITY, egui::TextStyle::Body)
}

/// The height of `text` as a wrapping label `width` wide shows it, with the gap after it.
pub fn wrapped_height(ui: &egui::Ui, text: impl Into<egui::WidgetText>, width: f32) -> f32 {
    let galley = text.into().into_galley(ui, Some(egui::TextWrapMode::Wrap), width, egui::TextStyle::Body);
    galley.size().y + ui.spacing().item_spacing.y
}

/// The width of `text` as a label shows it.
pub fn text_width(ui: &egui::Ui, text: &str) -> f32 {
    body_galley(ui, text).size().x
}

/// A label and the slider it names, on one line of a wrapping row.
pub fn labelled_slider(ui: &mut egui::Ui, label: &str, slider: egui::Slider<'_>) -> egui::Response {
    let spacing = ui.spacing();
    // The rail, the value box (about two interaction widths for a few digits) and their gaps.
    let width = spacing.slider_width + 2.0 * spacing.interact_size.x + 2.0 * spacing.item_spacing.x;
    let label = label_kept_with(ui, label, width);
    ui.add(slider).labelled_by(label.id)
}

/// A label and the combo box it names (identified by the label), on one line of a wrapping row.
pub fn labelled_combo(
    ui: &mut egui::Ui,
    label: &str,
    selected: impl Into<egui::WidgetText>,
    menu: impl FnOnce(&mut egui::Ui),
) -> egui::Response {
    let label_response = label_kept_with(ui, label, ui.spacing().combo_width);
    egui::ComboBox::from_id_salt(label)
        .selected_text(selected)
        .show_ui(ui, menu)
        .response
        .labelled_by(label_response.id)
}
