//! The job list: a queue per device (one running job per device), cancel and resume, and the
//! history in `RUNS/jobs.json`.
//!
//! Several processes may share one runs folder (the window, `univa jobs submit`, a second
//! window): each job has an [`Owner`], the process that runs or follows it. Every write of the
//! history happens under a lock on `jobs.json.lock` and merges what is on disk first: a
//! process writes its own jobs' records and takes the others' from the file, so nobody's jobs
//! are lost and ids stay unique. Jobs owned elsewhere are listed, cancelled through their stop
//! file, and never started here; a job whose owner has died is taken over (followed again on
//! Slurm, otherwise marked interrupted).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::JobsError;
use super::curves::Curves;
use super::layout::{EVENTS_FILE, HISTORY_FILE, JOBS_DIR, PreparedJob, read_history, request_stop, stop_file};
use super::process::{Exit, TrainerProcess};
use super::record::{JobId, JobRecord, JobStatus, Owner};
use super::spec::JobSpec;
use super::target::Target;
use crate::fsutil::process_runs;
use crate::train::TrainEvent;

/// Held (locked) while a process reads, merges and writes the history.
const HISTORY_LOCK_FILE: &str = "jobs.json.lock";
/// How often the curves of a job running elsewhere are read again from its events file.
const FOREIGN_CURVES_EVERY: Duration = Duration::from_secs(1);
/// How long a stopping trainer may take to finish its step before it is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Whether the trainer of a local job still runs: its recorded process runs and trains this
/// job's run folder (not another process that took the number since).
fn trainer_runs(record: &JobRecord) -> bool {
    let Some(pid) = record.trainer_pid else { return false };
    if !process_runs(pid) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")) else { return false };
    let run_dir = record.spec.run_dir.as_os_str().as_encoded_bytes();
    cmdline.split(|&b| b == 0).any(|word| word == run_dir)
}

/// What an active job whose owner has gone has become, when it is settled without its owner:
/// `None` while it is not such a job, runs on Slurm (followed again by id), or its trainer
/// still runs (it is still running; cancel reaches it through its stop file). Otherwise the
/// trainer has gone too: cancelled if its stop file was written, finished if its last
/// checkpoint is the configured last epoch, else interrupted (resumable from that checkpoint).
pub fn orphan_outcome(runs_dir: &Path, record: &JobRecord, me: Option<Owner>) -> Option<JobStatus> {
    if !record.status.is_active()
        || record.owner.is_some_and(|o| Some(o) == me || o.is_alive())
        || matches!(record.spec.target, Target::Slurm(_)) && record.remote_id.is_some()
        || trainer_runs(record)
    {
        return None;
    }
    if matches!(record.status, JobStatus::Running { .. } | JobStatus::Stopping) {
        if stop_file(runs_dir, record.id).exists() {
            return Some(JobStatus::Cancelled { forced: false });
        }
        let state: Option<crate::train::TrainerState> =
            crate::train::run::read_json(&record.spec.run_dir.join(crate::train::run::TRAINER_STATE)).ok();
        if state.is_some_and(|s| s.epochs_done >= record.spec.config.train.epochs) {
            return Some(JobStatus::Finished);
        }
    }
    Some(JobStatus::Interrupted)
}

/// The history of `runs_dir` with each job whose owner and trainer have both gone shown as
/// what it has become ([`orphan_outcome`]), for readers such as `univa jobs list` and `follow`;
/// nothing is written.
pub fn settled_history(runs_dir: &Path) -> Result<Vec<JobRecord>, JobsError> {
    let mut records = read_history(runs_dir)?;
    for record in &mut records {
        if let Some(status) = orphan_outcome(runs_dir, record, None) {
            record.status = status;
        }
    }
    Ok(records)
}

/// A job: its record, its live curves and, while it runs, its process.
pub struct Job {
    pub record: JobRecord,
    pub curves: Curves,
    process: Option<TrainerProcess>,
    /// The events file's length when the curves of a job owned elsewhere were last read.
    events_len: u64,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("record", &self.record).finish_non_exhaustive()
    }
}

