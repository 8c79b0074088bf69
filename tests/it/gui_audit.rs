//! The audit in the workbench, driven headless through egui_kittest: annotators (create,
//! switch, remembered), drag-to-correct in the VA plane, typed values, arrow-key nudges,
//! undo/redo as events, review of every annotator's points, and the queue.

use std::path::Path;

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use univa::dataset::Va;
use univa::modality::Modality;
use univa::store::{EventKind, Status, Store, StoreAddress};
use univa::ui::{AuditCommand, AuditDraft, Command, Layout, QueueOrder, QueueSettings, StudioApp, WorkspaceCommand};

use super::gui::{fixture, harness_of, screen_position, studio};

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != univa::store::STORE_FILE {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub(crate) fn audit(harness: &mut Harness<'static, StudioApp>, command: AuditCommand) {
    harness.state_mut().handle(Command::Audit(command));
    harness.run_steps(2);
}

/// The workbench on the fixture with its run, the Audit tab shown, auditing as `name` in a
/// store of its own (tests run in parallel over one fixture folder).
fn auditing(store: &Path, name: &str) -> Harness<'static, StudioApp> {
    let (data, run) = fixture();
    let mut harness = studio(Some((data.clone(), Some(run.clone()))));
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::Audit)));
    audit(&mut harness, AuditCommand::Start { store: Some(StoreAddress::File(store.to_path_buf())), remembered: None });
    start_as(&mut harness, name);
    harness
}

/// Chooses the annotator `name`, creating them if the store has none of that name.
pub(crate) fn start_as(harness: &mut Harness<'static, StudioApp>, name: &str) {
    let existing = harness.state().view.audit.annotators.iter().find(|a| a.name == name).map(|a| a.id);
    match existing {
        Some(id) => audit(harness, AuditCommand::Choose(id)),
        None => {
            let draft = AuditDraft { annotator_name: name.to_owned(), ..AuditDraft::default() };
            audit(harness, AuditCommand::SetDraft(draft));
            audit(harness, AuditCommand::Create);
        }
    }
    assert_eq!(harness.state().view.audit.me.as_ref().map(|a| a.name.as_str()), Some(name));
}

fn model(harness: &Harness<'static, StudioApp>, index: usize, m: Modality) -> Va {
    harness.state().session.as_ref().unwrap().utterance(index).unwrap().va.get(m).expect("the fixture has VA")
}

fn mine(harness: &Harness<'static, StudioApp>, index: usize, m: Modality) -> Option<univa::store::Judgment> {
    harness.state().view.audit.mine(index, m).cloned()
}

fn kinds(store: &Path) -> Vec<EventKind> {
    let dataset = &harness_dataset_name();
    Store::open(store, dataset).unwrap().events().unwrap().iter().map(|e| e.kind).collect()
}

fn harness_dataset_name() -> String {
    univa::dataset::Dataset::open_lazy(&fixture().0).unwrap().manifest.name
}

fn close(a: Va, b: Va, tolerance: f32) -> bool {
    (a.valence - b.valence).abs() <= tolerance && (a.arousal - b.arousal).abs() <= tolerance
}

