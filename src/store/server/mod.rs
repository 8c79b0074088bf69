//! The server backend: a store in one schema of a PostgreSQL database, written by annotators on
//! several machines at once (`tables`: writers take turns, one transaction per edit).
//!
//! A lost connection does not lose edits: while the server cannot be reached, an edit is
//! recorded against what this session last knew of the store and kept in a local journal
//! (`journal`), and counts as saved once it is on this machine's disk. Every call tries to
//! reconnect (at most once a [`RETRY`]); once the server answers, the journal is sent in one
//! transaction — a union by event uid, so nothing is stored twice — and the judgments of its
//! annotators are recomputed from the log, as a merge does.
//!
//! Connections are not encrypted (no TLS library is built in): a server store is for a lab's
//! own network, or reached through an SSH tunnel (`ssh -L`).

mod address;
mod journal;
mod pgpass;
mod tables;

pub use address::ServerAddress;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use postgres::Client;

use super::backend::{AnnotatorRecord, Edit, EditTx, JudgmentRow, LoggedEvent, Storage, WriteTx};
use super::{
    Annotator, AnnotatorId, ChangeMark, Event, EventId, Judgment, META_DATASET, META_STORE_ID, StoreError, SyncStatus,
    rules, schema,
};
use crate::modality::Modality;
use journal::{Entry, Journal};

/// How often a lost server is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The folder of server stores' journals in the user's data folder.
pub(super) fn default_journals(address: &ServerAddress) -> Result<PathBuf, StoreError> {
    let data_dir = directories::ProjectDirs::from("org", "UniVA", "UniVA Studio").map(|d| d.data_dir().to_path_buf());
    data_dir.map(|d| d.join("journals")).ok_or_else(|| StoreError::Invalid {
        path: address.to_string().into(),
        problem: "there is no user data folder to keep the journal of edits made while the server cannot be reached"
            .to_owned(),
    })
}

/// An open server store.
pub(super) struct ServerStore {
    address: ServerAddress,
    name: PathBuf,
    dataset: String,
    store_id: String,
    session: RefCell<Session>,
}

/// The connection and what this session knows of the store.
struct Session {
    config: postgres::Config,
    name: PathBuf,
    store_id: String,
    /// `None` while the server cannot be reached.
    client: Option<Client>,
    /// When the server was last tried and did not answer.
    failed_at: Option<Instant>,
    problem: Option<String>,
    journal: Journal,
    local: LocalView,
}

/// What this session last knew of the store: enough to go on recording edits while the server
/// cannot be reached.
#[derive(Default)]
struct LocalView {
    annotators: Vec<Annotator>,
    judgments: HashMap<(AnnotatorId, String, Modality), (Judgment, Option<EventId>)>,
    /// The events this session wrote or read, by number (undo and redo need them).
    events: HashMap<EventId, Event>,
    /// Journalled edits' numbers here → their numbers on the server once sent.
    sent: HashMap<EventId, EventId>,
    /// The number of the last journalled edit (they count down from -1).
    last_journalled: EventId,
    mark: ChangeMark,
}

impl LocalView {
    fn remember_judgments(&mut self, rows: &[JudgmentRow]) {
        for row in rows {
            let point = (row.annotator, row.utterance.clone(), row.modality);
            self.judgments.insert(point, (row.judgment.clone(), row.event));
        }
    }

    fn remember_event(&mut self, event: &Event) {
        let point = (event.annotator, event.utterance.clone(), event.modality);
        match &event.new {
            Some(judgment) => self.judgments.insert(point, (judgment.clone(), Some(event.id))),
            None => self.judgments.remove(&point),
        };
        self.events.insert(event.id, event.clone());
    }
}

