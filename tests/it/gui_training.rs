//! The Training room driven headless: the room selector, launching from the panel with curves
//! filling in, cancelling, an invalid combination explained before launch, and a run on the
//! audit store's corrected VA.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use univa::dataset::Va;
use univa::jobs::JobStatus;
use univa::modality::Modality;
use univa::store::{Change, EventKind, Judgment, OverlaySource, Status, Store};
use univa::ui::{Command, Layout, StudioApp, TrainingCommand, TrainingForm, VaSource, ViewSettings, Workspace};

use crate::gui::harness_of;
use crate::jobs::{tiny_config, tiny_dataset};

/// The workbench on the tiny jobs dataset, its trainer the built `univa`, runs in `runs`.
fn training_room(runs: &std::path::Path, layout: Layout) -> Harness<'static, StudioApp> {
    let settings =
        ViewSettings { runs_dir: runs.to_path_buf(), workspace: Workspace::at(layout), ..ViewSettings::default() };
    let mut app = StudioApp::new(settings);
    app.training.set_trainer(PathBuf::from(env!("CARGO_BIN_EXE_univa")));
    harness_of(app, Some((tiny_dataset().to_path_buf(), None)))
}

/// Steps the harness (whose frames poll the jobs) until `done` holds.
fn step_until(harness: &mut Harness<'static, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let start = Instant::now();
    while !done(harness.state()) {
        let app = harness.state();
        let job = app.training.selected.and_then(|id| app.training.manager.as_ref()?.job(id));
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}: {job:?}");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn set_form(harness: &mut Harness<'static, StudioApp>, edit: impl FnOnce(&mut TrainingForm)) {
    let mut form = harness.state().training.form.clone();
    edit(&mut form);
    harness.state_mut().handle(Command::Training(TrainingCommand::SetForm(Box::new(form))));
    harness.run_steps(2);
}

fn selected_status(app: &StudioApp) -> Option<JobStatus> {
    let id = app.training.selected?;
    Some(app.training.manager.as_ref()?.job(id)?.record.status.clone())
}

#[test]
fn the_menu_bar_switches_to_the_training_room_on_the_open_dataset() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = training_room(runs.path(), Layout::CaseStudy);
    harness.get_by_label("Training").click();
    harness.run_steps(3);
    assert_eq!(harness.state().settings.workspace.layout, Layout::Training);
    let form = &harness.state().training.form;
    assert_eq!(PathBuf::from(&form.dataset), tiny_dataset());
    harness.get_by_label_contains("train 84 / valid 12 / test 24");
    harness.get_by_label("Case study").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.workspace.layout, Layout::CaseStudy);
}

#[test]
fn launching_from_the_panel_fills_the_curves_and_cancel_stops_it() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = training_room(runs.path(), Layout::Training);
    set_form(&mut harness, |form| form.config = tiny_config(500));
    assert!(harness.state().training.problems.is_empty(), "{:?}", harness.state().training.problems);
    harness.get_by_label("Launch").click();
    harness.run_steps(2);
    step_until(&mut harness, "the curves", |app| {
        let Some(job) = app.training.selected.and_then(|id| app.training.manager.as_ref()?.job(id)) else {
            return false;
        };
        !job.curves.epochs.is_empty() && !job.curves.contrastive.text.is_empty()
    });
    assert_eq!(selected_status(harness.state()), Some(JobStatus::Running { resume: false }));
    // The next run name is free for the next launch.
    assert_eq!(harness.state().training.form.run_name, "run-2");

    harness.get_by_label("Cancel").click();
    harness.run_steps(2);
    step_until(&mut harness, "the stop", |app| selected_status(app).is_some_and(|s| !s.is_active()));
    assert_eq!(selected_status(harness.state()), Some(JobStatus::Cancelled { forced: false }));
    harness.step();
    assert!(runs.path().join("jobs.json").is_file());

    // Resume continues from the last finished epoch.
    harness.get_by_label("Resume").click();
    harness.run_steps(2);
    step_until(&mut harness, "the resumed run's steps", |app| {
        let id = app.training.selected.unwrap();
        let job = app.training.manager.as_ref().unwrap().job(id).unwrap();
        job.record.attempts == 2 && job.curves.loss.len() > job.curves.epochs.len() * 6
    });
    assert_eq!(selected_status(harness.state()), Some(JobStatus::Running { resume: true }));
    harness.get_by_label("Cancel").click();
    harness.run_steps(2);
    step_until(&mut harness, "the second stop", |app| selected_status(app).is_some_and(|s| !s.is_active()));
}