#[test]
fn start_create_switch_and_remember_annotators() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&fixture().0, &data);
    let mut harness = studio(Some((data.clone(), None)));
    harness.get_by_label("Audit").click();
    harness.run_steps(2);
    harness.get_by_label("Start auditing").click();
    harness.run_steps(2);
    assert_eq!(harness.state().view.audit.location.as_ref().unwrap().path, data.join(univa::store::STORE_FILE));
    harness.get_by_label("Who is auditing?");
    harness.get_by_label("No annotators in this store yet.");
    harness.get_by_label("New annotator").focus();
    harness.run_steps(1);
    harness.get_by_label("New annotator").type_text("alice");
    harness.run_steps(2);
    harness.get_by_label("Note").focus();
    harness.run_steps(1);
    harness.get_by_label("Note").type_text("phonetician");
    harness.run_steps(2);
    harness.get_by_label("Create and audit").click();
    harness.run_steps(2);
    harness.get_by_label("Auditing as alice");
    harness.get_by_label("phonetician");
    assert_eq!(harness.state().settings.last_annotator.as_deref(), Some("alice"));

    // alice corrects utterance 0's audio point; bob does not see it, and makes his own.
    harness.state_mut().handle(Command::Select(0));
    audit(&mut harness, AuditCommand::Set(Modality::Audio, Va::new(0.5, 0.5)));
    harness.get_by_label("Switch annotator").click();
    harness.run_steps(2);
    start_as(&mut harness, "bob");
    assert!(mine(&harness, 0, Modality::Audio).is_none());
    assert_eq!(
        harness.state().view.audit.shown(harness.state().session.as_ref().unwrap(), 0, Modality::Audio),
        Some(model(&harness, 0, Modality::Audio))
    );
    audit(&mut harness, AuditCommand::Set(Modality::Audio, Va::new(-0.5, 0.25)));
    harness.get_by_label("Switch annotator").click();
    harness.run_steps(2);
    in_audit_pane(&harness, "alice").click();
    harness.run_steps(2);
    assert_eq!(mine(&harness, 0, Modality::Audio).unwrap().va, Va::new(0.5, 0.5));

    // A new window (the app quit, even by kill -9: each edit is committed when made) finds
    // everything, and continues as the annotator it remembers.
    let settings = harness.state().settings.clone();
    drop(harness);
    let mut harness = harness_of(StudioApp::new(settings), Some((data.clone(), None)));
    harness.get_by_label("Start auditing").click();
    harness.run_steps(2);
    harness.get_by_label("Auditing as alice");
    assert_eq!(mine(&harness, 0, Modality::Audio).unwrap().va, Va::new(0.5, 0.5));
    let bob = harness.state().view.audit.annotators.iter().find(|a| a.name == "bob").unwrap().id;
    let bobs = &harness.state().view.audit.judgments[&bob];
    assert_eq!(bobs[&(0, Modality::Audio)].va, Va::new(-0.5, 0.25));
    // The dataset's own table was not touched.
    assert_eq!(
        std::fs::read(data.join("utterances.csv")).unwrap(),
        std::fs::read(fixture().0.join("utterances.csv")).unwrap()
    );
}

#[test]
fn dragging_a_point_corrects_it_and_leaves_the_model_as_a_ghost() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    harness.run_steps(2);
    let index = harness.state().view.selected.unwrap();
    let from = model(&harness, index, Modality::Vision);
    let plane = univa::ui::va_plane_id();
    let start = screen_position(&harness, plane, from.valence.into(), from.arousal.into());
    // Towards the centre, so that the target stays inside the plane.
    let target_va = Va::new(from.valence * 0.5, from.arousal * 0.5 + 0.1);
    let end = screen_position(&harness, plane, target_va.valence.into(), target_va.arousal.into());
    let bounds_before = *egui_plot::PlotMemory::load(&harness.ctx, plane).unwrap().bounds();
    harness.hover_at(start);
    harness.run_steps(1);
    harness.drag_at(start);
    harness.run_steps(1);
    for step in 1..=5 {
        harness.hover_at(start + (end - start) * (step as f32 / 5.0));
        harness.run_steps(1);
    }
    // While dragging nothing is saved yet; the point follows the pointer.
    assert!(harness.state().view.audit.drag.is_some());
    assert!(kinds(&store).is_empty());
    harness.drop_at(end);
    harness.run_steps(2);
    let judgment = mine(&harness, index, Modality::Vision).expect("the drag corrected the vision point");
    assert_eq!(judgment.status, Status::Corrected);
    assert!(close(judgment.va, target_va, 0.02), "{:?} vs {target_va:?}", judgment.va);
    // One event for the whole drag, with the old value left as the model's (no earlier judgment).
    assert_eq!(kinds(&store), [EventKind::Correct]);
    let event = Store::open(&store, &harness_dataset_name()).unwrap().events().unwrap().remove(0);
    assert_eq!(event.old, None);
    assert_eq!(event.modality, Modality::Vision);
    let source = harness.state().session.as_ref().unwrap().utterance(index).unwrap().va_model.vision.clone();
    assert_eq!(event.source_model, source);
    // The drag moved the point, not the view; the model's value is still the dataset's.
    assert_eq!(*egui_plot::PlotMemory::load(&harness.ctx, plane).unwrap().bounds(), bounds_before);
    assert_eq!(model(&harness, index, Modality::Vision), from);
    // Other points of the utterance are untouched.
    assert!(mine(&harness, index, Modality::Text).is_none());
}

