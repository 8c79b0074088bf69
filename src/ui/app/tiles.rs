//! The tile tree's behaviour: each tile draws its pane from the frame's [`PaneContext`]; a
//! pane's title bar has its maximise and close buttons (a double-click on the tab maximises
//! too). Changes to the tree (drags, resizes, closes) are the user's own arrangement of the
//! layout, kept in the settings.

use egui_tiles::{SimplificationOptions, TileId, Tiles, UiResponse};

use crate::ui::panes::{self, PaneContext};
use crate::ui::state::{Command, Pane, PlayerPanel, WorkspaceCommand, simplification};

pub(super) struct Behavior<'a> {
    pub cx: PaneContext<'a>,
    pub player: &'a mut PlayerPanel,
    pub commands: &'a mut Vec<Command>,
    /// Each pane's rectangle as drawn this frame (tests and measurements read them).
    pub rects: Vec<(Pane, egui::Rect)>,
}

impl Behavior<'_> {
    /// Draws `pane` in all of `ui`, in a frame with a margin and an id space of its own.
    pub fn draw(&mut self, ui: &mut egui::Ui, pane: Pane) {
        self.rects.push((pane, ui.max_rect()));
        egui::Frame::central_panel(ui.style()).show(ui, |ui| {
            ui.push_id(("pane", pane), |ui| {
                ui.set_min_size(ui.available_size());
                panes::pane_ui(ui, pane, &self.cx, self.player, self.commands);
            });
        });
    }
}

impl egui_tiles::Behavior<Pane> for Behavior<'_> {
    fn pane_ui(&mut self, ui: &mut egui::Ui, _tile_id: TileId, pane: &mut Pane) -> UiResponse {
        self.draw(ui, *pane);
        UiResponse::None
    }

    fn tab_title_for_pane(&mut self, pane: &Pane) -> egui::WidgetText {
        pane.title().into()
    }

    fn is_tab_closable(&self, _tiles: &Tiles<Pane>, _tile_id: TileId) -> bool {
        true
    }

    fn on_tab_close(&mut self, tiles: &mut Tiles<Pane>, tile_id: TileId) -> bool {
        // Through the command, so that a maximised pane that closes is restored too.
        if let Some(pane) = tiles.get_pane(&tile_id) {
            self.commands.push(Command::Workspace(WorkspaceCommand::Close(*pane)));
        }
        false
    }

    fn on_tab_button(&mut self, tiles: &mut Tiles<Pane>, tile_id: TileId, response: egui::Response) -> egui::Response {
        if response.double_clicked()
            && let Some(pane) = tiles.get_pane(&tile_id)
        {
            self.commands.push(Command::Workspace(WorkspaceCommand::Maximize(Some(*pane))));
        }
        response
    }

    fn top_bar_right_ui(
        &mut self,
        tiles: &Tiles<Pane>,
        ui: &mut egui::Ui,
        _tile_id: TileId,
        tabs: &egui_tiles::Tabs,
        _scroll_offset: &mut f32,
    ) {
        let Some(pane) = tabs.active.and_then(|active| tiles.get_pane(&active)) else { return };
        let button = ui
            .small_button("⛶")
            .on_hover_text(format!("Maximise {} (double-click its tab; Esc restores)", pane.title()));
        if button.clicked() {
            self.commands.push(Command::Workspace(WorkspaceCommand::Maximize(Some(*pane))));
        }
    }

    fn simplification_options(&self) -> SimplificationOptions {
        simplification()
    }

    fn min_size(&self) -> f32 {
        60.0
    }
}
