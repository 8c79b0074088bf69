//! The runs folder's files for jobs: the history, the per-job folders with their stop files,
//! each run's events, and a job prepared to start with its files.

use std::path::{Path, PathBuf};

use super::JobsError;
use super::record::{JobId, JobRecord};

/// The history file in the runs folder.
pub const HISTORY_FILE: &str = "jobs.json";
/// Per-job files (config, stop file), in the runs folder.
pub const JOBS_DIR: &str = ".jobs";
/// Every event of every attempt of a run, in its run folder.
pub const EVENTS_FILE: &str = "events.jsonl";

/// Writes job `id`'s stop file, which its trainer (or remote worker) watches, whichever process
/// runs it.
pub fn request_stop(runs_dir: &Path, id: JobId) -> Result<(), JobsError> {
    let stop = stop_file(runs_dir, id);
    if let Some(dir) = stop.parent() {
        std::fs::create_dir_all(dir).map_err(|source| JobsError::Io { path: dir.to_path_buf(), source })?;
    }
    crate::fsutil::write_atomic(&stop, b"stop\n").map_err(|source| JobsError::Io { path: stop.clone(), source })
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