impl Job {
    /// A job of the history, its curves read from its events file.
    fn from_history(record: JobRecord) -> Self {
        let events = record.spec.run_dir.join(EVENTS_FILE);
        let events_len = std::fs::metadata(&events).map_or(0, |m| m.len());
        let curves = Curves::read(&events).unwrap_or_default();
        Self { record, curves, process: None, events_len }
    }

    pub fn id(&self) -> JobId {
        self.record.id
    }

    /// The trainer's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(TrainerProcess::pid)
    }

    /// Whether it stopped early with a finished epoch to continue from.
    pub fn can_resume(&self) -> bool {
        matches!(
            self.record.status,
            JobStatus::Cancelled { .. } | JobStatus::Failed { .. } | JobStatus::Died { .. } | JobStatus::Interrupted
        ) && self.record.spec.run_dir.join("trainer_state.json").is_file()
    }
}

/// All jobs of one runs folder.
pub struct JobManager {
    runs_dir: PathBuf,
    trainer: PathBuf,
    jobs: Vec<Job>,
    grace: Duration,
    /// This list, as the owner of the jobs it runs or follows.
    owner: Owner,
    /// The ids the history file held when this list last read or wrote it.
    synced: HashSet<JobId>,
    /// Jobs forgotten here and not yet written out of the history.
    forgotten: HashSet<JobId>,
    /// The history file's version when this list last read or wrote it.
    seen: Option<Version>,
    foreign_curves_read: Instant,
    /// A job was queued here since the last look for a free device (a device freeing up later
    /// shows as a job ending here, or as a change in the history).
    queued_since_look: bool,
    /// Why the history could not be read, once (the unreadable file is set aside).
    pub load_problem: Option<String>,
}

impl Drop for JobManager {
    fn drop(&mut self) {
        self.owner.release();
    }
}

impl std::fmt::Debug for JobManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobManager").field("runs_dir", &self.runs_dir).field("jobs", &self.jobs).finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `cuda` is `cuda:0`; case and spaces do not matter.
fn normalize_device(device: &str) -> String {
    let device = device.trim().to_ascii_lowercase();
    if device == "cuda" { "cuda:0".to_owned() } else { device }
}

impl JobManager {
    /// The jobs of `runs_dir`, from its history; `trainer` is the `univa` executable to run.
    /// Jobs the history lists as queued or running whose owner has gone were cut off by it
    /// closing: Slurm jobs are followed again, the others marked interrupted.
    pub fn open(runs_dir: &Path, trainer: PathBuf) -> Self {
        let mut manager = Self {
            runs_dir: runs_dir.to_path_buf(),
            trainer,
            jobs: Vec::new(),
            grace: DEFAULT_GRACE,
            owner: Owner::register(),
            synced: HashSet::new(),
            forgotten: HashSet::new(),
            seen: None,
            foreign_curves_read: Instant::now(),
            queued_since_look: false,
            load_problem: None,
        };
        let path = manager.history_path();
        let mut rebuilt = false;
        let records = match read_history(runs_dir) {
            Ok(records) => records,
            Err(JobsError::History { problem, .. }) => {
                let records = rebuild_history(runs_dir);
                let kept = match set_aside(&path) {
                    Ok(aside) => format!("kept as {}", aside.display()),
                    Err(e) => format!("left as it is ({e})"),
                };
                manager.load_problem = Some(format!(
                    "{}: the job history is damaged ({problem}); {kept}. The list was rebuilt from the {} run \
                     folder(s) with a config.json and an events.jsonl.",
                    path.display(),
                    records.len()
                ));
                rebuilt = true;
                records
            }
            Err(_) => Vec::new(),
        };
        if rebuilt {
            // Written as it is, so that the rebuilt jobs are on disk like any other.
            let written = serde_json::to_string_pretty(&records)
                .map_err(std::io::Error::other)
                .and_then(|text| crate::fsutil::write_atomic(&path, text.as_bytes()));
            if let Err(e) = written {
                tracing::warn!("{}: {e}", path.display());
            }
        }
        manager.seen = version(&path);
        if manager.merge(records)
            && let Err(e) = manager.save()
        {
            tracing::warn!("{e}");
        }
        manager
    }

