//! The Audit pane: choose or create an annotator, work through the queue, and per modality type
//! exact values, accept, flag as unsure, give a reason; undo/redo; a review of every
//! annotator's points. The Agreement pane beside it, and the audit's keys, which act only
//! while auditing. Rows wrap, so every control stays in sight in a narrow pane.

pub mod agreement;
pub mod plane;

use egui::RichText;

use crate::dataset::Va;
use crate::modality::Modality;
use crate::store::{Judgment, Status};

pub use agreement::{AgreementRow, agreement_rows};

use super::PaneContext;
use crate::ui::state::{
    AuditCommand, AuditDraft, AuditState, Command, NUDGE_STEP, NUDGE_STEP_LARGE, QueueOrder, QueueSettings, Session,
    ViewSettings, ViewState,
};
use crate::ui::widgets::sync_badge::sync_badge_ui;
use crate::ui::widgets::{self, theme};
use plane::REVIEW_MARKERS;

pub fn audit_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (Some(session), view, settings) = (cx.session, cx.view, cx.settings) else { return };
    let audit = &view.audit;
    let mut push = |c| commands.push(Command::Audit(c));
    if audit.store.is_none() {
        ui.label("Audit the selected utterance's VA: drag its points in the VA plane or type values, accept or flag them; every edit is saved at once, with who, when and why.");
        ui.horizontal_wrapped(|ui| {
            if ui.button("Start auditing").clicked() {
                push(AuditCommand::Start { store: None, remembered: settings.last_annotator.clone() });
            }
            if ui.button("Use another store file…").clicked() {
                push(AuditCommand::PickStoreDialog);
            }
        });
        server_ui(ui, audit, settings, &mut push);
        return;
    }
    merge_ui(ui, audit, &mut push);
    if audit.store.as_ref().is_some_and(crate::store::Store::is_read_only) {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(theme::WARNING_TEXT, "This store is read-only: its audits are shown, not edited.");
            if ui.button("Continue in a copy in my data folder").clicked() {
                push(AuditCommand::ContinueInCopy);
            }
        });
    }
    let Some(me) = &audit.me else {
        annotator_picker_ui(ui, audit, settings, &mut push);
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!("Auditing as {}", me.name));
        if !me.note.is_empty() {
            ui.weak(&me.note);
        }
        if ui.button("Switch annotator").clicked() {
            push(AuditCommand::SwitchAnnotator);
        }
        if ui.button("Stop auditing").clicked() {
            push(AuditCommand::Stop);
        }
    });
    if let Some(store) = &audit.store {
        // A line of its own: an address has no spaces to wrap at, so a long one is cut with "…"
        // at the pane's edge (whole in its tooltip) rather than widening the form.
        ui.horizontal(|ui| {
            if let Some(status) = audit.server_status() {
                sync_badge_ui(ui, &status);
            }
            let address = store.address().to_string();
            let label = egui::Label::new(RichText::new(format!("store: {address}")).weak()).truncate();
            ui.add(label).on_hover_text(address);
        });
    }
    queue_ui(ui, session, view, &mut push);
    ui.separator();
    let mut review = audit.review;
    if ui.checkbox(&mut review, "Review: every annotator's points beside the model's").changed() {
        push(AuditCommand::SetReview(review));
    }
    let Some(index) = view.selected else {
        ui.label("Select an utterance to audit it.");
        return;
    };
    // The transcript in full, which the text point is judged from (a laptop's player pane has
    // no room left for it under the clip).
    if let Some(u) = session.utterance(index) {
        ui.horizontal_wrapped(|ui| {
            ui.strong(&u.id);
            if !u.text.is_empty() {
                ui.label(RichText::new(format!("“{}”", u.text)).italics());
            }
        });
    }
    if audit.review {
        review_ui(ui, session, audit, index);
        return;
    }
    points_ui(ui, session, audit, index, &mut push);
    reason_ui(ui, audit, index, &mut push);
    ui.horizontal_wrapped(|ui| {
        if ui.add_enabled(audit.can_undo(), egui::Button::new("Undo")).on_hover_text("Ctrl+Z").clicked() {
            push(AuditCommand::Undo);
        }
        if ui.add_enabled(audit.can_redo(), egui::Button::new("Redo")).on_hover_text("Ctrl+Y or Ctrl+Shift+Z").clicked()
        {
            push(AuditCommand::Redo);
        }
        if ui.button("Accept all and next").on_hover_text("Enter").clicked() {
            push(AuditCommand::AcceptAndNext);
        }
    });
    let hint = match audit.armed {
        Some(m) => format!(
            "The {m} point is armed: arrows nudge it by {NUDGE_STEP} (Shift: {NUDGE_STEP_LARGE}) instead of seeking and browsing; Esc releases it."
        ),
        None => "Drag a point in the VA plane, or click one to arm it for the arrow keys. Enter accepts what is left and goes to the next.".to_owned(),
    };
    ui.weak(hint);
}

