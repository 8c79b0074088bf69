//! The store's tables on a PostgreSQL server: creating and checking them, reading them, and
//! write transactions. Every write transaction first locks the event table against other
//! writers (`EXCLUSIVE`: readers go on), so writers on every machine take turns as in a SQLite
//! file, and event numbers are given in commit order (see [`Storage::change_mark`]).
//!
//! [`Storage::change_mark`]: crate::store::backend::Storage::change_mark

use std::path::Path;

use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row};

use crate::dataset::Va;
use crate::modality::Modality;
use crate::store::backend::{
    AnnotatorRecord, EVENT_COLUMNS, EditTx, JUDGMENT_COLUMNS, JudgmentRow, LoggedEvent, WriteTx,
};
use crate::store::schema::{LATEST, SERVER_FIRST, SERVER_MIGRATIONS};
use crate::store::{
    Annotator, AnnotatorId, ChangeMark, Event, EventId, EventKind, Judgment, META_DATASET, META_STORE_ID, Status,
    StoreError,
};

const META_VERSION: &str = "schema_version";

/// A server error as a store error: a lost or refused connection is [`StoreError::Unreachable`].
pub(super) fn pg_error(name: &Path, error: &postgres::Error) -> StoreError {
    let connection_lost = error.is_closed()
        || error.code().is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P"))
        || std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>());
    let problem = describe(error);
    if connection_lost {
        StoreError::Unreachable { path: name.to_path_buf(), problem }
    } else {
        StoreError::Server { path: name.to_path_buf(), problem }
    }
}

/// The server's own words for an error, with its detail and hint.
pub(super) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            for extra in [db.detail(), db.hint()].into_iter().flatten() {
                text = format!("{text}; {extra}");
            }
            text
        }
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

/// Makes the store's tables in `schema` (when `create`), or checks them: the schema version
/// (a newer one is refused, an older one migrated) and the dataset (another's is refused; a
/// new store is claimed). A lock keeps two first openings from both making the tables.
/// Returns the store's id.
pub(super) fn prepare(
    client: &mut Client,
    schema: &str,
    dataset: &str,
    create: bool,
    name: &Path,
) -> Result<String, StoreError> {
    let pg = |e: postgres::Error| pg_error(name, &e);
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&format!("univa-store:{schema}")]).map_err(pg)?;
    let exists: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&format!("{schema}.meta")])
        .and_then(|row| row.try_get(0))
        .map_err(pg)?;
    let version = if exists {
        let found = meta(&mut tx, META_VERSION, name)?
            .ok_or_else(|| invalid(name, "has a meta table without a schema_version: it is not a UniVA store"))?;
        found
            .parse::<i64>()
            .map_err(|_| invalid(name, &format!("has schema_version {found:?}, which is not a number")))?
    } else if create {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).map_err(pg)?;
        SERVER_FIRST - 1
    } else {
        return Err(StoreError::Missing {
            path: name.to_path_buf(),
            problem: format!(
                "has no audit store of dataset {dataset:?} yet (no schema {schema}); audit the dataset first \
                 (the Audit pane's \"Use a server…\"), or name the store's schema with ?schema="
            ),
        });
    };
    if version > LATEST {
        return Err(StoreError::Newer { path: name.to_path_buf(), found: version, supported: LATEST });
    }
    if version < SERVER_FIRST - 1 {
        return Err(invalid(name, &format!("has schema_version {version}, older than any server store")));
    }
    for (i, sql) in SERVER_MIGRATIONS.iter().enumerate().skip((version - SERVER_FIRST + 1) as usize) {
        tx.batch_execute(sql).map_err(pg)?;
        let applied = (SERVER_FIRST + i as i64).to_string();
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&META_VERSION, &applied],
        )
        .map_err(pg)?;
    }
    match meta(&mut tx, META_DATASET, name)? {
        Some(found) if found != dataset => {
            return Err(StoreError::OtherDataset { path: name.to_path_buf(), found, expected: dataset.to_owned() });
        }
        Some(_) => {}
        None => {
            tx.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", &[&META_DATASET, &dataset]).map_err(pg)?;
        }
    }
    let store_id = match meta(&mut tx, META_STORE_ID, name)? {
        Some(id) => id,
        None => {
            let id = crate::store::random_uid();
            tx.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", &[&META_STORE_ID, &id]).map_err(pg)?;
            id
        }
    };
    tx.commit().map_err(pg)?;
    Ok(store_id)
}

