//! The workbench driven headless through egui_kittest: open a synthetic dataset with a trained
//! run, select, move the threshold, filter by error type, toggle the cloud and click its points,
//! drop folders and files, persist view settings, compute and click the embedding map. State,
//! accessibility labels and plot transforms only (no renderer needed).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use univa::dataset::Dataset;
use univa::dataset::synth::{SynthConfig, write_synthetic};
use univa::import::{FolderOptions, MediaMode, import_folder};
use univa::media::AudioOutputMode;
use univa::media::testclip::{TestClipSpec, generate_test_clip};
use univa::metrics::Outcome;
use univa::modality::PerModality;
use univa::model::Preset;
use univa::projection::{EmbeddedPoint, EmbeddingRequest, Method, UmapConfig};
use univa::train::{self, NoEvents, RunConfig, TrainRequest};
use univa::ui::{
    Command, EmbeddingColour, EmbeddingStatus, ErrorFilter, Filter, Pane, PlayerPanel, Side, StudioApp, ViewSettings,
    WorkspaceCommand,
};

/// A 160-utterance synthetic dataset and a one-epoch run on it, built once per test binary.
pub(crate) fn fixture() -> &'static (PathBuf, PathBuf) {
    static FIXTURE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui_fixture");
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        let run = root.join("run");
        let config = SynthConfig {
            utterances: 160,
            seed: 11,
            shapes: PerModality { text: (8, 12), vision: (6, 5), audio: (6, 7) },
            ..SynthConfig::default()
        };
        write_synthetic(&data, &config).unwrap();
        let dataset = Dataset::open(&data).unwrap();
        let mut run_config = RunConfig::preset(Preset::Small);
        run_config.model.hidden = 32;
        run_config.model.heads = 4;
        run_config.model.intermediate = 64;
        run_config.train.epochs = 1;
        run_config.train.batch_size = 32;
        let request = TrainRequest {
            dataset: &dataset,
            config: run_config,
            run_dir: run.clone(),
            device: candle_core::Device::Cpu,
            resume: false,
            overwrite: false,
            stop: None,
        };
        train::train(request, &mut NoEvents).unwrap();
        (data, run)
    })
}

/// The one harness helper: the whole workbench at a desktop size, with `open` loaded (the
/// worker's result is waited for, since a headless harness has no event loop to poll it).
pub(crate) fn studio(open: Option<(PathBuf, Option<PathBuf>)>) -> Harness<'static, StudioApp> {
    harness_of(StudioApp::new(ViewSettings::default()), open)
}

pub(crate) fn harness_of(mut app: StudioApp, open: Option<(PathBuf, Option<PathBuf>)>) -> Harness<'static, StudioApp> {
    if let Some((dataset, run)) = open {
        app.handle(Command::Open { dataset, run });
        app.wait_for_worker();
    }
    // Headless there are only egui's built-in fonts; the window gets ✓ and ● from system fonts.
    let mut harness = Harness::builder().with_size([1600.0, 1000.0]).allow_missing_glyphs().build_ui_state(
        |ui, app: &mut StudioApp| {
            app.tick(ui.ctx());
            app.studio_ui(ui);
        },
        app,
    );
    harness.run_steps(2);
    harness
}

pub(crate) fn studio_with_run() -> Harness<'static, StudioApp> {
    let (data, run) = fixture();
    studio(Some((data.clone(), Some(run.clone()))))
}

#[test]
fn welcome_screen_without_a_dataset() {
    let harness = studio(None);
    harness.get_by_label("Open dataset…");
    assert!(harness.state().session.is_none());
}

