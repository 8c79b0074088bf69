//! Explaining predictions (issue 28): attention weights from the model's own forward pass,
//! contributions that reproduce `univa predict` when nothing is removed and find the modality
//! that carries a planted signal, neighbours equal to a brute-force search, clear errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use univa::dataset::synth::{SynthConfig, write_synthetic};
use univa::dataset::{Dataset, Split};
use univa::explain::{Ablation, Explainer, Rule, Space, StepMapper};
use univa::modality::{Modality, PerModality};
use univa::train::{self, NoEvents, TrainRequest};

fn synth(dir: &Path, utterances: usize, signal: PerModality<bool>) -> Dataset {
    let config = SynthConfig {
        utterances,
        seed: 5,
        shapes: PerModality { text: (8, 12), vision: (6, 5), audio: (7, 7) },
        signal,
        ..SynthConfig::default()
    };
    write_synthetic(dir, &config).unwrap();
    Dataset::open(dir).unwrap()
}

fn trained_run(dataset: &Dataset, run: &Path, epochs: usize) {
    let config = super::train::tiny_config(epochs);
    let request = TrainRequest {
        dataset,
        config,
        run_dir: run.to_path_buf(),
        device: candle_core::Device::Cpu,
        resume: false,
        overwrite: false,
        stop: None,
    };
    train::train(request, &mut NoEvents).unwrap();
}

/// A dataset with every modality carrying the labels and a run trained on it.
fn fixture(dir: &Path) -> (Dataset, PathBuf) {
    let dataset = synth(&dir.join("data"), 300, PerModality::from_fn(|_| true));
    let run = dir.join("run");
    trained_run(&dataset, &run, 2);
    (dataset, run)
}

#[test]
fn attention_is_a_distribution_over_real_steps_and_nothing_removed_is_predict() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, run) = fixture(dir.path());
    let trained = univa::explain::load_run(&run).unwrap();
    let evaluation = train::evaluate(&trained, &dataset, Split::Test, 0.18).unwrap();
    let explainer = Explainer::new(trained, &dataset, Some(0.18)).unwrap();
    let mapper = StepMapper::for_dataset(&dataset);

    // A whole split, batched as predict batches: its very probabilities.
    let rows = explainer.contributions(&dataset, Split::Test, &mut |_| true).unwrap();
    assert_eq!(rows.len(), evaluation.indices.len());
    for (row, (&index, p)) in rows.iter().zip(evaluation.indices.iter().zip(&evaluation.probabilities)) {
        assert_eq!((row.utterance, &row.probabilities), (index, p));
        assert_eq!(row.contributions.len(), 2 * 2 * 3);
    }

    for (&index, p) in evaluation.indices.iter().zip(&evaluation.probabilities).take(12) {
        let e = explainer.explain(&dataset, &mapper, index, 3).unwrap();
        for (ours, theirs) in e.probabilities.iter().zip(p) {
            assert!((ours - theirs).abs() < 1e-6, "{}: {ours} vs predict's {theirs}", e.id);
        }
        assert_eq!(e.attention.len(), 3);
        for a in &e.attention {
            let (max_len, _) = *SynthConfig::default().shapes.get(a.modality);
            let real: Vec<usize> = a.steps.iter().map(|s| s.index).collect();
            let sum: f32 = a.steps.iter().map(|s| s.weight).sum();
            assert!((sum - 1.0).abs() < 1e-5, "{} {}: α sums to {sum}", e.id, a.modality);
            assert!(!real.is_empty() && real.len() <= a.weights.len() && a.weights.len() <= max_len);
            for (t, w) in a.weights.iter().enumerate() {
                if !real.contains(&t) {
                    assert_eq!(*w, 0.0, "{} {}: padded step {t} has weight {w}", e.id, a.modality);
                }
            }
            // Synthetic data has no clip: steps are spread evenly and said to be approximate.
            assert!(!a.exact && a.placement.contains("approximate"), "{}", a.placement);
        }
        // Removing a modality by the training mean moves some probability; keeping all moves none.
        assert_eq!(e.contributions.len(), 12);
        for c in &e.contributions {
            for ((d, q), o) in c.delta.iter().zip(&c.probabilities).zip(&e.probabilities) {
                assert!((d - (q - o)).abs() < 1e-6);
            }
            let flips: Vec<bool> =
                c.probabilities.iter().zip(&e.probabilities).map(|(q, o)| (*q > 0.18) != (*o > 0.18)).collect();
            assert_eq!(c.flips, flips);
        }
    }
}

