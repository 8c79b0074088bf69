//! The audit workflow's state and what its commands do: the open store, who is auditing, every
//! annotator's judgments of the open dataset, undo/redo, the point armed for the keyboard, a
//! drag or a run of nudges in progress, the reason of the last edit, the queue. No egui: tests
//! drive it through [`AuditCommand`]s.
//!
//! Store writes happen here, on the UI thread: each is one small transaction (one event row
//! and one judgment row, a single WAL fsync), made at human pace — a drag writes once, on
//! release, and a run of arrow-key nudges once, when it ends (rerun's undo "inflection point").

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::dataset::Va;
use crate::modality::Modality;
use crate::store::{
    Annotator, AnnotatorId, Change, Event, EventId, EventKind, Judgment, MergeOptions, MergeSummary, ServerAddress,
    Status, Store, StoreAddress, StoreChanges, StoreError, StoreLocation, StoreWatcher, SyncStatus, WATCH_INTERVAL,
    Wake,
};

use super::audit_queue::{self, QueueOrder, QueueSettings};
use super::notice::Notice;
use super::session::Session;

/// Step of an arrow-key nudge, and of one with Shift held.
pub const NUDGE_STEP: f32 = 0.01;
pub const NUDGE_STEP_LARGE: f32 = 0.1;

/// A pause this long ends a run of nudges: the run is saved as one edit (one undo step).
pub const NUDGE_SETTLE: Duration = Duration::from_millis(800);

/// Text the audit panel's fields hold until it is used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditDraft {
    /// A server's connection string, typed under "Use a server…".
    pub server: String,
    pub annotator_name: String,
    pub annotator_note: String,
    /// Why the last edit was made; saved as that edit's reason (Enter, or before anything else
    /// is edited), then cleared.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AuditCommand {
    /// Open the dataset's store (at `store`, a file or a server, or where it belongs) and
    /// continue as the `remembered` annotator if the store has one of that name.
    Start {
        store: Option<StoreAddress>,
        remembered: Option<String>,
    },
    /// Ask for a store file with the native dialog, then start with it.
    PickStoreDialog,
    /// Start with the dataset's store on the PostgreSQL server at this connection string
    /// (`postgres://user@host/database`; the password from `~/.pgpass`, `PGPASSFILE`,
    /// `PGPASSWORD` or the string itself, which is never saved).
    UseServer {
        address: String,
        remembered: Option<String>,
    },
    Choose(AnnotatorId),
    /// Create an annotator from the draft's name and note and audit as them.
    Create,
    /// Back to the annotator list (same store).
    SwitchAnnotator,
    /// Close the store.
    Stop,
    /// A read-only store (a dataset on a read-only share with its audits beside it): copy it
    /// into the user's data folder and go on auditing there (an earlier copy is taken up again).
    ContinueInCopy,
    SetDraft(AuditDraft),
    /// Save the draft's reason as the reason of the last edit.
    SaveReason,
    /// The selected utterance is about to change, or the audit is left: the nudges and the
    /// reason in progress are saved and the armed point released.
    Leave,
    /// Save a run of nudges that has paused for [`NUDGE_SETTLE`] (sent every frame).
    Settle,
    /// Select a modality's point for arrow-key nudges (`None` releases it).
    Arm(Option<Modality>),
    Nudge {
        valence: f32,
        arousal: f32,
    },
    /// The point follows a drag (nothing is saved until [`Self::DragEnd`]).
    DragTo(Modality, Va),
    DragEnd,
    /// Correct the selected utterance's point of a modality to this value.
    Set(Modality, Va),
    Accept(Modality),
    FlagUnsure(Modality),
    Undo,
    Redo,
    SetQueue(QueueSettings),
    /// Select the next utterance of the queue.
    Next,
    /// Accept every point of the selected utterance not judged yet, then go to the next.
    AcceptAndNext,
    SetReview(bool),
    /// Ask for another store of the dataset with the native dialog, then preview its merge.
    PickMergeDialog,
    /// Add a store to the merge being prepared and show what merging would add (nothing written).
    PreviewMerge(PathBuf),
    /// Decide a name conflict of the merge being prepared: the same person, or two people (the
    /// incoming one renamed to `rename`).
    ResolveMerge {
        name: String,
        rename: Option<String>,
    },
    /// Write the merge being prepared.
    ConfirmMerge,
    CancelMerge,
}