#[test]
fn quit_from_the_menu_or_ctrl_q_closes_the_window() {
    let closes = |harness: &Harness<'static, StudioApp>| {
        harness.output().viewport_output.values().any(|v| v.commands.contains(&egui::ViewportCommand::Close))
    };
    let mut harness = studio_with_run();
    harness.get_by_label("File").click();
    harness.run();
    harness.get_by_label_contains("Quit").click();
    harness.step();
    assert!(closes(&harness));

    let mut harness = studio_with_run();
    harness.run();
    assert!(!closes(&harness));
    // Only the press: the harness steps once per queued event, and the output is the last step's.
    let modifiers = egui::Modifiers::COMMAND;
    harness.event(egui::Event::Key { key: egui::Key::Q, physical_key: None, pressed: true, repeat: false, modifiers });
    harness.step();
    assert!(closes(&harness));
}

#[test]
fn a_folder_that_is_not_a_dataset_shows_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let harness = studio(Some((dir.path().join("missing"), None)));
    let notice = harness.state().notice.clone().unwrap();
    assert!(notice.is_error);
    assert!(notice.text.contains("missing"), "{}", notice.text);
    harness.get_by_label_contains("is not a dataset folder");
}

#[test]
fn opens_dataset_with_run_and_selects_by_click_and_keyboard() {
    let mut harness = studio_with_run();
    let app = harness.state();
    let session = app.session.as_ref().unwrap();
    assert_eq!(session.len(), 160);
    assert_eq!(app.view.rows.len(), 160);
    assert!(session.run.is_some());
    assert_eq!(app.view.selected, Some(0));
    // Every utterance got probabilities from the run.
    assert!((0..160).all(|i| session.probabilities(i).is_some()));

    let second = session.utterance(1).unwrap().id.clone();
    harness.get_by_label(&second).click();
    harness.run_steps(2);
    assert_eq!(harness.state().view.selected, Some(1));

    harness.key_press(egui::Key::ArrowDown);
    harness.run_steps(2);
    assert_eq!(harness.state().view.selected, Some(2));
    harness.key_press(egui::Key::ArrowUp);
    harness.run_steps(2);
    assert_eq!(harness.state().view.selected, Some(1));
}

#[test]
fn moving_the_threshold_recomputes_metrics_live() {
    let mut harness = studio_with_run();
    let before = harness.state().view.metrics.clone().unwrap();
    harness.get_by_label("Metrics").click();
    harness.run_steps(2);
    harness.get_by_label(&format!("miF1 {:.3}", before.micro_f1));
    harness.state_mut().handle(Command::SetThreshold(0.6));
    harness.run_steps(2);
    let after = harness.state().view.metrics.clone().unwrap();
    assert!((harness.state().settings.threshold - 0.6).abs() < 1e-6);
    assert_ne!(before, after, "metrics must depend on the threshold");
    // The panel shows the new value, and no longer the old one.
    harness.get_by_label(&format!("miF1 {:.3}", after.micro_f1));
    if format!("{:.3}", before.micro_f1) != format!("{:.3}", after.micro_f1) {
        assert!(harness.query_by_label(&format!("miF1 {:.3}", before.micro_f1)).is_none());
    }
    // The sweep covers the thresholds and is not recomputed by a threshold change.
    assert!(harness.state().view.sweep.len() > 10);
}

