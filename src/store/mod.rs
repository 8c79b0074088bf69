//! Everything the app writes about a dataset (DESIGN.md §3): annotators, the audit event log and
//! each annotator's current judgment of every utterance's per-modality VA, in one SQLite file.
//!
//! The file sits beside the dataset (`<dataset>/univa-store.sqlite`) unless the user picks
//! another; a dataset folder that cannot be written falls back to the user's data folder. The
//! dataset's own files are never written. WAL journal with `synchronous=FULL`: every edit is one
//! transaction (the event and the judgment it leaves), durable once [`Store::record`] returns.
//! The schema is versioned (`PRAGMA user_version`) and migrated on open; a store from a newer
//! build is refused, and a damaged file is reported and left as it is.

mod export;
mod merge;
mod schema;
mod time;

pub use export::{Consensus, OverlaySource, events_csv, overlay_of};
pub use merge::{AnnotatorMerge, MergeConflict, MergeOptions, MergeSummary, SourceSummary};
pub use schema::LATEST as SCHEMA_VERSION;
pub use time::{format_utc_millis, utc_now};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};

use crate::dataset::Va;
use crate::modality::Modality;

/// The store file's name beside a dataset.
pub const STORE_FILE: &str = "univa-store.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{}: written by a newer UniVA Studio (store schema {found}; this version reads up to {supported}). \
         Update UniVA Studio, or choose another store file.",
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct Judgment {
    pub va: Va,
    pub status: Status,
    /// Flagged as unsure.
    pub unsure: bool,
    pub reason: String,
}

/// What an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
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

/// Where a dataset's store lives and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreLocation {
    pub path: PathBuf,
    /// The dataset folder cannot be written, so the store is in the user's data folder.
    pub fallback: bool,
    /// The store exists where it cannot be written (a dataset on a read-only share with its
    /// audits beside it): it is read, not written.
    pub read_only: bool,
}

impl StoreLocation {
    /// The store of the dataset at `dataset_root`: `explicit` if given, else beside the dataset,
    /// else (folder not writable) in the user's data folder.
    pub fn resolve(dataset_root: &Path, explicit: Option<&Path>) -> Result<Self, StoreError> {
        let data_dir =
            directories::ProjectDirs::from("org", "UniVA", "UniVA Studio").map(|d| d.data_dir().to_path_buf());
        Self::resolve_with(dataset_root, explicit, data_dir.as_deref(), is_writable_dir)
    }

    /// [`Self::resolve`] with the fallback folder and the writability check given (for tests,
    /// which may run as a user who can write anywhere).
    pub fn resolve_with(
        dataset_root: &Path,
        explicit: Option<&Path>,
        data_dir: Option<&Path>,
        writable: impl Fn(&Path) -> bool,
    ) -> Result<Self, StoreError> {
        if let Some(path) = explicit {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let read_only = path.is_file() && !writable(folder);
            return Ok(Self { path: path.to_path_buf(), fallback: false, read_only });
        }
        let beside = dataset_root.join(STORE_FILE);
        if writable(dataset_root) {
            return Ok(Self { path: beside, fallback: false, read_only: false });
        }
        // The audits that came with a dataset on a read-only share are its store.
        if beside.is_file() {
            return Ok(Self { path: beside, fallback: false, read_only: true });
        }
        Self::in_data_dir(dataset_root, data_dir)
    }

    /// Where the dataset's store goes in the user's data folder: when its own folder is
    /// read-only, and for a copy of a read-only store to go on editing in.
    pub fn in_user_data(dataset_root: &Path) -> Result<Self, StoreError> {
        let data_dir =
            directories::ProjectDirs::from("org", "UniVA", "UniVA Studio").map(|d| d.data_dir().to_path_buf());
        Self::in_data_dir(dataset_root, data_dir.as_deref())
    }

