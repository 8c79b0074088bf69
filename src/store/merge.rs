//! Merging other stores of the same dataset into this one (offline team audits), on either
//! backend.
//!
//! Events are append-only and globally identified (`uid`, schema 4), so a merge is a union of
//! event logs: events already present are skipped, so merging a store twice, or A into B and B
//! into A, changes nothing more. Annotators are identified by their random ids, which travel with
//! them; an incoming annotator whose name is taken here by someone else is a conflict, reported
//! with both stores' ids and never joined silently: the user renames it or says it is the same
//! person. After the union each affected annotator's judgments are recomputed from the merged
//! log: per point, the state left by the latest event in event time (ties: origin store, then the
//! event's number there).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use super::backend::{AnnotatorRecord, LoggedEvent, WriteTx};
use super::{AnnotatorId, Event, EventId, Store, StoreError, rules};

/// How the user decided annotator name conflicts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// `(old, new)`: an incoming annotator named `old` is called `new` here.
    pub renames: Vec<(String, String)>,
    /// An incoming annotator of one of these names is the person of that name here.
    pub same_person: Vec<String>,
}

/// What became of one incoming annotator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnotatorAction {
    /// Already here (merged before).
    Known,
    /// Added under its own name.
    New,
    /// Added under the name the user gave (`--rename`).
    Renamed { from: String },
    /// Joined to the annotator of the same name here (`--same-person`).
    Joined,
    /// Its name is taken here by someone else; left out until the user decides.
    Conflict,
}

/// One incoming annotator of one source store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnotatorMerge {
    /// The name here (after a rename).
    pub name: String,
    pub source: PathBuf,
    pub action: AnnotatorAction,
    pub events_new: usize,
    pub events_present: usize,
    /// A conflicting annotator's events, left out until the user decides.
    pub events_held: usize,
}

/// An annotator name used in two stores for two people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeConflict {
    pub name: String,
    pub source: PathBuf,
    /// The id of the store where the incoming annotator was created.
    pub source_store: String,
    /// The id of the store where the annotator of that name here was created.
    pub local_store: String,
}

impl std::fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "annotator {:?} of store {} ({}) is not {:?} of store {}: two people, or one?",
            self.name,
            self.source_store,
            self.source.display(),
            self.name,
            self.local_store,
        )
    }
}

/// One source store's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSummary {
    pub path: PathBuf,
    pub store_id: String,
    pub events_new: usize,
    pub events_present: usize,
}

/// What a merge adds (or, when not written, would add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeSummary {
    pub into: PathBuf,
    pub into_store_id: String,
    pub sources: Vec<SourceSummary>,
    pub annotators: Vec<AnnotatorMerge>,
    pub conflicts: Vec<MergeConflict>,
    /// Whether the merge was committed (not a dry run and no conflicts).
    pub written: bool,
}

impl MergeSummary {
    pub fn events_new(&self) -> usize {
        self.sources.iter().map(|s| s.events_new).sum()
    }

    pub fn events_present(&self) -> usize {
        self.sources.iter().map(|s| s.events_present).sum()
    }

    /// The summary as lines of text, for the CLI and the GUI alike.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "into {} (store {}): {} new events, {} already present",
            self.into.display(),
            self.into_store_id,
            self.events_new(),
            self.events_present()
        )];
        for s in &self.sources {
            lines.push(format!(
                "  from {} (store {}): {} new, {} already present",
                s.path.display(),
                s.store_id,
                s.events_new,
                s.events_present
            ));
        }
        for a in &self.annotators {
            let action = match &a.action {
                AnnotatorAction::Known => "known".to_owned(),
                AnnotatorAction::New => "new".to_owned(),
                AnnotatorAction::Renamed { from } => format!("new, renamed from {from:?}"),
                AnnotatorAction::Joined => "joined to the same person here".to_owned(),
                AnnotatorAction::Conflict => "conflict".to_owned(),
            };
            let events = if a.action == AnnotatorAction::Conflict {
                format!("{} events held until the name is decided", a.events_held)
            } else {
                format!("{} new events, {} already present", a.events_new, a.events_present)
            };
            lines.push(format!("  annotator {:?} ({action}) from {}: {events}", a.name, a.source.display()));
        }
        for c in &self.conflicts {
            lines.push(format!("  conflict: {c}"));
        }
        lines
    }
}