#[test]
fn filter_by_error_type_keeps_only_matching_utterances() {
    let mut harness = studio_with_run();
    let threshold = harness.state().settings.threshold;
    let labels = harness.state().session.as_ref().unwrap().label_names.len();
    let mut checked_any = false;
    for j in 0..labels {
        let filter = Filter { error: ErrorFilter::FalsePositive(j), ..Filter::default() };
        harness.state_mut().handle(Command::SetFilter(filter));
        harness.run_steps(1);
        let app = harness.state();
        let session = app.session.as_ref().unwrap();
        for &i in &app.view.rows {
            let predicted = session.predicted(i, threshold).unwrap();
            assert!(predicted.contains(&j) && !session.utterance(i).unwrap().labels.contains(&j));
        }
        checked_any |= !app.view.rows.is_empty();
    }
    assert!(checked_any, "a one-epoch run makes some false positives");

    let exact = Filter { error: ErrorFilter::Outcome(Outcome::Exact), ..Filter::default() };
    harness.state_mut().handle(Command::SetFilter(exact));
    harness.run_steps(1);
    let exact_rows = harness.state().view.rows.len();
    let partial = Filter { error: ErrorFilter::Outcome(Outcome::Partial), ..Filter::default() };
    harness.state_mut().handle(Command::SetFilter(partial));
    harness.run_steps(1);
    let partial_rows = harness.state().view.rows.len();
    let miss = Filter { error: ErrorFilter::Outcome(Outcome::Miss), ..Filter::default() };
    harness.state_mut().handle(Command::SetFilter(miss));
    harness.run_steps(1);
    let miss_rows = harness.state().view.rows.len();
    assert_eq!(exact_rows + partial_rows + miss_rows, 160, "exact, partial and miss partition the utterances");
    harness.get_by_label_contains(&format!("{miss_rows} of 160 utterances"));
}

#[test]
fn search_and_disagreement_filters() {
    let mut harness = studio_with_run();
    let id = harness.state().session.as_ref().unwrap().utterance(5).unwrap().id.clone();
    harness.state_mut().handle(Command::SetFilter(Filter { search: id.clone(), ..Filter::default() }));
    harness.run_steps(1);
    let rows = harness.state().view.rows.clone();
    assert!(rows.contains(&5));
    let far = Filter { min_disagreement: 0.5, ..Filter::default() };
    harness.state_mut().handle(Command::SetFilter(far));
    harness.run_steps(1);
    let app = harness.state();
    let session = app.session.as_ref().unwrap();
    assert!(app.view.rows.len() < 160);
    assert!(app.view.rows.iter().all(|&i| session.disagreement[i] >= 0.5));
}

#[test]
fn cloud_toggle_and_click_to_select() {
    let mut harness = studio_with_run();
    assert!(!harness.state().settings.show_cloud);
    harness.get_by_label("Cloud of all utterances").click();
    harness.run_steps(2);
    assert!(harness.state().settings.show_cloud);
    harness.get_by_label_contains(" points");
    let app = harness.state();
    assert_eq!(app.view.cloud.len(), 3 * 160, "every utterance has a VA point per modality");
    let point = app.view.cloud.points.vision[7];
    let owner = app.view.cloud.owners.vision[7];
    assert_eq!(univa::ui::nearest_utterance(&app.view, &app.settings, point.x, point.y), Some(owner));
}

#[test]
fn case_card_and_correlation_tabs() {
    let mut harness = studio_with_run();
    harness.get_by_label("Case card").click();
    harness.run_steps(2);
    harness.get_by_label("Export Markdown…");
    let app = harness.state();
    let session = app.session.as_ref().unwrap();
    let markdown = univa::ui::case_card_markdown(session, 0, app.settings.threshold, &[]).unwrap();
    assert!(markdown.contains(&session.utterance(0).unwrap().id));
    assert!(markdown.contains("| Transcript | VA (text) | VA (vision) | VA (audio) | Gold | Prediction | Result |"));
    harness.get_by_label("Correlation").click();
    harness.run_steps(2);
    assert!(harness.state().pane_rect(Pane::Correlation).is_some(), "the correlation tab is shown");
    harness.get_by_label("Learned M (run)");
    harness.get_by_label("VA prior M (Eq. 8)");
    let rule = harness.state().session.as_ref().unwrap().prior_rule;
    assert_eq!(rule, univa::va::PriorRule::LabelSetMinMax, "a run trained now uses the reference rule");
    harness.get_by_label_contains("min-max scaled to [-1, 1] over this label set");
}

/// Screen position of a plot point, from the transform egui_plot remembers for the plot `id`.
pub(crate) fn screen_position(harness: &Harness<'static, StudioApp>, id: egui::Id, x: f64, y: f64) -> egui::Pos2 {
    let memory = egui_plot::PlotMemory::load(&harness.ctx, id).expect("the plot was drawn");
    memory.transform().position_from_point(&egui_plot::PlotPoint::new(x, y))
}

