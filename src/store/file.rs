//! The file backend: a store in one SQLite file.
//!
//! WAL journal with `synchronous=FULL`: every edit is one transaction (the event and the
//! judgment it leaves), durable once it commits; writers take the write lock when their
//! transaction begins, so several processes can write one file. The schema is versioned
//! (`PRAGMA user_version`) and migrated on open; a store from a newer build is refused, a
//! damaged file is reported and left as it is, and a file that cannot be written is read
//! without writing anything beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};

use super::backend::{
    AnnotatorRecord, EVENT_COLUMNS, Edit, EditTx, JUDGMENT_COLUMNS, JudgmentRow, LoggedEvent, Storage, WriteTx,
};
use super::location::is_writable_dir;
use super::{
    Annotator, AnnotatorId, ChangeMark, Event, EventId, EventKind, Judgment, META_DATASET, STORE_FILE, Status,
    StoreError, rules, schema,
};
use crate::dataset::Va;
use crate::modality::Modality;

/// An open store file.
pub(super) struct FileStore {
    conn: Connection,
    path: PathBuf,
    /// Opened read-only (see [`FileStore::open_read_only`]).
    read_only: bool,
}

impl Drop for FileStore {
    /// Moves what the write-ahead log holds into the file itself, so that the file alone is the
    /// whole store once the app closes it — the file an annotator copies to the lead — even
    /// while another connection (another window, a store watcher) keeps the log open.
    fn drop(&mut self) {
        if !self.read_only {
            self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).ok();
        }
    }
}

/// The error for a store path that is a folder.
pub(super) fn folder_at(path: &Path) -> StoreError {
    StoreError::Invalid {
        path: path.to_path_buf(),
        problem: format!("is a folder, not an audit store file; give the store file itself (such as {STORE_FILE})"),
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

impl FileStore {
    /// Opens (or creates) the store at `path` for the dataset named `dataset`, migrating it to
    /// the current schema; an existing store that cannot be written is opened read-only.
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
        let store = Self { conn, path: path.to_path_buf(), read_only: false };
        store.migrate(version, schema::LATEST)?;
        store.claim(dataset)?;
        Ok(store)
    }

    /// Opens an existing store without writing anything to it or beside it. A store of an
    /// older schema cannot be brought up to date here, which the error says.
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
        let store = Self { conn, path: path.to_path_buf(), read_only: true };
        store.owner_is(dataset)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The connection, for tests that look under the store.
    #[cfg(test)]
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Writes a copy of the whole store to `path` (a new file; an existing one is refused), as
    /// one consistent snapshot even of a read-only store.
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

    /// `PRAGMA integrity_check`: `Ok(())` or the problems SQLite found.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let rows = pragma_rows(&self.conn, "integrity_check").map_err(self.sqlite())?;
        if rows == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Corrupt { path: self.path.clone(), problem: rows.join("; ") })
        }
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Applies migrations `from + 1 ..= to` in one transaction.
    fn migrate(&self, from: i64, to: i64) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        let tx = self.conn.unchecked_transaction().map_err(self.sqlite())?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(from as usize).take((to - from) as usize) {
            tx.execute_batch(sql).map_err(self.sqlite())?;
            tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(self.sqlite())?;
        }
        tx.commit().map_err(self.sqlite())
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

    fn judgment_rows(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<JudgmentRow>, StoreError> {
        let mut statement = self.conn.prepare(sql).map_err(self.sqlite())?;
        let mut rows = statement.query(params).map_err(self.sqlite())?;
        let mut all = Vec::new();
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            let judgment =
                judgment_from(row, 3, &self.path)?.ok_or_else(|| invalid(&self.path, "a judgment without a value"))?;
            all.push(JudgmentRow {
                annotator: row.get(0).map_err(self.sqlite())?,
                utterance: row.get(1).map_err(self.sqlite())?,
                modality: modality(&row.get::<_, String>(2).map_err(self.sqlite())?, &self.path)?,
                judgment,
                event: row.get(8).map_err(self.sqlite())?,
            });
        }
        Ok(all)
    }
}

