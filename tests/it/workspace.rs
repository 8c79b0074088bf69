//! The workspace (issue 31): each layout's panes at a laptop's and a desktop's size, layout
//! changes through commands (split, tab, maximise, restore, close, reopen), persistence of a
//! changed layout and its reset, selection and playback kept across layouts, and the keyboard
//! sheet drawn from the table the app binds its keys from.

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use univa::store::StoreAddress;
use univa::ui::{
    AuditCommand, BINDINGS, Command, Layout, MORE_BINDINGS, Pane, PlayerPanel, Side, StudioApp, ViewSettings,
    Workspace, WorkspaceCommand,
};

use crate::gui::fixture;

/// The window a 1366×768 laptop screen leaves the app (less the title bar and the desktop's
/// panel), and a maximised window on a 1920×1080 screen.
const LAPTOP: [f32; 2] = [1366.0, 688.0];
const DESKTOP: [f32; 2] = [1920.0, 1030.0];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn at(size: [f32; 2], layout: Layout, open: (PathBuf, Option<PathBuf>)) -> Harness<'static, StudioApp> {
    let settings = ViewSettings { workspace: Workspace::at(layout), ..ViewSettings::default() };
    let mut app = StudioApp::with_player(settings, PlayerPanel::new(univa::media::AudioOutputMode::Off));
    app.handle(Command::Open { dataset: open.0, run: open.1 });
    app.wait_for_worker();
    let mut harness = Harness::builder().with_size(size).allow_missing_glyphs().build_ui_state(
        |ui, app: &mut StudioApp| {
            app.tick(ui.ctx());
            app.studio_ui(ui);
        },
        app,
    );
    harness.run_steps(3);
    harness
}

fn with_run() -> (PathBuf, Option<PathBuf>) {
    let (data, run) = fixture();
    (data.clone(), Some(run.clone()))
}

fn workspace(harness: &mut Harness<'static, StudioApp>, command: WorkspaceCommand) {
    harness.state_mut().handle(Command::Workspace(command));
    harness.run_steps(2);
}

/// The VA plane's data square in pixels (equal axes: the shorter side of its frame) at the UI
/// zoom.
fn plane_side_px(harness: &Harness<'static, StudioApp>) -> f32 {
    let frame = *egui_plot::PlotMemory::load(&harness.ctx, univa::ui::va_plane_id()).unwrap().transform().frame();
    frame.width().min(frame.height()) * harness.ctx.zoom_factor()
}

fn assert_inside(harness: &Harness<'static, StudioApp>, pane: Pane, label: &str) {
    let rect = harness.state().pane_rect(pane).unwrap_or_else(|| panic!("{pane:?} is not shown"));
    let node = harness.get_by_label(label).rect();
    assert!(rect.expand(1.0).contains_rect(node), "{label} at {node:?} is outside {pane:?} at {rect:?}");
}

#[test]
fn case_study_on_a_laptop_shows_a_large_plane_and_the_heatmaps_without_scrolling() {
    let harness = at(LAPTOP, Layout::CaseStudy, with_run());
    let side = plane_side_px(&harness);
    assert!(side >= 360.0, "VA plane {side} px");
    for title in ["VA prior M (Eq. 8)", "Empirical co-occurrence P(col | row)", "Learned M (run)"] {
        assert_inside(&harness, Pane::Correlation, &format!("heatmap: {title}"));
    }
    for pane in [Pane::Browser, Pane::Player, Pane::VaPlane, Pane::Predictions, Pane::Correlation] {
        assert!(harness.state().pane_rect(pane).is_some(), "{pane:?} shown");
    }
}