    fn in_data_dir(dataset_root: &Path, data_dir: Option<&Path>) -> Result<Self, StoreError> {
        let Some(data_dir) = data_dir else {
            return Err(StoreError::Invalid {
                path: dataset_root.to_path_buf(),
                problem: "the dataset folder is read-only and there is no user data folder; pick a store file"
                    .to_owned(),
            });
        };
        // One store per dataset folder: named after the folder and a hash of its full path.
        let absolute = std::fs::canonicalize(dataset_root).unwrap_or_else(|_| dataset_root.to_path_buf());
        let digest = <sha2::Sha256 as sha2::Digest>::digest(absolute.to_string_lossy().as_bytes());
        let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let name = absolute.file_name().map_or_else(|| "dataset".to_owned(), |n| n.to_string_lossy().into_owned());
        Ok(Self {
            path: data_dir.join("stores").join(format!("{name}-{hash}.sqlite")),
            fallback: true,
            read_only: false,
        })
    }
}

/// SQLite would make an empty file a new store; no store is ever left empty, so one that is
/// was cut off (a full disk, a failed copy) and is reported like any damaged one.
fn refuse_empty(path: &Path) -> Result<(), StoreError> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            problem: "the file is empty (0 bytes), so it was damaged, e.g. by a full disk or a failed copy".to_owned(),
        });
    }
    Ok(())
}

/// Whether an existing store file can be written where it is: the file, and its folder (for
/// the write-ahead log beside it).
fn store_writable(path: &Path) -> bool {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::metadata(path).is_ok_and(|m| !m.permissions().readonly()) && is_writable_dir(folder)
}

/// The error for a store path that is a folder.
fn folder_at(path: &Path) -> StoreError {
    StoreError::Invalid {
        path: path.to_path_buf(),
        problem: format!("is a folder, not an audit store file; give the store file itself (such as {STORE_FILE})"),
    }
}

