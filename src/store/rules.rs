//! The rules over an event log, written once for every backend: what an edit records, and
//! which judgments a log leaves.

use std::collections::HashMap;

use super::backend::{Edit, EditTx, LoggedEvent, Storage, WriteTx};
use super::{AnnotatorId, Event, StoreError};
use crate::modality::Modality;

/// Records `edit` in one transaction of `storage`.
pub(super) fn record(storage: &dyn Storage, edit: &Edit<'_>) -> Result<Event, StoreError> {
    storage.transaction(|tx| apply_edit(tx, edit))
}

/// Records `edit` in `tx`: the event, with the judgment it replaces, and the judgment it leaves.
pub(super) fn apply_edit(tx: &mut dyn EditTx, edit: &Edit<'_>) -> Result<Event, StoreError> {
    let change = edit.change;
    let old = tx.judgment(change.annotator, change.utterance, change.modality)?;
    let mut event = edit.event(0, old);
    event.id = tx.insert_event(&event, 0)?;
    let state = change.new.as_ref().map(|judgment| (judgment, event.id));
    tx.set_judgment(change.annotator, change.utterance, change.modality, state)?;
    Ok(event)
}

/// Where an event comes in event time: its time, then its origin store, then its number there.
fn order(logged: &LoggedEvent) -> (&str, &str, i64) {
    (&logged.event.time_utc, &logged.event.origin, logged.origin_seq)
}

/// Sets `annotator`'s judgments to what the log leaves when events came from several places
/// (merged stores, a journal sent late): per point, the state of the latest event in event
/// time (ties broken by origin store, then the event's number there).
pub(super) fn recompute_judgments(tx: &mut dyn WriteTx, annotator: AnnotatorId) -> Result<(), StoreError> {
    let log = tx.annotator_log(annotator)?;
    let mut latest: HashMap<(&str, Modality), &LoggedEvent> = HashMap::new();
    for logged in &log {
        let point = (logged.event.utterance.as_str(), logged.event.modality);
        if latest.get(&point).is_none_or(|kept| order(kept) < order(logged)) {
            latest.insert(point, logged);
        }
    }
    tx.clear_judgments(annotator)?;
    for ((utterance, modality), logged) in latest {
        if let Some(judgment) = &logged.event.new {
            tx.set_judgment(annotator, utterance, modality, Some((judgment, logged.event.id)))?;
        }
    }
    Ok(())
}
