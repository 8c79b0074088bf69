//! What a new user found broken (issue 27), each a test that failed before its fix: cancel on a
//! fresh window's first job, typing into fields whose validation changes, one rule for the
//! learning rate, stale player, recent datasets without their run, the Runs room following a
//! training run, one epoch numbering, one error vocabulary, errors naming the run, the window
//! title. (The audit's defects are in `gui_audit.rs`.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use univa::jobs::JobStatus;
use univa::metrics::Outcome;
use univa::ui::{
    Command, ErrorFilter, Filter, Layout, StudioApp, TrainingCommand, TrainingForm, ViewSettings, Workspace,
    WorkspaceCommand,
};

use crate::gui::{fixture, harness_of, studio, studio_with_run};
use crate::jobs::{tiny_config, tiny_dataset};

fn training_room(runs: &Path) -> Harness<'static, StudioApp> {
    let settings = ViewSettings {
        runs_dir: runs.to_path_buf(),
        workspace: Workspace::at(Layout::Training),
        ..ViewSettings::default()
    };
    let mut app = StudioApp::new(settings);
    app.training.set_trainer(PathBuf::from(env!("CARGO_BIN_EXE_univa")));
    harness_of(app, Some((tiny_dataset().to_path_buf(), None)))
}

fn set_form(harness: &mut Harness<'static, StudioApp>, edit: impl FnOnce(&mut TrainingForm)) {
    let mut form = harness.state().training.form.clone();
    edit(&mut form);
    harness.state_mut().handle(Command::Training(TrainingCommand::SetForm(Box::new(form))));
    harness.run_steps(2);
}

fn first_job_status(app: &StudioApp) -> Option<JobStatus> {
    Some(app.training.manager.as_ref()?.jobs().first()?.record.status.clone())
}