impl Storage for FileStore {
    fn name(&self) -> &Path {
        &self.path
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(self.sqlite())
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.sqlite())
    }

    fn annotators(&self) -> Result<Vec<Annotator>, StoreError> {
        let mut statement =
            self.conn.prepare("SELECT id, name, note FROM annotators ORDER BY name").map_err(self.sqlite())?;
        let rows = statement
            .query_map([], |r| Ok(Annotator { id: r.get(0)?, name: r.get(1)?, note: r.get(2)? }))
            .map_err(self.sqlite())?;
        rows.collect::<Result<_, _>>().map_err(self.sqlite())
    }

    fn annotator_records(&self) -> Result<Vec<AnnotatorRecord>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT a.id, a.name, a.note, a.created_utc, u.uid, u.origin
                 FROM annotators a JOIN annotator_uids u ON u.annotator_id = a.id ORDER BY a.id, u.rowid",
            )
            .map_err(self.sqlite())?;
        let mut rows = statement.query([]).map_err(self.sqlite())?;
        let mut all: Vec<AnnotatorRecord> = Vec::new();
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            let id: AnnotatorId = row.get(0).map_err(self.sqlite())?;
            let uid = (row.get(4).map_err(self.sqlite())?, row.get(5).map_err(self.sqlite())?);
            match all.last_mut() {
                Some(last) if last.annotator.id == id => last.uids.push(uid),
                _ => all.push(AnnotatorRecord {
                    annotator: Annotator {
                        id,
                        name: row.get(1).map_err(self.sqlite())?,
                        note: row.get(2).map_err(self.sqlite())?,
                    },
                    created_utc: row.get(3).map_err(self.sqlite())?,
                    uids: vec![uid],
                }),
            }
        }
        Ok(all)
    }

    fn judgments(&self) -> Result<Vec<JudgmentRow>, StoreError> {
        self.judgment_rows(&format!("SELECT {JUDGMENT_COLUMNS} FROM judgments"), [])
    }

    fn judgment(
        &self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError> {
        let sql = format!(
            "SELECT {JUDGMENT_COLUMNS} FROM judgments WHERE annotator_id = ?1 AND utterance_id = ?2 AND modality = ?3"
        );
        Ok(self.judgment_rows(&sql, params![annotator, utterance, modality.name()])?.pop().map(|row| row.judgment))
    }

    fn event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1");
        let mut statement = self.conn.prepare(&sql).map_err(self.sqlite())?;
        let mut rows = statement.query([id]).map_err(self.sqlite())?;
        match rows.next().map_err(self.sqlite())? {
            Some(row) => Ok(Some(event_from(row, &self.path)?.event)),
            None => Ok(None),
        }
    }

    fn log(&self, after: EventId, up_to: Option<EventId>) -> Result<Vec<LoggedEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 AND id <= ?2 ORDER BY id");
        let mut statement = self.conn.prepare(&sql).map_err(self.sqlite())?;
        let mut rows = statement.query([after, up_to.unwrap_or(EventId::MAX)]).map_err(self.sqlite())?;
        let mut events = Vec::new();
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            events.push(event_from(row, &self.path)?);
        }
        Ok(events)
    }

    fn judgments_touched(&self, after: EventId, up_to: EventId) -> Result<Vec<JudgmentRow>, StoreError> {
        let sql = format!(
            "SELECT {JUDGMENT_COLUMNS} FROM judgments j WHERE EXISTS (SELECT 1 FROM events e
                 WHERE e.id > ?1 AND e.id <= ?2 AND e.annotator_id = j.annotator_id
                     AND e.utterance_id = j.utterance_id AND e.modality = j.modality)"
        );
        self.judgment_rows(&sql, [after, up_to])
    }

    fn change_mark(&self) -> Result<ChangeMark, StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT COALESCE(max(id), 0) FROM events), (SELECT COALESCE(max(id), 0) FROM annotators)",
                [],
                |r| Ok(ChangeMark { event: r.get(0)?, annotator: r.get(1)? }),
            )
            .map_err(self.sqlite())
    }

    fn write(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<bool, StoreError>) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly { path: self.path.clone() });
        }
        // Immediate: the write lock is taken now (waiting for another writer up to the busy
        // timeout), not when the first write finds that another process wrote since the reads.
        let tx =
            rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(self.sqlite())?;
        let mut sqlite_tx = SqliteTx { tx, path: &self.path };
        if work(&mut sqlite_tx)? {
            sqlite_tx.tx.commit().map_err(self.sqlite())?;
        }
        Ok(())
    }

    fn record(&self, edit: &Edit<'_>) -> Result<Event, StoreError> {
        rules::record(self, edit)
    }
}