pub(super) fn meta(client: &mut impl GenericClient, key: &str, name: &Path) -> Result<Option<String>, StoreError> {
    let row = client.query_opt("SELECT value FROM meta WHERE key = $1", &[&key]).map_err(|e| pg_error(name, &e))?;
    row.map(|r| r.try_get(0)).transpose().map_err(|e| pg_error(name, &e))
}

pub(super) fn annotators(client: &mut Client, name: &Path) -> Result<Vec<Annotator>, StoreError> {
    let pg = |e: postgres::Error| pg_error(name, &e);
    let rows = client.query("SELECT id, name, note FROM annotators ORDER BY name", &[]).map_err(pg)?;
    rows.iter()
        .map(|r| Ok(Annotator { id: r.try_get(0)?, name: r.try_get(1)?, note: r.try_get(2)? }))
        .collect::<Result<_, postgres::Error>>()
        .map_err(pg)
}

pub(super) fn annotator_records(client: &mut Client, name: &Path) -> Result<Vec<AnnotatorRecord>, StoreError> {
    let pg = |e: postgres::Error| pg_error(name, &e);
    let rows = client
        .query(
            "SELECT a.id, a.name, a.note, a.created_utc, u.uid, u.origin
             FROM annotators a JOIN annotator_uids u ON u.annotator_id = a.id ORDER BY a.id, u.added",
            &[],
        )
        .map_err(pg)?;
    let mut all: Vec<AnnotatorRecord> = Vec::new();
    for row in rows {
        let id: AnnotatorId = row.try_get(0).map_err(pg)?;
        let uid = (row.try_get(4).map_err(pg)?, row.try_get(5).map_err(pg)?);
        match all.last_mut() {
            Some(last) if last.annotator.id == id => last.uids.push(uid),
            _ => all.push(AnnotatorRecord {
                annotator: Annotator { id, name: row.try_get(1).map_err(pg)?, note: row.try_get(2).map_err(pg)? },
                created_utc: row.try_get(3).map_err(pg)?,
                uids: vec![uid],
            }),
        }
    }
    Ok(all)
}

/// The judgments `WHERE condition` (over `judgments j`) selects.
pub(super) fn judgment_rows(
    client: &mut impl GenericClient,
    condition: &str,
    params: &[&(dyn ToSql + Sync)],
    name: &Path,
) -> Result<Vec<JudgmentRow>, StoreError> {
    let pg = |e: postgres::Error| pg_error(name, &e);
    let rows =
        client.query(&format!("SELECT {JUDGMENT_COLUMNS} FROM judgments j WHERE {condition}"), params).map_err(pg)?;
    rows.iter()
        .map(|row| {
            let judgment = judgment_from(row, 3, name)?.ok_or_else(|| invalid(name, "a judgment without a value"))?;
            Ok(JudgmentRow {
                annotator: row.try_get(0).map_err(pg)?,
                utterance: row.try_get(1).map_err(pg)?,
                modality: modality(row.try_get(2).map_err(pg)?, name)?,
                judgment,
                event: row.try_get(8).map_err(pg)?,
            })
        })
        .collect()
}

/// The judgments the events `after + 1 ..= up_to` touched.
pub(super) const TOUCHED: &str = "EXISTS (SELECT 1 FROM events e WHERE e.id > $1 AND e.id <= $2
    AND e.annotator_id = j.annotator_id AND e.utterance_id = j.utterance_id AND e.modality = j.modality)";
/// One point's judgment.
pub(super) const POINT: &str = "annotator_id = $1 AND utterance_id = $2 AND modality = $3";

/// The events `WHERE condition`, oldest first.
pub(super) fn events(
    client: &mut impl GenericClient,
    condition: &str,
    params: &[&(dyn ToSql + Sync)],
    name: &Path,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE {condition} ORDER BY id");
    let rows = client.query(&sql, params).map_err(|e| pg_error(name, &e))?;
    rows.iter().map(|row| event_from(row, name)).collect()
}

pub(super) fn change_mark(client: &mut Client, name: &Path) -> Result<ChangeMark, StoreError> {
    let pg = |e: postgres::Error| pg_error(name, &e);
    let row = client
        .query_one(
            "SELECT (SELECT COALESCE(max(id), 0) FROM events), (SELECT COALESCE(max(id), 0) FROM annotators)",
            &[],
        )
        .map_err(pg)?;
    Ok(ChangeMark { event: row.try_get(0).map_err(pg)?, annotator: row.try_get(1).map_err(pg)? })
}