/// "Use a server…": the dataset's store on a PostgreSQL server the team shares, each annotator's
/// edits seen by the others within a second.
fn server_ui(ui: &mut egui::Ui, audit: &AuditState, settings: &ViewSettings, push: &mut impl FnMut(AuditCommand)) {
    let remembered = settings.last_annotator.clone();
    egui::CollapsingHeader::new("Use a server…").default_open(settings.last_server.is_some()).show(ui, |ui| {
        ui.label("Annotators on several machines audit one store on a PostgreSQL server and see each other's points as they are made.");
        let mut draft = audit.draft.clone();
        let mut connect = false;
        ui.horizontal_wrapped(|ui| {
            let field = egui::TextEdit::singleline(&mut draft.server)
                .hint_text("postgres://user@host:5432/database")
                .desired_width(320.0);
            let response = ui.add(field);
            if response.changed() {
                push(AuditCommand::SetDraft(draft.clone()));
            }
            connect = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            connect |= ui.add_enabled(!draft.server.trim().is_empty(), egui::Button::new("Connect")).clicked();
        });
        if connect && !draft.server.trim().is_empty() {
            push(AuditCommand::UseServer { address: draft.server.clone(), remembered: remembered.clone() });
        }
        if let Some(last) = &settings.last_server
            && ui.button(format!("Connect to {last}")).clicked()
        {
            push(AuditCommand::UseServer { address: last.clone(), remembered });
        }
        ui.weak("The password comes from ~/.pgpass (or PGPASSFILE, PGPASSWORD); one typed in the address is used, never saved.");
    });
}

/// "Merge stores…": other stores of this dataset (the team's laptops) merged into this one,
/// with what the merge adds shown before anything is written; name conflicts are decided here.
fn merge_ui(ui: &mut egui::Ui, audit: &AuditState, push: &mut impl FnMut(AuditCommand)) {
    let Some(preview) = &audit.merge else {
        if ui
            .button("Merge stores…")
            .on_hover_text("Bring other annotators' stores of this dataset into this one")
            .clicked()
        {
            push(AuditCommand::PickMergeDialog);
        }
        return;
    };
    let summary = &preview.summary;
    ui.group(|ui| {
        ui.strong("Merge stores (nothing written yet)");
        for line in summary.lines() {
            ui.label(line);
        }
        for conflict in &summary.conflicts {
            ui.horizontal_wrapped(|ui| {
                ui.label(format!("{:?} in both stores:", conflict.name));
                if ui.button("Same person").clicked() {
                    push(AuditCommand::ResolveMerge { name: conflict.name.clone(), rename: None });
                }
                let short: String = conflict.source_store.chars().take(6).collect();
                let new = format!("{}-{short}", conflict.name);
                if ui.button(format!("Two people: add theirs as {new}")).clicked() {
                    push(AuditCommand::ResolveMerge { name: conflict.name.clone(), rename: Some(new) });
                }
            });
        }
        ui.horizontal_wrapped(|ui| {
            let label = if summary.conflicts.is_empty() {
                format!("Merge {} new events", summary.events_new())
            } else {
                "Merge (decide the conflicts first)".to_owned()
            };
            if ui.add_enabled(summary.conflicts.is_empty(), egui::Button::new(label)).clicked() {
                push(AuditCommand::ConfirmMerge);
            }
            if ui.button("Add another store…").clicked() {
                push(AuditCommand::PickMergeDialog);
            }
            if ui.button("Cancel").clicked() {
                push(AuditCommand::CancelMerge);
            }
        });
    });
}