    fn history_path(&self) -> PathBuf {
        self.runs_dir.join(HISTORY_FILE)
    }

    /// Takes the history as read from disk into the list: this list's own jobs keep its
    /// version (unless forgotten elsewhere), the others' come from the file, jobs new on disk
    /// are added, and jobs whose owner is gone are taken over. Returns whether it took any
    /// over (the history then needs writing).
    fn merge(&mut self, records: Vec<JobRecord>) -> bool {
        let me = self.owner;
        let mut on_disk: HashMap<JobId, JobRecord> = records.into_iter().map(|r| (r.id, r)).collect();
        let ids_on_disk: HashSet<JobId> = on_disk.keys().copied().collect();
        let synced = std::mem::take(&mut self.synced);
        let mut jobs = Vec::with_capacity(self.jobs.len().max(on_disk.len()));
        for mut job in std::mem::take(&mut self.jobs) {
            let id = job.id();
            let mine = job.record.owner == Some(me);
            match on_disk.remove(&id) {
                // Ours, unless another live process has taken it over since (resumed it).
                Some(theirs) if job.process.is_some() || (mine && !taken_over(&theirs, me)) => jobs.push(job),
                Some(theirs) => {
                    job.record = theirs;
                    jobs.push(job);
                }
                // Not written yet, or (still active) a history file that was removed.
                None if mine && (!synced.contains(&id) || job.record.status.is_active()) => jobs.push(job),
                // Forgotten by another process.
                None => {}
            }
        }
        let mut new: Vec<JobRecord> = on_disk.into_values().filter(|r| !self.forgotten.contains(&r.id)).collect();
        new.sort_by_key(|r| r.id);
        jobs.extend(new.into_iter().map(Job::from_history));
        jobs.sort_by_key(Job::id);
        self.jobs = jobs;
        self.synced = ids_on_disk;
        self.take_over_orphans()
    }

    /// Active jobs whose owner has gone (or was never recorded): a Slurm job runs on without
    /// it and is followed again where it stands; a local one whose trainer still runs is left
    /// running (cancel reaches it by its stop file) until the trainer ends; the others are
    /// settled by [`orphan_outcome`]. Returns whether it took any over.
    fn take_over_orphans(&mut self) -> bool {
        let me = self.owner;
        let mut took = false;
        for job in &mut self.jobs {
            let record = &mut job.record;
            if !record.status.is_active() || record.owner.is_some_and(|o| o == me || o.is_alive()) {
                continue;
            }
            let slurm = matches!(record.spec.target, Target::Slurm(_)) && record.remote_id.is_some();
            let outcome = orphan_outcome(&self.runs_dir, record, Some(me));
            if outcome.is_none() && !slurm {
                continue;
            }
            took = true;
            record.owner = Some(me);
            job.process = match (&record.spec.target, &record.status, &record.remote_id) {
                (Target::Slurm(slurm), JobStatus::Running { .. } | JobStatus::Stopping, Some(id)) => {
                    let job_dir = self.runs_dir.join(JOBS_DIR).join(record.id.to_string());
                    let prepared = PreparedJob {
                        record: record.clone(),
                        config_file: job_dir.join("config.toml"),
                        config_toml: String::new(),
                        job_dir,
                        stop_file: stop_file(&self.runs_dir, record.id),
                    };
                    super::remote::slurm::reattach(slurm, prepared, id, &self.runs_dir).ok()
                }
                _ => None,
            };
            if job.process.is_none() {
                record.status = outcome.unwrap_or(JobStatus::Interrupted);
                record.trainer_pid = None;
                record.ended_unix.get_or_insert_with(unix_now);
            }
        }
        took
    }

    /// Whether this list runs or follows the job (else another process does, or nobody: it
    /// has ended).
    pub fn owns(&self, job: &Job) -> bool {
        job.record.owner == Some(self.owner)
    }

    /// The process id of the other process that runs or follows an active job.
    pub fn run_elsewhere(&self, job: &Job) -> Option<u32> {
        job.record.owner.filter(|o| job.record.status.is_active() && *o != self.owner).map(|o| o.pid)
    }