impl ServerStore {
    /// Opens the store of `dataset` at `address` (made when `create` and it has none), sending
    /// what earlier sessions left in the journal.
    pub fn open(address: &ServerAddress, dataset: &str, create: bool, journals: &Path) -> Result<Self, StoreError> {
        let schema = address.schema_for(dataset);
        let address = address.with_schema(&schema);
        let name = PathBuf::from(address.to_string());
        let config = address.config(&schema).map_err(|problem| StoreError::Invalid { path: name.clone(), problem })?;
        let mut client = config.connect(postgres::NoTls).map_err(|e| connect_error(&name, &e))?;
        let store_id = tables::prepare(&mut client, &schema, dataset, create, &name)?;
        // One folder per store (server, database and schema; never the password).
        let digest = <sha2::Sha256 as sha2::Digest>::digest(address.to_string().as_bytes());
        let key: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let mut session = Session {
            config,
            name: name.clone(),
            store_id: store_id.clone(),
            client: Some(client),
            failed_at: None,
            problem: None,
            journal: Journal::new(journals.join(format!("{schema}-{key}"))),
            local: LocalView::default(),
        };
        session.send_journal();
        session.load_view()?;
        Ok(Self { address, name, dataset: dataset.to_owned(), store_id, session: RefCell::new(session) })
    }

    /// The address, with the store's schema named.
    pub fn address(&self) -> &ServerAddress {
        &self.address
    }

    pub fn status(&self) -> SyncStatus {
        let session = self.session.borrow();
        SyncStatus {
            online: session.client.is_some(),
            pending: session.journal.pending().len(),
            problem: session.problem.clone(),
        }
    }

    /// Reconnects now if the connection was lost (and sends the journal).
    pub fn sync(&self) {
        let mut session = self.session.borrow_mut();
        session.failed_at = None;
        session.connected();
    }

    /// Reads with `query` on the server (see [`Session::online`]).
    fn online<T>(&self, query: impl FnMut(&mut Client, &Path) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.session.borrow_mut().online(query)
    }

    /// `read` on the server, or what this session last knew (`known`) while it cannot be
    /// reached; `remember` keeps what the server said.
    fn read_or_known<T>(
        &self,
        read: impl FnMut(&mut Client, &Path) -> Result<T, StoreError>,
        remember: impl FnOnce(&mut LocalView, &T),
        known: impl FnOnce(&LocalView) -> T,
    ) -> Result<T, StoreError> {
        let mut session = self.session.borrow_mut();
        match session.online(read) {
            Ok(value) => {
                remember(&mut session.local, &value);
                Ok(value)
            }
            Err(StoreError::Unreachable { .. }) => Ok(known(&session.local)),
            Err(e) => Err(e),
        }
    }
}

