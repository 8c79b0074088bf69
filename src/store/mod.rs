//! Everything the app writes about a dataset (DESIGN.md §3): annotators, the audit event log and
//! each annotator's current judgment of every utterance's per-modality VA.
//!
//! A store has one of two backends behind the same [`Store`]: a SQLite file (`file`), beside
//! the dataset unless the user picks another, for the annotators of one machine; or a schema on
//! a PostgreSQL server (`server`), which annotators on several machines write at once. The
//! backends only store and read (`backend`); the rules — what an edit records, which judgment
//! an event log leaves, how stores merge, what is exported — are written once over them
//! (`rules`, `merge`, `export`). Every edit is one transaction, durable once [`Store::record`]
//! returns: in the file, on the server, or, while the server cannot be reached, in a local
//! journal that is sent when it answers again. The schema is versioned alike on both backends;
//! a store from a newer build is refused, and a damaged file is reported and left as it is.

mod backend;
mod export;
mod file;
mod location;
mod merge;
mod rules;
mod schema;
mod server;
mod time;
mod watch;

pub use export::{Consensus, OverlaySource, events_csv, overlay_of};
pub use location::{StoreAddress, StoreLocation, is_writable_dir};
pub use merge::{AnnotatorMerge, MergeConflict, MergeOptions, MergeSummary, SourceSummary};
pub use schema::LATEST as SCHEMA_VERSION;
pub use server::ServerAddress;
pub use time::{format_utc_millis, utc_now};
pub use watch::{StoreWatcher, WATCH_INTERVAL, Wake, WatchReport};

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use backend::Edit;
use file::FileStore;
use server::ServerStore;

use crate::dataset::Va;
use crate::modality::Modality;

/// The store file's name beside a dataset.
pub const STORE_FILE: &str = "univa-store.sqlite";

/// A store's errors. `path` names the store: its file, or for a server store its address
/// (without a password).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{}: written by a newer UniVA Studio (store schema {found}; this version reads up to {supported}). \
         Update UniVA Studio, or choose another store.",
        path.display()
    )]
    Newer { path: PathBuf, found: i64, supported: i64 },
    #[error(
        "{}: is not a readable UniVA store ({problem}). The file was left untouched; move it aside \
         to start a new store, or restore it from a backup.",
        path.display()
    )]
    Corrupt { path: PathBuf, problem: String },
    #[error("{}: belongs to dataset {found:?}, not {expected:?}; choose the store of this dataset", path.display())]
    OtherDataset { path: PathBuf, found: String, expected: String },
    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{}: {problem}", path.display())]
    Server { path: PathBuf, problem: String },
    #[error(
        "{}: the server cannot be reached ({problem}); check that it runs and that this machine may connect to it",
        path.display()
    )]
    Unreachable { path: PathBuf, problem: String },
    /// No store of the dataset there yet.
    #[error("{}: {problem}", path.display())]
    Missing { path: PathBuf, problem: String },
    #[error("{}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
    #[error(
        "{}: is read-only (the file or its folder cannot be written): its audits can be read and exported, not \
         added to. Copy it into a writable folder (such as the user's data folder) to continue auditing.",
        path.display()
    )]
    ReadOnly { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type AnnotatorId = i64;
pub type EventId = i64;
/// Every annotator's current judgments: annotator → (utterance id, modality) → judgment.
pub type StoredJudgments = HashMap<AnnotatorId, HashMap<(String, Modality), Judgment>>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotator {
    pub id: AnnotatorId,
    pub name: String,
    pub note: String,
}

/// What an annotator said about one modality's VA of one utterance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The model's value is right.
    Accepted,
    /// The annotator moved the point.
    Corrected,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Corrected => "corrected",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Accepted, Self::Corrected].into_iter().find(|s| s.name() == name)
    }
}

/// An annotator's current judgment of one modality's VA of one utterance.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Judgment {
    pub va: Va,
    pub status: Status,
    /// Flagged as unsure.
    pub unsure: bool,
    pub reason: String,
}

/// What an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Correct,
    Accept,
    FlagUnsure,
    /// Restored the state before the target event.
    Undo,
    /// Restored the state the target event had left.
    Redo,
    /// Gave the target edit its reason (typed after the edit): the judgment with that reason.
    Reason,
}

impl EventKind {
    pub const ALL: [Self; 6] = [Self::Correct, Self::Accept, Self::FlagUnsure, Self::Undo, Self::Redo, Self::Reason];

