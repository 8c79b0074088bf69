//! The window's bars: the menu bar (File, View with every pane, the theme and the zoom, Help;
//! the layouts one click away at its right), the status bar, and the keyboard shortcuts sheet.

use super::keys;
use crate::store::SyncStatus;
use crate::ui::panes;
use crate::ui::state::{ClipCommand, Command, Layout, Notice, Pane, Theme, ViewSettings, WorkspaceCommand};
use crate::ui::widgets::sync_badge::sync_badge_ui;
use crate::ui::widgets::theme;

fn workspace(command: WorkspaceCommand) -> Command {
    Command::Workspace(command)
}

pub(super) fn menu_bar_ui(
    ui: &mut egui::Ui,
    settings: &ViewSettings,
    has_session: bool,
    has_run: bool,
    commands: &mut Vec<Command>,
) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| file_menu_ui(ui, settings, has_session, has_run, commands));
        ui.menu_button("View", |ui| view_menu_ui(ui, settings, commands));
        ui.menu_button("Help", |ui| {
            let sheet = egui::Button::new("Keyboard shortcuts").shortcut_text("F1");
            if ui.add(sheet).clicked() {
                commands.push(workspace(WorkspaceCommand::ShowShortcuts(true)));
            }
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            // Right to left: the last layout is drawn first.
            for layout in Layout::ALL.iter().rev() {
                let current = settings.workspace.layout == *layout;
                if ui.selectable_label(current, layout.name()).clicked() && !current {
                    commands.push(workspace(WorkspaceCommand::SetLayout(*layout)));
                }
            }
            ui.weak("Layout:");
        });
    });
}

fn file_menu_ui(
    ui: &mut egui::Ui,
    settings: &ViewSettings,
    has_session: bool,
    has_run: bool,
    commands: &mut Vec<Command>,
) {
    if ui.button("Open dataset…").clicked() {
        commands.push(Command::OpenDialog);
    }
    if ui.add_enabled(has_session, egui::Button::new("Open run…")).clicked() {
        commands.push(Command::AttachRunDialog);
    }
    let predict = egui::Button::new("Predict on a clip…");
    if ui.add_enabled(has_run, predict).on_disabled_hover_text("open a trained run first").clicked() {
        commands.push(Command::PredictOnClip(ClipCommand::Choose));
    }
    ui.menu_button("Recent datasets", |ui| {
        if settings.recent.is_empty() {
            ui.label("none yet");
        }
        for recent in &settings.recent {
            if panes::recent_button_ui(ui, recent).clicked() {
                commands.push(Command::Open { dataset: recent.dataset.clone(), run: recent.run.clone() });
            }
        }
    });
    ui.separator();
    let quit = egui::Button::new("Quit").shortcut_text("Ctrl+Q");
    if ui.add(quit).clicked() {
        commands.push(workspace(WorkspaceCommand::Quit));
    }
}

/// Every pane (a tick: open in this layout; a click shows or reopens it), the layout's reset,
/// the theme, the zoom, full screen, and the VA plane's cloud.
fn view_menu_ui(ui: &mut egui::Ui, settings: &ViewSettings, commands: &mut Vec<Command>) {
    let workspace_state = &settings.workspace;
    ui.label(egui::RichText::new(format!("Panes of “{}”", workspace_state.layout.name())).weak());
    for pane in Pane::ALL {
        let mut open = workspace_state.is_open(pane);
        if ui.checkbox(&mut open, pane.title()).clicked() {
            commands.push(workspace(if open { WorkspaceCommand::Show(pane) } else { WorkspaceCommand::Close(pane) }));
        }
    }
    ui.separator();
    if ui.button("Reset layout").on_hover_text("Put this layout back as it ships").clicked() {
        commands.push(workspace(WorkspaceCommand::ResetLayout));
    }
    ui.menu_button("Theme", |ui| {
        for (theme, name) in [(Theme::Dark, "Dark"), (Theme::Light, "Light (projectors)")] {
            if ui.radio(settings.theme == theme, name).clicked() {
                commands.push(workspace(WorkspaceCommand::SetTheme(theme)));
            }
        }
    });
    ui.horizontal(|ui| {
        ui.label("Zoom");
        let mut zoom = workspace_state.zoom();
        let (low, high) = crate::ui::state::ZOOM_RANGE;
        let slider = egui::Slider::new(&mut zoom, low..=high).step_by(0.05).suffix("×");
        if ui.add(slider).on_hover_text("Ctrl+= / Ctrl+− / Ctrl+0; each layout keeps its own").changed() {
            commands.push(workspace(WorkspaceCommand::SetZoom(zoom)));
        }
    });
    if ui.add(egui::Button::new("Full screen").shortcut_text("F11")).clicked() {
        commands.push(workspace(WorkspaceCommand::ToggleFullscreen));
    }
    ui.separator();
    let mut show_cloud = settings.show_cloud;
    if ui.checkbox(&mut show_cloud, "Cloud of all utterances").changed() {
        commands.push(Command::SetShowCloud(show_cloud));
    }
}

/// The status bar: work in progress, the last notice, and whether a server store's edits
/// reach the server.
pub(super) fn status_ui(
    ui: &mut egui::Ui,
    notice: Option<&Notice>,
    loading: bool,
    server: Option<&SyncStatus>,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        if let Some(status) = server {
            sync_badge_ui(ui, status);
        }
        if loading {
            ui.spinner();
        }
        if let Some(notice) = notice {
            if notice.is_error {
                ui.colored_label(theme::ERROR_TEXT, &notice.text);
                if ui.small_button("Dismiss").clicked() {
                    commands.push(Command::DismissNotice);
                }
            } else {
                ui.label(&notice.text);
            }
        }
    });
}

/// Help → Keyboard shortcuts: every key of the app, from the table the app binds them from.
pub(super) fn shortcuts_window_ui(ctx: &egui::Context, commands: &mut Vec<Command>) {
    let mut open = true;
    egui::Window::new("Keyboard shortcuts")
        .open(&mut open)
        .collapsible(false)
        .vscroll(true)
        .default_pos(ctx.content_rect().center())
        .pivot(egui::Align2::CENTER_CENTER)
        .show(ctx, |ui| {
            ui.weak("Keys act only while no text field has focus, except those marked “anywhere”.");
            keys::sheet_ui(ui);
        });
    if !open {
        commands.push(workspace(WorkspaceCommand::ShowShortcuts(false)));
    }
}