#[test]
fn typed_values_nudges_and_undo_redo_are_saved_as_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    let index = harness.state().view.selected.unwrap();
    let text = model(&harness, index, Modality::Text);

    harness.get_by_label("text V").click();
    harness.run_steps(2);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.run_steps(1);
    harness.event(egui::Event::Text("0.25".to_owned()));
    harness.run_steps(1);
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    let typed = mine(&harness, index, Modality::Text).expect("the typed value was saved");
    assert_eq!(typed.va, Va::new(0.25, text.arousal));
    assert_eq!(harness.state().view.selected, Some(index), "Enter in the field does not go to the next");

    // Arm the text point (click its name), then arrows nudge it instead of moving the browser.
    harness.get_by_label("text point").click();
    harness.run_steps(2);
    assert_eq!(harness.state().view.audit.armed, Some(Modality::Text));
    harness.get_by_label_contains("The text point is armed");
    harness.key_press(egui::Key::ArrowRight);
    harness.run_steps(1);
    harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowDown);
    harness.run_steps(1);
    harness.key_press(egui::Key::ArrowUp);
    harness.run_steps(2);
    assert_eq!(harness.state().view.selected, Some(index), "arrows did not step the browser");
    // Esc releases the point and ends the run of nudges: one edit for the three presses.
    harness.key_press(egui::Key::Escape);
    harness.run_steps(1);
    assert_eq!(harness.state().view.audit.armed, None);
    let nudged = mine(&harness, index, Modality::Text).unwrap().va;
    let arousal = ((text.arousal - 0.1).max(-1.0) + 0.01).min(1.0);
    assert!(close(nudged, Va::new(0.26, arousal), 1e-4), "{nudged:?}");
    harness.key_press(egui::Key::ArrowDown);
    harness.run_steps(2);
    assert_ne!(harness.state().view.selected, Some(index), "released, the arrows browse again");
    harness.state_mut().handle(Command::Select(index));
    harness.run_steps(1);

    // Say why the nudged value, flag it unsure (the reason stays with the point), then undo
    // back past the typed value and redo.
    let draft = AuditDraft { reason: "sarcasm".to_owned(), ..AuditDraft::default() };
    audit(&mut harness, AuditCommand::SetDraft(draft));
    harness.get_by_label("Unsure text").click();
    harness.run_steps(2);
    let flagged = mine(&harness, index, Modality::Text).unwrap();
    assert!(flagged.unsure && flagged.reason == "sarcasm" && flagged.va == nudged, "{flagged:?}");
    let undo = |harness: &mut Harness<'static, StudioApp>| {
        harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
        harness.run_steps(2);
    };
    for _ in 0..3 {
        undo(&mut harness);
    }
    assert_eq!(mine(&harness, index, Modality::Text), None, "undone back to no judgment");
    harness.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z);
    harness.run_steps(2);
    assert_eq!(mine(&harness, index, Modality::Text).unwrap().va, Va::new(0.25, text.arousal));
    harness.get_by_label("Redo").click();
    harness.run_steps(2);
    // The run of three nudges comes back whole.
    assert!(close(mine(&harness, index, Modality::Text).unwrap().va, nudged, 1e-6));
    use EventKind::*;
    assert_eq!(kinds(&store), [Correct, Correct, Reason, FlagUnsure, Undo, Undo, Undo, Redo, Redo]);
}

#[test]
fn review_shows_every_annotators_points_beside_the_models() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    let index = harness.state().view.selected.unwrap();
    audit(&mut harness, AuditCommand::Set(Modality::Text, Va::new(0.125, -0.375)));
    audit(&mut harness, AuditCommand::SwitchAnnotator);
    start_as(&mut harness, "bob");
    audit(&mut harness, AuditCommand::Set(Modality::Text, Va::new(-0.625, 0.875)));
    audit(&mut harness, AuditCommand::FlagUnsure(Modality::Audio));
    harness.get_by_label("Review: every annotator's points beside the model's").click();
    harness.run_steps(2);
    assert!(harness.state().view.audit.review);
    in_audit_pane(&harness, "alice");
    in_audit_pane(&harness, "bob");
    harness.get_by_label("+0.125, -0.375");
    harness.get_by_label("-0.625, +0.875");
    let model_text = model(&harness, index, Modality::Text);
    harness.get_by_label(&format!("{:+.3}, {:+.3}", model_text.valence, model_text.arousal));
    let audio = model(&harness, index, Modality::Audio);
    harness.get_by_label(&format!("{:+.3}, {:+.3} ?", audio.valence, audio.arousal));
    // Review is for looking: the keys and the plane do not edit.
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    assert_eq!(harness.state().view.selected, Some(index));
    assert_eq!(kinds(&store).len(), 3);
}