    /// The executable jobs run (`univa`): by default the running one.
    pub fn default_trainer() -> PathBuf {
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("univa"))
    }

    /// How long a cancelled trainer may take to finish its step before it is killed.
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    pub fn runs_dir(&self) -> &Path {
        &self.runs_dir
    }

    /// The id the next submitted job gets, unless another process submits one first.
    pub fn next_id(&self) -> JobId {
        self.jobs.iter().map(Job::id).max().map_or(1, |id| id + 1)
    }

    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id() == id)
    }

    fn job_mut(&mut self, id: JobId) -> Result<&mut Job, JobsError> {
        self.jobs.iter_mut().find(|j| j.id() == id).ok_or(JobsError::NoSuchJob(id))
    }

    /// Any job queued, running or stopping.
    pub fn is_active(&self) -> bool {
        self.jobs.iter().any(|j| j.record.status.is_active())
    }

    /// Queues a job; it starts on the next [`Self::poll`] when its device is free. Its id is
    /// taken under the history's lock, so jobs submitted by other processes never share it.
    pub fn submit(&mut self, mut spec: JobSpec) -> Result<JobId, JobsError> {
        if let Some(problem) = super::name_problem(&spec) {
            return Err(JobsError::Name(problem));
        }
        spec.device = normalize_device(&spec.device);
        let owner = self.owner;
        self.locked(|manager| {
            let id = manager.next_id();
            let record = JobRecord {
                id,
                spec,
                status: JobStatus::Queued { resume: false },
                stderr_tail: Vec::new(),
                created_unix: unix_now(),
                started_unix: None,
                ended_unix: None,
                attempts: 0,
                remote_id: None,
                remote_state: None,
                owner: Some(owner),
                trainer_pid: None,
            };
            manager.jobs.push(Job { record, curves: Curves::default(), process: None, events_len: 0 });
            manager.queued_since_look = true;
            (id, true)
        })
    }

    /// Queues a stopped job again to continue from its last finished epoch.
    pub fn resume(&mut self, id: JobId) -> Result<(), JobsError> {
        let owner = self.owner;
        let job = self.job_mut(id)?;
        if !job.can_resume() {
            return Err(JobsError::Job {
                id,
                name: job.record.spec.name.clone(),
                problem: format!(
                    "is {} and {} holds no finished epoch to resume from",
                    job.record.status.label(),
                    job.record.spec.run_dir.display()
                ),
            });
        }
        job.record.status = JobStatus::Queued { resume: true };
        job.record.ended_unix = None;
        job.record.owner = Some(owner);
        self.queued_since_look = true;
        self.save()
    }

    /// Cancels a job: a queued one at once, a running one gracefully (after its current step,
    /// keeping the last checkpoint), by force if it has not stopped within the grace period.
    pub fn cancel(&mut self, id: JobId) -> Result<(), JobsError> {
        let owner = self.owner;
        let runs_dir = self.runs_dir.clone();
        let job = self.job_mut(id)?;
        if let Some(other) = job.record.owner.filter(|o| *o != owner && job.record.status.is_active()) {
            return cancel_elsewhere(&runs_dir, &job.record, other.pid);
        }
        match &job.record.status {
            JobStatus::Queued { .. } => {
                job.record.status = JobStatus::Cancelled { forced: false };
                job.record.ended_unix = Some(unix_now());
            }
            JobStatus::Running { .. } => {
                if let Some(process) = &mut job.process {
                    process.request_stop()?;
                }
                job.record.status = JobStatus::Stopping;
            }
            _ => return Ok(()),
        }
        self.save()
    }

    /// Drops a job that is not active from the list and the history (its run folder stays).
    pub fn forget(&mut self, id: JobId) -> Result<(), JobsError> {
        let job = self.job_mut(id)?;
        if job.record.status.is_active() {
            return Err(JobsError::Job {
                id,
                name: job.record.spec.name.clone(),
                problem: "is still queued or running; cancel it first".to_owned(),
            });
        }
        self.jobs.retain(|j| j.id() != id);
        self.forgotten.insert(id);
        self.save()
    }

    /// Reads what the trainers sent, finishes the jobs whose trainer ended, and starts queued
    /// jobs on free devices. Returns whether anything changed. Called every frame by the GUI.
    pub fn poll(&mut self) -> bool {
        let refreshed = self.refresh();
        let mut changed = refreshed;
        let mut status_changed = false;
        let mut events: Vec<(TrainEvent, Instant)> = Vec::new();
        for job in &mut self.jobs {
            let Some(process) = &mut job.process else { continue };
            events.clear();
            let exit = process.poll(self.grace, &mut events);
            changed |= !events.is_empty();
            for (event, at) in &events {
                job.curves.apply(event, *at);
            }
            job.record.stderr_tail = process.stderr_tail.iter().cloned().collect();
            if process.remote_state.is_some()
                && (job.record.remote_state != process.remote_state || job.record.remote_id != process.remote_id)
            {
                job.record.remote_state.clone_from(&process.remote_state);
                job.record.remote_id.clone_from(&process.remote_id);
                status_changed = true;
            }
            if let Some(exit) = exit {
                job.process = None;
                job.record.trainer_pid = None;
                job.record.status = outcome(&exit, &job.record.stderr_tail);
                job.record.ended_unix = Some(unix_now());
                status_changed = true;
            }
        }
        // Whether a device is free is decided under the lock, with what other processes wrote,
        // so two processes never start jobs on one device at once; looked at only when it may
        // have changed, not every frame.
        let me = self.owner;
        let queued_here =
            self.jobs.iter().any(|j| matches!(j.record.status, JobStatus::Queued { .. }) && j.record.owner == Some(me));
        if status_changed || (queued_here && (refreshed || self.queued_since_look)) {
            self.queued_since_look = false;
            match self.locked(|manager| {
                let started = manager.start_queued();
                (started, status_changed || started)
            }) {
                Ok(started) => status_changed |= started,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        changed || status_changed
    }

    /// Reads the history again when another process has written it since (and once a second in
    /// any case); once a second, the curves of jobs running elsewhere. Jobs whose process has
    /// gone are taken over and the history written. Returns whether anything changed.
    fn refresh(&mut self) -> bool {
        let mut changed = false;
        let mut took_over = false;
        let path = self.history_path();
        let now = version(&path);
        let second = self.foreign_curves_read.elapsed() >= FOREIGN_CURVES_EVERY;
        if now.is_some() && (now != self.seen || second) {
            // Writers replace the file whole (atomically), so it reads without the lock.
            if let Ok(records) = read_history(&self.runs_dir) {
                self.seen = now;
                took_over |= self.merge(records);
                changed = true;
            }
        }
        if second {
            self.foreign_curves_read = Instant::now();
            took_over |= self.take_over_orphans();
            let me = self.owner;
            for job in self.jobs.iter_mut().filter(|j| j.record.status.is_active() && j.record.owner != Some(me)) {
                let events = job.record.spec.run_dir.join(EVENTS_FILE);
                let len = std::fs::metadata(&events).map_or(0, |m| m.len());
                if len != job.events_len {
                    job.events_len = len;
                    let batch_size = job.record.spec.config.train.batch_size;
                    job.curves = Curves::read_running(&events, batch_size).unwrap_or_default();
                    changed = true;
                }
            }
        }
        if took_over {
            if let Err(e) = self.save() {
                tracing::warn!("{e}");
            }
            changed = true;
        }
        changed
    }

    /// Starts the oldest queued job of each queue and device that has none running; Slurm jobs
    /// go to Slurm at once, the queued points of a sweep together as one job array.
    fn start_queued(&mut self) -> bool {
        let queue_of = |job: &Job| job.record.spec.target.queue().map(|q| (q, job.record.spec.device.clone()));
        let mut busy: HashSet<(String, String)> = self
            .jobs
            .iter()
            .filter(|j| matches!(j.record.status, JobStatus::Running { .. } | JobStatus::Stopping))
            .filter_map(queue_of)
            .collect();
        let mut started = false;
        for index in 0..self.jobs.len() {
            let JobStatus::Queued { resume } = self.jobs[index].record.status else { continue };
            // Another process queued it and starts it.
            if self.jobs[index].record.owner != Some(self.owner) {
                continue;
            }
            if let Some(queue) = queue_of(&self.jobs[index]) {
                if busy.contains(&queue) {
                    continue;
                }
                busy.insert(queue);
            }
            let first_owner = self.jobs[index].record.owner;
            let first = &self.jobs[index].record.spec;
            let group: Vec<usize> = match (&first.target, &first.sweep, resume) {
                (Target::Slurm(_), Some(sweep), false) => (index..self.jobs.len())
                    .filter(|&i| {
                        let other = &self.jobs[i].record;
                        other.status == JobStatus::Queued { resume: false }
                            && other.owner == first_owner
                            && other.spec.sweep.as_ref() == Some(sweep)
                            && other.spec.target == first.target
                            && other.spec.dataset == first.dataset
                            && other.spec.device == first.device
                    })
                    .collect(),
                _ => vec![index],
            };
            started = true;
            for &i in &group {
                let record = &mut self.jobs[i].record;
                record.attempts += 1;
                record.started_unix = Some(unix_now());
                record.stderr_tail.clear();
                record.remote_id = None;
                record.remote_state = None;
            }
            let records: Vec<&JobRecord> = group.iter().map(|&i| &self.jobs[i].record).collect();
            match start(&self.runs_dir, &self.trainer, &records, resume, self.grace) {
                Ok(processes) => {
                    for (&i, process) in group.iter().zip(processes) {
                        self.jobs[i].record.trainer_pid = process.pid();
                        self.jobs[i].process = Some(process);
                        self.jobs[i].record.status = JobStatus::Running { resume };
                    }
                }
                Err(e) => {
                    for &i in &group {
                        self.jobs[i].record.status = JobStatus::Failed { message: e.to_string() };
                        self.jobs[i].record.ended_unix = Some(unix_now());
                    }
                }
            }
        }
        started
    }

    /// Writes the history, atomically, merged with what other processes wrote since.
    fn save(&mut self) -> Result<(), JobsError> {
        self.locked(|_| ((), true))
    }

    /// Under the history's lock: merges what other processes wrote since, applies `change`, and
    /// writes the file when the change says so.
    fn locked<T>(&mut self, change: impl FnOnce(&mut Self) -> (T, bool)) -> Result<T, JobsError> {
        std::fs::create_dir_all(&self.runs_dir)
            .map_err(|source| JobsError::Io { path: self.runs_dir.clone(), source })?;
        let lock_path = self.runs_dir.join(HISTORY_LOCK_FILE);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JobsError::Io { path, source }
        };
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let path = self.history_path();
        // Always read: a version check could miss a write within the file system's timestamp
        // tick. An unreadable file was set aside at open; one that turned unreadable since is
        // replaced.
        let mut took_over = false;
        if let Ok(records) = read_history(&self.runs_dir) {
            self.seen = version(&path);
            took_over = self.merge(records);
        }
        let (out, write) = change(self);
        if !write && !took_over {
            return Ok(out);
        }
        let records: Vec<&JobRecord> = self.jobs.iter().map(|j| &j.record).collect();
        let text = serde_json::to_string_pretty(&records)
            .map_err(|e| JobsError::History { path: path.clone(), problem: e.to_string() })?;
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(io(&path))?;
        self.synced = self.jobs.iter().map(Job::id).collect();
        self.forgotten.clear();
        self.seen = version(&path);
        // Dropping the file releases the lock.
        drop(lock);
        Ok(out)
    }
}