/// Runs `work` in one write transaction, writers one at a time: committed when it returns
/// `Ok(true)`, rolled back otherwise.
pub(super) fn write(
    client: &mut Client,
    name: &Path,
    work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let pg = |e: postgres::Error| pg_error(name, &e);
    let mut tx = client.transaction().map_err(pg)?;
    tx.batch_execute("LOCK TABLE events IN EXCLUSIVE MODE").map_err(pg)?;
    let mut pg_tx = PgTx { tx, name };
    if work(&mut pg_tx)? {
        pg_tx.tx.commit().map_err(pg)?;
    }
    Ok(())
}

/// A write transaction on the server.
struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    name: &'a Path,
}

impl PgTx<'_> {
    fn pg(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        |e| pg_error(self.name, &e)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<(), StoreError> {
        self.tx.execute(sql, params).map(|_| ()).map_err(|e| pg_error(self.name, &e))
    }
}

impl EditTx for PgTx<'_> {
    fn judgment(
        &mut self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError> {
        let rows = judgment_rows(&mut self.tx, POINT, &[&annotator, &utterance, &modality.name()], self.name)?;
        Ok(rows.into_iter().next().map(|row| row.judgment))
    }

    fn set_judgment(
        &mut self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
        state: Option<(&Judgment, EventId)>,
    ) -> Result<(), StoreError> {
        match state {
            Some((j, event)) => self.execute(
                "INSERT INTO judgments (annotator_id, utterance_id, modality, valence, arousal, status, unsure, reason, event_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (annotator_id, utterance_id, modality) DO UPDATE SET
                     valence = excluded.valence, arousal = excluded.arousal, status = excluded.status,
                     unsure = excluded.unsure, reason = excluded.reason, event_id = excluded.event_id",
                &[
                    &annotator,
                    &utterance,
                    &modality.name(),
                    &f64::from(j.va.valence),
                    &f64::from(j.va.arousal),
                    &j.status.name(),
                    &j.unsure,
                    &j.reason,
                    &event,
                ],
            ),
            None => self.execute(
                &format!("DELETE FROM judgments WHERE {POINT}"),
                &[&annotator, &utterance, &modality.name()],
            ),
        }
    }

    fn insert_event(&mut self, event: &Event, origin_seq: i64) -> Result<EventId, StoreError> {
        let (old, new) = (event.old.as_ref(), event.new.as_ref());
        let value = |j: Option<&Judgment>, f: fn(&Judgment) -> f32| j.map(|j| f64::from(f(j)));
        let row = self
            .tx
            .query_one(
                "INSERT INTO events (annotator_id, time_utc, utterance_id, modality, kind,
                     old_valence, old_arousal, old_status, old_unsure, old_reason,
                     new_valence, new_arousal, new_status, new_unsure, new_reason, reason, source_model, target_event,
                     model_valence, model_arousal, uid, origin, origin_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                     $21, $22, $23)
                 RETURNING id",
                &[
                    &event.annotator,
                    &event.time_utc,
                    &event.utterance,
                    &event.modality.name(),
                    &event.kind.name(),
                    &value(old, |j| j.va.valence),
                    &value(old, |j| j.va.arousal),
                    &old.map(|j| j.status.name()),
                    &old.map(|j| j.unsure),
                    &old.map(|j| j.reason.as_str()),
                    &value(new, |j| j.va.valence),
                    &value(new, |j| j.va.arousal),
                    &new.map(|j| j.status.name()),
                    &new.map(|j| j.unsure),
                    &new.map(|j| j.reason.as_str()),
                    &event.reason,
                    &event.source_model,
                    &event.target,
                    &event.model.map(|va| f64::from(va.valence)),
                    &event.model.map(|va| f64::from(va.arousal)),
                    &event.uid,
                    &event.origin,
                    &origin_seq,
                ],
            )
            .map_err(self.pg())?;
        let id: EventId = row.try_get(0).map_err(self.pg())?;
        if origin_seq == 0 {
            self.execute("UPDATE events SET origin_seq = id WHERE id = $1", &[&id])?;
        }
        Ok(id)
    }
}

