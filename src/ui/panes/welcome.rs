//! The screen shown when nothing is open: open a folder, pick a recent dataset, or drop one.

use crate::ui::state::{Command, Recent};

pub fn welcome_ui(ui: &mut egui::Ui, recent: &[Recent], loading: bool, commands: &mut Vec<Command>) {
    ui.vertical_centered(|ui| {
        ui.add_space(60.0);
        ui.heading("UniVA Studio");
        ui.label("Multimodal multi-label emotion recognition with valence-arousal");
        ui.add_space(20.0);
        if ui.add_enabled(!loading, egui::Button::new("Open dataset…")).clicked() {
            commands.push(Command::OpenDialog);
        }
        ui.add_space(8.0);
        ui.weak("or drop a dataset folder onto this window");
        ui.add_space(20.0);
        if !recent.is_empty() {
            ui.strong("Recent datasets");
            for entry in recent {
                let link = ui.link(entry.dataset.display().to_string());
                let link = match &entry.run {
                    Some(run) => link.on_hover_text(format!("with run {}", run.display())),
                    None => link,
                };
                if link.clicked() {
                    commands.push(Command::Open { dataset: entry.dataset.clone(), run: entry.run.clone() });
                }
            }
        }
    });
}

/// A File → Recent datasets entry: the dataset, and the run it reopens with.
pub fn recent_button_ui(ui: &mut egui::Ui, recent: &Recent) -> egui::Response {
    let button = ui.button(recent.dataset.display().to_string());
    match &recent.run {
        Some(run) => button.on_hover_text(format!("with run {}", run.display())),
        None => button,
    }
}