#[test]
fn audit_on_a_laptop_gives_the_plane_the_most_room_and_the_form_fits() {
    // The demo, whose utterances have transcripts; its store in a temporary folder.
    let mut harness = at(LAPTOP, Layout::Audit, (repo("assets/demo"), Some(repo("models/demo"))));
    let plane = harness.state().pane_rect(Pane::VaPlane).unwrap();
    for pane in [Pane::Browser, Pane::Player, Pane::Audit, Pane::Agreement] {
        assert!(harness.state().pane_rect(pane).unwrap().area() < plane.area(), "{pane:?} larger than the plane");
    }
    assert!(plane_side_px(&harness) >= 360.0);
    assert_inside(&harness, Pane::Audit, "Start auditing");
    // A store address too long for the pane, as a server's is, that must not push the form out.
    let store = tempfile::tempdir().unwrap();
    let file = store.path().join(format!("{}.sqlite", "a-store-name-without-spaces-".repeat(6)));
    let start = AuditCommand::Start { store: Some(StoreAddress::File(file)), remembered: None };
    harness.state_mut().handle(Command::Audit(start));
    harness.run_steps(2);
    assert_inside(&harness, Pane::Audit, "Create and audit");
    // Enter in the name field creates the annotator; then every control of the form is in the
    // pane, none past its right edge.
    harness.get_by_label("New annotator").click();
    harness.run_steps(1);
    harness.get_by_label("New annotator").type_text("kim");
    harness.key_press(egui::Key::Enter);
    harness.run_steps(3);
    assert_eq!(harness.state().view.audit.me.as_ref().map(|me| me.name.as_str()), Some("kim"));
    for label in ["Switch annotator", "Stop auditing", "Queue", "Next ▶", "Accept all and next", "Undo", "Redo"] {
        assert_inside(&harness, Pane::Audit, label);
    }
    // The transcript the text point is judged from, in full.
    let app = harness.state();
    let index = app.view.selected.expect("an utterance is selected");
    let text = &app.session.as_ref().unwrap().utterance(index).unwrap().text;
    assert!(!text.is_empty());
    let form = harness.state().pane_rect(Pane::Audit).unwrap();
    let shown = harness.query_all_by_label(&format!("“{text}”")).any(|n| form.contains_rect(n.rect()));
    assert!(shown, "the transcript {text:?} in full in the audit form");
    for m in univa::modality::Modality::ALL {
        for label in [format!("Accept {m}"), format!("Unsure {m}"), format!("{m} V"), format!("{m} A")] {
            assert_inside(&harness, Pane::Audit, &label);
        }
    }
}

/// The demo in the Demo layout on a screen of `pixels` (the harness's screen is in points: the
/// pixels at the layout's zoom), its first utterance selected and its clip open.
fn demo_on(pixels: [f32; 2]) -> Harness<'static, StudioApp> {
    let open = (repo("assets/demo"), Some(repo("models/demo")));
    let zoom = Layout::Demo.default_zoom();
    let mut harness = at([pixels[0] / zoom, pixels[1] / zoom], Layout::Demo, open);
    harness.state_mut().handle(Command::Select(0));
    harness.run_steps(1);
    let playback = harness.state().settings.playback;
    harness.state_mut().player.wait_until_open(playback);
    harness.run_steps(4);
    harness
}

/// Every label's bar and its hit-or-miss mark inside the Predictions pane; returns the pane.
fn assert_every_bar_shown(harness: &Harness<'static, StudioApp>) -> egui::Rect {
    let bars = harness.state().pane_rect(Pane::Predictions).unwrap();
    let shown: Vec<_> = harness.query_all_by_role(egui::accesskit::Role::ProgressIndicator).collect();
    let marks: Vec<_> = harness.query_all_by_label("✓").chain(harness.query_all_by_label("×")).collect();
    assert_eq!((shown.len(), marks.len()), (6, 6), "a bar and a mark per label in {bars:?}");
    for node in shown.into_iter().chain(marks) {
        assert!(bars.contains_rect(node.rect()), "a bar or mark at {:?} is cut off the pane at {bars:?}", node.rect());
    }
    bars
}

#[test]
fn demo_on_a_desktop_shows_the_clip_and_the_plane_large() {
    let mut harness = demo_on(DESKTOP);
    let zoom = harness.ctx.zoom_factor();
    assert!(zoom >= 1.5, "large type: {zoom}");
    let side = plane_side_px(&harness);
    let clip = harness.get_by_label("clip frame").rect().width() * zoom;
    println!("Demo at 1920×1030 px, zoom {zoom}: VA plane {side:.0} px, clip {clip:.0} px wide");
    assert!(side >= 700.0, "VA plane {side} px");
    assert!(clip >= 800.0, "clip {clip} px wide");
    // The bars under the clip, in the strip the clip leaves.
    assert_every_bar_shown(&harness);
    // A clicker's keys: → next utterance, Space plays.
    harness.key_press(egui::Key::ArrowRight);
    harness.run_steps(2);
    assert_eq!(harness.state().view.selected, Some(harness.state().view.rows[1]));
}

#[test]
fn demo_on_a_laptop_fits_the_strip_of_bars_to_them() {
    let mut harness = demo_on(LAPTOP);
    let bars = assert_every_bar_shown(&harness);
    // Fitted once: the layout is the user's from then on, and Reset ships it again.
    assert!(!harness.state().settings.workspace.shows_default());
    workspace(&mut harness, WorkspaceCommand::ResetLayout);
    harness.run_steps(2);
    assert!(harness.state().pane_rect(Pane::Predictions).unwrap().height() >= bars.height() - 1.0);
}

