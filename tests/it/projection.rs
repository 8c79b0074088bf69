//! The embedding map at the scale of a split: `univa project` (every utterance × modality of a
//! split, seeded, CSV), its clear refusals (a run without a model, an empty split), and the
//! Embedding tab's controls (method, colourings, Stop, a compared run beside with linked
//! selection, the map in a window of its own) driven through egui_kittest.

use std::path::Path;
use std::process::Command as Process;

use egui_kittest::kittest::Queryable as _;
use univa::dataset::synth::{SynthConfig, write_synthetic};
use univa::dataset::{Dataset, Split};
use univa::modality::PerModality;
use univa::projection::{EmbeddingRequest, Method, UmapConfig};
use univa::ui::{Command, EmbeddingColour, EmbeddingStatus, MapSide, Pane, WorkspaceCommand};

use crate::gui::{click_a_map_point, fixture, studio_with_run};

fn univa(args: &[&str]) -> std::process::Output {
    Process::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

fn project(run: &Path, data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "project",
        "--run",
        run.to_str().unwrap(),
        "--dataset",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    univa(&args)
}

#[test]
fn project_maps_every_utterance_of_the_split_in_each_modality_with_a_seed() {
    let (data, run) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a.csv"), dir.path().join("b.csv"), dir.path().join("c.csv"));
    let output = project(run, data, &a, &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let dataset = Dataset::open(data).unwrap();
    let train: Vec<&str> =
        dataset.utterances.iter().filter(|u| u.split == Split::Train).map(|u| u.id.as_str()).collect();
    let text = std::fs::read_to_string(&a).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,modality,x,y"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3 * train.len(), "every train utterance once per modality");
    for modality in ["text", "vision", "audio"] {
        let mut ids: Vec<&str> = rows.iter().filter(|r| r[1] == modality).map(|r| r[0]).collect();
        ids.sort_unstable();
        let mut want = train.clone();
        want.sort_unstable();
        assert_eq!(ids, want, "{modality}");
    }
    assert!(rows.iter().all(|r| r[2].parse::<f32>().unwrap().is_finite() && r[3].parse::<f32>().unwrap().is_finite()));
    // The same seed gives the same map; another seed another.
    assert!(project(run, data, &b, &[]).status.success());
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(project(run, data, &c, &["--seed", "7"]).status.success());
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
}

#[test]
fn project_exact_tsne_on_a_sample_of_the_test_split() {
    let (data, run) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tsne.csv");
    let output = project(run, data, &out, &["--method", "tsne", "--split", "test", "--max-points", "30"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1 + 30, "10 utterances × 3 modalities");
    assert!(String::from_utf8_lossy(&output.stdout).contains("t-SNE map of the test split"));
}

#[test]
fn project_refuses_a_run_without_a_model_and_an_empty_split() {
    let (data, run) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("map.csv");
    // Another system's imported predictions: a run folder without a model.
    let imported = dir.path().join("imported");
    std::fs::create_dir_all(&imported).unwrap();
    std::fs::write(imported.join("config.json"), r#"{"kind": "imported-predictions", "name": "MulT"}"#).unwrap();
    let output = project(&imported, data, &out, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("imported predictions and no model") && stderr.contains("no unimodal representations"),
        "{stderr}"
    );
    let empty_run = dir.path().join("empty-run");
    std::fs::create_dir_all(&empty_run).unwrap();
    let stderr = String::from_utf8_lossy(&project(&empty_run, data, &out, &[]).stderr).into_owned();
    assert!(stderr.contains("has no trained weights"), "{stderr}");
    // A dataset of the run's shapes without a validation split.
    let no_valid = dir.path().join("no-valid");
    let config = SynthConfig {
        utterances: 30,
        seed: 11,
        shapes: PerModality { text: (8, 12), vision: (6, 5), audio: (6, 7) },
        train_fraction: 0.8,
        valid_fraction: 0.0,
        ..SynthConfig::default()
    };
    write_synthetic(&no_valid, &config).unwrap();
    let output = project(run, &no_valid, &out, &["--split", "valid"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the dataset has no utterances in its valid split"), "{stderr}");
    assert!(!out.exists(), "nothing is written on failure");
}

fn small_umap() -> EmbeddingRequest {
    EmbeddingRequest {
        method: Method::Umap,
        split: None,
        max_points: Some(150),
        umap: UmapConfig { epochs: Some(100), ..UmapConfig::default() },
        ..EmbeddingRequest::default()
    }
}

#[test]
fn embedding_controls_choose_method_and_colouring_and_stop_a_run() {
    let mut harness = studio_with_run();
    harness.get_by_label("Embedding map").click();
    harness.run_steps(2);
    // The method: UMAP by default; exact t-SNE shows its cap instead of the point choice.
    harness.get_by_label("points");
    harness.get_by_label("method").click();
    harness.run_steps(2);
    harness.get_by_label("t-SNE").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.embedding.method, Method::Tsne);
    harness.get_by_label_contains("points (exact)");
    assert!(harness.query_by_label("points").is_none());
    harness.get_by_label("split").click();
    harness.run_steps(2);
    harness.get_by_label("all splits").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.embedding.split, None);
    // A long run shows its progress and a Stop button, which stops it.
    let long =
        EmbeddingRequest { umap: UmapConfig { epochs: Some(1_000_000), ..UmapConfig::default() }, ..small_umap() };
    harness.state_mut().handle(Command::ComputeEmbedding(long));
    harness.run_steps(2);
    harness.get_by_label("Stop").click();
    harness.run_steps(2);
    assert!(!harness.state().view.embedding.is_running());
    harness.state_mut().wait_for_worker();
    assert!(matches!(harness.state().view.embedding.status, EmbeddingStatus::Idle));
    // Colourings over a computed map: predicted label (with the label choice), a VA dimension.
    harness.state_mut().handle(Command::ComputeEmbedding(small_umap()));
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    harness.get_by_label("predicted label").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.embedding_colour, EmbeddingColour::Predicted);
    // The button and at least one legend entry (the label predicted, not predicted, or none).
    assert!(harness.query_all_by_label_contains("predict").count() >= 2);
    harness.get_by_label("valence").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.embedding_colour, EmbeddingColour::Valence);
    harness.get_by_label("valence −1 … +1");
}

#[test]
fn a_compared_run_maps_beside_and_a_click_in_it_selects_in_the_browser() {
    let (_, run) = fixture();
    let mut harness = studio_with_run();
    harness.get_by_label("Embedding map").click();
    harness.run_steps(2);
    // The choice lists the trained runs of the runs folder: here a copy of the attached run.
    let runs = tempfile::tempdir().unwrap();
    let copy = runs.path().join("ablations").join("same-run");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(run.join(file), copy.join(file)).unwrap();
    }
    harness.state_mut().settings.runs_dir = runs.path().to_path_buf();
    harness.get_by_label("beside it").click();
    harness.run_steps(2);
    harness.get_by_label("Other run folder…");
    harness.get_by_label("ablations/same-run").click();
    harness.run_steps(2);
    assert_eq!(harness.state().view.embedding.compare_run.as_deref(), Some(copy.as_path()));
    harness.state_mut().handle(Command::ComputeEmbedding(small_umap()));
    assert!(harness.state().view.embedding.compare.is_running());
    harness.state_mut().wait_for_worker();
    harness.run_steps(3);
    let view = &harness.state().view.embedding;
    assert!(matches!(view.status, EmbeddingStatus::Done) && matches!(view.compare.status, EmbeddingStatus::Done));
    assert_eq!(view.points.len(), 150);
    // The same weights and seed: the same map on both sides.
    assert_eq!(view.compare.points, view.points);
    harness.get_by_label_contains("compared run: ");
    let points = view.compare.points.clone();
    // Each map saves as `univa project` writes.
    assert_eq!(harness.query_all_by_label("Save CSV…").count(), 2);
    let csv = runs.path().join("beside.csv");
    harness.state_mut().handle(Command::SaveEmbeddingCsv(MapSide::Compared, Some(csv.clone())));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,modality,x,y"));
    let dataset = &harness.state().session.as_ref().unwrap().dataset;
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), points.len());
    for (row, point) in rows.iter().zip(&points) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields[0], dataset.utterances[point.utterance].id);
        assert_eq!(fields[1], point.modality.name());
        assert!((fields[2].parse::<f32>().unwrap() - point.position[0]).abs() < 1e-5);
    }
    assert!(harness.state().notice.as_ref().is_some_and(|n| !n.is_error && n.text.contains("Saved 150 map points")));
    click_a_map_point(&mut harness, &points, univa::ui::compare_plot_id());
    // The pair in the maximised pane keeps its size frame after frame.
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::Maximize(Some(Pane::Embedding))));
    harness.run_steps(3);
    let frame = |ctx: &egui::Context| {
        *egui_plot::PlotMemory::load(ctx, univa::ui::compare_plot_id()).unwrap().transform().frame()
    };
    let first = frame(&harness.ctx);
    harness.run_steps(10);
    assert_eq!(frame(&harness.ctx), first, "the pane grew by itself");
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::Maximize(None)));
    harness.run_steps(2);
    harness.get_by_label("Remove").click();
    harness.run_steps(2);
    assert!(
        harness.state().view.embedding.compare_run.is_none()
            && harness.state().view.embedding.compare.points.is_empty()
    );
}