#[test]
fn the_queue_orders_by_disagreement_and_enter_accepts_and_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    harness.get_by_label("0 of 160 audited");
    let queue = QueueSettings { order: QueueOrder::Disagreement, unaudited_only: true, seed: 1 };
    audit(&mut harness, AuditCommand::SetQueue(queue));
    let disagreement = harness.state().session.as_ref().unwrap().disagreement.clone();
    let mut by_disagreement: Vec<usize> = (0..160).collect();
    by_disagreement.sort_by(|&a, &b| disagreement[b].total_cmp(&disagreement[a]));

    harness.state_mut().handle(Command::Select(by_disagreement[100]));
    harness.get_by_label("Next ▶").click();
    harness.run_steps(2);
    assert_eq!(harness.state().view.selected, Some(by_disagreement[0]));
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    let first = by_disagreement[0];
    for m in Modality::ALL {
        assert_eq!(mine(&harness, first, m).unwrap().status, Status::Accepted);
    }
    assert_eq!(harness.state().view.selected, Some(by_disagreement[1]));
    harness.get_by_label("1 of 160 audited");
    // A correction on the second, then Enter accepts the rest and moves on.
    audit(&mut harness, AuditCommand::Set(Modality::Vision, Va::new(0.0, 0.0)));
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    assert_eq!(mine(&harness, by_disagreement[1], Modality::Vision).unwrap().status, Status::Corrected);
    assert_eq!(harness.state().view.selected, Some(by_disagreement[2]));
    harness.get_by_label("2 of 160 audited");
    // Unaudited only: going back to the top skips what is done.
    harness.state_mut().handle(Command::Select(by_disagreement[159]));
    harness.run_steps(1);
    audit(&mut harness, AuditCommand::Next);
    assert_eq!(harness.state().view.selected, Some(by_disagreement[2]));

    // Random order is seeded: the same seed gives the same order, another seed another.
    let app = harness.state();
    let session = app.session.as_ref().unwrap();
    let rows = app.view.rows.clone();
    let random = |seed| {
        univa::ui::audit_order(
            session,
            &rows,
            QueueSettings { order: QueueOrder::Random, unaudited_only: false, seed },
            0.18,
        )
    };
    assert_eq!(random(3), random(3));
    assert_ne!(random(3), random(4));
    let mut sorted = random(3);
    sorted.sort_unstable();
    assert_eq!(sorted, rows);
    // Least confidence first: the first has a label probability nearest the threshold.
    let least = univa::ui::audit_order(
        session,
        &rows,
        QueueSettings { order: QueueOrder::LeastConfidence, unaudited_only: false, seed: 0 },
        0.18,
    );
    let margin =
        |i: usize| session.probabilities(i).unwrap().iter().map(|p| (p - 0.18).abs()).fold(f32::INFINITY, f32::min);
    assert!(least.windows(2).all(|w| margin(w[0]) <= margin(w[1])));
}