impl Session {
    /// Reads with `query` on the server, reconnecting first if need be. A connection found
    /// lost (the server restarted since it was last used) is made again at once and the read
    /// tried once more; a server that does not answer is [`StoreError::Unreachable`].
    fn online<T>(
        &mut self,
        mut query: impl FnMut(&mut Client, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let had_connection = self.client.is_some();
        match self.online_once(&mut query) {
            Err(StoreError::Unreachable { .. }) if had_connection => {
                self.failed_at = None;
                self.online_once(query)
            }
            result => result,
        }
    }

    /// Runs `query` on the server once, reconnecting first if need be (at most once a
    /// [`RETRY`]): for writes, which are journalled rather than tried again when the
    /// connection is lost.
    fn online_once<T>(
        &mut self,
        query: impl FnOnce(&mut Client, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if !self.connected() {
            let problem = self.problem.clone().unwrap_or_default();
            return Err(StoreError::Unreachable { path: self.name.clone(), problem });
        }
        let Some(client) = self.client.as_mut() else {
            return Err(StoreError::Unreachable { path: self.name.clone(), problem: "not connected".to_owned() });
        };
        let result = query(client, &self.name);
        if let Err(error) = &result {
            let lost = client.is_closed() || matches!(error, StoreError::Unreachable { .. });
            if lost {
                self.lost(error.to_string());
                let problem = self.problem.clone().unwrap_or_default();
                return Err(StoreError::Unreachable { path: self.name.clone(), problem });
            }
        }
        result
    }

    fn lost(&mut self, problem: String) {
        tracing::warn!("{}: lost the connection: {problem}", self.name.display());
        self.client = None;
        self.failed_at = Some(Instant::now());
        self.problem = Some(problem);
    }

    /// Whether the server answers: connects again when the connection was lost (at most once a
    /// [`RETRY`]), checks it is still the same store, and sends the journal.
    fn connected(&mut self) -> bool {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return true;
        }
        if self.failed_at.is_some_and(|at| at.elapsed() < RETRY) {
            return false;
        }
        let attempt =
            self.config.connect(postgres::NoTls).map_err(|e| connect_error(&self.name, &e)).and_then(|mut client| {
                match tables::meta(&mut client, META_STORE_ID, &self.name)? {
                    Some(id) if id == self.store_id => Ok(client),
                    _ => Err(StoreError::Server {
                        path: self.name.clone(),
                        problem: "the store on the server is no longer the one opened (it was removed or replaced); \
                              the journal's edits are kept on this machine"
                            .to_owned(),
                    }),
                }
            });
        match attempt {
            Ok(client) => {
                tracing::info!("{}: connected again", self.name.display());
                self.client = Some(client);
                self.failed_at = None;
                self.problem = None;
                self.send_journal();
                if let Err(error) = self.load_view()
                    && self.client.is_some()
                {
                    self.problem = Some(error.to_string());
                }
                self.client.is_some()
            }
            Err(error) => {
                self.client = None;
                self.failed_at = Some(Instant::now());
                self.problem = Some(error.to_string());
                false
            }
        }
    }

    /// Sends the journal: this session's edits and what ended sessions left. What cannot be
    /// sent stays in the journal, and the status says why.
    fn send_journal(&mut self) {
        if let Err(error) = self.try_send_journal() {
            tracing::warn!("{}: the journal was not sent: {error}", self.name.display());
            if self.client.is_some() {
                self.problem = Some(format!("the journal's edits could not be sent: {error}"));
            }
        }
    }

    fn try_send_journal(&mut self) -> Result<(), StoreError> {
        let left = self.journal.left_behind()?;
        let own: Vec<Entry> = self.journal.pending().to_vec();
        let entries: Vec<&Entry> = left.iter().flat_map(|l| &l.entries).chain(&own).collect();
        if !entries.is_empty() {
            let mut numbers: HashMap<&str, EventId> = HashMap::new();
            self.online_once(|client, name| {
                tables::write(client, name, &mut |tx| {
                    numbers = send(tx, &entries, name)?;
                    Ok(true)
                })
            })?;
            for entry in &own {
                if let Some(&id) = numbers.get(entry.event.uid.as_str()) {
                    self.local.sent.insert(entry.event.id, id);
                    if let Some(event) = self.local.events.remove(&entry.event.id) {
                        let target = event.target.map(|t| self.local.sent.get(&t).copied().unwrap_or(t));
                        self.local.events.insert(id, Event { id, target, ..event });
                    }
                }
            }
            tracing::info!("{}: sent {} journalled edit(s)", self.name.display(), entries.len());
            self.journal.sent()?;
            for file in left {
                file.remove()?;
            }
        }
        Ok(())
    }

    /// Reads what the store holds now into this session's view.
    fn load_view(&mut self) -> Result<(), StoreError> {
        let (annotators, judgments, mark) = self.online(|client, name| {
            let annotators = tables::annotators(client, name)?;
            let judgments = tables::judgment_rows(client, "true", &[], name)?;
            Ok((annotators, judgments, tables::change_mark(client, name)?))
        })?;
        self.local.annotators = annotators;
        self.local.judgments.clear();
        self.local.remember_judgments(&judgments);
        self.local.mark = mark;
        Ok(())
    }

    /// Records `edit` against what this session knows, into the journal.
    fn journal_edit(&mut self, edit: &Edit<'_>) -> Result<Event, StoreError> {
        let target_uid = edit.target.map(|t| t.uid.clone());
        let mut offline = OfflineTx { local: &mut self.local, journal: &mut self.journal, target_uid };
        let event = rules::apply_edit(&mut offline, edit)?;
        self.local.events.insert(event.id, event.clone());
        Ok(event)
    }
}

/// Stores journalled `entries` not yet on the server (an undo's target by its uid) and
/// recomputes their annotators' judgments; returns each entry's number on the server.
fn send<'e>(tx: &mut dyn WriteTx, entries: &[&'e Entry], name: &Path) -> Result<HashMap<&'e str, EventId>, StoreError> {
    let mut numbers = HashMap::new();
    let mut affected = BTreeSet::new();
    for entry in entries {
        let event = &entry.event;
        let id = match tx.event_with_uid(&event.uid)? {
            Some(id) => id,
            None => {
                let target = match &entry.target_uid {
                    Some(uid) => Some(tx.event_with_uid(uid)?.ok_or_else(|| StoreError::Invalid {
                        path: name.to_path_buf(),
                        problem: format!(
                            "journalled edit {} acts on edit {uid}, which the server does not have",
                            event.uid
                        ),
                    })?),
                    None => None,
                };
                affected.insert(event.annotator);
                tx.insert_event(&Event { target, ..event.clone() }, 0)?
            }
        };
        numbers.insert(event.uid.as_str(), id);
    }
    for annotator in affected {
        rules::recompute_judgments(tx, annotator)?;
    }
    Ok(numbers)
}