/// A write transaction of a store file.
struct SqliteTx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl SqliteTx<'_> {
    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.to_path_buf(), source }
    }
}

impl EditTx for SqliteTx<'_> {
    fn judgment(
        &mut self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError> {
        let mut statement = self
            .tx
            .prepare_cached(
                "SELECT valence, arousal, status, unsure, reason FROM judgments
                 WHERE annotator_id = ?1 AND utterance_id = ?2 AND modality = ?3",
            )
            .map_err(self.sqlite())?;
        let mut rows = statement.query(params![annotator, utterance, modality.name()]).map_err(self.sqlite())?;
        match rows.next().map_err(self.sqlite())? {
            Some(row) => judgment_from(row, 0, self.path),
            None => Ok(None),
        }
    }

    fn set_judgment(
        &mut self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
        state: Option<(&Judgment, EventId)>,
    ) -> Result<(), StoreError> {
        match state {
            Some((j, event)) => self.tx.execute(
                "INSERT INTO judgments (annotator_id, utterance_id, modality, valence, arousal, status, unsure, reason, event_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (annotator_id, utterance_id, modality) DO UPDATE SET
                     valence = excluded.valence, arousal = excluded.arousal, status = excluded.status,
                     unsure = excluded.unsure, reason = excluded.reason, event_id = excluded.event_id",
                params![
                    annotator,
                    utterance,
                    modality.name(),
                    f64::from(j.va.valence),
                    f64::from(j.va.arousal),
                    j.status.name(),
                    j.unsure,
                    j.reason,
                    event
                ],
            ),
            None => self.tx.execute(
                "DELETE FROM judgments WHERE annotator_id = ?1 AND utterance_id = ?2 AND modality = ?3",
                params![annotator, utterance, modality.name()],
            ),
        }
        .map(|_| ())
        .map_err(self.sqlite())
    }

    fn insert_event(&mut self, event: &Event, origin_seq: i64) -> Result<EventId, StoreError> {
        let (old, new) = (event.old.as_ref(), event.new.as_ref());
        let mut statement = self
            .tx
            .prepare_cached(
                "INSERT INTO events (annotator_id, time_utc, utterance_id, modality, kind,
                     old_valence, old_arousal, old_status, old_unsure, old_reason,
                     new_valence, new_arousal, new_status, new_unsure, new_reason, reason, source_model, target_event,
                     model_valence, model_arousal, uid, origin, origin_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                     ?21, ?22, ?23)",
            )
            .map_err(self.sqlite())?;
        statement
            .execute(params![
                event.annotator,
                event.time_utc,
                event.utterance,
                event.modality.name(),
                event.kind.name(),
                old.map(|j| f64::from(j.va.valence)),
                old.map(|j| f64::from(j.va.arousal)),
                old.map(|j| j.status.name()),
                old.map(|j| j.unsure),
                old.map(|j| j.reason.as_str()),
                new.map(|j| f64::from(j.va.valence)),
                new.map(|j| f64::from(j.va.arousal)),
                new.map(|j| j.status.name()),
                new.map(|j| j.unsure),
                new.map(|j| j.reason.as_str()),
                event.reason,
                event.source_model,
                event.target,
                event.model.map(|va| f64::from(va.valence)),
                event.model.map(|va| f64::from(va.arousal)),
                event.uid,
                event.origin,
                origin_seq,
            ])
            .map_err(self.sqlite())?;
        let id = self.tx.last_insert_rowid();
        if origin_seq == 0 {
            self.tx.execute("UPDATE events SET origin_seq = id WHERE id = ?1", [id]).map_err(self.sqlite())?;
        }
        Ok(id)
    }
}