/// Whether a file can be created in `dir` (tried, not guessed from permission bits).
pub fn is_writable_dir(dir: &Path) -> bool {
    let probe = dir.join(format!(".univa-write-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => std::fs::remove_file(&probe).is_ok(),
        Err(_) => false,
    }
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Opened read-only (see [`Store::open_read_only`]).
    read_only: bool,
    /// This store's random id (schema 4), the `origin` of the events it writes.
    id: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

const META_DATASET: &str = "dataset";
const META_STORE_ID: &str = "store_id";

/// A new random 128-bit id in hex, for events and annotators.
fn random_uid() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Store {
    /// Opens the existing store of `dataset` (`explicit`, or where [`StoreLocation::resolve`]
    /// puts it); a missing store is an error that says how to make one.
    pub fn open_existing(dataset: &crate::dataset::Dataset, explicit: Option<&Path>) -> Result<Self, StoreError> {
        let location = StoreLocation::resolve(&dataset.root, explicit)?;
        if location.path.is_dir() {
            return Err(folder_at(&location.path));
        }
        if !location.path.is_file() {
            return Err(StoreError::Invalid {
                path: location.path,
                problem: "no audit store here yet; audit the dataset in the workbench's Audit tab first".to_owned(),
            });
        }
        if location.read_only {
            return Self::open_read_only(&location.path, &dataset.manifest.name);
        }
        Self::open(&location.path, &dataset.manifest.name)
    }

    /// Opens an existing store without writing anything to it or beside it: for a store that
    /// cannot be written (its folder is read-only). Its audits can be read and exported; an
    /// edit is a [`StoreError::ReadOnly`]. A store of an older schema cannot be brought up to
    /// date here, which the error says.
    pub fn open_read_only(path: &Path, dataset: &str) -> Result<Self, StoreError> {
        let sqlite = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
        if path.is_dir() {
            return Err(folder_at(path));
        }
        refuse_empty(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let plain = Connection::open_with_flags(path, flags).map_err(sqlite)?;
        let conn = match check_readable(&plain, path) {
            Ok(()) => plain,
            // A read-only folder without the WAL index file: SQLite cannot create one there.
            // With no write-ahead log to replay, the file alone is the whole store.
            Err(error) => {
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                if std::fs::metadata(PathBuf::from(wal)).is_ok_and(|m| m.len() > 0) {
                    return Err(error);
                }
                let uri = format!(
                    "file:{}?immutable=1",
                    path.to_string_lossy().replace('%', "%25").replace('?', "%3f").replace('#', "%23")
                );
                let conn = Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI).map_err(sqlite)?;
                check_readable(&conn, path)?;
                conn
            }
        };
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sqlite)?;
        if version > schema::LATEST {
            return Err(StoreError::Newer { path: path.to_path_buf(), found: version, supported: schema::LATEST });
        }
        if version < schema::LATEST {
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                problem: format!(
                    "is read-only and of an older store schema ({version}), which cannot be brought up to date \
                     where it is; copy it into a writable folder"
                ),
            });
        }
        let mut store = Self { conn, path: path.to_path_buf(), read_only: true, id: String::new() };
        store.owner_is(dataset)?;
        store.id = store.meta(META_STORE_ID)?.ok_or_else(|| store.invalid("the store has no id"))?;
        Ok(store)
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Writes a copy of the whole store to `path` (a new file; an existing one is refused), as
    /// one consistent snapshot even of a read-only store: to go on auditing where it can be
    /// written.
    pub fn copy_to(&self, path: &Path) -> Result<(), StoreError> {
        if path.exists() {
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                problem: "already exists; a copy is never written over a store".to_owned(),
            });
        }
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        }
        // Written beside under a temporary name and renamed: a cut-off copy never looks like a store.
        let mut partial = path.as_os_str().to_owned();
        partial.push(format!(".partial-{}", std::process::id()));
        let partial = PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);
        self.conn
            .execute("VACUUM INTO ?1", [partial.to_string_lossy().as_ref()])
            .map_err(|source| StoreError::Sqlite { path: path.to_path_buf(), source })?;
        std::fs::rename(&partial, path).map_err(|source| StoreError::Io { path: path.to_path_buf(), source })
    }

    /// Refuses an edit of a read-only store.
    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only { Err(StoreError::ReadOnly { path: self.path.clone() }) } else { Ok(()) }
    }

    /// Opens (or creates) the store at `path` for the dataset named `dataset`, migrating it to
    /// the current schema.
    pub fn open(path: &Path, dataset: &str) -> Result<Self, StoreError> {
        let sqlite = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        }
        if path.is_dir() {
            return Err(folder_at(path));
        }
        let existed = path.exists();
        refuse_empty(path)?;
        if existed && !store_writable(path) {
            return Self::open_read_only(path, dataset);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        if existed {
            // Read before anything is written: a file that is not a database, or a damaged one,
            // is reported as it is (nothing below runs on it).
            check_readable(&conn, path)?;
        }
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sqlite)?;
        if version > schema::LATEST {
            return Err(StoreError::Newer { path: path.to_path_buf(), found: version, supported: schema::LATEST });
        }
        conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite)?;
        let mut store = Self { conn, path: path.to_path_buf(), read_only: false, id: String::new() };
        store.migrate(version, schema::LATEST)?;
        store.claim(dataset)?;
        store.id = store.meta(META_STORE_ID)?.ok_or_else(|| store.invalid("the store has no id"))?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This store's random id, which names it in merge reports.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The dataset this store belongs to.
    pub fn dataset_name(&self) -> Result<String, StoreError> {
        self.meta(META_DATASET)?.ok_or_else(|| self.invalid("the store names no dataset"))
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.sqlite())
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Applies migrations `from + 1 ..= to` in one transaction.
    fn migrate(&mut self, from: i64, to: i64) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sqlite)?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(from as usize).take((to - from) as usize) {
            tx.execute_batch(sql).map_err(sqlite)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)
    }

    /// The dataset the store belongs to (none yet in a new store); another dataset's store is
    /// refused.
    fn owner_is(&self, dataset: &str) -> Result<Option<String>, StoreError> {
        match self.meta(META_DATASET)? {
            Some(found) if found != dataset => {
                Err(StoreError::OtherDataset { path: self.path.clone(), found, expected: dataset.to_owned() })
            }
            found => Ok(found),
        }
    }

    /// Records which dataset a new store belongs to; refuses another dataset's store.
    fn claim(&self, dataset: &str) -> Result<(), StoreError> {
        match self.owner_is(dataset)? {
            Some(_) => Ok(()),
            None => self
                .conn
                .execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", [META_DATASET, dataset])
                .map(|_| ())
                .map_err(self.sqlite()),
        }
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(self.sqlite())
    }

    /// `PRAGMA integrity_check`: `Ok(())` or the problems SQLite found.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let rows = pragma_rows(&self.conn, "integrity_check").map_err(self.sqlite())?;
        if rows == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Corrupt { path: self.path.clone(), problem: rows.join("; ") })
        }
    }

    pub fn annotators(&self) -> Result<Vec<Annotator>, StoreError> {
        let mut statement =
            self.conn.prepare("SELECT id, name, note FROM annotators ORDER BY name").map_err(self.sqlite())?;
        let rows = statement
            .query_map([], |r| Ok(Annotator { id: r.get(0)?, name: r.get(1)?, note: r.get(2)? }))
            .map_err(self.sqlite())?;
        rows.collect::<Result<_, _>>().map_err(self.sqlite())
    }

    pub fn annotator_named(&self, name: &str) -> Result<Option<Annotator>, StoreError> {
        self.conn
            .query_row("SELECT id, name, note FROM annotators WHERE name = ?1", [name], |r| {
                Ok(Annotator { id: r.get(0)?, name: r.get(1)?, note: r.get(2)? })
            })
            .optional()
            .map_err(self.sqlite())
    }

    /// Adds an annotator; the name (trimmed) must be non-empty and not taken.
    pub fn create_annotator(&self, name: &str, note: &str) -> Result<Annotator, StoreError> {
        self.writable()?;
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid {
                path: self.path.clone(),
                problem: "an annotator needs a name".to_owned(),
            });
        }
        if self.annotator_named(name)?.is_some() {
            return Err(StoreError::Invalid {
                path: self.path.clone(),
                problem: format!("an annotator named {name:?} already exists; pick it instead"),
            });
        }
        let tx = self.conn.unchecked_transaction().map_err(self.sqlite())?;
        tx.execute(
            "INSERT INTO annotators (name, note, created_utc) VALUES (?1, ?2, ?3)",
            params![name, note.trim(), utc_now()],
        )
        .map_err(self.sqlite())?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO annotator_uids (uid, annotator_id, origin) VALUES (?1, ?2, ?3)",
            params![random_uid(), id, self.id],
        )
        .map_err(self.sqlite())?;
        tx.commit().map_err(self.sqlite())?;
        Ok(Annotator { id, name: name.to_owned(), note: note.trim().to_owned() })
    }

    /// Every annotator's current judgments: annotator → (utterance id, modality) → judgment.
    pub fn judgments(&self) -> Result<StoredJudgments, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT annotator_id, utterance_id, modality, valence, arousal, status, unsure, reason, event_id
                 FROM judgments",
            )
            .map_err(self.sqlite())?;
        let mut rows = statement.query([]).map_err(self.sqlite())?;
        let mut all = StoredJudgments::new();
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            let annotator: AnnotatorId = row.get(0).map_err(self.sqlite())?;
            let utterance: String = row.get(1).map_err(self.sqlite())?;
            let modality = self.modality(&row.get::<_, String>(2).map_err(self.sqlite())?)?;
            let judgment = self.judgment_from(row, 3)?.ok_or_else(|| self.invalid("a judgment without a value"))?;
            // The app writes only VA in [-1, 1]; another tool may not have.
            let event: Option<EventId> = row.get(8).map_err(self.sqlite())?;
            for (name, value) in [("valence", judgment.va.valence), ("arousal", judgment.va.arousal)] {
                if !(-1.0..=1.0).contains(&value) {
                    let event = event.map_or_else(|| "a judgment".to_owned(), |e| format!("event {e}"));
                    return Err(self.invalid(&format!(
                        "{event} (annotator {annotator}, utterance {utterance:?}, {modality}) has {name} {value}, \
                         outside [-1, 1]; it was not written by UniVA Studio. Correct it in the workbench's audit"
                    )));
                }
            }
            all.entry(annotator).or_default().insert((utterance, modality), judgment);
        }
        Ok(all)
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

    /// One annotator's current judgment of one point.
    pub fn judgment(
        &self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT valence, arousal, status, unsure, reason FROM judgments
                 WHERE annotator_id = ?1 AND utterance_id = ?2 AND modality = ?3",
            )
            .map_err(self.sqlite())?;
        let mut rows = statement.query(params![annotator, utterance, modality.name()]).map_err(self.sqlite())?;
        match rows.next().map_err(self.sqlite())? {
            Some(row) => self.judgment_from(row, 0),
            None => Ok(None),
        }
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
        self.record_with_target(&change, Some(edit.id))
    }

    fn record_with_target(&mut self, change: &Change<'_>, target: Option<EventId>) -> Result<Event, StoreError> {
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
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sqlite)?;
        let old = tx
            .query_row(
                "SELECT valence, arousal, status, unsure, reason FROM judgments
                 WHERE annotator_id = ?1 AND utterance_id = ?2 AND modality = ?3",
                params![change.annotator, change.utterance, change.modality.name()],
                |r| {
                    Ok((
                        r.get::<_, f64>(0)?,
                        r.get::<_, f64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(sqlite)?;
        let old = match old {
            Some((v, a, status, unsure, reason)) => Some(Judgment {
                va: Va::new(v as f32, a as f32),
                status: Status::parse(&status).ok_or_else(|| StoreError::Invalid {
                    path: path.clone(),
                    problem: format!("unknown judgment status {status:?}"),
                })?,
                unsure,
                reason,
            }),
            None => None,
        };
        let time_utc = utc_now();
        let uid = random_uid();
        let new = change.new.as_ref();
        tx.execute(
            "INSERT INTO events (annotator_id, time_utc, utterance_id, modality, kind,
                 old_valence, old_arousal, old_status, old_unsure, old_reason,
                 new_valence, new_arousal, new_status, new_unsure, new_reason, reason, source_model, target_event,
                 model_valence, model_arousal, uid, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                 ?21, ?22)",
            params![
                change.annotator,
                time_utc,
                change.utterance,
                change.modality.name(),
                change.kind.name(),
                old.as_ref().map(|j| f64::from(j.va.valence)),
                old.as_ref().map(|j| f64::from(j.va.arousal)),
                old.as_ref().map(|j| j.status.name()),
                old.as_ref().map(|j| j.unsure),
                old.as_ref().map(|j| j.reason.as_str()),
                new.map(|j| f64::from(j.va.valence)),
                new.map(|j| f64::from(j.va.arousal)),
                new.map(|j| j.status.name()),
                new.map(|j| j.unsure),
                new.map(|j| j.reason.as_str()),
                change.reason,
                change.source_model,
                target,
                change.model.map(|va| f64::from(va.valence)),
                change.model.map(|va| f64::from(va.arousal)),
                uid,
                self.id,
            ],
        )
        .map_err(sqlite)?;
        let id = tx.last_insert_rowid();
        tx.execute("UPDATE events SET origin_seq = id WHERE id = ?1", [id]).map_err(sqlite)?;
        match new {
            Some(j) => tx.execute(
                "INSERT INTO judgments (annotator_id, utterance_id, modality, valence, arousal, status, unsure, reason, event_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (annotator_id, utterance_id, modality) DO UPDATE SET
                     valence = excluded.valence, arousal = excluded.arousal, status = excluded.status,
                     unsure = excluded.unsure, reason = excluded.reason, event_id = excluded.event_id",
                params![
                    change.annotator,
                    change.utterance,
                    change.modality.name(),
                    f64::from(j.va.valence),
                    f64::from(j.va.arousal),
                    j.status.name(),
                    j.unsure,
                    j.reason,
                    id
                ],
            ),
            None => tx.execute(
                "DELETE FROM judgments WHERE annotator_id = ?1 AND utterance_id = ?2 AND modality = ?3",
                params![change.annotator, change.utterance, change.modality.name()],
            ),
        }
        .map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        Ok(Event {
            id,
            annotator: change.annotator,
            time_utc,
            utterance: change.utterance.to_owned(),
            modality: change.modality,
            kind: change.kind,
            old,
            new: change.new.clone(),
            reason: change.reason.to_owned(),
            source_model: change.source_model.to_owned(),
            target,
            model: change.model,
            uid,
            origin: self.id.clone(),
        })
    }

    const EVENT_COLUMNS: &'static str = "id, annotator_id, time_utc, utterance_id, modality, kind,
        old_valence, old_arousal, old_status, old_unsure, old_reason,
        new_valence, new_arousal, new_status, new_unsure, new_reason, reason, source_model, target_event,
        model_valence, model_arousal, uid, origin";

    pub fn event(&self, id: EventId) -> Result<Event, StoreError> {
        let sql = format!("SELECT {} FROM events WHERE id = ?1", Self::EVENT_COLUMNS);
        let mut statement = self.conn.prepare(&sql).map_err(self.sqlite())?;
        let mut rows = statement.query([id]).map_err(self.sqlite())?;
        match rows.next().map_err(self.sqlite())? {
            Some(row) => self.event_from(row),
            None => Err(self.invalid(&format!("no event {id}"))),
        }
    }

    /// The whole event log, oldest first.
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        let sql = format!("SELECT {} FROM events ORDER BY id", Self::EVENT_COLUMNS);
        let mut statement = self.conn.prepare(&sql).map_err(self.sqlite())?;
        let mut rows = statement.query([]).map_err(self.sqlite())?;
        let mut events = Vec::new();
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            events.push(self.event_from(row)?);
        }
        Ok(events)
    }

    fn event_from(&self, row: &rusqlite::Row<'_>) -> Result<Event, StoreError> {
        let get_text = |i| row.get::<_, String>(i).map_err(self.sqlite());
        let kind = get_text(5)?;
        Ok(Event {
            id: row.get(0).map_err(self.sqlite())?,
            annotator: row.get(1).map_err(self.sqlite())?,
            time_utc: get_text(2)?,
            utterance: get_text(3)?,
            modality: self.modality(&get_text(4)?)?,
            kind: EventKind::parse(&kind).ok_or_else(|| self.invalid(&format!("unknown event kind {kind:?}")))?,
            old: self.judgment_from(row, 6)?,
            new: self.judgment_from(row, 11)?,
            reason: get_text(16)?,
            source_model: get_text(17)?,
            target: row.get(18).map_err(self.sqlite())?,
            model: match (row.get::<_, Option<f64>>(19), row.get::<_, Option<f64>>(20)) {
                (Ok(Some(v)), Ok(Some(a))) => Some(Va::new(v as f32, a as f32)),
                (Ok(_), Ok(_)) => None,
                (Err(e), _) | (_, Err(e)) => return Err(self.sqlite()(e)),
            },
            uid: get_text(21)?,
            origin: get_text(22)?,
        })
    }

    /// valence, arousal, status, unsure, reason from column `first` on; `None` if status is NULL.
    fn judgment_from(&self, row: &rusqlite::Row<'_>, first: usize) -> Result<Option<Judgment>, StoreError> {
        let status: Option<String> = row.get(first + 2).map_err(self.sqlite())?;
        let Some(status) = status else { return Ok(None) };
        Ok(Some(Judgment {
            va: Va::new(
                row.get::<_, f64>(first).map_err(self.sqlite())? as f32,
                row.get::<_, f64>(first + 1).map_err(self.sqlite())? as f32,
            ),
            status: Status::parse(&status).ok_or_else(|| self.invalid(&format!("unknown status {status:?}")))?,
            unsure: row.get(first + 3).map_err(self.sqlite())?,
            reason: row.get(first + 4).map_err(self.sqlite())?,
        }))
    }

    fn modality(&self, name: &str) -> Result<Modality, StoreError> {
        Modality::from_name(name).ok_or_else(|| self.invalid(&format!("unknown modality {name:?}")))
    }

    fn invalid(&self, problem: &str) -> StoreError {
        StoreError::Invalid { path: self.path.clone(), problem: problem.to_owned() }
    }
}

fn pragma_rows(conn: &Connection, pragma: &str) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare(&format!("PRAGMA {pragma}"))?;
    let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Reads an existing file's header and checks its pages, writing nothing.
fn check_readable(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let corrupt = |problem: String| StoreError::Corrupt { path: path.to_path_buf(), problem };
    let rows = pragma_rows(conn, "quick_check").map_err(|e| corrupt(e.to_string()))?;
    if rows == ["ok"] { Ok(()) } else { Err(corrupt(rows.join("; "))) }
}

#[cfg(test)]
mod tests;
