//! The workspace's vocabulary: every pane of the window, the layouts per task (each a tile tree
//! the user rearranges, persisted per layout), and the moves that change a tree without a drag
//! (close, reopen, tab beside, split beside) — what the View menu and the tests use.

use std::collections::BTreeMap;

use egui_tiles::{Container, LinearDir, SimplificationOptions, Tile, TileId, Tiles, Tree};
use serde::{Deserialize, Serialize};

/// Every view of the window; each is drawn by one pane function (`panes/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Pane {
    Browser,
    Player,
    VaPlane,
    /// Prediction bars of the selected utterance and the threshold ζ.
    Predictions,
    /// The run's metrics and per-label table on a split.
    Metrics,
    Correlation,
    CaseCard,
    Sweep,
    Embedding,
    Explain,
    /// The audit form and queue.
    Audit,
    Agreement,
    TrainingForm,
    Jobs,
    Curves,
    /// The run browser's list of runs and its toolbar.
    Runs,
    RunsTable,
    ConfigDiff,
    RunsSweep,
}

impl Pane {
    pub const ALL: [Self; 19] = [
        Self::Browser,
        Self::Player,
        Self::VaPlane,
        Self::Predictions,
        Self::Metrics,
        Self::Correlation,
        Self::CaseCard,
        Self::Sweep,
        Self::Embedding,
        Self::Explain,
        Self::Audit,
        Self::Agreement,
        Self::TrainingForm,
        Self::Jobs,
        Self::Curves,
        Self::Runs,
        Self::RunsTable,
        Self::ConfigDiff,
        Self::RunsSweep,
    ];

    /// The pane's title in its tab and in the View menu.
    pub fn title(self) -> &'static str {
        match self {
            Self::Browser => "Utterances",
            Self::Player => "Clip",
            Self::VaPlane => "VA plane",
            Self::Predictions => "Predictions",
            Self::Metrics => "Metrics",
            Self::Correlation => "Correlation",
            Self::CaseCard => "Case card",
            Self::Sweep => "Threshold sweep",
            Self::Embedding => "Embedding map",
            Self::Explain => "Explain",
            Self::Audit => "Audit",
            Self::Agreement => "Agreement",
            Self::TrainingForm => "Launch training",
            Self::Jobs => "Jobs",
            Self::Curves => "Curves",
            Self::Runs => "Runs",
            Self::RunsTable => "Ablation table",
            Self::ConfigDiff => "Compare two runs",
            Self::RunsSweep => "Sweep plot",
        }
    }

    /// Whether the pane shows the open dataset (the others belong to training and runs).
    pub fn needs_dataset(self) -> bool {
        !matches!(
            self,
            Self::TrainingForm
                | Self::Jobs
                | Self::Curves
                | Self::Runs
                | Self::RunsTable
                | Self::ConfigDiff
                | Self::RunsSweep
        )
    }
}

/// An arrangement of panes for one task, one click from the menu bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Layout {
    /// Browser, player, a large VA plane, predictions, correlation, case card.
    #[default]
    CaseStudy,
    /// The VA plane as the largest pane, the audit form and queue, agreement.
    Audit,
    /// The clip and the VA plane side by side filling the screen, the prediction bars under the
    /// clip, large type.
    Demo,
    Training,
    Runs,
}

impl Layout {
    pub const ALL: [Self; 5] = [Self::CaseStudy, Self::Audit, Self::Demo, Self::Training, Self::Runs];