/// A merge of other stores into the open one, shown before it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct MergePreview {
    pub sources: Vec<PathBuf>,
    pub options: MergeOptions,
    pub summary: MergeSummary,
}

/// What a command asks of the app beyond the audit state.
#[derive(Debug, Default, PartialEq)]
pub struct AuditOutcome {
    pub select: Option<usize>,
    pub notice: Option<Notice>,
    /// The annotator to remember in the view settings.
    pub annotator: Option<String>,
    /// The server store opened, to offer again next time (shown without a password).
    pub server: Option<String>,
}

impl AuditOutcome {
    fn notice(notice: Notice) -> Self {
        Self { notice: Some(notice), ..Self::default() }
    }
}

/// Per annotator: (utterance index, modality) → judgment.
pub type Judgments = HashMap<AnnotatorId, HashMap<(usize, Modality), Judgment>>;

/// Arrow-key nudges of one point not saved yet: they become one edit when they pause.
#[derive(Clone, Copy, Debug, PartialEq)]
struct NudgeRun {
    index: usize,
    modality: Modality,
    va: Va,
    last: Instant,
}

/// The last edit of this session, whose reason the reason field gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastEdit {
    pub event: EventId,
    pub index: usize,
    pub modality: Modality,
}

/// A step through the annotator's own edit history.
#[derive(Clone, Copy, Debug)]
enum Travel {
    Undo,
    Redo,
}

#[derive(Debug, Default)]
pub struct AuditState {
    pub store: Option<Store>,
    /// Where a store file is and why (`None` for a server store).
    pub location: Option<StoreLocation>,
    /// The open store opened a second time, for what others write to it.
    watcher: Option<StoreWatcher>,
    /// How the watcher wakes the window (set by the app, kept across stores).
    pub wake: Option<Wake>,
    /// Whether the watcher reaches the store (for a server store: whether the server answers).
    pub watched: Option<SyncStatus>,
    /// Per point, the newest event whose judgment is held here: a watcher's report older than
    /// an edit made here since is not taken.
    versions: HashMap<(AnnotatorId, usize, Modality), EventId>,
    pub annotators: Vec<Annotator>,
    pub me: Option<Annotator>,
    pub judgments: Judgments,
    /// This session's edits (event ids), newest last.
    undo: Vec<EventId>,
    redo: Vec<EventId>,
    pub armed: Option<Modality>,
    pub drag: Option<(Modality, Va)>,
    nudges: Option<NudgeRun>,
    /// What the reason field explains (`None` once undone, or before any edit).
    pub last_edit: Option<LastEdit>,
    pub draft: AuditDraft,
    pub queue: QueueSettings,
    pub review: bool,
    /// The merge of other stores being prepared.
    pub merge: Option<MergePreview>,
    index_of: HashMap<String, usize>,
}