#[test]
fn the_modality_that_carries_the_labels_contributes_most() {
    let dir = tempfile::tempdir().unwrap();
    let signal = PerModality { text: false, vision: true, audio: false };
    let dataset = synth(&dir.path().join("data"), 600, signal);
    let run = dir.path().join("run");
    trained_run(&dataset, &run, 6);
    let explainer = Explainer::new(univa::explain::load_run(&run).unwrap(), &dataset, None).unwrap();
    let rows = explainer.contributions(&dataset, Split::Test, &mut |_| true).unwrap();
    let rates = univa::explain::flip_rates(&rows);
    for rule in Rule::ALL {
        let change = |m: Modality| {
            rates
                .iter()
                .find(|r| r.modality == m && r.rule == rule && r.ablation == Ablation::Without)
                .unwrap()
                .mean_change
        };
        let (text, vision, audio) = (change(Modality::Text), change(Modality::Vision), change(Modality::Audio));
        assert!(vision > text && vision > audio, "{rule:?}: text {text}, vision {vision}, audio {audio}");
    }
    let flips = |m: Modality| {
        rates
            .iter()
            .find(|r| r.modality == m && r.rule == Rule::TrainMean && r.ablation == Ablation::Without)
            .unwrap()
            .utterances_flipped
    };
    assert!(flips(Modality::Vision) > flips(Modality::Text).max(flips(Modality::Audio)));
}