    pub fn name(self) -> &'static str {
        match self {
            Self::CaseStudy => "Case study",
            Self::Audit => "Audit",
            Self::Demo => "Demo",
            Self::Training => "Training",
            Self::Runs => "Runs",
        }
    }

    /// Whether the layout shows the open dataset (without one it shows the welcome screen).
    pub fn needs_dataset(self) -> bool {
        !matches!(self, Self::Training | Self::Runs)
    }

    /// The UI zoom the layout starts with: the demo's type is read from across a room.
    pub fn default_zoom(self) -> f32 {
        if self == Self::Demo { 1.5 } else { 1.0 }
    }

    /// The layout as it ships (what "Reset layout" returns to).
    pub fn default_tree(self) -> Tree<Pane> {
        use Node::{Column, Pane as P, Row, Tabs};
        let root = match self {
            Self::CaseStudy => Row(vec![
                (0.24, Column(vec![(0.6, P(Pane::Browser)), (0.4, Tabs(vec![Pane::Predictions, Pane::Metrics]))])),
                (
                    0.38,
                    Column(vec![
                        (0.42, P(Pane::Player)),
                        (
                            0.58,
                            Tabs(vec![Pane::Correlation, Pane::CaseCard, Pane::Sweep, Pane::Explain, Pane::Embedding]),
                        ),
                    ]),
                ),
                (0.38, P(Pane::VaPlane)),
            ]),
            Self::Audit => Row(vec![
                (0.24, Column(vec![(0.58, P(Pane::Browser)), (0.42, P(Pane::Player))])),
                (0.34, Column(vec![(0.68, P(Pane::Audit)), (0.32, P(Pane::Agreement))])),
                (0.42, P(Pane::VaPlane)),
            ]),
            Self::Demo => Row(vec![
                (0.56, Column(vec![(0.83, P(Pane::Player)), (0.17, P(Pane::Predictions))])),
                (0.44, P(Pane::VaPlane)),
            ]),
            Self::Training => Row(vec![
                (0.3, P(Pane::TrainingForm)),
                (0.7, Column(vec![(0.36, P(Pane::Jobs)), (0.64, P(Pane::Curves))])),
            ]),
            Self::Runs => {
                Row(vec![(0.3, P(Pane::Runs)), (0.7, Tabs(vec![Pane::RunsTable, Pane::ConfigDiff, Pane::RunsSweep]))])
            }
        };
        let mut tiles = Tiles::default();
        let root = root.insert(&mut tiles);
        let mut tree = Tree::new(self.tree_id(), root, tiles);
        tree.simplify(&simplification());
        tree
    }

    fn tree_id(self) -> egui::Id {
        egui::Id::unique(("univa_layout", self))
    }
}

/// How trees are tidied after a change: every pane keeps a tab (its title bar, where it is
/// dragged, maximised and closed); empty and one-child containers go.
pub fn simplification() -> SimplificationOptions {
    SimplificationOptions { all_panes_must_have_tabs: true, ..SimplificationOptions::default() }
}

/// A tree as the layouts above write it.
enum Node {
    Pane(Pane),
    Tabs(Vec<Pane>),
    /// Side by side, each with its share of the width.
    Row(Vec<(f32, Node)>),
    /// One above the other, each with its share of the height.
    Column(Vec<(f32, Node)>),
}

impl Node {
    fn insert(self, tiles: &mut Tiles<Pane>) -> TileId {
        match self {
            Self::Pane(pane) => tiles.insert_pane(pane),
            Self::Tabs(panes) => {
                let children = panes.into_iter().map(|p| tiles.insert_pane(p)).collect();
                tiles.insert_tab_tile(children)
            }
            Self::Row(children) => insert_linear(tiles, LinearDir::Horizontal, children),
            Self::Column(children) => insert_linear(tiles, LinearDir::Vertical, children),
        }
    }
}

fn insert_linear(tiles: &mut Tiles<Pane>, dir: LinearDir, children: Vec<(f32, Node)>) -> TileId {
    let placed: Vec<(f32, TileId)> = children.into_iter().map(|(share, node)| (share, node.insert(tiles))).collect();
    let mut linear = egui_tiles::Linear::new(dir, placed.iter().map(|(_, id)| *id).collect());
    for (share, id) in placed {
        linear.shares.set_share(id, share);
    }
    tiles.insert_container(linear)
}

/// Where a pane goes relative to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Another tab of the other pane's tabs.
    Tab,
    Left,
    Right,
    Above,
    Below,
}

/// The window's arrangement: the layout shown, every layout's tree as the user left it, the
/// pane maximised (if any) and each layout's UI zoom.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workspace {
    pub layout: Layout,
    /// Each layout's tree as last shown or changed; a layout not here is its default.
    trees: BTreeMap<Layout, Tree<Pane>>,
    /// The pane filling the window until Esc or the restore button.
    pub maximized: Option<Pane>,
    zooms: BTreeMap<Layout, f32>,
}

