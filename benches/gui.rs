//! Workbench speed on a 25,000-utterance synthetic dataset (MOSEI-size).
//!
//! Targets (issue 6): opening the dataset shows the browser in < 1 s; a frame with the cloud of
//! all 75,000 modality VA points (3 × 25,000) costs < 8 ms of CPU (layout + tessellation).
//! Also the embedding tab's t-SNE at its 2,000-point cap, and a frame of the embedding tab with
//! a whole MOSEI training split mapped (16,326 utterances × 3 modalities), in the tab and in its
//! own window, against the cloud's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use univa::dataset::synth::{SynthConfig, write_synthetic};
use univa::modality::PerModality;
use univa::projection::tsne::{TsneConfig, tsne};
use univa::ui::{Command, Session, StudioApp, ViewSettings};

const UTTERANCES: usize = 25_000;

fn write_dataset(dir: &Path) {
    let config = SynthConfig {
        utterances: UTTERANCES,
        seed: 3,
        shapes: PerModality { text: (4, 8), vision: (4, 4), audio: (4, 4) },
        ..SynthConfig::default()
    };
    write_synthetic(dir, &config).unwrap();
}

fn open_dataset(c: &mut Criterion, dir: &Path) {
    let mut group = c.benchmark_group("gui_open");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("open_25k_utterances", |b| {
        b.iter(|| {
            let session = Session::open(dir, None).unwrap();
            assert_eq!(session.len(), UTTERANCES);
        });
    });
    // What the user waits for: the worker opens it, then the UI thread builds the cloud (with
    // its grid) and the browser's rows.
    group.bench_function("open_25k_to_browser", |b| {
        b.iter(|| {
            let mut app = StudioApp::new(ViewSettings::default());
            app.handle(Command::Open { dataset: dir.to_path_buf(), run: None });
            app.wait_for_worker();
            assert_eq!(app.view.rows.len(), UTTERANCES);
        });
    });
    group.finish();
}

/// One full frame of the workbench at `size`, with `events` as input: the egui pass plus
/// tessellation, as eframe does before painting.
fn frame(ctx: &egui::Context, app: &mut StudioApp, size: egui::Vec2, events: Vec<egui::Event>) -> usize {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, size)),
        events,
        ..Default::default()
    };
    let egui::FullOutput { shapes, pixels_per_point, mut textures_delta, .. } =
        ctx.run_ui(input, |ui| app.studio_ui(ui));
    // No GPU here: the font atlas upload is dropped, not applied.
    textures_delta.clear();
    ctx.tessellate(shapes, pixels_per_point).len()
}

const SIZE: egui::Vec2 = egui::vec2(1600.0, 1000.0);

fn frame_with_cloud(c: &mut Criterion, dir: &Path) {
    let mut app = StudioApp::new(ViewSettings::default());
    app.handle(Command::Open { dataset: dir.to_path_buf(), run: None });
    app.wait_for_worker();
    assert_eq!(app.view.cloud.len(), 3 * UTTERANCES);
    let ctx = egui::Context::default();
    let mut group = c.benchmark_group("gui_frame");
    group.sample_size(20);
    for show_cloud in [false, true] {
        app.handle(Command::SetShowCloud(show_cloud));
        // Warm up: fonts and layout caches settle over the first frames.
        for _ in 0..3 {
            frame(&ctx, &mut app, SIZE, Vec::new());
        }
        let name = if show_cloud { "cloud_75k_points" } else { "no_cloud" };
        group.bench_function(name, |b| b.iter(|| frame(&ctx, &mut app, SIZE, Vec::new())));
    }
    // The pointer moving over the plane: every frame asks for the point under it.
    let mut step = 0usize;
    group.bench_function("cloud_75k_hover", |b| {
        b.iter(|| {
            step += 1;
            let at = egui::pos2(700.0 + (step % 300) as f32, 150.0 + (step * 7 % 300) as f32);
            frame(&ctx, &mut app, SIZE, vec![egui::Event::PointerMoved(at)])
        });
    });
    // Dragging the plane: every frame pans it (the cached mesh is shifted, not rebuilt).
    let grab = egui::pos2(900.0, 300.0);
    let press = egui::Event::PointerButton {
        pos: grab,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    };
    frame(&ctx, &mut app, SIZE, vec![egui::Event::PointerMoved(grab), press]);
    let mut step = 0usize;
    group.bench_function("cloud_75k_panned", |b| {
        b.iter(|| {
            step += 1;
            let at = grab + egui::vec2(if step.is_multiple_of(2) { 0.0 } else { 3.0 }, 0.0);
            frame(&ctx, &mut app, SIZE, vec![egui::Event::PointerMoved(at)])
        });
    });
    let release = egui::Event::PointerButton {
        pos: grab,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    };
    frame(&ctx, &mut app, SIZE, vec![release]);
    // The window resized every frame, so that the cloud's mesh is rebuilt every frame (as while
    // zooming).
    // The same without the cloud: what resizing costs the rest of the workbench.
    for (show_cloud, name) in [(true, "cloud_75k_rebuilt"), (false, "no_cloud_resized")] {
        app.handle(Command::SetShowCloud(show_cloud));
        let mut tall = false;
        group.bench_function(name, |b| {
            b.iter(|| {
                tall = !tall;
                let size = if tall { SIZE + egui::vec2(0.0, 10.0) } else { SIZE };
                frame(&ctx, &mut app, size, Vec::new())
            });
        });
    }
    group.finish();
}

