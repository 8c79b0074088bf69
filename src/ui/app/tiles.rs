//! The tile tree's behaviour: each tile draws its pane from the frame's [`PaneContext`]; a
//! pane's title bar has its maximise and close buttons (a double-click on the tab maximises
//! too). Changes to the tree (drags, resizes, closes) are the user's own arrangement of the
//! layout, kept in the settings; a layout as it ships is first fitted to its content
//! ([`fit_to_content`]).

use egui_tiles::{Container, EditAction, LinearDir, SimplificationOptions, Tile, TileId, Tiles, Tree, UiResponse};

use crate::ui::panes::{self, PaneContext};
use crate::ui::state::{Command, Pane, PlayerPanel, WorkspaceCommand, simplification};

pub(super) struct Behavior<'a> {
    pub cx: PaneContext<'a>,
    pub player: &'a mut PlayerPanel,
    pub commands: &'a mut Vec<Command>,
    /// Each pane's rectangle as drawn this frame (tests and measurements read them).
    pub rects: Vec<(Pane, egui::Rect)>,
    /// The height each pane that scrolls wanted this frame, its frame's margin included.
    pub wanted: Vec<(Pane, f32)>,
    /// Whether the user changed the tree this frame (a resize, a drop, a tab picked).
    pub edited: bool,
}

impl Behavior<'_> {
    /// Draws `pane` in all of `ui`, in a frame with a margin and an id space of its own.
    pub fn draw(&mut self, ui: &mut egui::Ui, pane: Pane) {
        self.rects.push((pane, ui.max_rect()));
        let frame = egui::Frame::central_panel(ui.style());
        let margin = frame.total_margin().sum().y;
        let wanted = frame.show(ui, |ui| {
            ui.push_id(("pane", pane), |ui| {
                ui.set_min_size(ui.available_size());
                panes::pane_ui(ui, pane, &self.cx, self.player, self.commands)
            })
            .inner
        });
        if let Some(height) = wanted.inner {
            self.wanted.push((pane, height + margin));
        }
    }
}

/// The most of its column a pane grows to when it is fitted to its content.
const FITTED_MOST: f32 = 0.4;

/// Gives each pane whose content did not fit the height it wanted, taken from the panes above
/// and below it in its column, up to [`FITTED_MOST`] of the column. Run on a layout drawn as it
/// ships, so that its proportions suit the screen: on a laptop at the Demo's 1.5× zoom the strip
/// of prediction bars under the clip would otherwise show one row of them.
pub(super) fn fit_to_content(tree: &mut Tree<Pane>, rects: &[(Pane, egui::Rect)], wanted: &[(Pane, f32)]) {
    for &(pane, want) in wanted {
        let Some(height) = rects.iter().find(|(p, _)| *p == pane).map(|(_, rect)| rect.height()) else { continue };
        let Some(mut child) = tree.tiles.find_pane(&pane) else { continue };
        // A pane sits in tabs of its own (its title bar); the tabs are the column's child.
        if let Some(tabs) = tree.tiles.parent_of(child)
            && matches!(tree.tiles.get(tabs), Some(Tile::Container(Container::Tabs(_))))
        {
            child = tabs;
        }
        let Some(column) = tree.tiles.parent_of(child) else { continue };
        let Some(Tile::Container(Container::Linear(linear))) = tree.tiles.get_mut(column) else { continue };
        if linear.dir != LinearDir::Vertical || want <= height {
            continue;
        }
        let total: f32 = linear.children.iter().map(|&c| linear.shares[c]).sum();
        let share = linear.shares[child];
        // The pane's content height stands for its share (its title bar is small beside it).
        let grown = (share * want / height).min(FITTED_MOST * total);
        if grown <= share {
            continue;
        }
        let scale = (total - grown) / (total - share);
        for c in linear.children.clone() {
            let new = if c == child { grown } else { linear.shares[c] * scale };
            linear.shares.set_share(c, new);
        }
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

    fn on_edit(&mut self, edit: EditAction) {
        if edit != EditAction::TileDragged {
            self.edited = true;
        }
    }

    fn simplification_options(&self) -> SimplificationOptions {
        simplification()
    }

    fn min_size(&self) -> f32 {
        60.0
    }
}
