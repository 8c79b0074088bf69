//! The job list: a queue per device (one running job per device), cancel and resume, and the
//! history in `RUNS/jobs.json`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::JobsError;
use super::curves::Curves;
use super::process::{Exit, TrainerProcess};
use super::spec::JobSpec;
use super::target::Target;
use crate::train::TrainEvent;

pub type JobId = u64;

/// The history file in the runs folder.
pub const HISTORY_FILE: &str = "jobs.json";
/// Per-job files (config, stop file), in the runs folder.
pub const JOBS_DIR: &str = ".jobs";
/// Every event of every attempt of a run, in its run folder.
pub const EVENTS_FILE: &str = "events.jsonl";
/// How long a stopping trainer may take to finish its step before it is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Where a job stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for its device.
    Queued {
        resume: bool,
    },
    Running {
        resume: bool,
    },
    /// Asked to stop; the trainer finishes its current step.
    Stopping,
    Finished,
    /// Stopped on request; `forced` when the trainer had to be killed after the grace period.
    Cancelled {
        forced: bool,
    },
    /// The trainer exited with an error (its message).
    Failed {
        message: String,
    },
    /// The trainer process was killed or crashed.
    Died {
        message: String,
    },
    /// The app closed while the job was queued or running.
    Interrupted,
}

impl JobStatus {
    /// Queued, running or stopping.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Queued { .. } | Self::Running { .. } | Self::Stopping)
    }

    /// One or two words for lists.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Queued { .. } => "queued",
            Self::Running { resume: false } => "running",
            Self::Running { resume: true } => "running (resumed)",
            Self::Stopping => "stopping…",
            Self::Finished => "finished",
            Self::Cancelled { forced: false } => "cancelled",
            Self::Cancelled { forced: true } => "cancelled (killed)",
            Self::Failed { .. } => "failed",
            Self::Died { .. } => "died",
            Self::Interrupted => "interrupted",
        }
    }

    /// The error or death message, if any.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Failed { message } | Self::Died { message } => Some(message),
            _ => None,
        }
    }
}

/// What the history keeps of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub spec: JobSpec,
    pub status: JobStatus,
    /// The last lines the trainer wrote to standard error.
    #[serde(default)]
    pub stderr_tail: Vec<String>,
    pub created_unix: u64,
    #[serde(default)]
    pub started_unix: Option<u64>,
    #[serde(default)]
    pub ended_unix: Option<u64>,
    /// How many times a trainer was started for it (resumes add one each).
    #[serde(default)]
    pub attempts: usize,
    /// A remote job's id there: the Slurm job id (`123`, `123_4` in an array) or the trainer's
    /// process id on the SSH host.
    #[serde(default)]
    pub remote_id: Option<String>,
    /// A remote job's state as the remote side last reported it (Slurm's `PENDING`, `RUNNING`,
    /// `COMPLETED`, …; over SSH what is being copied or run).
    #[serde(default)]
    pub remote_state: Option<String>,
}

impl JobRecord {
    /// The status for lists, with the remote side's own word when there is one (Slurm's state,
    /// or what is being copied): `running · RUNNING`, `queued · PENDING`.
    pub fn status_text(&self) -> String {
        match &self.remote_state {
            Some(remote) if !self.spec.target.is_local() => {
                let label = match (&self.status, remote.as_str()) {
                    (JobStatus::Running { .. }, "PENDING" | "submitting" | "submitted") => "queued",
                    (status, _) => status.label(),
                };
                format!("{label} · {remote}")
            }
            _ => self.status.label().to_owned(),
        }
    }
}

/// A job: its record, its live curves and, while it runs, its process.
pub struct Job {
    pub record: JobRecord,
    pub curves: Curves,
    process: Option<TrainerProcess>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("record", &self.record).finish_non_exhaustive()
    }
}

impl Job {
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
    next_id: JobId,
    grace: Duration,
    /// Why the history could not be read, once (the unreadable file is set aside).
    pub load_problem: Option<String>,
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
    /// Jobs the history lists as queued or running were cut off by the app closing.
    pub fn open(runs_dir: &Path, trainer: PathBuf) -> Self {
        let mut manager = Self {
            runs_dir: runs_dir.to_path_buf(),
            trainer,
            jobs: Vec::new(),
            next_id: 1,
            grace: DEFAULT_GRACE,
            load_problem: None,
        };
        let path = runs_dir.join(HISTORY_FILE);
        let records: Vec<JobRecord> = match std::fs::read_to_string(&path) {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(records) => records,
                Err(e) => {
                    let aside = runs_dir.join(format!("{HISTORY_FILE}.unreadable"));
                    let moved = std::fs::rename(&path, &aside).is_ok();
                    manager.load_problem = Some(format!(
                        "{}: not a job history ({e}); {}",
                        path.display(),
                        if moved { format!("kept as {}", aside.display()) } else { "left as it is".to_owned() }
                    ));
                    Vec::new()
                }
            },
            Err(_) => Vec::new(),
        };
        for mut record in records {
            let curves = Curves::read(&record.spec.run_dir.join(EVENTS_FILE)).unwrap_or_default();
            // A Slurm job runs on without the app: follow it again where it stands.
            let process = match (&record.spec.target, &record.status, &record.remote_id) {
                (Target::Slurm(slurm), JobStatus::Running { .. } | JobStatus::Stopping, Some(id)) => {
                    let job = PreparedJob {
                        record: record.clone(),
                        config_file: runs_dir.join(JOBS_DIR).join(record.id.to_string()).join("config.toml"),
                        config_toml: String::new(),
                        job_dir: runs_dir.join(JOBS_DIR).join(record.id.to_string()),
                        stop_file: stop_file(runs_dir, record.id),
                    };
                    super::slurm::reattach(slurm, job, id, runs_dir).ok()
                }
                _ => None,
            };
            if process.is_none() && record.status.is_active() {
                record.status = JobStatus::Interrupted;
            }
            manager.next_id = manager.next_id.max(record.id + 1);
            manager.jobs.push(Job { record, curves, process });
        }
        manager
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

