//! File → "Predict on a clip…"'s window: the transcript to use and the acquisition's progress.

use crate::ui::state::{ClipCommand, ClipPrediction, Command};

/// The window that asks for the transcript and shows the acquisition's progress.
pub(super) fn clip_window_ui(ctx: &egui::Context, state: &ClipPrediction, commands: &mut Vec<Command>) {
    let Some((clip, transcript)) = &state.draft else { return };
    let mut open = true;
    egui::Window::new("Predict on a clip")
        .id(egui::Id::unique("predict on a clip"))
        .open(&mut open)
        .collapsible(false)
        .default_width(420.0)
        .show(ctx, |ui| {
            ui.label(clip.display().to_string());
            let label = ui.label("Transcript (what is said in the clip)");
            let mut text = transcript.clone();
            let field = egui::TextEdit::multiline(&mut text)
                .id_salt("clip transcript")
                .desired_rows(3)
                .desired_width(f32::INFINITY)
                .hint_text("typed, or read from a .txt or .srt of the same name beside the clip");
            if ui.add(field).labelled_by(label.id).changed() {
                commands.push(Command::PredictOnClip(ClipCommand::SetTranscript(text)));
            }
            ui.horizontal(|ui| match state.acquiring {
                Some((done, total)) => {
                    ui.spinner();
                    ui.label(if total > 0 {
                        format!("acquiring: {done} of {total}")
                    } else {
                        "acquiring…".to_owned()
                    });
                }
                None => {
                    if ui.button("Predict").clicked() {
                        commands.push(Command::PredictOnClip(ClipCommand::Predict));
                    }
                }
            });
            ui.weak(
                "The clip is acquired with the models and settings of the run's training dataset into a scratch \
                 dataset in your cache, then opened with the run.",
            );
        });
    if !open {
        commands.push(Command::PredictOnClip(ClipCommand::Close));
    }
}
