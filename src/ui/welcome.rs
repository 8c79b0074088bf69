//! The screen shown when nothing is open: open a folder, pick a recent dataset, or drop one.

use std::path::PathBuf;

use super::commands::Command;

pub fn welcome_ui(ui: &mut egui::Ui, recent: &[PathBuf], loading: bool, commands: &mut Vec<Command>) {
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
            for path in recent {
                if ui.link(path.display().to_string()).clicked() {
                    commands.push(Command::Open { dataset: path.clone(), run: None });
                }
            }
        }
    });
}