impl WriteTx for PgTx<'_> {
    fn event_with_uid(&mut self, uid: &str) -> Result<Option<EventId>, StoreError> {
        let row = self.tx.query_opt("SELECT id FROM events WHERE uid = $1", &[&uid]).map_err(self.pg())?;
        row.map(|r| r.try_get(0)).transpose().map_err(self.pg())
    }

    fn annotator_log(&mut self, annotator: AnnotatorId) -> Result<Vec<LoggedEvent>, StoreError> {
        events(&mut self.tx, "annotator_id = $1", &[&annotator], self.name)
    }

    fn clear_judgments(&mut self, annotator: AnnotatorId) -> Result<(), StoreError> {
        self.execute("DELETE FROM judgments WHERE annotator_id = $1", &[&annotator])
    }

    fn annotator_with_uid(&mut self, uid: &str) -> Result<Option<(AnnotatorId, String)>, StoreError> {
        let row = self
            .tx
            .query_opt(
                "SELECT a.id, a.name FROM annotator_uids u JOIN annotators a ON a.id = u.annotator_id WHERE u.uid = $1",
                &[&uid],
            )
            .map_err(self.pg())?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose().map_err(self.pg())
    }

    fn annotator_named(&mut self, name: &str) -> Result<Option<(AnnotatorId, String)>, StoreError> {
        let row = self
            .tx
            .query_opt(
                "SELECT a.id, COALESCE((SELECT origin FROM annotator_uids u WHERE u.annotator_id = a.id
                     ORDER BY u.added LIMIT 1), '') FROM annotators a WHERE a.name = $1",
                &[&name],
            )
            .map_err(self.pg())?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose().map_err(self.pg())
    }

    fn insert_annotator(&mut self, name: &str, note: &str, created_utc: &str) -> Result<AnnotatorId, StoreError> {
        let row = self
            .tx
            .query_one(
                "INSERT INTO annotators (name, note, created_utc) VALUES ($1, $2, $3) RETURNING id",
                &[&name, &note, &created_utc],
            )
            .map_err(self.pg())?;
        row.try_get(0).map_err(self.pg())
    }

    fn add_annotator_uid(&mut self, uid: &str, annotator: AnnotatorId, origin: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO annotator_uids (uid, annotator_id, origin) VALUES ($1, $2, $3) ON CONFLICT (uid) DO NOTHING",
            &[&uid, &annotator, &origin],
        )
    }
}

fn invalid(name: &Path, problem: &str) -> StoreError {
    StoreError::Invalid { path: name.to_path_buf(), problem: problem.to_owned() }
}

fn modality(text: &str, name: &Path) -> Result<Modality, StoreError> {
    Modality::from_name(text).ok_or_else(|| invalid(name, &format!("unknown modality {text:?}")))
}

/// An event from a row of [`EVENT_COLUMNS`].
fn event_from(row: &Row, name: &Path) -> Result<LoggedEvent, StoreError> {
    let pg = |e: postgres::Error| pg_error(name, &e);
    let kind: &str = row.try_get(5).map_err(pg)?;
    let model: (Option<f64>, Option<f64>) = (row.try_get(19).map_err(pg)?, row.try_get(20).map_err(pg)?);
    let event = Event {
        id: row.try_get(0).map_err(pg)?,
        annotator: row.try_get(1).map_err(pg)?,
        time_utc: row.try_get(2).map_err(pg)?,
        utterance: row.try_get(3).map_err(pg)?,
        modality: modality(row.try_get(4).map_err(pg)?, name)?,
        kind: EventKind::parse(kind).ok_or_else(|| invalid(name, &format!("unknown event kind {kind:?}")))?,
        old: judgment_from(row, 6, name)?,
        new: judgment_from(row, 11, name)?,
        reason: row.try_get(16).map_err(pg)?,
        source_model: row.try_get(17).map_err(pg)?,
        target: row.try_get(18).map_err(pg)?,
        model: match model {
            (Some(v), Some(a)) => Some(Va::new(v as f32, a as f32)),
            _ => None,
        },
        uid: row.try_get(21).map_err(pg)?,
        origin: row.try_get(22).map_err(pg)?,
    };
    Ok(LoggedEvent { event, origin_seq: row.try_get(23).map_err(pg)? })
}

/// valence, arousal, status, unsure, reason from column `first` on; `None` if status is NULL.
fn judgment_from(row: &Row, first: usize, name: &Path) -> Result<Option<Judgment>, StoreError> {
    let pg = |e: postgres::Error| pg_error(name, &e);
    let Some(status) = row.try_get::<_, Option<&str>>(first + 2).map_err(pg)? else { return Ok(None) };
    Ok(Some(Judgment {
        va: Va::new(
            row.try_get::<_, f64>(first).map_err(pg)? as f32,
            row.try_get::<_, f64>(first + 1).map_err(pg)? as f32,
        ),
        status: Status::parse(status).ok_or_else(|| invalid(name, &format!("unknown status {status:?}")))?,
        unsure: row.try_get(first + 3).map_err(pg)?,
        reason: row.try_get(first + 4).map_err(pg)?,
    }))
}