/// Moves a damaged history to `jobs.json.damaged-<unix time>` (`-2`, `-3`, … after it when
/// that name is taken), so that each damaged copy is kept.
fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stem = format!("{HISTORY_FILE}.damaged-{}", unix_now());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut aside = dir.join(&stem);
    let mut n = 1;
    while aside.exists() {
        n += 1;
        aside = dir.join(format!("{stem}-{n}"));
    }
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

/// What a lost history can be rebuilt from: each job's run folder under `runs_dir` (or a sweep
/// folder in it) holds its `config.json` (the configuration and dataset) and `events.jsonl`
/// (what the trainer reported). Each becomes a local job, finished when its last checkpoint is
/// the configured last epoch and interrupted (resumable where it has a checkpoint) otherwise.
fn rebuild_history(runs_dir: &Path) -> Vec<JobRecord> {
    let mut found: Vec<(u64, JobSpec, usize, JobStatus)> = Vec::new();
    let folders = |dir: &Path| -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        dirs.sort();
        dirs
    };
    for top in folders(runs_dir) {
        let mut candidates = vec![(top.clone(), None)];
        let sweep = top.file_name().map(|n| n.to_string_lossy().into_owned());
        candidates.extend(folders(&top).into_iter().map(|point| (point, sweep.clone())));
        for (run_dir, sweep) in candidates {
            let Some(job) = rebuilt_job(&run_dir, sweep) else { continue };
            found.push(job);
        }
    }
    found.sort_by_key(|(created, ..)| *created);
    found
        .into_iter()
        .zip(1..)
        .map(|((created_unix, spec, attempts, status), id)| JobRecord {
            id,
            spec,
            status,
            stderr_tail: Vec::new(),
            created_unix,
            started_unix: None,
            ended_unix: None,
            attempts,
            remote_id: None,
            remote_state: None,
            owner: None,
            trainer_pid: None,
        })
        .collect()
}