#[test]
fn neighbours_equal_a_brute_force_search_of_the_training_split() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, run) = fixture(dir.path());
    let trained = univa::explain::load_run(&run).unwrap();
    let train_rows = dataset.split_indices(Split::Train);
    // The representations by the projection room's own path.
    let explained = [train_rows[3], dataset.split_indices(Split::Test)[0]];
    let wanted: Vec<usize> = train_rows.iter().copied().chain([explained[1]]).collect();
    let reps = univa::projection::unimodal_representations(&trained, &dataset, &wanted, &mut |_| true).unwrap();
    let explainer = Explainer::new(trained, &dataset, None).unwrap();
    let mapper = StepMapper::for_dataset(&dataset);
    let vector =
        |index: usize, m: Modality| reps.iter().find(|r| r.0 == index && r.1 == m).map(|r| r.2.clone()).unwrap();
    let fused = |index: usize| Modality::ALL.iter().flat_map(|&m| vector(index, m)).collect::<Vec<f32>>();
    let distance = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();

    for index in explained {
        let e = explainer.explain(&dataset, &mapper, index, 5).unwrap();
        assert_eq!(e.neighbours.len(), 4);
        for list in &e.neighbours {
            let query: Vec<f32> = match list.space {
                Space::Unimodal(m) => vector(index, m),
                Space::Fused => fused(index),
            };
            let mut all: Vec<(f32, usize)> = train_rows
                .iter()
                .filter(|&&j| j != index)
                .map(|&j| {
                    let v = match list.space {
                        Space::Unimodal(m) => vector(j, m),
                        Space::Fused => fused(j),
                    };
                    (distance(&query, &v), j)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let found: Vec<usize> = list.neighbours.iter().map(|n| n.utterance).collect();
            let truth: Vec<usize> = all[..5].iter().map(|a| a.1).collect();
            assert_eq!(found, truth, "{} in {:?}", e.id, list.space);
            for (n, (d, _)) in list.neighbours.iter().zip(&all) {
                assert!((n.distance - d).abs() < 1e-4 * d.max(1.0));
                assert_eq!(n.id, dataset.utterances[n.utterance].id);
            }
        }
    }
}

fn univa_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

fn one_line_error(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "expected a failure: {}", String::from_utf8_lossy(&output.stdout));
    let err = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn cli_explains_an_utterance_writes_a_split_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (dataset, run) = fixture(dir.path());
    let (run_s, data_s) = (run.to_str().unwrap(), dataset.root.to_str().unwrap());
    let id = &dataset.utterances[dataset.split_indices(Split::Test)[0]].id;

    let output = univa_cli(&["explain", "--run", run_s, "--dataset", data_s, "--id", id, "--k", "2"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in ["attention over time", "contributions, removed = replaced by the training mean", "in fused:"] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    let output = univa_cli(&["explain", "--run", run_s, "--id", id, "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["id"], id.as_str());
    assert_eq!(json["neighbours"][0]["neighbours"].as_array().unwrap().len(), 5);

    // The split CSV's `none` rows are `univa predict`'s probabilities, digit for digit.
    let (csv_path, predict_path) = (dir.path().join("contrib.csv"), dir.path().join("predict.csv"));
    let on_test = |command: &str, out: &Path| {
        let out = out.to_str().unwrap();
        let output = univa_cli(&[command, "--run", run_s, "--dataset", data_s, "--split", "test", "--out", out]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(on_test("explain", &csv_path).contains("utterances flipped"));
    on_test("predict", &predict_path);
    let mut contributions = csv::Reader::from_path(&csv_path).unwrap();
    let labels = dataset.label_names().len();
    let none: Vec<Vec<String>> = contributions
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[2] == "none")
        .map(|r| std::iter::once(r[0].to_owned()).chain((5..5 + labels).map(|i| r[i].to_owned())).collect())
        .collect();
    let predicted: Vec<Vec<String>> = csv::Reader::from_path(&predict_path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().take(1 + labels).map(str::to_owned).collect())
        .collect();
    assert_eq!(none, predicted);
    let rows = csv::Reader::from_path(&csv_path).unwrap().records().count();
    assert_eq!(rows, predicted.len() * 13);

    // Clear errors.
    let err = one_line_error(&univa_cli(&["explain", "--run", run_s, "--dataset", data_s, "--id", "no-such-id"]));
    assert!(err.contains("no utterance has the id \"no-such-id\""), "{err}");
    let imported = dir.path().join("imported");
    std::fs::create_dir_all(&imported).unwrap();
    std::fs::write(imported.join("config.json"), r#"{"kind": "imported-predictions", "name": "MulT"}"#).unwrap();
    let err =
        one_line_error(&univa_cli(&["explain", "--run", imported.to_str().unwrap(), "--dataset", data_s, "--id", id]));
    assert!(err.contains("imported predictions and no model"), "{err}");
    let empty = dir.path().join("empty-run");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::copy(run.join("config.json"), empty.join("config.json")).unwrap();
    let err =
        one_line_error(&univa_cli(&["explain", "--run", empty.to_str().unwrap(), "--dataset", data_s, "--id", id]));
    assert!(err.contains("no trained weights"), "{err}");
    // A dataset without the run's audio features.
    let text_vision = synth(&dir.path().join("no-audio"), 60, PerModality::from_fn(|_| true));
    let manifest = text_vision.root.join("manifest.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    let without_audio = toml.replace("[[features]]\nmodality = \"audio\"\nmax_len = 7\ndim = 7\n", "");
    assert_ne!(toml, without_audio, "{toml}");
    std::fs::write(&manifest, without_audio).unwrap();
    let other = text_vision.utterances[0].id.clone();
    let err = one_line_error(&univa_cli(&[
        "explain",
        "--run",
        run_s,
        "--dataset",
        text_vision.root.to_str().unwrap(),
        "--id",
        &other,
    ]));
    assert!(err.contains("has no audio features"), "{err}");
}

#[test]
fn demo_steps_lie_on_the_clip_and_text_attention_on_the_words() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dataset = Dataset::open(repo.join("assets/demo")).unwrap();
    let explainer =
        Explainer::new(univa::explain::load_run(&repo.join("models/demo")).unwrap(), &dataset, None).unwrap();
    let mapper = StepMapper::for_dataset(&dataset);
    let index = dataset.split_indices(Split::Test)[0];
    let u = &dataset.utterances[index];
    let media = u.media.clone().unwrap();
    let e = explainer.explain(&dataset, &mapper, index, 3).unwrap();
    for a in &e.attention {
        let first = a.steps.first().unwrap().span.start;
        let last = a.steps.last().unwrap().span.end;
        assert!(
            (first - media.start_secs.unwrap_or(0.0)).abs() < 1e-9 && (last - media.end_secs.unwrap()).abs() < 1e-9
        );
        match a.modality {
            Modality::Vision | Modality::Audio => assert!(a.exact, "{}: {}", a.modality, a.placement),
            Modality::Text => {
                assert!(a.words_exact, "{}", a.placement);
                let words: f32 = a.words.iter().map(|w| w.weight).sum();
                assert!((words + a.special_weight - 1.0).abs() < 1e-4, "words {words} + special {}", a.special_weight);
                assert_eq!(
                    a.words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>().join(" "),
                    u.text.split_whitespace().collect::<Vec<_>>().join(" ")
                );
            }
        }
    }
}

#[test]
fn a_clip_of_ones_own_is_acquired_like_the_runs_dataset_and_a_foreign_run_is_refused() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let demo = Dataset::open(repo.join("assets/demo")).unwrap();
    let index = dataset_index(&demo, "demo_003");
    let u = &demo.utterances[index];
    let clip = dir.path().join("mine.mp4");
    std::fs::copy(demo.media_path(u).unwrap(), &clip).unwrap();
    std::fs::write(clip.with_extension("txt"), format!("{}\n", u.text)).unwrap();
    let scratch = dir.path().join("scratch");
    let run = repo.join("models/demo");
    let run_s = run.to_str().unwrap();

    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_univa"))
            .args(args)
            .env("UNIVA_AUDIO", "off")
            .env("UNIVA_SCRATCH", &scratch)
            .output()
            .unwrap()
    };
    let output = cli(&["explain", "--run", run_s, "--clip", clip.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The same clip and words, acquired again, give the demo utterance's prediction.
    let explainer = Explainer::new(univa::explain::load_run(&run).unwrap(), &demo, None).unwrap();
    let own = explainer.explain(&demo, &StepMapper::for_dataset(&demo), index, 5).unwrap();
    let probabilities: Vec<f64> =
        json["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
    for (clip_p, own_p) in probabilities.iter().zip(&own.probabilities) {
        assert!((clip_p - f64::from(*own_p)).abs() < 0.01, "clip {clip_p} vs dataset {own_p}");
    }
    assert_eq!(json["attention"][0]["words_exact"], true);
    // The scratch dataset lives in the scratch folder, not beside the demo.
    let made: Vec<PathBuf> = std::fs::read_dir(&scratch).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(made.len(), 1);
    assert!(made[0].join("media/mine.mp4").is_file());
    // Acquisition recorded what it made, as the demo's record says of the demo.
    let record = univa::acquire::fill::AcquireRecord::read(&made[0]).unwrap().unwrap();
    assert_eq!(Some(record), univa::acquire::fill::AcquireRecord::read(&demo.root).unwrap());

    // Without a transcript, and with a run trained on features from elsewhere.
    std::fs::remove_file(clip.with_extension("txt")).unwrap();
    let err = one_line_error(&cli(&["explain", "--run", run_s, "--clip", clip.to_str().unwrap()]));
    assert!(err.contains("needs a transcript"), "{err}");
    let (dataset, foreign) = fixture(dir.path());
    let err = one_line_error(&cli(&[
        "explain",
        "--run",
        foreign.to_str().unwrap(),
        "--clip",
        clip.to_str().unwrap(),
        "--transcript",
        "hello",
    ]));
    assert!(err.contains("were not made by `univa acquire`") && err.contains("cannot score a raw clip"), "{err}");
    assert!(err.contains(&dataset.manifest.provenance), "{err}");
}

fn dataset_index(dataset: &Dataset, id: &str) -> usize {
    Explainer::find(dataset, id).unwrap()
}

#[test]
fn gui_explain_tab_shows_the_strips_and_a_click_on_a_peak_seeks_the_player() {
    use egui_kittest::kittest::Queryable as _;
    use univa::media::AudioOutputMode;
    use univa::ui::{Command, Pane, PlayerPanel, StudioApp, ViewSettings, WorkspaceCommand};

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (demo, run) = (repo.join("assets/demo"), repo.join("models/demo"));
    let app = StudioApp::with_player(ViewSettings::default(), PlayerPanel::new(AudioOutputMode::Off));
    let mut harness = super::gui::harness_of(app, Some((demo.clone(), Some(run.clone()))));
    let index = {
        let session = harness.state().session.as_ref().unwrap();
        (0..session.len()).find(|&i| session.utterance(i).unwrap().id == "demo_003").unwrap()
    };
    harness.state_mut().handle(Command::Select(index));
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::Show(Pane::Explain)));
    harness.run_steps(2);
    harness.state_mut().wait_for_worker();
    let playback = harness.state().settings.playback;
    harness.state_mut().player.wait_until_open(playback);
    harness.run_steps(2);

    let explanation = harness.state().view.explain.answer(&run, index).unwrap().clone().unwrap();
    let audio = explanation.attention.iter().find(|a| a.modality == Modality::Audio).unwrap();
    let peak = audio.steps.iter().max_by(|a, b| a.weight.total_cmp(&b.weight)).unwrap();
    assert!(peak.span.start > 0.3, "a peak at the very start would not show a seek: {peak:?}");
    harness.get_by_label("removed = training mean");
    harness.get_by_label("in fused");
    let label = format!("audio step {}: α {:.3} at {:.2} s", peak.index, peak.weight, peak.span.start);
    harness.get_by_label(&label).click();
    harness.run_steps(2);
    let position = harness.state().player.position_secs();
    assert!(
        (position - peak.span.start).abs() < 0.05,
        "clicked the peak at {:.3} s, player at {position:.3} s",
        peak.span.start
    );

    // The same strips under the player's timeline, on its axis: a step right of the peak there
    // seeks too, and sits right of the peak's bar.
    let later = audio.steps.iter().find(|s| s.span.start > peak.span.start + 0.3).unwrap();
    let on_timeline = |step: &univa::explain::timeline::Step| {
        format!("timeline: audio step {}: α {:.3} at {:.2} s", step.index, step.weight, step.span.start)
    };
    let (peak_x, later_x) = (
        harness.get_by_label(&on_timeline(peak)).rect().center().x,
        harness.get_by_label(&on_timeline(later)).rect().center().x,
    );
    assert!(later_x > peak_x);
    harness.get_by_label(&on_timeline(later)).click();
    harness.run_steps(2);
    let position = harness.state().player.position_secs();
    assert!((position - later.span.start).abs() < 0.05, "{position} vs {}", later.span.start);
}

#[test]
fn predict_on_a_clip_from_the_file_menu_opens_it_with_the_run() {
    use univa::ui::{ClipCommand, Command as UiCommand, StudioApp, ViewSettings};
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let demo = Dataset::open_lazy(repo.join("assets/demo")).unwrap();
    let u = &demo.utterances[dataset_index(&demo, "demo_003")];
    let clip = dir.path().join("mine.mp4");
    std::fs::copy(demo.media_path(u).unwrap(), &clip).unwrap();
    let run = repo.join("models/demo");
    let mut app = StudioApp::new(ViewSettings::default());
    app.handle(UiCommand::Open { dataset: repo.join("assets/demo"), run: Some(run.clone()) });
    app.wait_for_worker();
    app.clip.scratch = Some(dir.path().join("scratch"));
    // As the window has it after Browse: the clip, and its transcript typed in.
    app.clip.draft = Some((clip.clone(), String::new()));
    app.handle(UiCommand::PredictOnClip(ClipCommand::SetTranscript(u.text.clone())));
    app.handle(UiCommand::PredictOnClip(ClipCommand::Predict));
    assert!(app.clip.acquiring.is_some(), "acquiring on the worker");
    app.wait_for_worker();
    let session = app.session.as_ref().expect("the clip's scratch dataset opened");
    assert!(session.dataset.root.starts_with(dir.path().join("scratch")), "{}", session.dataset.root.display());
    assert_eq!(session.len(), 1);
    assert_eq!(session.run.as_ref().map(|r| r.dir.clone()), Some(run));
    let clip_u = session.utterance(0).unwrap();
    assert!(clip_u.va.iter().all(|(_, va)| va.is_some()), "every modality got its VA point: {:?}", clip_u.va);
    assert!(session.probabilities(0).is_some(), "and a prediction");
    assert_eq!(app.clip.draft, None, "the window closed");
}
