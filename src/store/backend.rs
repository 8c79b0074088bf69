//! What a backend does for the store: read its tables and run write transactions. The rules
//! over them (`rules`, `merge`) are the store's, written once for every backend.

use std::path::Path;

use super::{Annotator, AnnotatorId, Change, ChangeMark, Event, EventId, Judgment, StoreError};
use crate::modality::Modality;

/// An edit about to be recorded: the change, and what the store gives it before a backend
/// stores it (the state it replaces comes from the backend, in the edit's transaction).
pub(super) struct Edit<'a> {
    pub change: &'a Change<'a>,
    /// For undo, redo and reason: the edit they act on.
    pub target: Option<&'a Event>,
    pub uid: String,
    /// The id of the store writing it.
    pub origin: &'a str,
    pub time_utc: String,
}

impl Edit<'_> {
    /// The event this edit records, numbered `id`, replacing the judgment `old`.
    pub fn event(&self, id: EventId, old: Option<Judgment>) -> Event {
        let change = self.change;
        Event {
            id,
            annotator: change.annotator,
            time_utc: self.time_utc.clone(),
            utterance: change.utterance.to_owned(),
            modality: change.modality,
            kind: change.kind,
            old,
            new: change.new.clone(),
            reason: change.reason.to_owned(),
            source_model: change.source_model.to_owned(),
            target: self.target.map(|t| t.id),
            model: change.model,
            uid: self.uid.clone(),
            origin: self.origin.to_owned(),
        }
    }
}

/// A judgment row's columns, in the order both backends read them.
pub(super) const JUDGMENT_COLUMNS: &str =
    "annotator_id, utterance_id, modality, valence, arousal, status, unsure, reason, event_id";

/// An event's columns, in the order both backends read them.
pub(super) const EVENT_COLUMNS: &str = "id, annotator_id, time_utc, utterance_id, modality, kind,
    old_valence, old_arousal, old_status, old_unsure, old_reason,
    new_valence, new_arousal, new_status, new_unsure, new_reason, reason, source_model, target_event,
    model_valence, model_arousal, uid, origin, origin_seq";

/// An event as the log keeps it: with its number in the store that wrote it (`origin_seq`),
/// which orders events of one time and origin.
#[derive(Clone, Debug)]
pub(super) struct LoggedEvent {
    pub event: Event,
    pub origin_seq: i64,
}

/// One annotator's current judgment of one point, and the event that left it (`None` in rows
/// another tool wrote).
#[derive(Clone, Debug)]
pub(super) struct JudgmentRow {
    pub annotator: AnnotatorId,
    pub utterance: String,
    pub modality: Modality,
    pub judgment: Judgment,
    pub event: Option<EventId>,
}

/// An annotator with every id it is known by.
#[derive(Clone, Debug)]
pub(super) struct AnnotatorRecord {
    pub annotator: Annotator,
    pub created_utc: String,
    /// (uid, the store where it was made), in the order they were added.
    pub uids: Vec<(String, String)>,
}

/// A store backend: its tables read, and write transactions.
pub(super) trait Storage {
    /// What messages name the store by.
    fn name(&self) -> &Path;
    fn schema_version(&self) -> Result<i64, StoreError>;
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Every annotator, by name.
    fn annotators(&self) -> Result<Vec<Annotator>, StoreError>;
    /// Every annotator with its ids, in the order the annotators were added.
    fn annotator_records(&self) -> Result<Vec<AnnotatorRecord>, StoreError>;
    fn judgments(&self) -> Result<Vec<JudgmentRow>, StoreError>;
    fn judgment(
        &self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError>;
    fn event(&self, id: EventId) -> Result<Option<Event>, StoreError>;
    /// The events after event `after` (and up to `up_to`), oldest first.
    fn log(&self, after: EventId, up_to: Option<EventId>) -> Result<Vec<LoggedEvent>, StoreError>;
    /// The current judgments of the points that events `after + 1 ..= up_to` touched.
    fn judgments_touched(&self, after: EventId, up_to: EventId) -> Result<Vec<JudgmentRow>, StoreError>;
    /// The newest event and annotator. Writers are serialised, so numbers are given in commit
    /// order: whatever a later mark adds has a number above an earlier one.
    fn change_mark(&self) -> Result<ChangeMark, StoreError>;
    /// Runs `work` in one write transaction (writers one at a time): committed when it returns
    /// `Ok(true)`, rolled back when it returns `Ok(false)` or an error.
    fn write(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<bool, StoreError>) -> Result<(), StoreError>;
    /// Records one edit ([`super::rules::record`] in one transaction, for most backends).
    fn record(&self, edit: &Edit<'_>) -> Result<Event, StoreError>;
}

impl dyn Storage + '_ {
    /// Runs `work` in one committed write transaction and returns what it returned.
    pub(super) fn transaction<T>(
        &self,
        mut work: impl FnMut(&mut dyn WriteTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut result = None;
        self.write(&mut |tx| {
            result = Some(work(tx)?);
            Ok(true)
        })?;
        result.ok_or_else(|| StoreError::Invalid {
            path: self.name().to_path_buf(),
            problem: "a write transaction ended without running".to_owned(),
        })
    }
}

/// What recording an edit reads and writes, in one transaction.
pub(super) trait EditTx {
    fn judgment(
        &mut self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError>;
    /// Sets one point's judgment and the event that left it; `None` removes it.
    fn set_judgment(
        &mut self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
        state: Option<(&Judgment, EventId)>,
    ) -> Result<(), StoreError>;
    /// Appends `event` (its `id` is ignored, its `target` is an event of this store) and
    /// returns its number; an `origin_seq` of 0 becomes that number (an event of this store).
    fn insert_event(&mut self, event: &Event, origin_seq: i64) -> Result<EventId, StoreError>;
}

/// A backend's write transaction: recording edits, and what merges and journals need besides.
pub(super) trait WriteTx: EditTx {
    fn event_with_uid(&mut self, uid: &str) -> Result<Option<EventId>, StoreError>;
    /// One annotator's events, oldest first.
    fn annotator_log(&mut self, annotator: AnnotatorId) -> Result<Vec<LoggedEvent>, StoreError>;
    fn clear_judgments(&mut self, annotator: AnnotatorId) -> Result<(), StoreError>;
    /// The annotator known by `uid`, and its name.
    fn annotator_with_uid(&mut self, uid: &str) -> Result<Option<(AnnotatorId, String)>, StoreError>;
    /// The annotator of that name, and the store where its first id was made.
    fn annotator_named(&mut self, name: &str) -> Result<Option<(AnnotatorId, String)>, StoreError>;
    fn insert_annotator(&mut self, name: &str, note: &str, created_utc: &str) -> Result<AnnotatorId, StoreError>;
    /// Gives an annotator one more id (nothing when the id is known).
    fn add_annotator_uid(&mut self, uid: &str, annotator: AnnotatorId, origin: &str) -> Result<(), StoreError>;
}