/// One run folder as a job of a rebuilt history: (created, spec, attempts, status).
fn rebuilt_job(run_dir: &Path, sweep: Option<String>) -> Option<(u64, JobSpec, usize, JobStatus)> {
    use crate::train::run;
    let events = std::fs::read_to_string(run_dir.join(EVENTS_FILE)).ok()?;
    let config_path = run_dir.join(run::CONFIG_FILE);
    let info: crate::train::RunInfo = run::read_json(&config_path).ok()?;
    let name = run_dir.file_name()?.to_string_lossy().into_owned();
    let started: Vec<TrainEvent> = events
        .lines()
        .filter_map(|line| serde_json::from_str::<TrainEvent>(line).ok())
        .filter(|e| matches!(e, TrainEvent::Started { .. }))
        .collect();
    let device = match started.last() {
        Some(TrainEvent::Started { device, .. }) if device.starts_with("Cuda") => "cuda:0",
        _ => "cpu",
    };
    let state: Option<crate::train::TrainerState> = run::read_json(&run_dir.join(run::TRAINER_STATE)).ok();
    let status = if state.is_some_and(|s| s.epochs_done >= info.config.train.epochs) {
        JobStatus::Finished
    } else {
        JobStatus::Interrupted
    };
    let overlay = run_dir.join(run::OVERLAY_FILE);
    let created = std::fs::metadata(&config_path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let spec = JobSpec {
        name,
        sweep,
        dataset: info.dataset_path.clone().unwrap_or_default(),
        run_dir: run_dir.to_path_buf(),
        config: info.config,
        device: device.to_owned(),
        va_overlay: overlay.is_file().then_some(overlay),
        target: Target::Local,
    };
    Some((created, spec, started.len().max(1), status))
}

/// Whether another process that still runs has made the job its own (and active) on disk.
fn taken_over(on_disk: &JobRecord, me: Owner) -> bool {
    on_disk.status.is_active() && on_disk.owner.is_some_and(|o| o != me && o.is_alive())
}

/// What tells one version of the history file from the next: writers replace it whole, so a
/// new version is a new inode, and its time and length change too.
type Version = (u64, SystemTime, u64);

/// The history file's version, if it is there.
fn version(path: &Path) -> Option<Version> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.ino(), metadata.modified().ok()?, metadata.len()))
}