/// Clicks the map point (of map `id`) that other utterances' points crowd least on screen,
/// inside the map's frame and not of the selected utterance, and checks that the browser
/// selects its utterance.
pub(crate) fn click_a_map_point(harness: &mut Harness<'static, StudioApp>, points: &[EmbeddedPoint], id: egui::Id) {
    let frame = *egui_plot::PlotMemory::load(&harness.ctx, id).expect("the map was drawn").transform().frame();
    let frame = frame.intersect(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1600.0, 1000.0)));
    let on_screen: Vec<(EmbeddedPoint, egui::Pos2)> = points
        .iter()
        .map(|p| (*p, screen_position(harness, id, f64::from(p.position[0]), f64::from(p.position[1]))))
        .collect();
    let selected = harness.state().view.selected;
    let room = |(p, pos): &(EmbeddedPoint, egui::Pos2)| {
        on_screen
            .iter()
            .filter(|(q, _)| q.utterance != p.utterance)
            .map(|(_, q)| q.distance(*pos))
            .fold(f32::INFINITY, f32::min)
    };
    let (target, at) = on_screen
        .iter()
        .filter(|(p, pos)| frame.shrink(4.0).contains(*pos) && Some(p.utterance) != selected)
        .max_by(|a, b| room(a).total_cmp(&room(b)))
        .copied()
        .expect("a map point on screen");
    assert!(room(&(target, at)) > 1.0, "every point on screen is covered by another utterance's");
    click_at(harness, at);
    assert_eq!(harness.state().view.selected, Some(target.utterance), "clicked {target:?} at {at:?}");
}

pub(crate) fn click_at(harness: &mut Harness<'static, StudioApp>, pos: egui::Pos2) {
    harness.hover_at(pos);
    harness.run_steps(1);
    harness.drag_at(pos);
    harness.run_steps(1);
    harness.drop_at(pos);
    harness.run_steps(2);
}

#[test]
fn dragging_the_edge_between_panes_resizes_them_and_the_layout_keeps_it() {
    let mut harness = studio_with_run();
    harness.run_steps(2);
    let plane = |harness: &Harness<'static, StudioApp>| harness.state().pane_rect(Pane::VaPlane).unwrap();
    let before = plane(&harness);
    // The edge between the middle column and the plane's column, halfway down.
    let edge = egui::pos2(before.left() - 1.0, before.center().y);
    harness.hover_at(edge);
    harness.run_steps(1);
    harness.drag_at(edge);
    harness.run_steps(1);
    for step in 1..=4 {
        harness.hover_at(edge - egui::vec2(25.0 * step as f32, 0.0));
        harness.run_steps(1);
    }
    harness.drop_at(edge - egui::vec2(100.0, 0.0));
    harness.run_steps(2);
    let after = plane(&harness);
    assert!(after.width() > before.width() + 60.0, "plane {before:?} -> {after:?}");
    let app = harness.state();
    let layout = app.settings.workspace.layout;
    assert_ne!(*app.settings.workspace.tree(layout), layout.default_tree(), "the arrangement is the user's now");
}