fn step_until(harness: &mut Harness<'static, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cancel_stops_the_first_job_of_a_fresh_window_at_once() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = training_room(runs.path());
    set_form(&mut harness, |form| form.config = tiny_config(500));
    harness.get_by_label("Launch").click();
    harness.run_steps(2);
    // Clicked as a person does (press, a few frames, release) while the trainer is still
    // starting, before any curve.
    let cancel = harness.get_by_label("Cancel").rect().center();
    harness.hover_at(cancel);
    harness.run_steps(1);
    harness.event(egui::Event::PointerButton {
        pos: cancel,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    for _ in 0..3 {
        harness.step();
        std::thread::sleep(Duration::from_millis(30));
    }
    harness.event(egui::Event::PointerButton {
        pos: cancel,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run_steps(2);
    let status = first_job_status(harness.state());
    assert!(
        matches!(status, Some(JobStatus::Stopping | JobStatus::Cancelled { .. })),
        "the click was taken: {status:?}"
    );
    step_until(&mut harness, "the stop", |app| first_job_status(app).is_some_and(|s| !s.is_active()));
    assert!(matches!(first_job_status(harness.state()), Some(JobStatus::Cancelled { .. })));
}

/// Types `text` into the focused field one character a frame, as a person does.
fn type_slowly(harness: &mut Harness<'static, StudioApp>, text: &str) {
    for c in text.chars() {
        if c == '\n' {
            harness.key_press(egui::Key::Enter);
        } else {
            harness.event(egui::Event::Text(c.to_string()));
        }
        harness.run_steps(1);
    }
}

#[test]
fn typing_a_path_and_toml_character_by_character_keeps_every_character() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = training_room(runs.path());
    // The dataset field: each character changes the problems listed above it.
    harness.get_by_label("Dataset").click();
    harness.run_steps(1);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.run_steps(1);
    let path = tiny_dataset().display().to_string();
    type_slowly(&mut harness, &path);
    assert_eq!(harness.state().training.form.dataset, path);

    harness.get_by_label("Any other field (TOML over the above)").scroll_to_me();
    harness.run_steps(2);
    harness.get_by_label("Any other field (TOML over the above)").click();
    harness.run_steps(1);
    let toml = "[train]\nepochs = 3";
    type_slowly(&mut harness, toml);
    assert_eq!(harness.state().training.form.extra_toml, toml);
}

#[test]
fn a_negative_learning_rate_is_kept_and_explained_not_clamped() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = training_room(runs.path());
    harness.get_by_label("Learning rate").click();
    harness.run_steps(1);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.run_steps(1);
    type_slowly(&mut harness, "-0.001");
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    let training = &harness.state().training;
    assert_eq!(training.form.config.train.learning_rate, -0.001, "the typed value is kept");
    assert!(training.problems.iter().any(|p| p == "The learning rate must be above 0."), "{:?}", training.problems);
    // The same words for the same value typed in the TOML box.
    set_form(&mut harness, |form| {
        form.config.train.learning_rate = 1e-3;
        form.extra_toml = "[train]\nlearning_rate = -0.001".to_owned();
    });
    let problems = &harness.state().training.problems;
    assert!(problems.iter().any(|p| p.contains("The learning rate must be above 0.")), "{problems:?}");
    // Both paths can be browsed for.
    assert_eq!(harness.query_all_by_label("Browse…").count(), 2, "dataset and runs folder");
}

#[test]
fn opening_another_dataset_shows_its_clip_not_the_previous_frame() {
    let first = crate::gui::media_fixture().clone();
    let second = crate::gui::second_media_fixture();
    let app = StudioApp::with_player(
        ViewSettings::default(),
        univa::ui::PlayerPanel::new(univa::media::AudioOutputMode::Off),
    );
    let mut harness = harness_of(app, Some((first.clone(), None)));
    crate::gui::wait_for_clip(&mut harness);
    let shown = harness.state().player.player().unwrap().info().path.clone();
    assert!(shown.starts_with(&first), "{}", shown.display());
    harness.state_mut().handle(Command::Open { dataset: second.clone(), run: None });
    harness.state_mut().wait_for_worker();
    harness.run_steps(1);
    crate::gui::wait_for_clip(&mut harness);
    let shown = harness.state().player.player().unwrap().info().path.clone();
    assert!(shown.starts_with(&second), "the second dataset's clip: {}", shown.display());
}

#[test]
fn a_recent_dataset_reopens_with_its_run() {
    let (data, run) = fixture();
    let harness = studio(Some((data.clone(), Some(run.clone()))));
    let settings = harness.state().settings.clone();
    drop(harness);
    // A new window: the welcome screen lists the dataset; opening it attaches the run again.
    let mut harness = harness_of(StudioApp::new(settings), None);
    harness.get_by_label(&data.display().to_string()).click();
    harness.run_steps(1);
    harness.state_mut().wait_for_worker();
    harness.run_steps(1);
    let session = harness.state().session.as_ref().expect("reopened");
    assert_eq!(session.run.as_ref().map(|r| r.dir.clone()), Some(run.clone()));
}

#[test]
fn the_runs_room_follows_a_training_run_without_rescan() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = training_room(runs.path());
    set_form(&mut harness, |form| form.config = tiny_config(4));
    harness.get_by_label("Launch").click();
    harness.run_steps(2);
    // The first epoch's checkpoint, then the Runs room.
    step_until(&mut harness, "an epoch", |app| {
        app.training.manager.as_ref().and_then(|m| m.jobs().first()).is_some_and(|j| !j.curves.epochs.is_empty())
    });
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::Runs)));
    harness.run_steps(2);
    step_until(&mut harness, "the finished run listed as finished", |app| {
        app.runs.entries.iter().any(|e| e.run.as_ref().is_ok_and(|r| r.status() == "finished"))
    });
}

#[test]
fn the_trainers_numbers_for_the_best_epoch_agree() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[train]\nepochs = 3\nbatch_size = 16\n[model]\nhidden = 16\nheads = 2\nintermediate = 32\n",
    )
    .unwrap();
    let events = dir.path().join("events.jsonl");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_univa"))
        .args(["train", "--dataset"])
        .arg(tiny_dataset())
        .arg("--out")
        .arg(&run)
        .arg("--config")
        .arg(&config)
        .arg("--events")
        .arg(&events)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let log = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    let said: usize = log
        .split("best epoch ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the log names the best epoch: {log}"));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("trainer_state.json")).unwrap()).unwrap();
    assert_eq!(state["best_epoch"].as_u64(), Some(said as u64), "trainer_state.json");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(info["best_epoch"].as_u64(), Some(said as u64), "config.json");
    let finished = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "finished")
        .unwrap();
    assert_eq!(finished["best_epoch"].as_u64(), Some(said as u64), "the finished event");
    let last_epoch = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .rfind(|e| e["event"] == "epoch")
        .unwrap();
    assert_eq!(last_epoch["epoch"].as_u64(), Some(3), "the third of three epochs is epoch 3");
}