#[test]
fn every_layout_draws_its_panes_at_both_sizes() {
    for size in [LAPTOP, DESKTOP] {
        for layout in Layout::ALL {
            let harness = at(size, layout, with_run());
            let tree = harness.state().settings.workspace.tree(layout);
            for pane in Pane::ALL.into_iter().filter(|p| tree.tiles.find_pane(p).is_some()) {
                let tile = tree.tiles.find_pane(&pane).unwrap();
                let active = tree.active_tiles().contains(&tile);
                let shown = harness.state().pane_rect(pane);
                assert_eq!(shown.is_some(), active, "{layout:?} {pane:?} at {size:?}");
                if let Some(rect) = shown {
                    assert!(rect.width() >= 60.0 && rect.height() >= 60.0, "{layout:?} {pane:?} {rect:?}");
                }
            }
        }
    }
}

#[test]
fn panes_split_tab_maximise_restore_close_and_reopen_through_commands() {
    let mut harness = at(LAPTOP, Layout::CaseStudy, with_run());
    workspace(&mut harness, WorkspaceCommand::Move { pane: Pane::CaseCard, beside: Pane::VaPlane, side: Side::Below });
    let (card, plane) =
        (harness.state().pane_rect(Pane::CaseCard).unwrap(), harness.state().pane_rect(Pane::VaPlane).unwrap());
    assert!(
        card.top() >= plane.bottom() - 1.0 && (card.center().x - plane.center().x).abs() < 2.0,
        "{card:?} {plane:?}"
    );
    workspace(
        &mut harness,
        WorkspaceCommand::Move { pane: Pane::CaseCard, beside: Pane::Correlation, side: Side::Tab },
    );
    assert!(harness.state().pane_rect(Pane::CaseCard).is_some());
    assert!(harness.state().pane_rect(Pane::Correlation).is_none(), "a tab behind the card");
    workspace(&mut harness, WorkspaceCommand::Maximize(Some(Pane::VaPlane)));
    let full = harness.state().pane_rect(Pane::VaPlane).unwrap();
    assert!(harness.state().pane_rect(Pane::Browser).is_none());
    assert!(full.width() > LAPTOP[0] - 40.0, "{full:?}");
    harness.key_press(egui::Key::Escape);
    harness.run_steps(2);
    assert!(harness.state().pane_rect(Pane::Browser).is_some(), "Esc restores");
    workspace(&mut harness, WorkspaceCommand::Close(Pane::Predictions));
    assert!(!harness.state().settings.workspace.is_open(Pane::Predictions));
    // The View menu lists every pane, the closed one unticked; ticking it reopens it.
    harness.get_by_label("View").click();
    harness.run_steps(2);
    harness.get_by_label("Predictions").click();
    harness.run_steps(2);
    assert!(harness.state().settings.workspace.is_open(Pane::Predictions));
    assert!(harness.state().pane_rect(Pane::Predictions).is_some());
}

#[test]
fn a_changed_layout_persists_and_reset_brings_the_shipped_one_back() {
    let mut harness = at(LAPTOP, Layout::CaseStudy, with_run());
    workspace(&mut harness, WorkspaceCommand::Close(Pane::Metrics));
    workspace(&mut harness, WorkspaceCommand::SetZoom(1.25));
    let mut storage = crate::gui::MemoryStorage::default();
    eframe::App::save(harness.state_mut(), &mut storage);
    let restored: ViewSettings = eframe::get_value(&storage, eframe::APP_KEY).unwrap();
    assert_eq!(restored.workspace, harness.state().settings.workspace);
    assert!(!restored.workspace.is_open(Pane::Metrics));
    assert_eq!(restored.workspace.zoom(), 1.25);
    // Other layouts keep their own arrangement.
    assert_eq!(*restored.workspace.tree(Layout::Audit), Layout::Audit.default_tree());
    workspace(&mut harness, WorkspaceCommand::ResetLayout);
    let workspace = &harness.state().settings.workspace;
    assert!(workspace.is_open(Pane::Metrics) && workspace.zoom() == 1.0);
    assert_eq!(*workspace.tree(Layout::CaseStudy), Layout::CaseStudy.default_tree());
}

#[test]
fn switching_layouts_keeps_the_selection_and_playback() {
    let open = (repo("assets/demo"), Some(repo("models/demo")));
    let mut harness = at(LAPTOP, Layout::CaseStudy, open);
    harness.state_mut().handle(Command::Select(3));
    // The player takes the selection up on the next frame and opens its clip then.
    harness.run_steps(1);
    let playback = harness.state().settings.playback;
    harness.state_mut().player.wait_until_open(playback);
    harness.run_steps(2);
    // Looping, so that a short clip is still playing however slowly a loaded machine steps.
    harness.state_mut().handle(Command::Transport(univa::ui::Transport::SetLooping(true)));
    harness.state_mut().handle(Command::Transport(univa::ui::Transport::TogglePlay));
    harness.run_steps(2);
    assert!(harness.state().player.is_playing());
    for layout in [Layout::Demo, Layout::Audit, Layout::Training, Layout::CaseStudy] {
        workspace(&mut harness, WorkspaceCommand::SetLayout(layout));
        assert_eq!(harness.state().view.selected, Some(3), "{layout:?}");
        assert!(harness.state().player.is_playing(), "{layout:?}");
    }
}