#[test]
fn clicking_a_cloud_point_selects_its_utterance() {
    let mut harness = studio_with_run();
    harness.get_by_label("Cloud of all utterances").click();
    harness.run_steps(2);
    // A vision point whose utterance is not selected, far enough from any other cloud point
    // (within 0.01) that the click cannot be taken by a neighbour.
    let app = harness.state();
    let cloud = &app.view.cloud;
    let all: Vec<egui_plot::PlotPoint> = cloud.points.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let (index, point) = cloud
        .points
        .vision
        .iter()
        .enumerate()
        .find(|&(i, p)| {
            cloud.owners.vision[i] != 0
                && p.x.abs() < 0.9
                && p.y.abs() < 0.9
                && all.iter().filter(|q| (q.x - p.x).hypot(q.y - p.y) < 0.02).count() == 1
        })
        .map(|(i, p)| (i, *p))
        .expect("an isolated cloud point");
    let owner = cloud.owners.vision[index];
    assert_ne!(app.view.selected, Some(owner));
    let at = screen_position(&harness, univa::ui::va_plane_id(), point.x, point.y);
    click_at(&mut harness, at);
    assert_eq!(harness.state().view.selected, Some(owner), "clicked {point:?} at {at:?}");
    // A click on empty space (outside the data, inside the plot) selects nothing new.
    let empty = screen_position(&harness, univa::ui::va_plane_id(), 1.05, -1.05);
    click_at(&mut harness, empty);
    assert_eq!(harness.state().view.selected, Some(owner));
}

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("a folder has no bytes".to_owned())
    }
}

fn drop_path(harness: &mut Harness<'static, StudioApp>, path: PathBuf) {
    harness.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(path)));
    harness.run_steps(1);
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
}

#[test]
fn dropping_a_folder_opens_it_and_dropping_a_file_is_an_error() {
    let (data, _) = fixture();
    let mut harness = studio(None);
    drop_path(&mut harness, data.clone());
    let app = harness.state();
    assert_eq!(app.session.as_ref().map(|s| s.len()), Some(160));
    assert_eq!(app.settings.recent.first().map(|r| &r.dataset), Some(data));
    assert!(!app.notice.as_ref().unwrap().is_error);

    let file = data.join("manifest.toml");
    assert!(file.is_file());
    drop_path(&mut harness, file);
    let notice = harness.state().notice.clone().unwrap();
    assert!(
        notice.is_error && notice.text.contains("manifest.toml") && notice.text.contains("not a folder"),
        "{notice:?}"
    );
    harness.get_by_label_contains("not a folder");
    // The open dataset stays open.
    assert_eq!(harness.state().session.as_ref().map(|s| s.len()), Some(160));
}

/// eframe's storage, in memory.
#[derive(Default)]
pub(crate) struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }

    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }

    fn flush(&mut self) {}
}

#[test]
fn view_settings_round_trip_through_eframe_storage_and_recent_is_capped() {
    let mut app = StudioApp::new(ViewSettings::default());
    for i in 0..12 {
        app.settings.remember(PathBuf::from(format!("/data/set{i}")), None);
    }
    // Opening one again moves it to the front without a duplicate.
    app.settings.remember(PathBuf::from("/data/set5"), Some(PathBuf::from("/runs/r5")));
    assert_eq!(app.settings.recent.len(), 8);
    assert_eq!(app.settings.recent[0].dataset, PathBuf::from("/data/set5"));
    assert_eq!(app.settings.recent[0].run, Some(PathBuf::from("/runs/r5")));
    assert_eq!(app.settings.recent.iter().filter(|r| r.dataset.ends_with("set5")).count(), 1);
    app.handle(Command::SetShowCloud(true));
    app.handle(Command::SetCloudModality(univa::modality::Modality::Audio, false));
    app.handle(Command::SetThreshold(0.3));
    app.handle(Command::Workspace(WorkspaceCommand::Move {
        pane: Pane::Embedding,
        beside: Pane::VaPlane,
        side: Side::Below,
    }));
    app.handle(Command::SetEmbeddingColour(EmbeddingColour::Quadrant));
    app.handle(Command::SetEmbeddingSettings(univa::ui::EmbeddingSettings {
        method: Method::Tsne,
        max_points: Some(500),
        ..Default::default()
    }));
    let mut storage = MemoryStorage::default();
    eframe::App::save(&mut app, &mut storage);
    let restored: ViewSettings = eframe::get_value(&storage, eframe::APP_KEY).unwrap();
    assert_eq!(restored, app.settings);
    assert_ne!(restored, ViewSettings::default());
    // Settings saved by an older version (fields missing) restore with defaults.
    eframe::Storage::set_string(&mut storage, eframe::APP_KEY, "(threshold: 0.25)".to_owned());
    let old: ViewSettings = eframe::get_value(&storage, eframe::APP_KEY).unwrap();
    assert_eq!(old, ViewSettings { threshold: 0.25, ..ViewSettings::default() });
    // Recent datasets saved as bare paths (before their run was remembered) keep the path.
    eframe::Storage::set_string(&mut storage, eframe::APP_KEY, "(recent: [\"/data/old\"])".to_owned());
    let old: ViewSettings = eframe::get_value(&storage, eframe::APP_KEY).unwrap();
    assert_eq!(old.recent, [univa::ui::Recent { dataset: PathBuf::from("/data/old"), run: None }]);
}