#[test]
fn the_agreement_panel_compares_annotators_and_each_with_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    let alice = [(0.1, 0.2), (0.4, -0.1), (-0.3, 0.5), (0.8, 0.0)];
    let bob = [(0.2, 0.1), (0.3, 0.0), (-0.2, 0.6), (0.6, -0.2)];
    let judge = |harness: &mut Harness<'static, StudioApp>, points: &[(f32, f32)]| {
        for (index, &(v, a)) in points.iter().enumerate() {
            harness.state_mut().handle(Command::Select(index));
            audit(harness, AuditCommand::Set(Modality::Text, Va::new(v, a)));
        }
    };
    judge(&mut harness, &alice);
    audit(&mut harness, AuditCommand::SwitchAnnotator);
    start_as(&mut harness, "bob");
    judge(&mut harness, &bob);
    harness.get_by_label("Agreement").click();
    harness.run_steps(2);

    let app = harness.state();
    let session = app.session.as_ref().unwrap();
    let rows = univa::ui::agreement_rows(session, &app.view.audit);
    assert_eq!(rows.len(), 2, "text V and text A: only text was judged");
    let valence = rows.iter().find(|r| r.modality == Modality::Text && r.dimension == "V").unwrap();
    // The same statistics computed here from the values set above.
    let id = |i: usize| session.utterance(i).unwrap().id.clone();
    let ratings: Vec<univa::va::agreement::Rating> = [("alice", &alice), ("bob", &bob)]
        .into_iter()
        .flat_map(|(rater, points)| {
            points.iter().enumerate().map(move |(i, &(v, _))| univa::va::agreement::Rating {
                unit: id(i),
                rater: Some(rater.to_owned()),
                value: f64::from(v),
            })
        })
        .collect();
    let expected = univa::va::agreement::agreement(&ratings).unwrap();
    let across = valence.across.as_ref().unwrap();
    assert_eq!(across, &expected);
    assert!(across.identified.is_some(), "both annotators judged every unit: the two-way ICCs are there");
    let alpha = format!("{:.3}", expected.alpha_interval);
    assert!(harness.query_all_by_label(&alpha).next().is_some(), "α {alpha} is shown");
    // Four units are too few to trust: the table says so beside the figures.
    let warnings = harness.query_all_by_label_contains("only 4 units rated twice: unreliable below 10").count();
    assert_eq!(warnings, 2, "text V and text A");
    // Each annotator against the model, over the points they judged.
    let model_v: Vec<f64> = (0..4).map(|i| f64::from(session.utterance(i).unwrap().va.text.unwrap().valence)).collect();
    let alice_v: Vec<f64> = alice.iter().map(|&(v, _)| f64::from(v)).collect();
    let against = valence.against_model.iter().find(|a| a.annotator == "alice").unwrap();
    assert_eq!(against.n, 4);
    assert_eq!(against.ccc, univa::va::agreement::ccc(&alice_v, &model_v));
    assert_eq!(against.pearson, univa::va::agreement::pearson(&alice_v, &model_v));
    harness.get_by_label("Each annotator against the model:");
}

// What a new user found broken (issue 27): each test failed before its fix.

fn events(store: &Path) -> Vec<univa::store::Event> {
    Store::open(store, &harness_dataset_name()).unwrap().events().unwrap()
}

#[test]
fn an_armed_point_is_released_by_another_utterance_annotator_or_tab() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    let first = harness.state().view.selected.unwrap();
    audit(&mut harness, AuditCommand::Arm(Some(Modality::Audio)));
    harness.state_mut().handle(Command::SelectNext);
    harness.run_steps(2);
    let next = harness.state().view.selected.unwrap();
    assert_ne!(next, first);
    assert_eq!(harness.state().view.audit.armed, None, "moving on releases the point");
    for _ in 0..3 {
        harness.key_press(egui::Key::ArrowUp);
        harness.run_steps(1);
    }
    harness.run_steps(2);
    assert!(mine(&harness, next, Modality::Audio).is_none(), "the arrows did not edit the next utterance");
    assert!(events(&store).is_empty());

    audit(&mut harness, AuditCommand::Arm(Some(Modality::Audio)));
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::CaseStudy)));
    harness.run_steps(2);
    assert_eq!(harness.state().view.audit.armed, None, "leaving the Audit tab releases the point");
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::Audit)));
    audit(&mut harness, AuditCommand::Arm(Some(Modality::Audio)));
    audit(&mut harness, AuditCommand::SwitchAnnotator);
    assert_eq!(harness.state().view.audit.armed, None, "switching annotator releases the point");
}

#[test]
fn a_reason_typed_after_an_edit_explains_that_edit_not_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    audit(&mut harness, AuditCommand::Set(Modality::Text, Va::new(0.25, 0.5)));
    let explained = events(&store)[0].id;
    let draft = AuditDraft { reason: "sarcasm".to_owned(), ..AuditDraft::default() };
    audit(&mut harness, AuditCommand::SetDraft(draft));
    audit(&mut harness, AuditCommand::Set(Modality::Vision, Va::new(-0.5, 0.0)));
    let log = events(&store);
    let vision = log.iter().find(|e| e.modality == Modality::Vision).unwrap();
    assert_eq!(vision.reason, "", "the reason typed for the text edit is not the vision edit's");
    let reason = log.iter().find(|e| e.reason == "sarcasm").expect("the reason was saved");
    assert_eq!(reason.target, Some(explained), "it names the edit it explains");
    assert_eq!(reason.modality, Modality::Text);
    let index = harness.state().view.selected.unwrap();
    assert_eq!(mine(&harness, index, Modality::Text).unwrap().reason, "sarcasm");
    assert_eq!(mine(&harness, index, Modality::Vision).unwrap().reason, "");
}