impl WriteTx for SqliteTx<'_> {
    fn event_with_uid(&mut self, uid: &str) -> Result<Option<EventId>, StoreError> {
        let mut statement = self.tx.prepare_cached("SELECT id FROM events WHERE uid = ?1").map_err(self.sqlite())?;
        statement.query_row([uid], |r| r.get(0)).optional().map_err(self.sqlite())
    }

    fn annotator_log(&mut self, annotator: AnnotatorId) -> Result<Vec<LoggedEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE annotator_id = ?1 ORDER BY id");
        let mut statement = self.tx.prepare(&sql).map_err(self.sqlite())?;
        let mut rows = statement.query([annotator]).map_err(self.sqlite())?;
        let mut events = Vec::new();
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            events.push(event_from(row, self.path)?);
        }
        Ok(events)
    }

    fn clear_judgments(&mut self, annotator: AnnotatorId) -> Result<(), StoreError> {
        self.tx.execute("DELETE FROM judgments WHERE annotator_id = ?1", [annotator]).map(|_| ()).map_err(self.sqlite())
    }

    fn annotator_with_uid(&mut self, uid: &str) -> Result<Option<(AnnotatorId, String)>, StoreError> {
        self.tx
            .query_row(
                "SELECT a.id, a.name FROM annotator_uids u JOIN annotators a ON a.id = u.annotator_id WHERE u.uid = ?1",
                [uid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sqlite())
    }

    fn annotator_named(&mut self, name: &str) -> Result<Option<(AnnotatorId, String)>, StoreError> {
        self.tx
            .query_row(
                "SELECT a.id, COALESCE((SELECT origin FROM annotator_uids u WHERE u.annotator_id = a.id
                     ORDER BY u.rowid LIMIT 1), '') FROM annotators a WHERE a.name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sqlite())
    }

    fn insert_annotator(&mut self, name: &str, note: &str, created_utc: &str) -> Result<AnnotatorId, StoreError> {
        self.tx
            .execute(
                "INSERT INTO annotators (name, note, created_utc) VALUES (?1, ?2, ?3)",
                params![name, note, created_utc],
            )
            .map_err(self.sqlite())?;
        Ok(self.tx.last_insert_rowid())
    }

    fn add_annotator_uid(&mut self, uid: &str, annotator: AnnotatorId, origin: &str) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO annotator_uids (uid, annotator_id, origin) VALUES (?1, ?2, ?3)",
                params![uid, annotator, origin],
            )
            .map(|_| ())
            .map_err(self.sqlite())
    }
}

fn invalid(path: &Path, problem: &str) -> StoreError {
    StoreError::Invalid { path: path.to_path_buf(), problem: problem.to_owned() }
}

fn modality(name: &str, path: &Path) -> Result<Modality, StoreError> {
    Modality::from_name(name).ok_or_else(|| invalid(path, &format!("unknown modality {name:?}")))
}

/// An event from a row of [`EVENT_COLUMNS`].
fn event_from(row: &rusqlite::Row<'_>, path: &Path) -> Result<LoggedEvent, StoreError> {
    let sqlite = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let text = |i| row.get::<_, String>(i).map_err(sqlite);
    let kind = text(5)?;
    let event = Event {
        id: row.get(0).map_err(sqlite)?,
        annotator: row.get(1).map_err(sqlite)?,
        time_utc: text(2)?,
        utterance: text(3)?,
        modality: modality(&text(4)?, path)?,
        kind: EventKind::parse(&kind).ok_or_else(|| invalid(path, &format!("unknown event kind {kind:?}")))?,
        old: judgment_from(row, 6, path)?,
        new: judgment_from(row, 11, path)?,
        reason: text(16)?,
        source_model: text(17)?,
        target: row.get(18).map_err(sqlite)?,
        model: match (row.get::<_, Option<f64>>(19), row.get::<_, Option<f64>>(20)) {
            (Ok(Some(v)), Ok(Some(a))) => Some(Va::new(v as f32, a as f32)),
            (Ok(_), Ok(_)) => None,
            (Err(e), _) | (_, Err(e)) => return Err(sqlite(e)),
        },
        uid: text(21)?,
        origin: text(22)?,
    };
    Ok(LoggedEvent { event, origin_seq: row.get(23).map_err(sqlite)? })
}

/// valence, arousal, status, unsure, reason from column `first` on; `None` if status is NULL.
fn judgment_from(row: &rusqlite::Row<'_>, first: usize, path: &Path) -> Result<Option<Judgment>, StoreError> {
    let sqlite = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let status: Option<String> = row.get(first + 2).map_err(sqlite)?;
    let Some(status) = status else { return Ok(None) };
    Ok(Some(Judgment {
        va: Va::new(
            row.get::<_, f64>(first).map_err(sqlite)? as f32,
            row.get::<_, f64>(first + 1).map_err(sqlite)? as f32,
        ),
        status: Status::parse(&status).ok_or_else(|| invalid(path, &format!("unknown status {status:?}")))?,
        unsure: row.get(first + 3).map_err(sqlite)?,
        reason: row.get(first + 4).map_err(sqlite)?,
    }))
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