#[test]
fn embedding_tab_without_a_run_gives_a_hint() {
    let (data, _) = fixture();
    let mut harness = studio(Some((data.clone(), None)));
    harness.get_by_label("Embedding map").click();
    harness.run_steps(2);
    assert!(harness.state().pane_rect(Pane::Embedding).is_some(), "the map's tab is shown");
    harness.get_by_label_contains("No trained run is attached");
    assert!(harness.query_by_label("Compute map").is_none());
}

#[test]
fn embedding_tab_projects_the_run_and_selects_by_click() {
    let mut harness = studio_with_run();
    harness.get_by_label("Embedding map").click();
    harness.run_steps(2);
    harness.get_by_label("Compute map");
    // Smaller than the GUI's default (the whole training split, 500 epochs) to keep CI fast.
    let request = EmbeddingRequest {
        method: Method::Umap,
        split: None,
        max_points: Some(150),
        umap: UmapConfig { epochs: Some(100), ..UmapConfig::default() },
        ..EmbeddingRequest::default()
    };
    harness.state_mut().handle(Command::ComputeEmbedding(request));
    assert!(harness.state().view.embedding.is_running());
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    let app = harness.state();
    assert!(matches!(app.view.embedding.status, EmbeddingStatus::Done), "{:?}", app.view.embedding.status);
    let points = app.view.embedding.points.clone();
    // 150 points = 50 sampled utterances × 3 modalities, each utterance once per modality.
    assert_eq!(points.len(), 150);
    for modality in univa::modality::Modality::ALL {
        assert_eq!(points.iter().filter(|p| p.modality == modality).count(), 50);
    }
    assert!(points.iter().all(|p| p.position.iter().all(|v| v.is_finite())));
    harness.get_by_label("150 points");
    harness.get_by_label("Recompute");
    for (colour, name) in [(EmbeddingColour::Label, "gold label"), (EmbeddingColour::Quadrant, "VA quadrant")] {
        harness.get_by_label(name).click();
        harness.run_steps(2);
        assert_eq!(harness.state().settings.embedding_colour, colour);
    }
    // By gold label: one label's holders against the rest, so multi-label utterances count for
    // every label they hold.
    harness.get_by_label("gold label").click();
    harness.state_mut().handle(Command::SetEmbeddingLabel(1));
    harness.run_steps(2);
    let app = harness.state();
    let sad = app.session.as_ref().unwrap().label_names.iter().position(|n| n == "sad");
    assert_eq!(sad, Some(1), "the demo's second label");
    harness.get_by_label("not sad");
    assert!(harness.query_by_label("not happy").is_none());

    click_a_map_point(&mut harness, &points, univa::ui::embedding_plot_id());
}

#[test]
fn opening_another_dataset_stops_a_running_embedding() {
    let (data, _) = fixture();
    let mut harness = studio_with_run();
    harness.state_mut().handle(Command::ComputeEmbedding(EmbeddingRequest::default()));
    assert!(harness.state().view.embedding.is_running());
    harness.state_mut().handle(Command::Open { dataset: data.clone(), run: None });
    // The projection is stopped, so the open is answered promptly and nothing stale is applied.
    let started = std::time::Instant::now();
    harness.state_mut().wait_for_worker();
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let app = harness.state();
    assert!(app.session.as_ref().is_some_and(|s| s.run.is_none()));
    assert!(app.view.embedding.points.is_empty() && !app.view.embedding.is_running());
}