/// A failed connection: a server that does not answer is unreachable; one that answers and
/// refuses (no such database, a wrong password) says why.
fn connect_error(name: &Path, error: &postgres::Error) -> StoreError {
    let problem = tables::describe(error);
    let code = error.code().map(|c| c.code().to_owned()).unwrap_or_default();
    if code.starts_with("28") || problem.contains("password missing") {
        return StoreError::Server {
            path: name.to_path_buf(),
            problem: format!(
                "{problem}. Give the password in PGPASSWORD or a line of ~/.pgpass (or the file PGPASSFILE \
                 names): host:port:database:user:password"
            ),
        };
    }
    if error.as_db_error().is_some() && !code.starts_with("57P") {
        return StoreError::Server { path: name.to_path_buf(), problem };
    }
    StoreError::Unreachable { path: name.to_path_buf(), problem }
}

/// Recording an edit while the server cannot be reached: against this session's view, into
/// the journal (the same rule as on the server, [`rules::apply_edit`]).
struct OfflineTx<'a> {
    local: &'a mut LocalView,
    journal: &'a mut Journal,
    target_uid: Option<String>,
}

impl EditTx for OfflineTx<'_> {
    fn judgment(
        &mut self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError> {
        Ok(self.local.judgments.get(&(annotator, utterance.to_owned(), modality)).map(|(j, _)| j.clone()))
    }

    fn set_judgment(
        &mut self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
        state: Option<(&Judgment, EventId)>,
    ) -> Result<(), StoreError> {
        let point = (annotator, utterance.to_owned(), modality);
        match state {
            Some((judgment, event)) => self.local.judgments.insert(point, (judgment.clone(), Some(event))),
            None => self.local.judgments.remove(&point),
        };
        Ok(())
    }

    fn insert_event(&mut self, event: &Event, _origin_seq: i64) -> Result<EventId, StoreError> {
        let id = self.local.last_journalled - 1;
        self.journal.append(Entry { event: Event { id, ..event.clone() }, target_uid: self.target_uid.clone() })?;
        self.local.last_journalled = id;
        Ok(id)
    }
}

impl Storage for ServerStore {
    fn name(&self) -> &Path {
        &self.name
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        // Brought up to date when opened.
        Ok(schema::LATEST)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        match key {
            META_DATASET => Ok(Some(self.dataset.clone())),
            META_STORE_ID => Ok(Some(self.store_id.clone())),
            _ => self.online(|client, name| tables::meta(client, key, name)),
        }
    }

    fn annotators(&self) -> Result<Vec<Annotator>, StoreError> {
        self.read_or_known(
            tables::annotators,
            |local, list| local.annotators.clone_from(list),
            |local| local.annotators.clone(),
        )
    }