/// Cancels a job another process runs: its trainer (or remote worker) watches the stop file
/// and the owner records the outcome. A job still queued there can only be cancelled there.
fn cancel_elsewhere(runs_dir: &Path, record: &JobRecord, pid: u32) -> Result<(), JobsError> {
    if matches!(record.status, JobStatus::Queued { .. }) {
        return Err(JobsError::Job {
            id: record.id,
            name: record.spec.name.clone(),
            problem: format!("is queued by another univa process (pid {pid}); cancel it there"),
        });
    }
    request_stop(runs_dir, record.id)
}

/// Writes each job's config file and starts its trainer (several only for a Slurm job array).
fn start(
    runs_dir: &Path,
    trainer: &Path,
    records: &[&JobRecord],
    resume: bool,
    grace: Duration,
) -> Result<Vec<TrainerProcess>, JobsError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| JobsError::Io { path, source }
    };
    let mut prepared = Vec::with_capacity(records.len());
    for record in records {
        let job_dir = runs_dir.join(JOBS_DIR).join(record.id.to_string());
        std::fs::create_dir_all(&job_dir).map_err(io(&job_dir))?;
        let run_dir = &record.spec.run_dir;
        std::fs::create_dir_all(run_dir).map_err(io(run_dir))?;
        let config_file = job_dir.join("config.toml");
        let config_toml = record.spec.config_toml()?;
        crate::fsutil::write_atomic(&config_file, config_toml.as_bytes()).map_err(io(&config_file))?;
        let stop_file = stop_file(runs_dir, record.id);
        if stop_file.exists() {
            std::fs::remove_file(&stop_file).map_err(io(&stop_file))?;
        }
        prepared.push(PreparedJob { record: (*record).clone(), config_file, config_toml, job_dir, stop_file });
    }
    let Some(first) = prepared.first() else { return Ok(Vec::new()) };
    match first.record.spec.target.clone() {
        Target::Local => {
            let args = first.record.spec.train_args(&first.config_file, &first.stop_file, resume);
            let events = first.record.spec.run_dir.join(EVENTS_FILE);
            Ok(vec![TrainerProcess::spawn(trainer, &args, first.stop_file.clone(), &events)?])
        }
        Target::Ssh(host) => {
            let Some(job) = prepared.into_iter().next() else { return Ok(Vec::new()) };
            Ok(vec![super::remote::ssh::start(host, job, runs_dir, resume, grace)?])
        }
        Target::Slurm(slurm) => super::remote::slurm::start(&slurm, prepared, runs_dir, trainer, resume),
    }
}