    pub fn name(self) -> &'static str {
        match self {
            Self::Correct => "correct",
            Self::Accept => "accept",
            Self::FlagUnsure => "flag_unsure",
            Self::Undo => "undo",
            Self::Redo => "redo",
            Self::Reason => "reason",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// An edit to record: the state one annotator's judgment of one (utterance, modality) moves to.
#[derive(Clone, Debug)]
pub struct Change<'a> {
    pub annotator: AnnotatorId,
    pub utterance: &'a str,
    pub modality: Modality,
    pub kind: EventKind,
    /// `None` removes the judgment (an undo back to "not audited").
    pub new: Option<Judgment>,
    pub reason: &'a str,
    /// The dataset's provenance of the modality's VA (`*_va_model`).
    pub source_model: &'a str,
    /// The model's value of the point (the dataset's VA), which a first edit replaces.
    pub model: Option<Va>,
}

/// One row of the event log.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The event's number in this store. An edit kept in the local journal while the server
    /// could not be reached has a negative number until it is sent, which still names it here
    /// (to undo it, say) after it is sent.
    pub id: EventId,
    pub annotator: AnnotatorId,
    pub time_utc: String,
    pub utterance: String,
    pub modality: Modality,
    pub kind: EventKind,
    pub old: Option<Judgment>,
    pub new: Option<Judgment>,
    pub reason: String,
    pub source_model: String,
    /// For undo, redo and reason: the edit undone, redone or explained.
    pub target: Option<EventId>,
    /// The model's value of the point when the event was written (`None` in events written
    /// before the store recorded it).
    pub model: Option<Va>,
    /// The event's id in every store it is merged into, and the id of the store that wrote it.
    pub uid: String,
    pub origin: String,
}

/// A point in a store's history, after which [`Store::changes_since`] tells what changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeMark {
    /// The newest event and the newest annotator.
    event: EventId,
    annotator: AnnotatorId,
}

/// What changed in a store after a [`ChangeMark`], written by this process or any other.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreChanges {
    /// Where the next [`Store::changes_since`] starts.
    pub mark: ChangeMark,
    /// The events written, oldest first.
    pub events: Vec<Event>,
    /// The current judgment of every point those events touched: (annotator, utterance id,
    /// modality, judgment), `None` where the point has no judgment any more.
    pub judgments: Vec<(AnnotatorId, String, Modality, Option<Judgment>)>,
    /// Every annotator, when annotators were added; `None` when none were.
    pub annotators: Option<Vec<Annotator>>,
}

impl StoreChanges {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.annotators.is_none()
    }
}

/// Whether a store's edits reach it: always for a file; for a server store, whether the
/// server answers and how many edits wait in the local journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncStatus {
    pub online: bool,
    /// Edits kept in the local journal, not yet on the server.
    pub pending: usize,
    /// Why the server cannot be reached, or why the journal could not be sent to it.
    pub problem: Option<String>,
}

/// An open store.
pub struct Store {
    backend: Backend,
    address: StoreAddress,
    /// This store's random id (schema 4), the `origin` of the events it writes.
    id: String,
}

enum Backend {
    File(FileStore),
    Server(Box<ServerStore>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path()).finish_non_exhaustive()
    }
}

const META_DATASET: &str = "dataset";
const META_STORE_ID: &str = "store_id";