/// Why the last edit was made: the field names that edit, Enter or the button saves the reason
/// with it (and so does the next edit, or leaving the utterance, if it was typed but not saved).
fn reason_ui(ui: &mut egui::Ui, audit: &AuditState, index: usize, push: &mut impl FnMut(AuditCommand)) {
    let explained = audit.last_edit.filter(|last| last.index == index);
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Reason");
        let mut draft = audit.draft.clone();
        let hint = match explained {
            Some(last) => {
                let what = audit.mine(index, last.modality).map_or("edit", |j| j.status.name());
                format!("why the {} point was {what}", last.modality)
            }
            None => "edit a point first, then say why".to_owned(),
        };
        let field = egui::TextEdit::singleline(&mut draft.reason).id_salt("audit reason").hint_text(hint);
        let response = ui.add_enabled(explained.is_some(), field).labelled_by(label.id);
        if response.changed() {
            push(AuditCommand::SetDraft(draft));
        }
        let entered = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let can_save = explained.is_some() && !audit.draft.reason.trim().is_empty();
        if ui.add_enabled(can_save, egui::Button::new("Save reason")).clicked() || (entered && can_save) {
            push(AuditCommand::SaveReason);
        }
        if let Some(last) = explained
            && let Some(reason) = audit.mine(index, last.modality).map(|j| j.reason.as_str()).filter(|r| !r.is_empty())
        {
            ui.weak(format!("saved: {reason}"));
        }
    });
}

/// The Agreement pane: how the annotators agree with each other and with the model.
pub fn agreement_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let Some(session) = cx.session else { return };
    if cx.view.audit.store.is_none() {
        ui.label("The annotators' agreement on this dataset shows once its audit store is open.");
        if ui.button("Open the audit store").clicked() {
            commands.push(Command::Audit(AuditCommand::Start { store: None, remembered: None }));
        }
        return;
    }
    agreement::agreement_ui(ui, session, &cx.view.audit);
}

fn annotator_picker_ui(
    ui: &mut egui::Ui,
    audit: &AuditState,
    settings: &ViewSettings,
    push: &mut impl FnMut(AuditCommand),
) {
    ui.strong("Who is auditing?");
    if audit.annotators.is_empty() {
        ui.label("No annotators in this store yet.");
    }
    ui.horizontal_wrapped(|ui| {
        for annotator in &audit.annotators {
            let last = settings.last_annotator.as_deref() == Some(annotator.name.as_str());
            let button = ui.selectable_label(last, &annotator.name);
            let button = if annotator.note.is_empty() { button } else { button.on_hover_text(&annotator.note) };
            if button.clicked() {
                push(AuditCommand::Choose(annotator.id));
            }
        }
    });
    let mut draft: AuditDraft = audit.draft.clone();
    let mut changed = false;
    let mut create = false;
    // Wrapped, so that the button stays in sight in a narrow panel; Enter in either field creates.
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("New annotator");
        let name = ui
            .add(
                egui::TextEdit::singleline(&mut draft.annotator_name)
                    .id_salt("audit new annotator")
                    .hint_text("name")
                    .desired_width(140.0),
            )
            .labelled_by(label.id);
        let note_label = ui.label("Note");
        let note = ui
            .add(
                egui::TextEdit::singleline(&mut draft.annotator_note)
                    .id_salt("audit new annotator note")
                    .hint_text("optional")
                    .desired_width(200.0),
            )
            .labelled_by(note_label.id);
        changed |= name.changed() || note.changed();
        let entered = (name.lost_focus() || note.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let can_create = !draft.annotator_name.trim().is_empty();
        if ui.add_enabled(can_create, egui::Button::new("Create and audit")).clicked() || (entered && can_create) {
            create = true;
        }
    });
    if changed {
        push(AuditCommand::SetDraft(draft));
    }
    if create {
        push(AuditCommand::Create);
    }
}