impl AuditState {
    /// An annotator is chosen: edits are possible.
    pub fn is_auditing(&self) -> bool {
        self.store.is_some() && self.me.is_some()
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// The current annotator's judgment of a point.
    pub fn mine(&self, index: usize, modality: Modality) -> Option<&Judgment> {
        let me = self.me.as_ref()?;
        self.judgments.get(&me.id)?.get(&(index, modality))
    }

    /// Where a point is drawn for the current annotator: the drag or nudges in progress, their
    /// judgment, or the model's.
    pub fn shown(&self, session: &Session, index: usize, modality: Modality) -> Option<Va> {
        if let Some((m, va)) = self.drag
            && m == modality
        {
            return Some(va);
        }
        if let Some(run) = self.nudges
            && (run.index, run.modality) == (index, modality)
        {
            return Some(run.va);
        }
        self.mine(index, modality).map(|j| j.va).or_else(|| model_va(session, index, modality))
    }

    /// Every modality with model VA has a judgment of the current annotator.
    pub fn audited_by_me(&self, session: &Session, index: usize) -> bool {
        let (judged, points) = self.judged_points(session, index);
        session.utterance(index).is_some() && judged == points
    }

    /// (points the current annotator judged, points with model VA) of an utterance.
    pub fn judged_points(&self, session: &Session, index: usize) -> (usize, usize) {
        let Some(u) = session.utterance(index) else { return (0, 0) };
        let points: Vec<Modality> = u.va.iter().filter(|(_, va)| va.is_some()).map(|(m, _)| m).collect();
        (points.iter().filter(|&&m| self.mine(index, m).is_some()).count(), points.len())
    }

    /// The queue over the browser's rows.
    pub fn queue_of(&self, session: &Session, rows: &[usize], threshold: f32) -> Vec<usize> {
        audit_queue::ordered(session, rows, self.queue, threshold)
    }

    /// (audited by me, in the queue) over the browser's rows, ignoring "unaudited only".
    pub fn progress(&self, session: &Session, rows: &[usize]) -> (usize, usize) {
        let queue = audit_queue::ordered(session, rows, QueueSettings { order: QueueOrder::Table, ..self.queue }, 0.0);
        (queue.iter().filter(|&&i| self.audited_by_me(session, i)).count(), queue.len())
    }

    pub fn apply(
        &mut self,
        command: AuditCommand,
        session: &Session,
        selected: Option<usize>,
        rows: &[usize],
        threshold: f32,
    ) -> AuditOutcome {
        // Anything but another nudge ends a run of nudges first, so that an undo, a reason or
        // the next edit comes after it.
        let ended = match command {
            AuditCommand::Nudge { .. } => Ok(()),
            AuditCommand::Settle => self.settle(session),
            _ => self.save_nudges(session),
        };
        if let Err(error) = ended {
            return AuditOutcome::notice(Notice::error(format!("Audit: {error}")));
        }
        let result = match command {
            AuditCommand::Start { store, remembered } => self.start(session, store, remembered.as_deref()),
            // Answered by the app, which owns the dialogs.
            AuditCommand::PickStoreDialog => Ok(AuditOutcome::default()),
            AuditCommand::UseServer { address, remembered } => {
                self.use_server(session, &address, remembered.as_deref())
            }
            AuditCommand::Choose(id) => Ok(self.choose(id)),
            AuditCommand::Create => self.create(),
            AuditCommand::SwitchAnnotator => self.save_reason().map(|()| {
                self.leave_annotator();
                AuditOutcome::default()
            }),
            AuditCommand::ContinueInCopy => self.continue_in_copy(session),
            AuditCommand::Stop => self.save_reason().map(|()| {
                *self = Self { queue: self.queue, ..Self::default() };
                AuditOutcome::notice(Notice::info("Auditing stopped; every edit is saved"))
            }),
            AuditCommand::SetDraft(draft) => {
                self.draft = draft;
                Ok(AuditOutcome::default())
            }
            AuditCommand::SaveReason => self.save_reason().map(|()| AuditOutcome::default()),
            AuditCommand::Leave => {
                self.armed = None;
                self.drag = None;
                self.save_reason().map(|()| AuditOutcome::default())
            }
            AuditCommand::Settle => Ok(AuditOutcome::default()),
            AuditCommand::Arm(modality) => {
                self.armed = modality;
                Ok(AuditOutcome::default())
            }
            AuditCommand::Nudge { valence, arousal } => match (self.armed, selected) {
                (Some(m), Some(index)) => self.nudge(session, index, m, valence, arousal),
                _ => Ok(AuditOutcome::default()),
            },
            AuditCommand::DragTo(m, va) => {
                self.drag = Some((m, clamp(va)));
                self.armed = Some(m);
                Ok(AuditOutcome::default())
            }
            AuditCommand::DragEnd => match (self.drag.take(), selected) {
                (Some((m, va)), Some(index)) => self.set(session, index, m, va),
                _ => Ok(AuditOutcome::default()),
            },
            AuditCommand::Set(m, va) => match selected {
                Some(index) => self.set(session, index, m, va),
                None => Ok(AuditOutcome::default()),
            },
            AuditCommand::Accept(m) => match selected {
                Some(index) => self.accept(session, index, m),
                None => Ok(AuditOutcome::default()),
            },
            AuditCommand::FlagUnsure(m) => match selected {
                Some(index) => self.flag_unsure(session, index, m),
                None => Ok(AuditOutcome::default()),
            },
            AuditCommand::Undo => self.travel(Travel::Undo),
            AuditCommand::Redo => self.travel(Travel::Redo),
            AuditCommand::SetQueue(queue) => {
                self.queue = queue;
                Ok(AuditOutcome::default())
            }
            AuditCommand::Next => Ok(self.next(session, selected, rows, threshold)),
            AuditCommand::AcceptAndNext => self.accept_and_next(session, selected, rows, threshold),
            AuditCommand::SetReview(on) => {
                self.review = on;
                self.drag = None;
                self.armed = None;
                Ok(AuditOutcome::default())
            }
            // Answered by the app, which owns the dialogs.
            AuditCommand::PickMergeDialog => Ok(AuditOutcome::default()),
            AuditCommand::PreviewMerge(path) => {
                let (mut sources, options) = self.merge.take().map(|m| (m.sources, m.options)).unwrap_or_default();
                if !sources.contains(&path) {
                    sources.push(path);
                }
                self.preview_merge(session, sources, options)
            }
            AuditCommand::ResolveMerge { name, rename } => match self.merge.take() {
                Some(MergePreview { sources, mut options, .. }) => {
                    match rename {
                        Some(new) => options.renames.push((name, new)),
                        None => options.same_person.push(name),
                    }
                    self.preview_merge(session, sources, options)
                }
                None => Ok(AuditOutcome::default()),
            },
            AuditCommand::ConfirmMerge => self.confirm_merge(session),
            AuditCommand::CancelMerge => {
                self.merge = None;
                Ok(AuditOutcome::default())
            }
        };
        result.unwrap_or_else(|error| AuditOutcome::notice(Notice::error(format!("Audit: {error}"))))
    }

    fn start(
        &mut self,
        session: &Session,
        store: Option<StoreAddress>,
        remembered: Option<&str>,
    ) -> Result<AuditOutcome, StoreError> {
        let dataset = &session.dataset;
        let (opened, location) = match store {
            Some(StoreAddress::Server(server)) => {
                (Store::open_at(&StoreAddress::Server(server), &dataset.manifest.name)?, None)
            }
            Some(StoreAddress::File(path)) => Self::open_file(session, Some(&path))?,
            None => Self::open_file(session, None)?,
        };
        let index_of: HashMap<String, usize> =
            dataset.utterances.iter().enumerate().map(|(i, u)| (u.id.clone(), i)).collect();
        let annotators = opened.annotators()?;
        let judgments = opened
            .judgments()?
            .into_iter()
            .map(|(annotator, points)| {
                let by_index = points
                    .into_iter()
                    .filter_map(|((id, m), j)| index_of.get(&id).map(|&i| ((i, m), j)))
                    .collect::<HashMap<_, _>>();
                (annotator, by_index)
            })
            .collect();
        let where_ = if location.as_ref().is_some_and(|l| l.fallback) {
            format!("{} (the dataset folder is read-only)", opened.address())
        } else if opened.is_read_only() {
            format!("{} (read-only: its audits are shown; copy it to a writable folder to edit)", opened.address())
        } else {
            opened.address().to_string()
        };
        let watcher = Self::watch(&opened, &dataset.manifest.name, self.wake.clone())?;
        *self = Self {
            store: Some(opened),
            location,
            watcher: Some(watcher),
            wake: self.wake.take(),
            annotators,
            judgments,
            index_of,
            queue: self.queue,
            ..Self::default()
        };
        let mut outcome = AuditOutcome::notice(Notice::info(format!("Audit store: {where_}")));
        if let Some(id) = remembered.and_then(|name| self.annotators.iter().find(|a| a.name == name)).map(|a| a.id) {
            outcome.annotator = self.choose(id).annotator;
        }
        Ok(outcome)
    }

    fn use_server(
        &mut self,
        session: &Session,
        address: &str,
        remembered: Option<&str>,
    ) -> Result<AuditOutcome, StoreError> {
        let server = StoreAddress::Server(address.parse::<ServerAddress>()?);
        let mut outcome = self.start(session, Some(server.clone()), remembered)?;
        self.draft.server.clear();
        outcome.server = Some(server.to_string());
        Ok(outcome)
    }

    /// The dataset's store file: `explicit`, or where [`StoreLocation::resolve`] puts it.
    fn open_file(
        session: &Session,
        explicit: Option<&std::path::Path>,
    ) -> Result<(Store, Option<StoreLocation>), StoreError> {
        let dataset = &session.dataset;
        let location = StoreLocation::resolve(&dataset.root, explicit)?;
        let opened = Store::open(&location.path, &dataset.manifest.name)?;
        Ok((opened, Some(location)))
    }

    /// A watcher of `store` for what other windows and machines write to it from now on.
    fn watch(store: &Store, dataset: &str, wake: Option<Wake>) -> Result<StoreWatcher, StoreError> {
        let since = store.change_mark()?;
        let address = store.address().clone();
        let read_only = store.is_read_only();
        let dataset = dataset.to_owned();
        let open = move || match &address {
            StoreAddress::File(path) if read_only => Store::open_read_only(path, &dataset),
            address => Store::open_at(address, &dataset),
        };
        Ok(StoreWatcher::spawn(open, since, WATCH_INTERVAL, wake))
    }

    /// Takes in what the watcher found others wrote (their judgments, new annotators), and sends
    /// this window's journalled edits once the server answers again. Called every frame; whether
    /// any judgment came in.
    pub fn take_changes(&mut self) -> bool {
        let Some(watcher) = &self.watcher else { return false };
        let report = watcher.take();
        if let Some(status) = report.status {
            self.watched = Some(status);
        }
        let changed = !report.changes.is_empty();
        for changes in report.changes {
            self.absorb_changes(changes);
        }
        let server_answers = self.watched.as_ref().is_some_and(|s| s.online);
        if let Some(store) = &self.store
            && server_answers
            && store.sync_status().pending > 0
        {
            store.sync();
        }
        changed
    }

    /// Whether edits reach the store: `None` for a store file (they always do), else the
    /// server's state as the watcher and this window's journal see it.
    pub fn server_status(&self) -> Option<SyncStatus> {
        let store = self.store.as_ref().filter(|s| s.is_server())?;
        let mine = store.sync_status();
        let watched = self.watched.clone().unwrap_or_else(|| mine.clone());
        Some(SyncStatus {
            online: watched.online && mine.online,
            pending: mine.pending,
            problem: mine.problem.or(watched.problem),
        })
    }

    fn absorb_changes(&mut self, changes: StoreChanges) {
        if let Some(annotators) = changes.annotators {
            self.annotators = annotators;
        }
        let mut newest: HashMap<(AnnotatorId, &str, Modality), EventId> = HashMap::new();
        for event in &changes.events {
            let version = newest.entry((event.annotator, event.utterance.as_str(), event.modality)).or_insert(event.id);
            *version = (*version).max(event.id);
        }
        for (annotator, utterance, modality, judgment) in &changes.judgments {
            let Some(&index) = self.index_of.get(utterance) else { continue };
            let version = newest.get(&(*annotator, utterance.as_str(), *modality)).copied().unwrap_or_default();
            let point = (*annotator, index, *modality);
            // An edit made here after the watcher read the store is newer than its report.
            if self.versions.get(&point).is_some_and(|&held| held > version) {
                continue;
            }
            self.versions.insert(point, version);
            let points = self.judgments.entry(*annotator).or_default();
            match judgment {
                Some(j) => points.insert((index, *modality), j.clone()),
                None => points.remove(&(index, *modality)),
            };
        }
    }

    /// Merges `sources` into the open store; written only when `write`.
    fn merge_sources(
        &mut self,
        session: &Session,
        sources: &[PathBuf],
        options: &MergeOptions,
        write: bool,
    ) -> Result<MergeSummary, StoreError> {
        let dataset = &session.dataset;
        let opened = sources.iter().map(|p| Store::open(p, &dataset.manifest.name)).collect::<Result<Vec<_>, _>>()?;
        let index_of = &self.index_of;
        let Some(store) = &mut self.store else {
            return Err(StoreError::Invalid { path: PathBuf::new(), problem: "no audit store is open".to_owned() });
        };
        store.merge(&opened, &|id| index_of.contains_key(id), options, write)
    }

    fn preview_merge(
        &mut self,
        session: &Session,
        sources: Vec<PathBuf>,
        options: MergeOptions,
    ) -> Result<AuditOutcome, StoreError> {
        let summary = self.merge_sources(session, &sources, &options, false)?;
        self.merge = Some(MergePreview { sources, options, summary });
        Ok(AuditOutcome::default())
    }

    /// Writes the prepared merge and reloads the store's annotators and judgments (the same
    /// annotator goes on auditing).
    fn confirm_merge(&mut self, session: &Session) -> Result<AuditOutcome, StoreError> {
        let Some(preview) = self.merge.take() else { return Ok(AuditOutcome::default()) };
        let summary = self.merge_sources(session, &preview.sources, &preview.options, true)?;
        if !summary.written {
            let conflicts = summary.conflicts.len();
            self.merge = Some(MergePreview { summary, ..preview });
            return Ok(AuditOutcome::notice(Notice::error(format!(
                "Merge: {conflicts} annotator name conflict(s) to decide first; nothing was written"
            ))));
        }
        let address = self.store.as_ref().map(|s| s.address().clone());
        let me = self.me.as_ref().map(|a| a.name.clone());
        let mut outcome = self.start(session, address, me.as_deref())?;
        outcome.notice = Some(Notice::info(format!(
            "Merged {} new events from {} store(s) ({} were already here)",
            summary.events_new(),
            preview.sources.len(),
            summary.events_present()
        )));
        Ok(outcome)
    }

    fn continue_in_copy(&mut self, session: &Session) -> Result<AuditOutcome, StoreError> {
        let Some(store) = self.store.as_ref().filter(|s| s.is_read_only()) else { return Ok(AuditOutcome::default()) };
        let copy = StoreLocation::in_user_data(&session.dataset.root)?.path;
        let taken_up = copy.is_file();
        if !taken_up {
            store.copy_to(&copy)?;
        }
        let remembered = self.me.as_ref().map(|a| a.name.clone());
        let mut outcome = self.start(session, Some(StoreAddress::File(copy.clone())), remembered.as_deref())?;
        let what = if taken_up { "Went on in the earlier copy" } else { "Copied the read-only store" };
        outcome.notice = Some(Notice::info(format!("{what}: auditing in {}", copy.display())));
        Ok(outcome)
    }

    fn choose(&mut self, id: AnnotatorId) -> AuditOutcome {
        let Some(annotator) = self.annotators.iter().find(|a| a.id == id).cloned() else {
            return AuditOutcome::default();
        };
        self.leave_annotator();
        self.me = Some(annotator.clone());
        AuditOutcome { annotator: Some(annotator.name), ..AuditOutcome::default() }
    }

    /// Undo history belongs to one annotator's session of edits. (The nudges in progress and a
    /// typed reason were saved before.)
    fn leave_annotator(&mut self) {
        self.me = None;
        self.undo.clear();
        self.redo.clear();
        self.armed = None;
        self.drag = None;
        self.last_edit = None;
    }

    /// Moves the point of the run of nudges (started from where the point is shown).
    fn nudge(
        &mut self,
        session: &Session,
        index: usize,
        m: Modality,
        valence: f32,
        arousal: f32,
    ) -> Result<AuditOutcome, StoreError> {
        if self.nudges.is_some_and(|run| (run.index, run.modality) != (index, m)) {
            self.save_nudges(session)?;
        }
        let Some(from) = self.shown(session, index, m) else { return Ok(AuditOutcome::default()) };
        let va = clamp(Va::new(from.valence + valence, from.arousal + arousal));
        self.nudges = Some(NudgeRun { index, modality: m, va, last: Instant::now() });
        Ok(AuditOutcome::default())
    }

    /// Saves the run of nudges once it has paused for [`NUDGE_SETTLE`].
    fn settle(&mut self, session: &Session) -> Result<(), StoreError> {
        if self.nudges.is_some_and(|run| run.last.elapsed() >= NUDGE_SETTLE) {
            self.save_nudges(session)?;
        }
        Ok(())
    }

    /// Whether nudges wait to be saved (the app keeps frames coming until they are).
    pub fn has_unsaved_nudges(&self) -> bool {
        self.nudges.is_some()
    }

    /// Saves the run of nudges as one correction.
    fn save_nudges(&mut self, session: &Session) -> Result<(), StoreError> {
        let Some(run) = self.nudges.take() else { return Ok(()) };
        self.set(session, run.index, run.modality, run.va).map(|_| ())
    }

    /// Gives the last edit the reason typed in the draft (nothing when none is typed).
    fn save_reason(&mut self) -> Result<(), StoreError> {
        let typed = self.draft.reason.trim().to_owned();
        if typed.is_empty() {
            return Ok(());
        }
        let (Some(store), Some(me), Some(last)) = (&mut self.store, &self.me, self.last_edit) else {
            return Ok(());
        };
        let event = store.explain(me.id, last.event, &typed)?;
        self.draft.reason.clear();
        self.absorb(&event);
        Ok(())
    }

    fn create(&mut self) -> Result<AuditOutcome, StoreError> {
        let Some(store) = &self.store else { return Ok(AuditOutcome::default()) };
        let annotator = store.create_annotator(&self.draft.annotator_name, &self.draft.annotator_note)?;
        self.annotators = store.annotators()?;
        self.draft.annotator_name.clear();
        self.draft.annotator_note.clear();
        Ok(self.choose(annotator.id))
    }

    fn set(&mut self, session: &Session, index: usize, m: Modality, va: Va) -> Result<AuditOutcome, StoreError> {
        // A reason typed for the last edit is that edit's, not this one's (and this edit
        // starts from the judgment with it).
        self.save_reason()?;
        let old = self.mine(index, m).cloned();
        let new = Judgment {
            va: clamp(va),
            status: Status::Corrected,
            unsure: old.as_ref().is_some_and(|j| j.unsure),
            reason: old.map(|j| j.reason).unwrap_or_default(),
        };
        self.edit(session, index, m, EventKind::Correct, new)
    }

    fn accept(&mut self, session: &Session, index: usize, m: Modality) -> Result<AuditOutcome, StoreError> {
        self.save_reason()?;
        let Some(new) = self.confirmed(session, index, m, false) else { return Ok(AuditOutcome::default()) };
        self.edit(session, index, m, EventKind::Accept, new)
    }

    fn flag_unsure(&mut self, session: &Session, index: usize, m: Modality) -> Result<AuditOutcome, StoreError> {
        self.save_reason()?;
        let Some(new) = self.confirmed(session, index, m, true) else { return Ok(AuditOutcome::default()) };
        self.edit(session, index, m, EventKind::FlagUnsure, new)
    }

    /// The point as it stands (a correction stays one), with `unsure` set as given.
    fn confirmed(&self, session: &Session, index: usize, m: Modality, unsure: bool) -> Option<Judgment> {
        let old = self.mine(index, m);
        let va = old.map(|j| j.va).or_else(|| model_va(session, index, m))?;
        Some(Judgment {
            va,
            status: old.map_or(Status::Accepted, |j| j.status),
            unsure,
            reason: old.map(|j| j.reason.clone()).unwrap_or_default(),
        })
    }

    fn edit(
        &mut self,
        session: &Session,
        index: usize,
        m: Modality,
        kind: EventKind,
        new: Judgment,
    ) -> Result<AuditOutcome, StoreError> {
        let (Some(store), Some(me), Some(u)) = (&mut self.store, &self.me, session.utterance(index)) else {
            return Ok(AuditOutcome::default());
        };
        let change = Change {
            annotator: me.id,
            utterance: &u.id,
            modality: m,
            kind,
            new: Some(new),
            reason: "",
            source_model: u.va_model.get(m),
            model: *u.va.get(m),
        };
        let event = store.record(&change)?;
        self.undo.push(event.id);
        self.redo.clear();
        self.last_edit = Some(LastEdit { event: event.id, index, modality: m });
        self.absorb(&event);
        Ok(AuditOutcome::default())
    }

    /// Takes an event's new state into the in-memory judgments; the utterance it touched.
    fn absorb(&mut self, event: &Event) -> Option<usize> {
        let index = *self.index_of.get(&event.utterance)?;
        let version = self.versions.entry((event.annotator, index, event.modality)).or_default();
        *version = (*version).max(event.id);
        let points = self.judgments.entry(event.annotator).or_default();
        match &event.new {
            Some(j) => points.insert((index, event.modality), j.clone()),
            None => points.remove(&(index, event.modality)),
        };
        Some(index)
    }

    /// Undoes the annotator's last edit, or redoes the last undone one.
    fn travel(&mut self, direction: Travel) -> Result<AuditOutcome, StoreError> {
        let (Some(store), Some(me)) = (&mut self.store, &self.me) else { return Ok(AuditOutcome::default()) };
        let (from, to) = match direction {
            Travel::Undo => (&mut self.undo, &mut self.redo),
            Travel::Redo => (&mut self.redo, &mut self.undo),
        };
        let Some(&target) = from.last() else {
            let nothing = match direction {
                Travel::Undo => "Nothing to undo",
                Travel::Redo => "Nothing to redo",
            };
            return Ok(AuditOutcome::notice(Notice::info(nothing)));
        };
        let event = match direction {
            Travel::Undo => store.undo(me.id, target)?,
            Travel::Redo => store.redo(me.id, target)?,
        };
        from.pop();
        to.push(target);
        if self.last_edit.is_some_and(|last| last.event == target) {
            self.last_edit = None;
        }
        Ok(AuditOutcome { select: self.absorb(&event), ..AuditOutcome::default() })
    }

    fn next(&self, session: &Session, selected: Option<usize>, rows: &[usize], threshold: f32) -> AuditOutcome {
        let queue = self.queue_of(session, rows, threshold);
        let wanted = |i: usize| !self.queue.unaudited_only || !self.audited_by_me(session, i);
        // "Unaudited only" makes the queue the work left, taken from the top.
        match audit_queue::next(&queue, selected, self.queue.unaudited_only, wanted) {
            Some(index) => AuditOutcome { select: Some(index), ..AuditOutcome::default() },
            None => {
                let (done, total) = self.progress(session, rows);
                AuditOutcome::notice(Notice::info(format!("The queue is done: {done} of {total} audited")))
            }
        }
    }

    fn accept_and_next(
        &mut self,
        session: &Session,
        selected: Option<usize>,
        rows: &[usize],
        threshold: f32,
    ) -> Result<AuditOutcome, StoreError> {
        if let Some(index) = selected {
            for m in Modality::ALL {
                if self.mine(index, m).is_none() && model_va(session, index, m).is_some() {
                    self.accept(session, index, m)?;
                }
            }
        }
        self.armed = None;
        Ok(self.next(session, selected, rows, threshold))
    }
}

fn model_va(session: &Session, index: usize, modality: Modality) -> Option<Va> {
    *session.utterance(index)?.va.get(modality)
}

/// Onto the VA square.
fn clamp(va: Va) -> Va {
    Va::new(va.valence.clamp(-1.0, 1.0), va.arousal.clamp(-1.0, 1.0))
}
