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
use crate::train::TrainEvent;

pub type JobId = u64;

/// The history file in the runs folder.
pub const HISTORY_FILE: &str = "jobs.json";
/// Per-job files (config, stop file), in the runs folder.
const JOBS_DIR: &str = ".jobs";
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
        self.process.as_ref().map(TrainerProcess::pid)
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
            if record.status.is_active() {
                record.status = JobStatus::Interrupted;
            }
            let curves = Curves::read(&record.spec.run_dir.join(EVENTS_FILE)).unwrap_or_default();
            manager.next_id = manager.next_id.max(record.id + 1);
            manager.jobs.push(Job { record, curves, process: None });
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

    /// Starts the oldest queued job of each device that has none running.
    fn start_queued(&mut self) -> bool {
        let mut busy: HashSet<String> = self
            .jobs
            .iter()
            .filter(|j| matches!(j.record.status, JobStatus::Running { .. } | JobStatus::Stopping))
            .map(|j| j.record.spec.device.clone())
            .collect();
        let mut started = false;
        for index in 0..self.jobs.len() {
            let JobStatus::Queued { resume } = self.jobs[index].record.status else { continue };
            if busy.contains(&self.jobs[index].record.spec.device) {
                continue;
            }
            busy.insert(self.jobs[index].record.spec.device.clone());
            started = true;
            let (runs_dir, trainer) = (self.runs_dir.clone(), self.trainer.clone());
            let job = &mut self.jobs[index];
            job.record.attempts += 1;
            job.record.started_unix = Some(unix_now());
            job.record.stderr_tail.clear();
            match start(&runs_dir, &trainer, &job.record, resume) {
                Ok(process) => {
                    job.process = Some(process);
                    job.record.status = JobStatus::Running { resume };
                }
                Err(e) => {
                    job.record.status = JobStatus::Failed { message: e.to_string() };
                    job.record.ended_unix = Some(unix_now());
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

/// Writes the job's config file and starts its trainer.
fn start(runs_dir: &Path, trainer: &Path, record: &JobRecord, resume: bool) -> Result<TrainerProcess, JobsError> {
    let dir = runs_dir.join(JOBS_DIR).join(record.id.to_string());
    std::fs::create_dir_all(&dir).map_err(|source| JobsError::Io { path: dir.clone(), source })?;
    let run_dir = &record.spec.run_dir;
    std::fs::create_dir_all(run_dir).map_err(|source| JobsError::Io { path: run_dir.clone(), source })?;
    let config_file = dir.join("config.toml");
    crate::fsutil::write_atomic(&config_file, record.spec.config_toml()?.as_bytes())
        .map_err(|source| JobsError::Io { path: config_file.clone(), source })?;
    let stop_file = dir.join("stop");
    let args = record.spec.train_args(&config_file, &stop_file, resume);
    TrainerProcess::spawn(trainer, &args, stop_file, &run_dir.join(EVENTS_FILE))
}

/// What an ended trainer's exit means.
fn outcome(exit: &Exit, stderr_tail: &[String]) -> JobStatus {
    if exit.status.success() {
        return JobStatus::Finished;
    }
    if exit.stop_requested {
        return JobStatus::Cancelled { forced: exit.forced };
    }
    if let Some(signal) = signal_of(exit.status) {
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
    let message = exit
        .error_line
        .clone()
        .or_else(|| stderr_tail.last().cloned())
        .unwrap_or_else(|| format!("the trainer exited with {}", exit.status));
    JobStatus::Failed { message }
}

#[cfg(unix)]
fn signal_of(status: std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(not(unix))]
fn signal_of(_status: std::process::ExitStatus) -> Option<i32> {
    None
}
