//! Every view of the window as a pane: each draws from a borrowed [`PaneContext`] and pushes
//! [`Command`]s, which the app applies after the frame. Panes never import the app or each
//! other, except the audit's drawing inside the VA plane (`audit::plane`, the plane's overlay)
//! and the explanation's strips under the player's timeline (`explain`).

mod audit;
mod browser;
mod case_card;
mod correlation;
mod embedding;
mod explain;
mod player;
mod predictions;
mod runs;
mod training;
mod va_plane;
mod welcome;

use std::path::Path;

pub use audit::{AgreementRow, agreement_rows};
pub use case_card::markdown as case_card_markdown;
pub use va_plane::{nearest_utterance, va_plane_id};
pub use welcome::{recent_button_ui, welcome_ui};

use super::state::{
    Command, FigureRequest, Pane, PlayerPanel, RunsState, Session, TrainingState, ViewSettings, ViewState,
};
use crate::runs::ImportedPredictions;

/// What every pane reads: the open session (if any) and the window's state, borrowed for one
/// frame.
pub struct PaneContext<'a> {
    pub session: Option<&'a Session>,
    pub view: &'a ViewState,
    pub settings: &'a ViewSettings,
    pub runs: &'a RunsState,
    pub training: &'a TrainingState,
    /// Imported systems whose predictions the case card shows beside the run's.
    pub systems: Vec<&'a ImportedPredictions>,
}

impl PaneContext<'_> {
    /// The selected utterance's explanation with the attached run, once the worker has it.
    pub fn explanation(&self) -> Option<&crate::explain::Explanation> {
        let run = self.session?.run.as_ref()?;
        let answer = self.view.explain.answer(&run.dir, self.view.selected?)?;
        answer.as_ref().ok().map(AsRef::as_ref)
    }

    pub fn runs_dir(&self) -> &Path {
        &self.settings.runs_dir
    }
}

/// Draws `pane`. Panes of the open dataset say so when none is open. For a pane whose content
/// scrolls, returns the height that content wants.
pub fn pane_ui(
    ui: &mut egui::Ui,
    pane: Pane,
    cx: &PaneContext<'_>,
    player: &mut PlayerPanel,
    commands: &mut Vec<Command>,
) -> Option<f32> {
    if pane.needs_dataset() && cx.session.is_none() {
        ui.weak("Open a dataset (File → Open dataset…) to see this.");
        return None;
    }
    match pane {
        Pane::Browser => browser::browser_ui(ui, cx, commands),
        Pane::Player => player::player_pane_ui(ui, cx, player, commands),
        Pane::VaPlane => va_plane::va_plane_ui(ui, cx, commands),
        Pane::Predictions => return Some(scrolled(ui, pane, |ui| predictions::predictions_ui(ui, cx, commands))),
        Pane::Metrics => return Some(scrolled(ui, pane, |ui| predictions::metrics_pane_ui(ui, cx, commands))),
        Pane::Correlation => correlation::correlation_ui(ui, cx, commands),
        Pane::CaseCard => return Some(scrolled(ui, pane, |ui| case_card::case_card_ui(ui, cx, commands))),
        Pane::Sweep => predictions::sweep_ui(ui, cx, commands),
        Pane::Embedding => embedding::embedding_ui(ui, cx, commands),
        Pane::Explain => return Some(scrolled(ui, pane, |ui| explain::explain_ui(ui, cx, commands))),
        Pane::Audit => return Some(scrolled(ui, pane, |ui| audit::audit_ui(ui, cx, commands))),
        Pane::Agreement => return Some(scrolled_both_ways(ui, pane, |ui| audit::agreement_pane_ui(ui, cx, commands))),
        Pane::TrainingForm => training::form_pane_ui(ui, cx, commands),
        Pane::Jobs => training::jobs_pane_ui(ui, cx, commands),
        Pane::Curves => training::curves_pane_ui(ui, cx, commands),
        Pane::Runs => runs::runs_pane_ui(ui, cx, commands),
        Pane::RunsTable => runs::runs_table_pane_ui(ui, cx),
        Pane::ConfigDiff => runs::config_diff_pane_ui(ui, cx),
        Pane::RunsSweep => runs::runs_sweep_pane_ui(ui, cx, commands),
    }
    None
}

/// A pane whose content can be taller than the pane: it scrolls (each pane its own scroll).
/// Returns the content's height.
fn scrolled(ui: &mut egui::Ui, pane: Pane, content: impl FnOnce(&mut egui::Ui)) -> f32 {
    let area = egui::ScrollArea::vertical().id_salt(("pane_scroll", pane)).auto_shrink([false, false]);
    area.show(ui, content).content_size.y
}

/// A pane of tables that can be wider than the pane, too: it scrolls both ways. Returns the
/// content's height.
fn scrolled_both_ways(ui: &mut egui::Ui, pane: Pane, content: impl FnOnce(&mut egui::Ui)) -> f32 {
    let area = egui::ScrollArea::both().id_salt(("pane_scroll", pane)).auto_shrink([false, false]);
    area.show(ui, content).content_size.y
}

/// An "Export figure…" button that asks for the figure `make` builds (only when clicked: a
/// map's request copies its points).
fn export_button_ui(ui: &mut egui::Ui, commands: &mut Vec<Command>, make: impl FnOnce() -> FigureRequest) {
    if ui.button("Export figure…").on_hover_text("PDF, SVG or PNG at a chosen size, DPI and theme").clicked() {
        commands.push(Command::ExportFigure(make()));
    }
}
