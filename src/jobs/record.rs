//! What the history keeps of a job: its id, status, owner and record (`RUNS/jobs.json`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::spec::JobSpec;
use crate::fsutil::process_runs;

pub type JobId = u64;

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

/// The process that runs or follows a job: its pid, to tell whether it is still there, and the
/// token of its job list (two lists in one process are two owners).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub token: u64,
}

/// The tokens of this process's job lists that are still open.
static LIVE_OWNERS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

impl Owner {
    /// A new owner in this process, live until [`Owner::release`].
    pub(super) fn register() -> Self {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let token = nanos ^ (u64::from(std::process::id()) << 32) ^ COUNT.fetch_add(1, Ordering::Relaxed);
        LIVE_OWNERS.lock().unwrap_or_else(PoisonError::into_inner).push(token);
        Self { pid: std::process::id(), token }
    }

    pub(super) fn release(self) {
        LIVE_OWNERS.lock().unwrap_or_else(PoisonError::into_inner).retain(|&t| t != self.token);
    }

    /// Whether the owner still runs: a list of this process still open, or another process
    /// that has not exited.
    pub(super) fn is_alive(self) -> bool {
        if self.pid == std::process::id() {
            LIVE_OWNERS.lock().unwrap_or_else(PoisonError::into_inner).contains(&self.token)
        } else {
            process_runs(self.pid)
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
    /// Who runs or follows the job (none in histories written before owners were kept).
    #[serde(default)]
    pub owner: Option<Owner>,
    /// The local trainer's process id while it runs, so that it is found when its owner has gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer_pid: Option<u32>,
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