/// A new random 128-bit id in hex, for events and annotators.
fn random_uid() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Store {
    /// Opens (or creates) the store file at `path` for the dataset named `dataset`, migrating
    /// it to the current schema.
    pub fn open(path: &Path, dataset: &str) -> Result<Self, StoreError> {
        Self::with_backend(Backend::File(FileStore::open(path, dataset)?))
    }

    /// Opens an existing store file without writing anything to it or beside it: for a store
    /// that cannot be written (its folder is read-only). Its audits can be read and exported;
    /// an edit is a [`StoreError::ReadOnly`]. A store of an older schema cannot be brought up
    /// to date here, which the error says.
    pub fn open_read_only(path: &Path, dataset: &str) -> Result<Self, StoreError> {
        Self::with_backend(Backend::File(FileStore::open_read_only(path, dataset)?))
    }

    /// Opens (or creates) the store at `address` for the dataset named `dataset`: a file as
    /// [`Store::open`] does, or the dataset's schema on a server (created when it has none).
    /// A server store keeps edits made while the server cannot be reached in a journal in the
    /// user's data folder.
    pub fn open_at(address: &StoreAddress, dataset: &str) -> Result<Self, StoreError> {
        match address {
            StoreAddress::File(path) => Self::open(path, dataset),
            StoreAddress::Server(server) => Self::open_server(server, dataset, &server::default_journals(server)?),
        }
    }

    /// Opens (or creates) the dataset's store on a server, keeping edits made while the server
    /// cannot be reached in a journal under `journals`.
    pub fn open_server(address: &ServerAddress, dataset: &str, journals: &Path) -> Result<Self, StoreError> {
        Self::with_backend(Backend::Server(Box::new(ServerStore::open(address, dataset, true, journals)?)))
    }

    /// Opens the existing store of `dataset`: `explicit`, or the file where
    /// [`StoreLocation::resolve`] puts it. A missing store is an error that says how to make
    /// one; a file that cannot be written is opened read-only.
    pub fn open_existing(
        dataset: &crate::dataset::Dataset,
        explicit: Option<&StoreAddress>,
    ) -> Result<Self, StoreError> {
        let path = match explicit {
            Some(StoreAddress::Server(server)) => {
                let journals = server::default_journals(server)?;
                let store = ServerStore::open(server, &dataset.manifest.name, false, &journals)?;
                return Self::with_backend(Backend::Server(Box::new(store)));
            }
            Some(StoreAddress::File(path)) => Some(path.as_path()),
            None => None,
        };
        let location = StoreLocation::resolve(&dataset.root, path)?;
        if location.path.is_dir() {
            return Err(file::folder_at(&location.path));
        }
        if !location.path.is_file() {
            return Err(StoreError::Missing {
                path: location.path,
                problem: "no audit store here yet; audit the dataset first (the Audit layout of `univa gui`)"
                    .to_owned(),
            });
        }
        if location.read_only {
            return Self::open_read_only(&location.path, &dataset.manifest.name);
        }
        Self::open(&location.path, &dataset.manifest.name)
    }

    fn with_backend(backend: Backend) -> Result<Self, StoreError> {
        let address = match &backend {
            Backend::File(file) => StoreAddress::File(file.path().to_path_buf()),
            Backend::Server(server) => StoreAddress::Server(server.address().clone()),
        };
        let mut store = Self { backend, address, id: String::new() };
        store.id = store.storage().meta(META_STORE_ID)?.ok_or_else(|| store.invalid("the store has no id"))?;
        Ok(store)
    }

    fn storage(&self) -> &dyn backend::Storage {
        match &self.backend {
            Backend::File(file) => file,
            Backend::Server(server) => server.as_ref(),
        }
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        matches!(&self.backend, Backend::File(file) if file.is_read_only())
    }

    /// Whether the store is on a server.
    pub fn is_server(&self) -> bool {
        matches!(self.backend, Backend::Server(_))
    }

    /// Writes a copy of the whole store file to `path` (a new file; an existing one is
    /// refused), as one consistent snapshot even of a read-only store: to go on auditing where
    /// it can be written.
    pub fn copy_to(&self, path: &Path) -> Result<(), StoreError> {
        match &self.backend {
            Backend::File(file) => file.copy_to(path),
            Backend::Server(_) => Err(self.invalid("is a server store; copy it with the server's tools (pg_dump)")),
        }
    }

    /// Refuses an edit of a read-only store.
    fn writable(&self) -> Result<(), StoreError> {
        if self.is_read_only() { Err(StoreError::ReadOnly { path: self.path().to_path_buf() }) } else { Ok(()) }
    }

    /// The store's file, or for a server store its address as text (without a password).
    pub fn path(&self) -> &Path {
        self.storage().name()
    }

    /// Where the store is: what settings keep to open it again (a server address without its
    /// password).
    pub fn address(&self) -> &StoreAddress {
        &self.address
    }

    /// This store's random id, which names it in merge reports.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The dataset this store belongs to.
    pub fn dataset_name(&self) -> Result<String, StoreError> {
        self.storage().meta(META_DATASET)?.ok_or_else(|| self.invalid("the store names no dataset"))
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.storage().schema_version()
    }

    /// A file's `PRAGMA integrity_check`: `Ok(())` or the problems SQLite found. A server
    /// checks its own pages; there it is `Ok(())`.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::File(file) => file.integrity_check(),
            Backend::Server(_) => Ok(()),
        }
    }

    /// Every annotator, by name.
    pub fn annotators(&self) -> Result<Vec<Annotator>, StoreError> {
        self.storage().annotators()
    }

    pub fn annotator_named(&self, name: &str) -> Result<Option<Annotator>, StoreError> {
        Ok(self.annotators()?.into_iter().find(|a| a.name == name))
    }

    /// Adds an annotator; the name (trimmed) must be non-empty and not taken.
    pub fn create_annotator(&self, name: &str, note: &str) -> Result<Annotator, StoreError> {
        self.writable()?;
        let (name, note) = (name.trim(), note.trim());
        if name.is_empty() {
            return Err(self.invalid("an annotator needs a name"));
        }
        let (created, uid) = (utc_now(), random_uid());
        let id = self.storage().transaction(|tx: &mut dyn backend::WriteTx| {
            if tx.annotator_named(name)?.is_some() {
                return Err(self.invalid(&format!("an annotator named {name:?} already exists; pick it instead")));
            }
            let id = tx.insert_annotator(name, note, &created)?;
            tx.add_annotator_uid(&uid, id, &self.id)?;
            Ok(id)
        })?;
        Ok(Annotator { id, name: name.to_owned(), note: note.to_owned() })
    }

    /// Every annotator's current judgments: annotator → (utterance id, modality) → judgment.
    pub fn judgments(&self) -> Result<StoredJudgments, StoreError> {
        let mut all = StoredJudgments::new();
        for row in self.storage().judgments()? {
            // The app writes only VA in [-1, 1]; another tool may not have.
            for (name, value) in [("valence", row.judgment.va.valence), ("arousal", row.judgment.va.arousal)] {
                if !(-1.0..=1.0).contains(&value) {
                    let event = row.event.map_or_else(|| "a judgment".to_owned(), |e| format!("event {e}"));
                    return Err(self.invalid(&format!(
                        "{event} (annotator {}, utterance {:?}, {}) has {name} {value}, outside [-1, 1]; it was not \
                         written by UniVA Studio. Correct it in the workbench's audit",
                        row.annotator, row.utterance, row.modality
                    )));
                }
            }
            all.entry(row.annotator).or_default().insert((row.utterance, row.modality), row.judgment);
        }
        Ok(all)
    }

    /// One annotator's current judgment of one point.
    pub fn judgment(
        &self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError> {
        self.storage().judgment(annotator, utterance, modality)
    }

    /// Records one edit in one transaction: the event (with the state it replaced) and the
    /// judgment it leaves. Durable when this returns.
    pub fn record(&mut self, change: &Change<'_>) -> Result<Event, StoreError> {
        self.record_with_target(change, None)
    }

    /// Undoes edit `target`: records an undo event that restores the judgment before it.
    pub fn undo(&mut self, annotator: AnnotatorId, target: EventId) -> Result<Event, StoreError> {
        let edit = self.event(target)?;
        self.replay(annotator, &edit, EventKind::Undo, edit.old.clone(), "")
    }

    /// Redoes edit `target` (undone before): restores the judgment it left.
    pub fn redo(&mut self, annotator: AnnotatorId, target: EventId) -> Result<Event, StoreError> {
        let edit = self.event(target)?;
        self.replay(annotator, &edit, EventKind::Redo, edit.new.clone(), "")
    }

    /// Gives edit `target` the reason typed after it: records a reason event whose new state is
    /// the point's current judgment with that reason (the log stays append-only).
    pub fn explain(&mut self, annotator: AnnotatorId, target: EventId, reason: &str) -> Result<Event, StoreError> {
        let edit = self.event(target)?;
        let current = self
            .judgment(annotator, &edit.utterance, edit.modality)?
            .ok_or_else(|| self.invalid(&format!("event {target} left no judgment to give a reason")))?;
        let reason = reason.trim();
        self.replay(
            annotator,
            &edit,
            EventKind::Reason,
            Some(Judgment { reason: reason.to_owned(), ..current }),
            reason,
        )
    }

    fn replay(
        &mut self,
        annotator: AnnotatorId,
        edit: &Event,
        kind: EventKind,
        state: Option<Judgment>,
        reason: &str,
    ) -> Result<Event, StoreError> {
        if edit.annotator != annotator {
            return Err(self.invalid(&format!("event {} is another annotator's edit", edit.id)));
        }
        let change = Change {
            annotator,
            utterance: &edit.utterance,
            modality: edit.modality,
            kind,
            new: state,
            reason,
            source_model: &edit.source_model,
            model: edit.model,
        };
        self.record_with_target(&change, Some(edit))
    }

    fn record_with_target(&mut self, change: &Change<'_>, target: Option<&Event>) -> Result<Event, StoreError> {
        self.writable()?;
        if let Some(new) = &change.new {
            let ok = |x: f32| x.is_finite() && (-1.0..=1.0).contains(&x);
            if !ok(new.va.valence) || !ok(new.va.arousal) {
                return Err(self.invalid(&format!(
                    "VA ({}, {}) of {} {} is not a point in [-1, 1]²",
                    new.va.valence, new.va.arousal, change.utterance, change.modality
                )));
            }
        }
        let edit = Edit { change, target, uid: random_uid(), origin: &self.id, time_utc: utc_now() };
        self.storage().record(&edit)
    }

    pub fn event(&self, id: EventId) -> Result<Event, StoreError> {
        self.storage().event(id)?.ok_or_else(|| self.invalid(&format!("no event {id}")))
    }

    /// The whole event log, oldest first.
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        Ok(self.storage().log(0, None)?.into_iter().map(|logged| logged.event).collect())
    }

    /// Where the store's history is now: give it to [`Store::changes_since`] later.
    pub fn change_mark(&self) -> Result<ChangeMark, StoreError> {
        self.storage().change_mark()
    }

    /// What changed after `since`, by this process or any other writing the same store: cheap
    /// when nothing did (one query), so a window can ask every second to show other
    /// annotators' judgments as they come. For a server store it also reconnects and sends the
    /// journal once the server answers again; while it does not, nothing changes. Trying a
    /// server whose host does not answer at all can take the connect timeout (5 s), at most once
    /// a second, so a window asks off its UI thread.
    pub fn changes_since(&self, since: ChangeMark) -> Result<StoreChanges, StoreError> {
        let mark = self.change_mark()?;
        if mark == since {
            return Ok(StoreChanges { mark, ..StoreChanges::default() });
        }
        let events: Vec<Event> =
            self.storage().log(since.event, Some(mark.event))?.into_iter().map(|logged| logged.event).collect();
        let touched: BTreeSet<(AnnotatorId, &str, Modality)> =
            events.iter().map(|e| (e.annotator, e.utterance.as_str(), e.modality)).collect();
        let mut now: HashMap<(AnnotatorId, String, Modality), Judgment> = self
            .storage()
            .judgments_touched(since.event, mark.event)?
            .into_iter()
            .map(|row| ((row.annotator, row.utterance, row.modality), row.judgment))
            .collect();
        let judgments = touched
            .into_iter()
            .map(|(annotator, utterance, modality)| {
                let judgment = now.remove(&(annotator, utterance.to_owned(), modality));
                (annotator, utterance.to_owned(), modality, judgment)
            })
            .collect();
        let annotators = if mark.annotator == since.annotator { None } else { Some(self.annotators()?) };
        Ok(StoreChanges { mark, events, judgments, annotators })
    }

    /// Whether edits reach the store, without trying anything (see [`Store::sync`]).
    pub fn sync_status(&self) -> SyncStatus {
        match &self.backend {
            Backend::File(_) => SyncStatus { online: true, pending: 0, problem: None },
            Backend::Server(server) => server.status(),
        }
    }

    /// For a server store: reconnects now if the connection was lost, and sends the journal's
    /// edits; then the status. (Every other call tries too, at most once a second.)
    pub fn sync(&self) -> SyncStatus {
        if let Backend::Server(server) = &self.backend {
            server.sync();
        }
        self.sync_status()
    }

    fn invalid(&self, problem: &str) -> StoreError {
        StoreError::Invalid { path: self.path().to_path_buf(), problem: problem.to_owned() }
    }
}

#[cfg(test)]
impl Store {
    /// The store file's connection, for tests that look under the store.
    fn conn(&self) -> &rusqlite::Connection {
        match &self.backend {
            Backend::File(file) => file.conn(),
            Backend::Server(_) => panic!("{} is a server store, not a file", self.path().display()),
        }
    }
}

#[cfg(test)]
mod tests;