fn queue_ui(ui: &mut egui::Ui, session: &Session, view: &ViewState, push: &mut impl FnMut(AuditCommand)) {
    let audit = &view.audit;
    let mut queue: QueueSettings = audit.queue;
    ui.horizontal_wrapped(|ui| {
        let has_run = session.run.is_some();
        widgets::labelled_combo(ui, "Queue", queue.order.name(), |ui| {
            for order in QueueOrder::ALL {
                let enabled = order != QueueOrder::LeastConfidence || has_run;
                ui.add_enabled_ui(enabled, |ui| ui.selectable_value(&mut queue.order, order, order.name()));
            }
        });
        if queue.order == QueueOrder::Random {
            ui.add(egui::DragValue::new(&mut queue.seed).prefix("seed "));
        }
        ui.checkbox(&mut queue.unaudited_only, "unaudited by me only");
        if ui.button("Next ▶").clicked() {
            push(AuditCommand::Next);
        }
        let (done, total) = audit.progress(session, &view.rows);
        ui.label(format!("{done} of {total} audited"));
        if !has_run {
            ui.weak("(attach a run to order by model confidence)");
        }
    });
    if queue != audit.queue {
        push(AuditCommand::SetQueue(queue));
    }
}

fn status_text(judgment: Option<&Judgment>) -> RichText {
    match judgment {
        None => RichText::new("not audited").weak(),
        Some(j) => {
            let mut text = j.status.name().to_owned();
            if j.unsure {
                text += ", unsure";
            }
            let colour = match (j.status, j.unsure) {
                (_, true) => theme::AUDIT_UNSURE,
                (Status::Accepted, _) => theme::HIT,
                (Status::Corrected, _) => theme::AUDIT_CORRECTED,
            };
            RichText::new(text).color(colour)
        }
    }
}

/// Narrower than this, the points' form leaves out the model's value and source columns: both
/// stay in the point name's tooltip, and the model's point stays in the VA plane as a ghost.
const FULL_POINTS_FORM_WIDTH: f32 = 600.0;