/// A dataset imported from a folder: two utterances in spans of one generated clip (H.264 + PCM),
/// and one without media. Built once per test binary.
pub(crate) fn media_fixture() -> &'static PathBuf {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui_media_fixture");
        let _ = std::fs::remove_dir_all(&root);
        let source = root.join("source");
        std::fs::create_dir_all(source.join("clips")).unwrap();
        let spec = TestClipSpec { duration_secs: 6.0, ..TestClipSpec::default() };
        generate_test_clip(&source.join("clips/talk.mkv"), &spec).unwrap();
        std::fs::write(
            source.join("labels.csv"),
            "id,media,start,end,text,labels\n\
             u1,clips/talk.mkv,1.0,3.0,first words,happy\n\
             u2,clips/talk.mkv,3.5,5.5,second words,sad\n\
             u3,,,,no clip here,anger\n",
        )
        .unwrap();
        let out = root.join("data");
        let options =
            FolderOptions { csv: source.join("labels.csv"), out: out.clone(), media: MediaMode::Copy, labels: None };
        import_folder(&options).unwrap();
        out
    })
}

/// Another dataset with a clip of its own (its media copied into its folder).
pub(crate) fn second_media_fixture() -> PathBuf {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui_media_fixture_2");
            let _ = std::fs::remove_dir_all(&root);
            let source = root.join("source");
            std::fs::create_dir_all(source.join("clips")).unwrap();
            let spec = TestClipSpec { duration_secs: 4.0, ..TestClipSpec::default() };
            generate_test_clip(&source.join("clips/other.mkv"), &spec).unwrap();
            std::fs::write(
                source.join("labels.csv"),
                "id,media,start,end,text,labels\nv1,clips/other.mkv,0.5,2.5,other words,sad\n",
            )
            .unwrap();
            let out = root.join("data");
            let options = FolderOptions {
                csv: source.join("labels.csv"),
                out: out.clone(),
                media: MediaMode::Copy,
                labels: None,
            };
            import_folder(&options).unwrap();
            out
        })
        .clone()
}

/// The workbench on the media dataset, with no sound output (as under `UNIVA_AUDIO=off`) and the
/// first utterance's clip open.
fn studio_with_media() -> Harness<'static, StudioApp> {
    let app = StudioApp::with_player(ViewSettings::default(), PlayerPanel::new(AudioOutputMode::Off));
    let mut harness = harness_of(app, Some((media_fixture().clone(), None)));
    wait_for_clip(&mut harness);
    harness
}

pub(crate) fn wait_for_clip(harness: &mut Harness<'static, StudioApp>) {
    let playback = harness.state().settings.playback;
    harness.state_mut().player.wait_until_open(playback);
    harness.run_steps(2);
}

fn select_id(harness: &mut Harness<'static, StudioApp>, id: &str) {
    let session = harness.state().session.as_ref().unwrap();
    let index = (0..session.len()).find(|&i| session.utterance(i).unwrap().id == id).unwrap();
    harness.state_mut().handle(Command::Select(index));
    harness.run_steps(1);
    wait_for_clip(harness);
}

