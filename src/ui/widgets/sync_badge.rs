//! Whether a server store's edits reach the server: a short badge for the status bar and the
//! Audit pane, with the server's problem on hover.

use crate::store::SyncStatus;

use super::theme;

pub fn sync_badge_ui(ui: &mut egui::Ui, status: &SyncStatus) {
    let response = if status.online && status.pending == 0 {
        ui.colored_label(theme::HIT, "● server").on_hover_text("Every edit is on the server")
    } else {
        let waiting = match status.pending {
            0 => "no edit waiting".to_owned(),
            1 => "1 edit waiting on this machine".to_owned(),
            n => format!("{n} edits waiting on this machine"),
        };
        let state = if status.online { "sending" } else { "offline" };
        ui.colored_label(theme::WARNING_TEXT, format!("⚠ {state}: {waiting}")).on_hover_text(
            "Edits are kept in a journal on this machine and sent when the server answers again; none is lost.",
        )
    };
    if let Some(problem) = &status.problem {
        response.on_hover_text(problem);
    }
}