#[test]
fn the_shortcut_sheet_lists_every_key_the_app_binds() {
    let mut harness = at(DESKTOP, Layout::CaseStudy, with_run());
    harness.key_press(egui::Key::F1);
    harness.run_steps(2);
    assert!(harness.state().shortcuts_open);
    harness.get_by_label("Keyboard shortcuts");
    for binding in BINDINGS.iter().chain(&MORE_BINDINGS) {
        let keys = harness.ctx.format_shortcut(&binding.shortcut);
        assert!(harness.query_all_by_label(&keys).next().is_some(), "{keys} is not in the sheet");
        assert!(harness.query_all_by_label(binding.what).next().is_some(), "{} is not in the sheet", binding.what);
    }
}

#[test]
fn shortcuts_do_not_fire_while_typing() {
    let mut harness = at(LAPTOP, Layout::CaseStudy, with_run());
    let before = harness.state().view.selected;
    harness.query_all_by_role(egui::accesskit::Role::TextInput).next().expect("the browser's search field").focus();
    harness.run_steps(1);
    harness.key_press(egui::Key::ArrowDown);
    harness.key_press(egui::Key::F1);
    harness.run_steps(2);
    assert_eq!(harness.state().view.selected, before, "↓ went to the search field");
    assert!(harness.state().shortcuts_open, "F1 acts anywhere");
}

#[test]
fn the_browser_marks_what_the_annotator_audited_and_filters_it() {
    use univa::modality::Modality;
    use univa::store::StoreAddress;
    use univa::ui::{AuditCommand, AuditedFilter};

    use crate::gui_audit::{audit, start_as};

    let dir = tempfile::tempdir().unwrap();
    let mut harness = at(LAPTOP, Layout::Audit, with_run());
    let store = StoreAddress::File(dir.path().join("s.sqlite"));
    audit(&mut harness, AuditCommand::Start { store: Some(store), remembered: None });
    start_as(&mut harness, "ana");
    let row_value = |harness: &Harness<'static, StudioApp>, index: usize| {
        let id = harness.state().session.as_ref().unwrap().utterance(index).unwrap().id.clone();
        harness.get_by_role_and_label(egui::accesskit::Role::Row, &id).value()
    };
    let (first, second) = (harness.state().view.rows[0], harness.state().view.rows[1]);
    // All of the first utterance's points judged, one of the second's.
    harness.state_mut().handle(Command::Select(first));
    harness.run_steps(1);
    audit(&mut harness, AuditCommand::AcceptAndNext);
    assert_eq!(harness.state().view.selected, Some(second));
    audit(&mut harness, AuditCommand::Accept(Modality::Text));
    assert_eq!(row_value(&harness, first).as_deref(), Some("audited ✓"));
    let points = harness.state().view.audit.judged_points(harness.state().session.as_ref().unwrap(), second).1;
    assert_eq!(row_value(&harness, second), Some(format!("audited 1/{points}")));
    assert_eq!(row_value(&harness, harness.state().view.rows[2]), None);

    harness.get_by_label("Audited");
    let total = harness.state().view.rows.len();
    let filter = |audited| univa::ui::Filter { audited, ..univa::ui::Filter::default() };
    harness.state_mut().handle(Command::SetFilter(filter(AuditedFilter::Audited)));
    harness.run_steps(1);
    assert_eq!(harness.state().view.rows, vec![first], "the second is not audited in full");
    harness.state_mut().handle(Command::SetFilter(filter(AuditedFilter::NotAudited)));
    harness.run_steps(1);
    assert_eq!(harness.state().view.rows.len(), total - 1);
    // Finishing the second takes it off the "not audited" rows at once.
    audit(&mut harness, AuditCommand::AcceptAndNext);
    assert!(!harness.state().view.rows.contains(&second));
    assert_eq!(harness.state().view.rows.len(), total - 2);
    // Without an audit the filter and the column step aside.
    audit(&mut harness, AuditCommand::Stop);
    harness.state_mut().handle(Command::SetFilter(filter(AuditedFilter::NotAudited)));
    harness.run_steps(1);
    assert_eq!(harness.state().view.rows.len(), total);
    assert!(harness.query_by_label("Audited").is_none());
}