    fn annotator_records(&self) -> Result<Vec<AnnotatorRecord>, StoreError> {
        self.online(tables::annotator_records)
    }

    fn judgments(&self) -> Result<Vec<JudgmentRow>, StoreError> {
        self.read_or_known(
            |client, name| tables::judgment_rows(client, "true", &[], name),
            |local, rows| {
                local.judgments.clear();
                local.remember_judgments(rows);
            },
            |local| {
                let rows =
                    local.judgments.iter().map(|((annotator, utterance, modality), (judgment, event))| JudgmentRow {
                        annotator: *annotator,
                        utterance: utterance.clone(),
                        modality: *modality,
                        judgment: judgment.clone(),
                        event: *event,
                    });
                rows.collect()
            },
        )
    }

    fn judgment(
        &self,
        annotator: AnnotatorId,
        utterance: &str,
        modality: Modality,
    ) -> Result<Option<Judgment>, StoreError> {
        let point = (annotator, utterance.to_owned(), modality);
        self.read_or_known(
            |client, name| {
                let params: [&(dyn postgres::types::ToSql + Sync); 3] = [&annotator, &utterance, &modality.name()];
                Ok(tables::judgment_rows(client, tables::POINT, &params, name)?.pop())
            },
            |local, row| local.remember_judgments(row.as_slice()),
            |local| {
                local.judgments.get(&point).map(|(judgment, event)| JudgmentRow {
                    annotator,
                    utterance: utterance.to_owned(),
                    modality,
                    judgment: judgment.clone(),
                    event: *event,
                })
            },
        )
        .map(|row| row.map(|row| row.judgment))
    }

    fn event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        let id = self.session.borrow().local.sent.get(&id).copied().unwrap_or(id);
        if id < 0 {
            // A journalled edit not sent yet.
            return Ok(self.session.borrow().local.events.get(&id).cloned());
        }
        let mut session = self.session.borrow_mut();
        match session.online(|client, name| tables::events(client, "id = $1", &[&id], name)) {
            Ok(found) => {
                let event = found.into_iter().next().map(|logged| logged.event);
                if let Some(event) = &event {
                    session.local.events.insert(event.id, event.clone());
                }
                Ok(event)
            }
            Err(error @ StoreError::Unreachable { .. }) => match session.local.events.get(&id) {
                Some(event) => Ok(Some(event.clone())),
                None => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    fn log(&self, after: EventId, up_to: Option<EventId>) -> Result<Vec<LoggedEvent>, StoreError> {
        let up_to = up_to.unwrap_or(EventId::MAX);
        self.online(|client, name| tables::events(client, "id > $1 AND id <= $2", &[&after, &up_to], name))
    }

    fn judgments_touched(&self, after: EventId, up_to: EventId) -> Result<Vec<JudgmentRow>, StoreError> {
        let mut session = self.session.borrow_mut();
        let rows =
            session.online(|client, name| tables::judgment_rows(client, tables::TOUCHED, &[&after, &up_to], name))?;
        session.local.remember_judgments(&rows);
        Ok(rows)
    }

    fn change_mark(&self) -> Result<ChangeMark, StoreError> {
        // While the server cannot be reached nothing changes: the last mark it gave.
        self.read_or_known(tables::change_mark, |local, mark| local.mark = *mark, |local| local.mark)
    }

    fn write(&self, work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<bool, StoreError>) -> Result<(), StoreError> {
        self.session.borrow_mut().online_once(|client, name| tables::write(client, name, work))
    }

    fn record(&self, edit: &Edit<'_>) -> Result<Event, StoreError> {
        match rules::record(self, edit) {
            Ok(event) => {
                self.session.borrow_mut().local.remember_event(&event);
                Ok(event)
            }
            Err(StoreError::Unreachable { .. }) => self.session.borrow_mut().journal_edit(edit),
            Err(error) => Err(error),
        }
    }
}