#[test]
fn the_maximised_map_is_larger_and_a_click_there_selects_in_the_browser() {
    let mut harness = studio_with_run();
    harness.get_by_label("Embedding map").click();
    harness.run_steps(2);
    harness.state_mut().handle(Command::ComputeEmbedding(small_umap()));
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    let id = univa::ui::embedding_plot_id();
    let in_tab = *egui_plot::PlotMemory::load(&harness.ctx, id).unwrap().transform().frame();
    // The maximise button of the map's tab bar.
    let tab = harness.get_by_label("Embedding map").rect();
    let button = harness
        .query_all_by_label("⛶")
        .find(|b| (b.rect().center().y - tab.center().y).abs() < 4.0 && b.rect().left() > tab.right());
    button.expect("a maximise button beside the map's tab").click();
    harness.run_steps(3);
    assert_eq!(harness.state().settings.workspace.maximized, Some(Pane::Embedding));
    harness.get_by_label("Restore layout");
    let maximised = *egui_plot::PlotMemory::load(&harness.ctx, id).unwrap().transform().frame();
    // The pane keeps its size frame after frame (the map fits the room it has).
    harness.run_steps(10);
    let later = *egui_plot::PlotMemory::load(&harness.ctx, id).unwrap().transform().frame();
    assert_eq!(later, maximised, "the pane grew by itself");
    assert!(
        maximised.height() > in_tab.height() && maximised.width() > in_tab.width(),
        "the maximised pane gives the map more room: {maximised:?} against {in_tab:?}"
    );
    harness.get_by_label("valence").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.embedding_colour, EmbeddingColour::Valence);
    let points = harness.state().view.embedding.points.clone();
    click_a_map_point(&mut harness, &points, id);
    // Esc restores the layout.
    harness.key_press(egui::Key::Escape);
    harness.run_steps(2);
    assert_eq!(harness.state().settings.workspace.maximized, None);
    assert!(harness.query_by_label("Restore layout").is_none());
}