impl Workspace {
    /// A workspace showing `layout`, every layout as it ships.
    pub fn at(layout: Layout) -> Self {
        Self { layout, ..Self::default() }
    }

    /// The tree of the layout shown (its default until the user changes it).
    pub fn tree_mut(&mut self) -> &mut Tree<Pane> {
        let layout = self.layout;
        self.trees.entry(layout).or_insert_with(|| layout.default_tree())
    }

    /// Takes the shown layout's tree out to draw it while the panes borrow the rest of the
    /// settings; [`Self::put_back`] returns it with the user's drags and resizes.
    pub fn take_tree(&mut self) -> Tree<Pane> {
        let layout = self.layout;
        self.trees.remove(&layout).unwrap_or_else(|| layout.default_tree())
    }

    /// Whether the layout shown is still as it ships (never drawn, or reset since).
    pub fn shows_default(&self) -> bool {
        !self.trees.contains_key(&self.layout)
    }

    pub fn put_back(&mut self, tree: Tree<Pane>) {
        self.trees.insert(self.layout, tree);
    }

    /// The tree of `layout`, or its default when the user has not changed it.
    pub fn tree(&self, layout: Layout) -> std::borrow::Cow<'_, Tree<Pane>> {
        match self.trees.get(&layout) {
            Some(tree) => std::borrow::Cow::Borrowed(tree),
            None => std::borrow::Cow::Owned(layout.default_tree()),
        }
    }

    /// Puts the layout shown back as it ships (its zoom included).
    pub fn reset(&mut self) {
        self.trees.remove(&self.layout);
        self.zooms.remove(&self.layout);
        self.maximized = None;
    }

    pub fn zoom(&self) -> f32 {
        self.zooms.get(&self.layout).copied().unwrap_or_else(|| self.layout.default_zoom())
    }

    pub fn set_zoom(&mut self, zoom: f32) {
        self.zooms.insert(self.layout, zoom.clamp(ZOOM_RANGE.0, ZOOM_RANGE.1));
    }

    /// Whether the layout shown has `pane` open.
    pub fn is_open(&self, pane: Pane) -> bool {
        self.tree(self.layout).tiles.find_pane(&pane).is_some()
    }

    /// Removes `pane` from the layout shown (the View menu reopens it).
    pub fn close(&mut self, pane: Pane) {
        if self.maximized == Some(pane) {
            self.maximized = None;
        }
        let tree = self.tree_mut();
        if let Some(tile) = tree.tiles.find_pane(&pane) {
            tree.remove_recursively(tile);
            tree.simplify(&simplification());
        }
    }

    /// Shows `pane`: brings its tab to the front, or reopens it as a tab beside the largest
    /// pane's.
    pub fn show(&mut self, pane: Pane) {
        let tree = self.tree_mut();
        if let Some(tile) = tree.tiles.find_pane(&pane) {
            tree.make_active(|id, _| id == tile);
            return;
        }
        let largest = Pane::ALL
            .into_iter()
            .filter_map(|p| tree.tiles.find_pane(&p))
            .max_by(|a, b| area(tree, *a).total_cmp(&area(tree, *b)));
        let tile = tree.tiles.insert_pane(pane);
        match largest {
            Some(beside) => place(tree, tile, beside, Side::Tab),
            None => tree.root = Some(tree.tiles.insert_tab_tile(vec![tile])),
        }
        tree.simplify(&simplification());
        tree.make_active(|id, _| id == tile);
    }

    /// Moves `pane` to `side` of `beside` (split or tab), opening it first if it is closed.
    pub fn move_pane(&mut self, pane: Pane, beside: Pane, side: Side) {
        if pane == beside {
            return;
        }
        if !self.is_open(pane) {
            self.show(pane);
        }
        let tree = self.tree_mut();
        let (Some(tile), Some(target)) = (tree.tiles.find_pane(&pane), tree.tiles.find_pane(&beside)) else { return };
        if let Some(parent) = tree.tiles.parent_of(tile)
            && let Some(Tile::Container(container)) = tree.tiles.get_mut(parent)
        {
            container.remove_child(tile);
        }
        // Tabs that held only the moved pane are empty now: tidy before placing, so the target
        // is looked up in the tree as it stands.
        tree.simplify(&simplification());
        place(tree, tile, target, side);
        tree.simplify(&simplification());
        tree.make_active(|id, _| id == tile);
    }
}