#[test]
fn a_first_correction_records_the_models_value_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    let index = harness.state().view.selected.unwrap();
    let from = model(&harness, index, Modality::Audio);
    audit(&mut harness, AuditCommand::Set(Modality::Audio, Va::new(0.5, 0.5)));
    let csv =
        String::from_utf8(univa::store::events_csv(&Store::open(&store, &harness_dataset_name()).unwrap()).unwrap())
            .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let column = |name: &str| row.get(headers.iter().position(|h| h == name).unwrap()).unwrap().to_owned();
    assert_eq!(column("old_valence"), from.valence.to_string());
    assert_eq!(column("old_arousal"), from.arousal.to_string());
    assert_eq!(column("old_status"), "model");
}

#[test]
fn a_run_of_nudges_is_one_edit_and_one_undo() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    let index = harness.state().view.selected.unwrap();
    let audio = model(&harness, index, Modality::Audio);
    audit(&mut harness, AuditCommand::Arm(Some(Modality::Audio)));
    for _ in 0..6 {
        harness.key_press(egui::Key::ArrowLeft);
        harness.run_steps(1);
    }
    let nudged = harness.state().view.audit.shown(harness.state().session.as_ref().unwrap(), index, Modality::Audio);
    assert!(close(nudged.unwrap(), Va::new((audio.valence - 0.06).max(-1.0), audio.arousal), 1e-5));
    // A pause ends the run: one event for six presses.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    harness.run_steps(2);
    assert_eq!(kinds(&store), [EventKind::Correct]);
    let moved = mine(&harness, index, Modality::Audio).unwrap().va;
    assert!(close(moved, Va::new((audio.valence - 0.06).max(-1.0), audio.arousal), 1e-5), "{moved:?}");

    // A second run, ended by Ctrl+Z at once: the undo takes the whole run back.
    for _ in 0..4 {
        harness.key_press(egui::Key::ArrowUp);
        harness.run_steps(1);
    }
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.run_steps(2);
    assert_eq!(kinds(&store), [EventKind::Correct, EventKind::Correct, EventKind::Undo]);
    assert!(close(mine(&harness, index, Modality::Audio).unwrap().va, moved, 1e-6));
}

#[test]
fn after_a_drag_the_arrows_nudge_and_ctrl_y_redoes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.sqlite");
    let mut harness = auditing(&store, "alice");
    let index = harness.state().view.selected.unwrap();
    // The annotator clicks into the Reason field first, then drags a point in the plane.
    harness.get_by_label("Reason").click();
    harness.run_steps(2);
    let from = model(&harness, index, Modality::Vision);
    let plane = univa::ui::va_plane_id();
    let start = screen_position(&harness, plane, from.valence.into(), from.arousal.into());
    let target = Va::new(from.valence * 0.5, from.arousal * 0.5);
    let end = screen_position(&harness, plane, target.valence.into(), target.arousal.into());
    harness.hover_at(start);
    harness.run_steps(1);
    harness.drag_at(start);
    harness.run_steps(1);
    harness.hover_at(end);
    harness.run_steps(1);
    harness.drop_at(end);
    harness.run_steps(2);
    let dragged = mine(&harness, index, Modality::Vision).expect("the drag saved").va;
    assert!(!harness.ctx.text_edit_focused(), "the Reason field gave up the keyboard");
    harness.key_press(egui::Key::ArrowRight);
    harness.run_steps(1);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.run_steps(2);
    let nudged_then_undone = mine(&harness, index, Modality::Vision).unwrap().va;
    assert!(close(nudged_then_undone, dragged, 1e-6), "the nudge was one edit, undone");
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Y);
    harness.run_steps(2);
    let redone = mine(&harness, index, Modality::Vision).unwrap().va;
    assert!(close(redone, Va::new((dragged.valence + 0.01).min(1.0), dragged.arousal), 1e-5), "Ctrl+Y redid it");
}

#[test]
fn enter_in_the_new_annotators_name_creates_them() {
    let dir = tempfile::tempdir().unwrap();
    let (data, run) = fixture();
    let mut harness = studio(Some((data.clone(), Some(run.clone()))));
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::Audit)));
    audit(
        &mut harness,
        AuditCommand::Start { store: Some(StoreAddress::File(dir.path().join("s.sqlite"))), remembered: None },
    );
    harness.get_by_label("New annotator").click();
    harness.run_steps(1);
    harness.get_by_label("New annotator").type_text("dana");
    harness.run_steps(1);
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    harness.get_by_label("Auditing as dana");
}