#[test]
fn an_invalid_combination_is_explained_and_launch_is_disabled() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = training_room(runs.path(), Layout::Training);
    set_form(&mut harness, |form| {
        form.config = tiny_config(1);
        form.config.model.modalities.clear();
        form.config.train.batch_size = 500;
    });
    harness.get_by_label_contains("Choose at least one modality");
    harness.get_by_label_contains("larger than the train split (84 utterances)");
    assert!(harness.get_by_label("Launch").accesskit_node().is_disabled());
    // Launching anyway (a stray command) is refused with the reason.
    harness.state_mut().handle(Command::Training(TrainingCommand::Launch));
    let notice = harness.state().notice.clone().unwrap();
    assert!(notice.is_error && notice.text.contains("modality"), "{}", notice.text);
    assert!(harness.state().training.manager.as_ref().is_none_or(|m| m.jobs().is_empty()));

    set_form(&mut harness, |form| form.device = "cuda:0".to_owned());
    if !univa::jobs::devices::cuda_built() {
        harness.get_by_label_contains("built without `--features cuda`");
    }
}

#[test]
fn a_delta_sweep_of_three_values_launches_from_the_panel() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = training_room(runs.path(), Layout::Training);
    set_form(&mut harness, |form| {
        form.config = tiny_config(1);
        form.sweep.enabled = true;
        form.sweep.name = "fig5".to_owned();
        form.sweep.first_values = "0.05, 0.1, 0.3".to_owned();
    });
    assert_eq!(harness.state().training.planned, 3);
    harness.get_by_label("Launch sweep (3 runs)").click();
    harness.run_steps(2);
    step_until(&mut harness, "the sweep", |app| {
        app.training.manager.as_ref().is_some_and(|m| m.jobs().len() == 3 && !m.is_active())
    });
    let manager = harness.state().training.manager.as_ref().unwrap();
    assert!(manager.jobs().iter().all(|j| j.record.status == JobStatus::Finished));
    for delta in ["0.05", "0.1", "0.3"] {
        assert!(runs.path().join(format!("fig5/delta={delta}/model.safetensors")).is_file());
    }
    // The next sweep gets a name of its own.
    assert_eq!(harness.state().training.form.sweep.name, "fig5-2");
}

#[test]
fn a_run_trains_on_the_audit_stores_corrected_va() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crate::gui_audit::copy_dir(tiny_dataset(), &data);
    let dataset = univa::dataset::Dataset::open_lazy(&data).unwrap();
    let corrected = dataset.utterances[0].id.clone();
    let mut store = Store::open(&data.join(univa::store::STORE_FILE), &dataset.manifest.name).unwrap();
    let ann = store.create_annotator("ann", "").unwrap();
    let judgment =
        Judgment { va: Va::new(0.75, -0.5), status: Status::Corrected, unsure: false, reason: String::new() };
    store
        .record(&Change {
            annotator: ann.id,
            utterance: &corrected,
            modality: Modality::Text,
            kind: EventKind::Correct,
            new: Some(judgment),
            reason: "",
            source_model: "synth",
            model: None,
        })
        .unwrap();
    drop(store);

    let runs = dir.path().join("runs");
    let settings =
        ViewSettings { runs_dir: runs.clone(), workspace: Workspace::at(Layout::Training), ..ViewSettings::default() };
    let mut app = StudioApp::new(settings);
    app.training.set_trainer(PathBuf::from(env!("CARGO_BIN_EXE_univa")));
    let mut harness = harness_of(app, Some((data.clone(), None)));
    harness.run_steps(2);
    assert_eq!(harness.state().training.annotators, Ok(vec!["ann".to_owned()]));

    // An annotator the store does not have is explained before launch.
    set_form(&mut harness, |form| {
        form.config = tiny_config(1);
        form.va_source = VaSource::Audit(OverlaySource::Annotator("nobody".to_owned()));
    });
    harness.get_by_label_contains("no annotator named \"nobody\"");
    assert!(harness.get_by_label("Launch").accesskit_node().is_disabled());

    set_form(&mut harness, |form| form.va_source = VaSource::Audit(OverlaySource::Annotator("ann".to_owned())));
    assert!(harness.state().training.problems.is_empty(), "{:?}", harness.state().training.problems);
    harness.get_by_label("Launch").click();
    harness.run_steps(2);
    let notice = harness.state().notice.clone().unwrap();
    assert!(!notice.is_error && notice.text.contains("on audited VA (1 point, "), "{}", notice.text);
    step_until(&mut harness, "the run", |app| app.training.manager.as_ref().is_some_and(|m| !m.is_active()));
    let job = &harness.state().training.manager.as_ref().unwrap().jobs()[0];
    assert_eq!(job.record.status, JobStatus::Finished, "{:?}", job.record.stderr_tail);
    let snapshot = runs.join(univa::ui::AUDITED_DIR).join("run-1.csv");
    assert_eq!(job.record.spec.va_overlay.as_deref(), Some(snapshot.as_path()));
    let overlay = univa::dataset::VaOverlay::read(&snapshot).unwrap();
    assert_eq!(overlay.rows.len(), 1);
    assert_eq!(overlay.rows[0].id, corrected);
    assert_eq!(overlay.rows[0].va.text, Some(Va::new(0.75, -0.5)));
    assert_eq!(overlay.rows[0].provenance, "audit:ann");
    // The run folder keeps the VA it trained on.
    let kept = std::fs::read(runs.join("run-1/va-overlay.csv")).unwrap();
    assert_eq!(kept, std::fs::read(&snapshot).unwrap());
}