/// The embedding tab's t-SNE at its largest (2,000 points of d = 128): affinities plus 10 and
/// plus 20 iterations, so the difference is the cost of 10 iterations.
fn tsne_2000(c: &mut Criterion) {
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let rows: Vec<Vec<f32>> = (0..2000).map(|_| (0..128).map(|_| rng.random::<f32>()).collect()).collect();
    let mut group = c.benchmark_group("embedding");
    group.sample_size(10);
    for iterations in [10, 20] {
        let config = TsneConfig { iterations, ..TsneConfig::default() };
        group.bench_function(format!("tsne_2000_points_{iterations}_iterations"), |b| {
            b.iter(|| tsne(&rows, &config, &mut |_, _| true).unwrap().len());
        });
    }
    group.finish();
}

/// A frame of the workbench on the embedding tab with 48,978 map points (a MOSEI training
/// split × 3 modalities, laid out in clumps), coloured by modality and by valence.
fn frame_with_map(c: &mut Criterion, dir: &Path) {
    use univa::modality::Modality;
    use univa::projection::EmbeddedPoint;
    let mut app = StudioApp::new(ViewSettings::default());
    app.handle(Command::Open { dataset: dir.to_path_buf(), run: None });
    app.wait_for_worker();
    let session = app.session.as_mut().unwrap();
    // The tab maps an attached run's representations; the frame only needs one to be attached.
    session.run = Some(univa::ui::RunResults {
        dir: "bench-run".into(),
        learned: Vec::new(),
        probabilities: vec![None; UTTERANCES],
        trained_threshold: 0.18,
        prior_rule: univa::va::PriorRule::default(),
    });
    let points: Vec<EmbeddedPoint> = (0..16_326)
        .flat_map(|u| {
            Modality::ALL.into_iter().map(move |modality| {
                let t = u as f32 * 0.618_034;
                let (clump, angle) = ((u % 7) as f32, t.fract() * std::f32::consts::TAU);
                let r = 3.0 * (t * 3.7).fract().sqrt();
                let centre = [clump * 12.0, modality.index() as f32 * 15.0];
                EmbeddedPoint {
                    utterance: u,
                    modality,
                    position: [centre[0] + r * angle.cos(), centre[1] + r * angle.sin()],
                }
            })
        })
        .collect();
    app.view.embedding.points = points;
    app.view.embedding.status = univa::ui::EmbeddingStatus::Done;
    let show = |pane| Command::Workspace(univa::ui::WorkspaceCommand::Show(pane));
    app.handle(show(univa::ui::Pane::Embedding));
    let ctx = egui::Context::default();
    let mut group = c.benchmark_group("gui_frame");
    group.sample_size(20);
    for (colour, name) in [
        (univa::ui::EmbeddingColour::Modality, "embedding_map_49k_by_modality"),
        (univa::ui::EmbeddingColour::Valence, "embedding_map_49k_by_valence"),
    ] {
        app.handle(Command::SetEmbeddingColour(colour));
        for _ in 0..3 {
            frame(&ctx, &mut app, SIZE, Vec::new());
        }
        group.bench_function(name, |b| b.iter(|| frame(&ctx, &mut app, SIZE, Vec::new())));
    }
    // The map's pane maximised, where it is drawn several times larger (by modality, as the
    // first of the tab's).
    app.handle(Command::SetEmbeddingColour(univa::ui::EmbeddingColour::Modality));
    app.handle(Command::Workspace(univa::ui::WorkspaceCommand::Maximize(Some(univa::ui::Pane::Embedding))));
    for _ in 0..3 {
        frame(&ctx, &mut app, SIZE, Vec::new());
    }
    group.bench_function("embedding_map_49k_maximised", |b| b.iter(|| frame(&ctx, &mut app, SIZE, Vec::new())));
    group.finish();
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path());
    open_dataset(c, dir.path());
    frame_with_cloud(c, dir.path());
    frame_with_map(c, dir.path());
    tsne_2000(c);
}

criterion_group!(gui, benches);
criterion_main!(gui);