/// UI zoom factors offered (Ctrl+= / Ctrl+− step within them).
pub const ZOOM_RANGE: (f32, f32) = (0.5, 3.0);

/// The area a tile took when last drawn (0 before).
fn area(tree: &Tree<Pane>, tile: TileId) -> f32 {
    tree.tiles.rect(tile).map_or(0.0, |r| r.area())
}

/// Puts the (detached) `tile` at `side` of `target`'s place: in its tabs, or split with them.
fn place(tree: &mut Tree<Pane>, tile: TileId, target: TileId, side: Side) {
    // A pane sits in tabs: a split goes beside the whole tab group.
    let group = match tree.tiles.parent_of(target) {
        Some(parent) if matches!(tree.tiles.get(parent), Some(Tile::Container(Container::Tabs(_)))) => parent,
        _ => target,
    };
    if side == Side::Tab
        && let Some(Tile::Container(Container::Tabs(tabs))) = tree.tiles.get_mut(group)
    {
        tabs.add_child(tile);
        tabs.set_active(tile);
        return;
    }
    let parent = tree.tiles.parent_of(group);
    let wrapper = match side {
        Side::Tab => tree.tiles.insert_tab_tile(vec![group, tile]),
        Side::Left => tree.tiles.insert_horizontal_tile(vec![tile, group]),
        Side::Right => tree.tiles.insert_horizontal_tile(vec![group, tile]),
        Side::Above => tree.tiles.insert_vertical_tile(vec![tile, group]),
        Side::Below => tree.tiles.insert_vertical_tile(vec![group, tile]),
    };
    match parent.and_then(|p| tree.tiles.get_mut(p)) {
        Some(Tile::Container(container)) => {
            let _ = container.replace_child(group, wrapper);
        }
        _ => tree.root = Some(wrapper),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panes(tree: &Tree<Pane>) -> Vec<Pane> {
        let mut panes: Vec<Pane> = Pane::ALL.into_iter().filter(|p| tree.tiles.find_pane(p).is_some()).collect();
        panes.sort();
        panes
    }

    #[test]
    fn every_pane_is_in_some_layout() {
        let mut all: Vec<Pane> = Layout::ALL.iter().flat_map(|l| panes(&l.default_tree())).collect();
        all.sort();
        all.dedup();
        assert_eq!(all, Pane::ALL.to_vec());
    }

    #[test]
    fn close_reopen_and_move_keep_every_pane_once() {
        let mut workspace = Workspace { layout: Layout::CaseStudy, ..Workspace::default() };
        let before = panes(&workspace.tree(Layout::CaseStudy));
        workspace.close(Pane::Correlation);
        assert!(!workspace.is_open(Pane::Correlation));
        workspace.show(Pane::Correlation);
        assert_eq!(panes(&workspace.tree(Layout::CaseStudy)), before);
        // Split the plane's place with the case card, then tab the case card back.
        workspace.move_pane(Pane::CaseCard, Pane::VaPlane, Side::Below);
        let tree = workspace.tree(Layout::CaseStudy);
        let card = tree.tiles.find_pane(&Pane::CaseCard).unwrap();
        let plane = tree.tiles.find_pane(&Pane::VaPlane).unwrap();
        let column = |t| tree.tiles.parent_of(tree.tiles.parent_of(t).unwrap());
        assert_eq!(column(card), column(plane), "the card shares a column with the plane");
        assert_eq!(panes(&tree), before);
        workspace.move_pane(Pane::CaseCard, Pane::Correlation, Side::Tab);
        let tree = workspace.tree(Layout::CaseStudy);
        let card = tree.tiles.find_pane(&Pane::CaseCard).unwrap();
        let correlation = tree.tiles.find_pane(&Pane::Correlation).unwrap();
        assert_eq!(tree.tiles.parent_of(card), tree.tiles.parent_of(correlation));
        // Another layout is untouched, and a reset brings the shipped tree back.
        assert_eq!(*workspace.tree(Layout::Audit), Layout::Audit.default_tree());
        workspace.reset();
        assert_eq!(*workspace.tree(Layout::CaseStudy), Layout::CaseStudy.default_tree());
    }
}
