//! Merging other stores of the same dataset into this one (offline team audits).
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

use rusqlite::types::Value;
use rusqlite::{OptionalExtension as _, params, params_from_iter};

use super::{AnnotatorId, Store, StoreError};

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

/// The event columns copied as they are (the ids are mapped apart).
const PAYLOAD: [&str; 21] = [
    "time_utc",
    "utterance_id",
    "modality",
    "kind",
    "old_valence",
    "old_arousal",
    "old_status",
    "old_unsure",
    "old_reason",
    "new_valence",
    "new_arousal",
    "new_status",
    "new_unsure",
    "new_reason",
    "reason",
    "source_model",
    "model_valence",
    "model_arousal",
    "uid",
    "origin",
    "origin_seq",
];
/// Where `uid` is in a row of `id, annotator_id, target_event, PAYLOAD…`.
const UID_COLUMN: usize = 3 + 18;

/// An annotator of a source store with every id it is known by.
struct Incoming {
    id: AnnotatorId,
    name: String,
    note: String,
    created_utc: String,
    /// (uid, the store where it was created)
    uids: Vec<(String, String)>,
}

impl Store {
    /// Merges `sources` (stores of this store's dataset) into this store: every event not yet
    /// here, with its annotator, then the affected judgments recomputed. `is_utterance` tells
    /// the dataset's utterance ids; a source with events of other utterances is refused. Nothing
    /// is written when `write` is false or an annotator name conflicts; the summary says what
    /// the merge adds either way.
    pub fn merge(
        &mut self,
        sources: &[Store],
        is_utterance: &dyn Fn(&str) -> bool,
        options: &MergeOptions,
        write: bool,
    ) -> Result<MergeSummary, StoreError> {
        let dataset = self.dataset_name()?;
        for source in sources {
            check_source(source, &dataset, is_utterance)?;
        }
        if let Some(name) = options.same_person.iter().find(|n| options.renames.iter().any(|(old, _)| old == *n)) {
            return Err(self.invalid(&format!("annotator {name:?} is both renamed and said to be the same person")));
        }
        // A decision about a name no source has is a typo, which would leave the conflict.
        let mut incoming_names = BTreeSet::new();
        for source in sources {
            incoming_names.extend(incoming_annotators(source)?.into_iter().map(|a| a.name));
        }
        let decided = options.renames.iter().map(|(old, _)| old).chain(&options.same_person);
        if let Some(name) = decided.into_iter().find(|n| !incoming_names.contains(*n)) {
            return Err(self.invalid(&format!(
                "no store being merged has an annotator named {name:?} to rename or join (they have: {})",
                incoming_names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
            )));
        }
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let mut summary = MergeSummary {
            into: self.path.clone(),
            into_store_id: self.id.clone(),
            sources: Vec::new(),
            annotators: Vec::new(),
            conflicts: Vec::new(),
            written: false,
        };
        let tx = self.conn.transaction().map_err(sqlite)?;
        let mut affected = BTreeSet::new();
        for source in sources {
            // Source annotator → (annotator here, their entry in the summary); the conflicting
            // ones → their entry.
            let mut annotator_map: HashMap<AnnotatorId, (AnnotatorId, usize)> = HashMap::new();
            let mut held: HashMap<AnnotatorId, usize> = HashMap::new();
            for incoming in incoming_annotators(source)? {
                let Some(local) = local_annotator(&tx, &incoming, options, source, &mut summary).map_err(sqlite)?
                else {
                    held.insert(incoming.id, summary.annotators.len() - 1);
                    continue;
                };
                for (uid, origin) in &incoming.uids {
                    tx.execute(
                        "INSERT OR IGNORE INTO annotator_uids (uid, annotator_id, origin) VALUES (?1, ?2, ?3)",
                        params![uid, local, origin],
                    )
                    .map_err(sqlite)?;
                }
                annotator_map.insert(incoming.id, (local, summary.annotators.len() - 1));
            }
            let mut source_summary = SourceSummary {
                path: source.path.clone(),
                store_id: source.id.clone(),
                events_new: 0,
                events_present: 0,
            };
            let select =
                format!("SELECT id, annotator_id, target_event, {} FROM events ORDER BY id", PAYLOAD.join(", "));
            let insert = format!(
                "INSERT INTO events (annotator_id, target_event, {}) VALUES ({})",
                PAYLOAD.join(", "),
                (1..=PAYLOAD.len() + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
            );
            let mut read = source.conn.prepare(&select).map_err(source.sqlite())?;
            let mut rows = read.query([]).map_err(source.sqlite())?;
            let mut find = tx.prepare_cached("SELECT id FROM events WHERE uid = ?1").map_err(sqlite)?;
            let mut write_event = tx.prepare_cached(&insert).map_err(sqlite)?;
            // Source event id → id here, for undo, redo and reason targets.
            let mut event_map: HashMap<i64, i64> = HashMap::new();
            while let Some(row) = rows.next().map_err(source.sqlite())? {
                let values: Vec<Value> = (0..PAYLOAD.len() + 3)
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<Result<_, _>>()
                    .map_err(source.sqlite())?;
                let (Value::Integer(source_id), Value::Integer(source_annotator)) = (&values[0], &values[1]) else {
                    return Err(source.invalid("an event without an id or annotator"));
                };
                let Some(&(annotator, entry)) = annotator_map.get(source_annotator) else {
                    if let Some(&entry) = held.get(source_annotator) {
                        summary.annotators[entry].events_held += 1;
                    }
                    continue;
                };
                let present: Option<i64> =
                    find.query_row([&values[UID_COLUMN]], |r| r.get(0)).optional().map_err(sqlite)?;
                let here = match present {
                    Some(id) => {
                        source_summary.events_present += 1;
                        summary.annotators[entry].events_present += 1;
                        id
                    }
                    None => {
                        let target = match &values[2] {
                            Value::Integer(t) => Some(*event_map.get(t).ok_or_else(|| {
                                source.invalid(&format!("event {source_id} refers to event {t}, which comes later"))
                            })?),
                            _ => None,
                        };
                        let mut params: Vec<Value> =
                            vec![Value::Integer(annotator), target.map_or(Value::Null, Value::Integer)];
                        params.extend(values[3..].iter().cloned());
                        write_event.execute(params_from_iter(params)).map_err(sqlite)?;
                        source_summary.events_new += 1;
                        summary.annotators[entry].events_new += 1;
                        affected.insert(annotator);
                        tx.last_insert_rowid()
                    }
                };
                event_map.insert(*source_id, here);
            }
            summary.sources.push(source_summary);
        }
        for annotator in affected {
            recompute_judgments(&tx, annotator).map_err(sqlite)?;
        }
        if write && summary.conflicts.is_empty() {
            tx.commit().map_err(sqlite)?;
            summary.written = true;
        }
        Ok(summary)
    }
}

/// Refuses a source of another dataset: another dataset's name, or events of utterances the
/// dataset does not have.
fn check_source(source: &Store, dataset: &str, is_utterance: &dyn Fn(&str) -> bool) -> Result<(), StoreError> {
    let found = source.dataset_name()?;
    if found != dataset {
        return Err(StoreError::OtherDataset { path: source.path.clone(), found, expected: dataset.to_owned() });
    }
    let mut statement = source.conn.prepare("SELECT DISTINCT utterance_id FROM events").map_err(source.sqlite())?;
    let ids = statement.query_map([], |r| r.get::<_, String>(0)).map_err(source.sqlite())?;
    let mut unknown = Vec::new();
    for id in ids {
        let id = id.map_err(source.sqlite())?;
        if !is_utterance(&id) {
            unknown.push(id);
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort();
    Err(source.invalid(&format!(
        "has audit events of {} utterances that dataset {dataset:?} does not have (e.g. {}); it is the store \
         of another dataset — merge only this dataset's stores",
        unknown.len(),
        unknown.iter().take(3).map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
    )))
}

fn incoming_annotators(source: &Store) -> Result<Vec<Incoming>, StoreError> {
    let mut statement = source
        .conn
        .prepare(
            "SELECT a.id, a.name, a.note, a.created_utc, u.uid, u.origin
             FROM annotators a JOIN annotator_uids u ON u.annotator_id = a.id ORDER BY a.id, u.rowid",
        )
        .map_err(source.sqlite())?;
    let mut rows = statement.query([]).map_err(source.sqlite())?;
    let mut all: Vec<Incoming> = Vec::new();
    while let Some(row) = rows.next().map_err(source.sqlite())? {
        let id: AnnotatorId = row.get(0).map_err(source.sqlite())?;
        let uid = (row.get(4).map_err(source.sqlite())?, row.get(5).map_err(source.sqlite())?);
        match all.last_mut() {
            Some(last) if last.id == id => last.uids.push(uid),
            _ => all.push(Incoming {
                id,
                name: row.get(1).map_err(source.sqlite())?,
                note: row.get(2).map_err(source.sqlite())?,
                created_utc: row.get(3).map_err(source.sqlite())?,
                uids: vec![uid],
            }),
        }
    }
    Ok(all)
}

/// The annotator here that `incoming` is (created when new), recorded in `summary`; `None` on
/// a name conflict (recorded too).
fn local_annotator(
    tx: &rusqlite::Transaction<'_>,
    incoming: &Incoming,
    options: &MergeOptions,
    source: &Store,
    summary: &mut MergeSummary,
) -> rusqlite::Result<Option<AnnotatorId>> {
    let mut record = |name: &str, action| {
        summary.annotators.push(AnnotatorMerge {
            name: name.to_owned(),
            source: source.path.clone(),
            action,
            events_new: 0,
            events_present: 0,
            events_held: 0,
        });
    };
    for (uid, _) in &incoming.uids {
        let known: Option<(AnnotatorId, String)> = tx
            .query_row(
                "SELECT a.id, a.name FROM annotator_uids u JOIN annotators a ON a.id = u.annotator_id WHERE u.uid = ?1",
                [uid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((id, name)) = known {
            record(&name, AnnotatorAction::Known);
            return Ok(Some(id));
        }
    }
    let renamed = options.renames.iter().find(|(old, _)| *old == incoming.name).map(|(_, new)| new.trim());
    let name = renamed.unwrap_or(&incoming.name);
    let taken: Option<(AnnotatorId, String)> = tx
        .query_row(
            "SELECT a.id, COALESCE((SELECT origin FROM annotator_uids u WHERE u.annotator_id = a.id ORDER BY u.rowid
                 LIMIT 1), '') FROM annotators a WHERE a.name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match taken {
        Some((id, _)) if renamed.is_none() && options.same_person.contains(&incoming.name) => {
            record(name, AnnotatorAction::Joined);
            Ok(Some(id))
        }
        Some((_, local_store)) => {
            record(name, AnnotatorAction::Conflict);
            summary.conflicts.push(MergeConflict {
                name: name.to_owned(),
                source: source.path.clone(),
                source_store: incoming.uids.first().map(|(_, origin)| origin.clone()).unwrap_or_default(),
                local_store,
            });
            Ok(None)
        }
        None => {
            tx.execute(
                "INSERT INTO annotators (name, note, created_utc) VALUES (?1, ?2, ?3)",
                params![name, incoming.note, incoming.created_utc],
            )?;
            let action = match renamed {
                Some(_) => AnnotatorAction::Renamed { from: incoming.name.clone() },
                None => AnnotatorAction::New,
            };
            record(name, action);
            Ok(Some(tx.last_insert_rowid()))
        }
    }
}

/// Sets `annotator`'s judgments to what the merged log leaves: per point, the state of the
/// latest event in event time (ties broken by origin store, then the event's number there).
fn recompute_judgments(tx: &rusqlite::Transaction<'_>, annotator: AnnotatorId) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM judgments WHERE annotator_id = ?1", [annotator])?;
    tx.execute(
        "INSERT INTO judgments (annotator_id, utterance_id, modality, valence, arousal, status, unsure, reason, event_id)
         SELECT annotator_id, utterance_id, modality, new_valence, new_arousal, new_status, new_unsure, new_reason, id
         FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY utterance_id, modality
                                            ORDER BY time_utc DESC, origin DESC, origin_seq DESC) AS latest
               FROM events WHERE annotator_id = ?1)
         WHERE latest = 1 AND new_status IS NOT NULL",
        [annotator],
    )?;
    Ok(())
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