/// One row per modality: the model's value, the annotator's (typed exactly), the state, actions.
fn points_ui(
    ui: &mut egui::Ui,
    session: &Session,
    audit: &AuditState,
    index: usize,
    push: &mut impl FnMut(AuditCommand),
) {
    let Some(u) = session.utterance(index) else { return };
    let full = ui.available_width() >= FULL_POINTS_FORM_WIDTH;
    egui::Grid::new("audit points").striped(true).show(ui, |ui| {
        let headers: &[&str] =
            if full { &["", "model V, A", "V", "A", "state", "", "source"] } else { &["", "V", "A", "state"] };
        for header in headers {
            ui.weak(*header);
        }
        ui.end_row();
        for m in Modality::ALL {
            let Some(model) = *u.va.get(m) else { continue };
            let armed = audit.armed == Some(m);
            let model_text = format!("{:+.3}, {:+.3}", model.valence, model.arousal);
            let name = RichText::new(format!("{m} point")).color(theme::modality_color(m));
            let hover = if full {
                "arm for the arrow keys".to_owned()
            } else {
                format!("model {model_text} ({}); click to arm for the arrow keys", u.va_model.get(m))
            };
            if ui.selectable_label(armed, name).on_hover_text(hover).clicked() {
                push(AuditCommand::Arm(if armed { None } else { Some(m) }));
            }
            if full {
                ui.label(model_text);
            }
            let shown = audit.shown(session, index, m).unwrap_or(model);
            for (dim, value) in [("V", shown.valence), ("A", shown.arousal)] {
                let mut typed = f64::from(value);
                let label = format!("{m} {dim}");
                let response = ui.add(
                    egui::DragValue::new(&mut typed)
                        .speed(0.0)
                        .range(-1.0..=1.0)
                        .fixed_decimals(3)
                        .update_while_editing(false),
                );
                // The column header names it on screen; this names it for screen readers and tests.
                let response =
                    response.accessible_name(&label).on_hover_text(format!("{label}: click and type an exact value"));
                if response.changed() {
                    let typed = typed as f32;
                    let va = if dim == "V" { Va::new(typed, shown.arousal) } else { Va::new(shown.valence, typed) };
                    push(AuditCommand::Set(m, va));
                }
            }
            ui.label(status_text(audit.mine(index, m)));
            // The row names the modality on screen; the buttons' names say it for screen readers.
            ui.horizontal(|ui| {
                if ui.small_button("Accept").accessible_name(format!("Accept {m}")).clicked() {
                    push(AuditCommand::Accept(m));
                }
                if ui.small_button("Unsure").accessible_name(format!("Unsure {m}")).clicked() {
                    push(AuditCommand::FlagUnsure(m));
                }
            });
            if full {
                ui.weak(u.va_model.get(m));
            }
            ui.end_row();
        }
    });
}

/// Every annotator's judgment of the selected utterance beside the model's.
fn review_ui(ui: &mut egui::Ui, session: &Session, audit: &AuditState, index: usize) {
    let Some(u) = session.utterance(index) else { return };
    let judged: Vec<_> = audit
        .annotators
        .iter()
        .filter(|a| {
            audit.judgments.get(&a.id).is_some_and(|p| Modality::ALL.iter().any(|&m| p.contains_key(&(index, m))))
        })
        .collect();
    if judged.is_empty() {
        ui.label("No annotator has audited this utterance yet.");
        return;
    }
    ui.weak(
        "In the plane: the model's point is a ring, each annotator's a marker of their own, in the modality's colour.",
    );
    egui::Grid::new("audit review").num_columns(judged.len() + 2).striped(true).show(ui, |ui| {
        ui.weak("");
        ui.weak("model (ring)");
        for a in &judged {
            // The marker follows the annotator's place among all of the store's annotators.
            let k = audit.annotators.iter().position(|b| b.id == a.id).unwrap_or(0);
            let marker = REVIEW_MARKERS[k % REVIEW_MARKERS.len()].1;
            ui.horizontal_wrapped(|ui| {
                ui.strong(&a.name);
                ui.weak(marker);
            });
        }
        ui.end_row();
        for m in Modality::ALL {
            let Some(model) = *u.va.get(m) else { continue };
            ui.label(RichText::new(m.name()).color(theme::modality_color(m)));
            ui.label(format!("{:+.3}, {:+.3}", model.valence, model.arousal));
            for a in &judged {
                match audit.judgments.get(&a.id).and_then(|p| p.get(&(index, m))) {
                    Some(j) => {
                        let mut text = format!("{:+.3}, {:+.3}", j.va.valence, j.va.arousal);
                        if j.unsure {
                            text += " ?";
                        }
                        let text = RichText::new(text);
                        let label = ui.label(if j.unsure { text.color(theme::AUDIT_UNSURE) } else { text });
                        if !j.reason.is_empty() {
                            label.on_hover_text(&j.reason);
                        }
                    }
                    None => {
                        ui.weak("—");
                    }
                }
            }
            ui.end_row();
        }
    });
}