#[test]
fn player_opens_the_selected_clip_at_its_span_and_space_plays() {
    let mut harness = studio_with_media();
    select_id(&mut harness, "u1");
    let player = harness.state().player.player().expect("the clip of u1 opens");
    assert!(player.info().video.is_some() && player.info().audio.is_some());
    // The window shows one second of context on each side of the 1–3 s span.
    assert!((player.span().start_secs - 0.0).abs() < 1e-6, "{:?}", player.span());
    assert!((harness.state().player.position_secs() - 1.0).abs() < 0.05);
    assert!(!harness.state().player.is_playing());
    harness.get_by_label("Play");

    harness.key_press(egui::Key::Space);
    harness.run_steps(1);
    assert!(harness.state().player.is_playing(), "space starts playback");
    harness.get_by_label("Pause");
    harness.key_press(egui::Key::Space);
    harness.run_steps(1);
    assert!(!harness.state().player.is_playing(), "space pauses again");

    // ←/→ seek by 2 s, clamped to the window (0 s .. 4 s for this span). Playback ran for as
    // long as the two frames took, which on a loaded machine can be a while.
    let paused_at = harness.state().player.position_secs();
    harness.key_press(egui::Key::ArrowRight);
    harness.run_steps(1);
    let seeked = harness.state().player.position_secs();
    assert!((seeked - (paused_at + 2.0).min(4.0)).abs() < 0.05, "{paused_at} -> {seeked}");
    for _ in 0..2 {
        harness.key_press(egui::Key::ArrowLeft);
        harness.run_steps(1);
    }
    assert!(harness.state().player.position_secs().abs() < 0.05, "{}", harness.state().player.position_secs());
    // Shift+→ steps one frame (25 fps).
    harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowRight);
    harness.run_steps(1);
    let stepped = harness.state().player.position_secs();
    assert!(stepped > 0.01 && stepped < 0.1, "{stepped}");
}

#[test]
fn l_toggles_loop_and_a_picture_is_shown() {
    let mut harness = studio_with_media();
    select_id(&mut harness, "u2");
    assert!(!harness.state().settings.playback.looping);
    harness.key_press(egui::Key::L);
    harness.run_steps(1);
    assert!(harness.state().settings.playback.looping);
    assert!(harness.state().player.player().unwrap().is_looping());
    harness.key_press(egui::Key::L);
    harness.run_steps(1);
    assert!(!harness.state().player.player().unwrap().is_looping());
    // The first frame of the span arrives as a texture without blocking the UI.
    for _ in 0..200 {
        if harness.state().player.has_picture() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        harness.run_steps(1);
    }
    assert!(harness.state().player.has_picture());
}

#[test]
fn player_shows_audio_unavailable_and_no_media() {
    let mut harness = studio_with_media();
    select_id(&mut harness, "u1");
    harness.get_by_label_contains("audio output unavailable");
    select_id(&mut harness, "u3");
    assert!(harness.state().player.player().is_none());
    harness.get_by_label_contains("no media");
}

#[test]
fn keys_do_not_act_while_a_text_field_has_focus() {
    let mut harness = studio_with_media();
    select_id(&mut harness, "u1");
    harness.query_all_by_role(egui::accesskit::Role::TextInput).next().expect("the browser's search field").focus();
    harness.run_steps(1);
    harness.key_press(egui::Key::Space);
    harness.run_steps(1);
    harness.key_press(egui::Key::L);
    harness.run_steps(1);
    assert!(!harness.state().player.is_playing());
    assert!(!harness.state().settings.playback.looping);
}

#[test]
fn the_case_card_exports_its_figure_and_a_markdown_with_every_probability() {
    let harness = studio_with_run();
    // The PNG is the one-page figure now (the export window, tested in `figures`), not a
    // screenshot of the panel.
    assert!(harness.query_by_label("Export PNG…").is_none());
    assert_eq!(harness.query_all_by_label("Export figure…").count(), 2, "the VA plane's and the case card's");
    let app = harness.state();
    let session = app.session.as_ref().unwrap();
    let threshold = app.settings.threshold;
    let markdown = univa::ui::case_card_markdown(session, 0, threshold, &[]).unwrap();
    for (j, p) in session.probabilities(0).unwrap().iter().enumerate() {
        let row = format!("| {} | {p:.3} | {:+.3} |", session.label_names[j], p - threshold);
        assert!(markdown.contains(&row), "{row} in {markdown}");
    }
}