impl Store {
    /// Merges `sources` (stores of this store's dataset, on either backend) into this store:
    /// every event not yet here, with its annotator, then the affected judgments recomputed.
    /// `is_utterance` tells the dataset's utterance ids; a source with events of other
    /// utterances is refused. Nothing is written when `write` is false or an annotator name
    /// conflicts; the summary says what the merge adds either way.
    pub fn merge(
        &mut self,
        sources: &[Store],
        is_utterance: &dyn Fn(&str) -> bool,
        options: &MergeOptions,
        write: bool,
    ) -> Result<MergeSummary, StoreError> {
        let dataset = self.dataset_name()?;
        let mut incoming = Vec::with_capacity(sources.len());
        for source in sources {
            let log = source.storage().log(0, None)?;
            check_source(source, &dataset, &log, is_utterance)?;
            incoming.push((source, source.storage().annotator_records()?, log));
        }
        if let Some(name) = options.same_person.iter().find(|n| options.renames.iter().any(|(old, _)| old == *n)) {
            return Err(self.invalid(&format!("annotator {name:?} is both renamed and said to be the same person")));
        }
        // A decision about a name no source has is a typo, which would leave the conflict.
        let incoming_names: BTreeSet<&str> =
            incoming.iter().flat_map(|(_, records, _)| records.iter().map(|r| r.annotator.name.as_str())).collect();
        let decided = options.renames.iter().map(|(old, _)| old).chain(&options.same_person);
        if let Some(name) = decided.into_iter().find(|n| !incoming_names.contains(n.as_str())) {
            return Err(self.invalid(&format!(
                "no store being merged has an annotator named {name:?} to rename or join (they have: {})",
                incoming_names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut summary = MergeSummary {
            into: self.path().to_path_buf(),
            into_store_id: self.id.clone(),
            sources: Vec::new(),
            annotators: Vec::new(),
            conflicts: Vec::new(),
            written: false,
        };
        self.storage().write(&mut |tx| {
            summary.sources.clear();
            summary.annotators.clear();
            summary.conflicts.clear();
            let mut affected = BTreeSet::new();
            for (source, records, log) in &incoming {
                merge_source(tx, source, records, log, options, &mut summary, &mut affected)?;
            }
            for &annotator in &affected {
                rules::recompute_judgments(tx, annotator)?;
            }
            Ok(write && summary.conflicts.is_empty())
        })?;
        summary.written = write && summary.conflicts.is_empty();
        Ok(summary)
    }
}

/// Brings one source's annotators and events into `tx`, noting what it did in `summary` and
/// which annotators here got new events in `affected`.
fn merge_source(
    tx: &mut dyn WriteTx,
    source: &Store,
    records: &[AnnotatorRecord],
    log: &[LoggedEvent],
    options: &MergeOptions,
    summary: &mut MergeSummary,
    affected: &mut BTreeSet<AnnotatorId>,
) -> Result<(), StoreError> {
    // Source annotator → (annotator here, their entry in the summary); the conflicting ones →
    // their entry.
    let mut annotator_map: HashMap<AnnotatorId, (AnnotatorId, usize)> = HashMap::new();
    let mut held: HashMap<AnnotatorId, usize> = HashMap::new();
    for record in records {
        let Some(local) = local_annotator(tx, record, options, source, summary)? else {
            held.insert(record.annotator.id, summary.annotators.len() - 1);
            continue;
        };
        for (uid, origin) in &record.uids {
            tx.add_annotator_uid(uid, local, origin)?;
        }
        annotator_map.insert(record.annotator.id, (local, summary.annotators.len() - 1));
    }
    let mut source_summary = SourceSummary {
        path: source.path().to_path_buf(),
        store_id: source.id.clone(),
        events_new: 0,
        events_present: 0,
    };
    // Source event id → id here, for undo, redo and reason targets.
    let mut event_map: HashMap<EventId, EventId> = HashMap::new();
    for logged in log {
        let source_event = &logged.event;
        let Some(&(annotator, entry)) = annotator_map.get(&source_event.annotator) else {
            if let Some(&entry) = held.get(&source_event.annotator) {
                summary.annotators[entry].events_held += 1;
            }
            continue;
        };
        let here = match tx.event_with_uid(&source_event.uid)? {
            Some(id) => {
                source_summary.events_present += 1;
                summary.annotators[entry].events_present += 1;
                id
            }
            None => {
                let target = match source_event.target {
                    Some(t) => Some(*event_map.get(&t).ok_or_else(|| {
                        source.invalid(&format!("event {} refers to event {t}, which comes later", source_event.id))
                    })?),
                    None => None,
                };
                let id = tx.insert_event(&Event { annotator, target, ..source_event.clone() }, logged.origin_seq)?;
                source_summary.events_new += 1;
                summary.annotators[entry].events_new += 1;
                affected.insert(annotator);
                id
            }
        };
        event_map.insert(source_event.id, here);
    }
    summary.sources.push(source_summary);
    Ok(())
}

/// Refuses a source of another dataset: another dataset's name, or events of utterances the
/// dataset does not have.
fn check_source(
    source: &Store,
    dataset: &str,
    log: &[LoggedEvent],
    is_utterance: &dyn Fn(&str) -> bool,
) -> Result<(), StoreError> {
    let found = source.dataset_name()?;
    if found != dataset {
        return Err(StoreError::OtherDataset {
            path: source.path().to_path_buf(),
            found,
            expected: dataset.to_owned(),
        });
    }
    let unknown: BTreeSet<&str> =
        log.iter().map(|l| l.event.utterance.as_str()).filter(|id| !is_utterance(id)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(source.invalid(&format!(
        "has audit events of {} utterances that dataset {dataset:?} does not have (e.g. {}); it is the store \
         of another dataset — merge only this dataset's stores",
        unknown.len(),
        unknown.iter().take(3).map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
    )))
}

/// The annotator here that `incoming` is (created when new), recorded in `summary`; `None` on
/// a name conflict (recorded too).
fn local_annotator(
    tx: &mut dyn WriteTx,
    incoming: &AnnotatorRecord,
    options: &MergeOptions,
    source: &Store,
    summary: &mut MergeSummary,
) -> Result<Option<AnnotatorId>, StoreError> {
    let mut record = |name: &str, action| {
        summary.annotators.push(AnnotatorMerge {
            name: name.to_owned(),
            source: source.path().to_path_buf(),
            action,
            events_new: 0,
            events_present: 0,
            events_held: 0,
        });
    };
    for (uid, _) in &incoming.uids {
        if let Some((id, name)) = tx.annotator_with_uid(uid)? {
            record(&name, AnnotatorAction::Known);
            return Ok(Some(id));
        }
    }
    let incoming_name = &incoming.annotator.name;
    let renamed = options.renames.iter().find(|(old, _)| old == incoming_name).map(|(_, new)| new.trim());
    let name = renamed.unwrap_or(incoming_name);
    match tx.annotator_named(name)? {
        Some((id, _)) if renamed.is_none() && options.same_person.contains(incoming_name) => {
            record(name, AnnotatorAction::Joined);
            Ok(Some(id))
        }
        Some((_, local_store)) => {
            record(name, AnnotatorAction::Conflict);
            summary.conflicts.push(MergeConflict {
                name: name.to_owned(),
                source: source.path().to_path_buf(),
                source_store: incoming.uids.first().map(|(_, origin)| origin.clone()).unwrap_or_default(),
                local_store,
            });
            Ok(None)
        }
        None => {
            let id = tx.insert_annotator(name, &incoming.annotator.note, &incoming.created_utc)?;
            let action = match renamed {
                Some(_) => AnnotatorAction::Renamed { from: incoming_name.clone() },
                None => AnnotatorAction::New,
            };
            record(name, action);
            Ok(Some(id))
        }
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
