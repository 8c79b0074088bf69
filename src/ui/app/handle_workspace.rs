//! How the workspace's commands change the window: layouts, panes, zoom, theme, full screen.

use super::StudioApp;
use crate::ui::state::{AuditCommand, Pane, WorkspaceCommand};

impl StudioApp {
    pub(super) fn handle_workspace(&mut self, command: WorkspaceCommand) {
        let workspace = &mut self.settings.workspace;
        match command {
            WorkspaceCommand::SetLayout(layout) => {
                workspace.layout = layout;
                workspace.maximized = None;
                if !self.settings.workspace.is_open(Pane::Audit) {
                    // The audit form is not shown in that layout: what is in progress is saved.
                    self.audit(AuditCommand::Leave);
                }
            }
            WorkspaceCommand::ResetLayout => workspace.reset(),
            WorkspaceCommand::Show(pane) => {
                workspace.show(pane);
                if workspace.maximized.is_some() {
                    workspace.maximized = Some(pane);
                }
            }
            WorkspaceCommand::Close(pane) => {
                workspace.close(pane);
                if pane == Pane::Audit {
                    // What is armed, nudged or typed is saved when its form goes.
                    self.audit(AuditCommand::Leave);
                }
            }
            WorkspaceCommand::Move { pane, beside, side } => workspace.move_pane(pane, beside, side),
            WorkspaceCommand::Maximize(pane) => {
                if let Some(pane) = pane
                    && !workspace.is_open(pane)
                {
                    workspace.show(pane);
                }
                workspace.maximized = pane;
            }
            WorkspaceCommand::SetZoom(zoom) => workspace.set_zoom(zoom),
            WorkspaceCommand::SetTheme(theme) => self.settings.theme = theme,
            WorkspaceCommand::ToggleFullscreen => {
                self.fullscreen = !self.fullscreen;
                self.viewport_commands.push(egui::ViewportCommand::Fullscreen(self.fullscreen));
            }
            WorkspaceCommand::Quit => self.viewport_commands.push(egui::ViewportCommand::Close),
            WorkspaceCommand::ShowShortcuts(open) => self.shortcuts_open = open,
        }
    }
}