/// A store of the fixture dataset from another "laptop": `name` corrects the text point of the
/// first four utterances.
fn laptop_store(harness: &Harness<'static, StudioApp>, path: &Path, name: &str, points: &[(f32, f32)]) {
    let session = harness.state().session.as_ref().unwrap();
    let mut store = Store::open(path, &harness_dataset_name()).unwrap();
    let annotator = store.create_annotator(name, "").unwrap();
    for (index, &(v, a)) in points.iter().enumerate() {
        let change = univa::store::Change {
            annotator: annotator.id,
            utterance: &session.utterance(index).unwrap().id,
            modality: Modality::Text,
            kind: EventKind::Correct,
            new: Some(univa::store::Judgment {
                va: Va::new(v, a),
                status: Status::Corrected,
                unsure: false,
                reason: String::new(),
            }),
            reason: "",
            source_model: "fixture",
            model: None,
        };
        store.record(&change).unwrap();
    }
}

#[test]
fn merge_stores_shows_what_it_adds_then_writes_on_confirm() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lead.sqlite");
    let mut harness = auditing(&store, "alice");
    for (index, v) in [0.1, 0.4, -0.3, 0.8].into_iter().enumerate() {
        harness.state_mut().handle(Command::Select(index));
        audit(&mut harness, AuditCommand::Set(Modality::Text, Va::new(v, 0.0)));
    }
    let bob = dir.path().join("bob.sqlite");
    laptop_store(&harness, &bob, "bob", &[(0.2, 0.1), (0.3, 0.0), (-0.2, 0.6), (0.6, -0.2)]);

    audit(&mut harness, AuditCommand::PreviewMerge(bob.clone()));
    // The total and bob's line.
    assert_eq!(harness.query_all_by_label_contains("4 new events, 0 already present").count(), 2);
    harness.get_by_label_contains("annotator \"bob\" (new)");
    assert_eq!(events(&store).len(), 4, "nothing is written before the confirmation");
    harness.get_by_label("Merge 4 new events").click();
    harness.run_steps(2);
    let app = harness.state();
    assert!(app.view.audit.merge.is_none());
    let names: Vec<&str> = app.view.audit.annotators.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(app.view.audit.me.as_ref().map(|a| a.name.as_str()), Some("alice"), "alice goes on auditing");
    assert_eq!(events(&store).len(), 8);
    let rows = univa::ui::agreement_rows(app.session.as_ref().unwrap(), &app.view.audit);
    let valence = rows.iter().find(|r| r.modality == Modality::Text && r.dimension == "V").unwrap();
    assert_eq!(valence.across.as_ref().unwrap().identified.as_ref().unwrap().n_raters, 2);

    // Another "alice": a conflict to decide before the merge can be written.
    let other = dir.path().join("other-alice.sqlite");
    laptop_store(&harness, &other, "alice", &[(0.5, 0.5)]);
    audit(&mut harness, AuditCommand::PreviewMerge(other.clone()));
    harness.get_by_label("Same person");
    harness.get_by_label_contains("1 events held until the name is decided");
    let merge_button = harness.get_by_label("Merge (decide the conflicts first)");
    assert!(merge_button.accesskit_node().is_disabled(), "a conflict blocks the merge");
    harness.get_by_label_contains("Two people: add theirs as alice-").click();
    harness.run_steps(2);
    harness.get_by_label("Merge 1 new events").click();
    harness.run_steps(2);
    let names: Vec<String> = harness.state().view.audit.annotators.iter().map(|a| a.name.clone()).collect();
    assert_eq!(names.len(), 3);
    assert!(names[1].starts_with("alice-"), "{names:?}");
}

/// The node labelled `label` in the Audit pane (the agreement pane beside it names annotators
/// too).
fn in_audit_pane<'h>(harness: &'h Harness<'static, StudioApp>, label: &'h str) -> egui_kittest::Node<'h> {
    let pane = harness.state().pane_rect(univa::ui::Pane::Audit).expect("the audit pane is shown");
    harness
        .query_all_by_label(label)
        .find(|node| pane.contains(node.rect().center()))
        .unwrap_or_else(|| panic!("no {label:?} in the audit pane"))
}