    /// The id the next submitted job gets.
    pub fn next_id(&self) -> JobId {
        self.next_id
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

    /// Queues a job; it starts on the next [`Self::poll`] when its device is free.
    pub fn submit(&mut self, mut spec: JobSpec) -> Result<JobId, JobsError> {
        spec.device = normalize_device(&spec.device);
        let id = self.next_id;
        self.next_id += 1;
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
        };
        self.jobs.push(Job { record, curves: Curves::default(), process: None });
        self.save()?;
        Ok(id)
    }

    /// Queues a stopped job again to continue from its last finished epoch.
    pub fn resume(&mut self, id: JobId) -> Result<(), JobsError> {
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
        self.save()
    }

    /// Cancels a job: a queued one at once, a running one gracefully (after its current step,
    /// keeping the last checkpoint), by force if it has not stopped within the grace period.
    pub fn cancel(&mut self, id: JobId) -> Result<(), JobsError> {
        let job = self.job_mut(id)?;
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
        self.save()
    }

    /// Reads what the trainers sent, finishes the jobs whose trainer ended, and starts queued
    /// jobs on free devices. Returns whether anything changed. Called every frame by the GUI.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
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
                job.record.status = outcome(&exit, &job.record.stderr_tail);
                job.record.ended_unix = Some(unix_now());
                status_changed = true;
            }
        }
        status_changed |= self.start_queued();
        if status_changed && let Err(e) = self.save() {
            tracing::warn!("{e}");
        }
        changed || status_changed
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
            if let Some(queue) = queue_of(&self.jobs[index]) {
                if busy.contains(&queue) {
                    continue;
                }
                busy.insert(queue);
            }
            let first = &self.jobs[index].record.spec;
            let group: Vec<usize> = match (&first.target, &first.sweep, resume) {
                (Target::Slurm(_), Some(sweep), false) => (index..self.jobs.len())
                    .filter(|&i| {
                        let other = &self.jobs[i].record;
                        other.status == JobStatus::Queued { resume: false }
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

    /// Writes the history, atomically.
    fn save(&self) -> Result<(), JobsError> {
        let path = self.runs_dir.join(HISTORY_FILE);
        let records: Vec<&JobRecord> = self.jobs.iter().map(|j| &j.record).collect();
        let text = serde_json::to_string_pretty(&records)
            .map_err(|e| JobsError::History { path: path.clone(), problem: e.to_string() })?;
        std::fs::create_dir_all(&self.runs_dir)
            .map_err(|source| JobsError::Io { path: self.runs_dir.clone(), source })?;
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|source| JobsError::Io { path, source })
    }
}

/// The history of `runs_dir` as it is on disk (none yet: empty), for readers such as `univa jobs
/// list`; unlike [`JobManager::open`] it changes nothing.
pub fn read_history(runs_dir: &Path) -> Result<Vec<JobRecord>, JobsError> {
    let path = runs_dir.join(HISTORY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| JobsError::History { path, problem: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(JobsError::Io { path, source }),
    }
}

/// The file whose existence asks job `id` to stop (its trainer, or its remote worker, watches it).
pub fn stop_file(runs_dir: &Path, id: JobId) -> PathBuf {
    runs_dir.join(JOBS_DIR).join(id.to_string()).join("stop")
}

/// A job about to start: its record and its files on this machine.
pub(super) struct PreparedJob {
    pub record: JobRecord,
    /// The configuration the trainer reads (`RUNS/.jobs/<id>/config.toml`).
    pub config_file: PathBuf,
    pub config_toml: String,
    /// The job's folder here (`RUNS/.jobs/<id>/`).
    pub job_dir: PathBuf,
    /// Cancel writes it; the trainer, or the worker of a remote job, watches it.
    pub stop_file: PathBuf,
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
            Ok(vec![super::ssh::start(host, job, runs_dir, resume, grace)?])
        }
        Target::Slurm(slurm) => super::slurm::start(&slurm, prepared, runs_dir, trainer, resume),
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