#[test]
fn each_error_filter_returns_what_the_panel_calls_it() {
    let mut harness = studio_with_run();
    let total = harness.state().session.as_ref().unwrap().len();
    let mut counts = Vec::new();
    for (filter, word) in [(Outcome::Exact, "exact"), (Outcome::Partial, "partial"), (Outcome::Miss, "miss")] {
        let filter = ErrorFilter::Outcome(filter);
        harness.state_mut().handle(Command::SetFilter(Filter { error: filter, ..Filter::default() }));
        harness.run_steps(1);
        let rows = harness.state().view.rows.clone();
        counts.push(rows.len());
        // The prediction panel names each listed utterance with the filter's word.
        for &index in rows.iter().take(5) {
            harness.state_mut().handle(Command::Select(index));
            harness.run_steps(2);
            let outcome = harness.state().session.as_ref().unwrap().outcome(index, harness.state().settings.threshold);
            assert_eq!(outcome.map(Outcome::name), Some(word));
            assert!(
                harness.query_all_by_label_contains(word).next().is_some(),
                "the panel says {word} for utterance {index}"
            );
        }
    }
    assert_eq!(counts.iter().sum::<usize>(), total, "exact, partial and miss partition the utterances");
    assert!(counts[2] > 0, "a one-epoch run misses some");
    harness.state_mut().handle(Command::SetFilter(Filter { error: ErrorFilter::AnyError, ..Filter::default() }));
    harness.run_steps(1);
    assert_eq!(harness.state().view.rows.len(), counts[1] + counts[2], "any error = partial + miss");
}

#[test]
fn an_error_opening_a_run_names_the_run() {
    let (data, _) = fixture();
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("config.json"), "{ not json").unwrap();
    let mut harness = studio(Some((data.clone(), None)));
    harness.state_mut().handle(Command::Open { dataset: data.clone(), run: Some(broken.path().to_path_buf()) });
    harness.state_mut().wait_for_worker();
    harness.run_steps(1);
    let notice = harness.state().notice.clone().expect("an error");
    assert!(notice.is_error);
    assert!(notice.text.contains(&broken.path().display().to_string()), "{}", notice.text);
    assert!(notice.text.starts_with("Could not open run"), "{}", notice.text);
}

#[test]
fn the_window_title_names_the_dataset_and_run() {
    let (data, run) = fixture();
    let mut harness = studio(None);
    let sent_title = |harness: &Harness<'static, StudioApp>| {
        harness.output().viewport_output.get(&egui::ViewportId::ROOT).and_then(|v| {
            v.commands.iter().find_map(|c| match c {
                egui::ViewportCommand::Title(t) => Some(t.clone()),
                _ => None,
            })
        })
    };
    for attached in [None, Some(run.clone())] {
        harness.state_mut().handle(Command::Open { dataset: data.clone(), run: attached.clone() });
        harness.state_mut().wait_for_worker();
        harness.step();
        let name = &harness.state().session.as_ref().unwrap().dataset.manifest.name;
        let expected = match &attached {
            Some(run) => format!("UniVA Studio — {name} · {}", run.file_name().unwrap().to_string_lossy()),
            None => format!("UniVA Studio — {name}"),
        };
        assert_eq!(harness.state().window_title(), expected);
        assert_eq!(sent_title(&harness).as_deref(), Some(expected.as_str()), "the window got it");
    }
}

#[test]
fn changing_the_runs_folder_in_the_runs_room_moves_the_training_rooms_jobs_too() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let mut harness = training_room(first.path());
    let opened = |app: &StudioApp| app.training.manager.as_ref().map(|m| m.runs_dir().to_path_buf());
    assert_eq!(opened(harness.state()), Some(first.path().to_path_buf()));
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::Runs)));
    harness.state_mut().handle(Command::Runs(univa::ui::RunsCommand::SetRunsDir(second.path().to_path_buf())));
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::Training)));
    harness.run_steps(2);
    assert_eq!(opened(harness.state()), Some(second.path().to_path_buf()), "the history and new runs go there");
}

#[test]
fn the_first_window_fits_a_laptop_screen_and_keeps_its_size_on_a_large_one() {
    use egui::vec2;
    let wanted = vec2(1560.0, 960.0);
    let fitted = univa::ui::fitted_size(wanted, vec2(1366.0, 768.0)).expect("taller than the screen");
    assert!(fitted.x <= 1366.0 && fitted.y <= 768.0 - 60.0, "{fitted:?}");
    assert_eq!(univa::ui::fitted_size(wanted, vec2(1920.0, 1080.0)), None);
}