/// What an ended trainer's exit means.
fn outcome(exit: &Exit, stderr_tail: &[String]) -> JobStatus {
    if exit.success() {
        return JobStatus::Finished;
    }
    if exit.stop_requested {
        return JobStatus::Cancelled { forced: exit.forced };
    }
    if let Some(problem) = &exit.remote_problem {
        return JobStatus::Failed { message: problem.clone() };
    }
    if let Some(state) = exit.slurm_state.as_deref().filter(|s| *s != "COMPLETED" && *s != "FAILED") {
        let why = match state {
            "TIMEOUT" => "Slurm stopped the job at its time limit (TIMEOUT); resume it, or ask for more time",
            "CANCELLED" => "the job was cancelled in Slurm (scancel), not from here (CANCELLED)",
            "OUT_OF_MEMORY" => "Slurm killed the job for using more memory than it asked for (OUT_OF_MEMORY)",
            "NODE_FAIL" => "the job's node failed (NODE_FAIL)",
            "PREEMPTED" => "Slurm preempted the job for another (PREEMPTED)",
            _ => "",
        };
        let message = if why.is_empty() { format!("Slurm ended the job: {state}") } else { why.to_owned() };
        return JobStatus::Died { message };
    }
    if let Some(signal) = exit.signal {
        let name = match signal {
            9 => " (SIGKILL: killed, e.g. by the out-of-memory killer or by hand)",
            6 => " (SIGABRT: aborted)",
            11 => " (SIGSEGV: a crash)",
            15 => " (SIGTERM: terminated)",
            _ => "",
        };
        return JobStatus::Died { message: format!("the trainer process died from signal {signal}{name}") };
    }
    // The binary prints its error as one `univa: …` line; a panic prints `panicked at`.
    let message = exit.error_line.clone().or_else(|| stderr_tail.last().cloned()).unwrap_or_else(|| match exit.code {
        Some(code) => format!("the trainer exited with code {code}"),
        None => "the trainer ended without an exit code".to_owned(),
    });
    JobStatus::Failed { message }
}
