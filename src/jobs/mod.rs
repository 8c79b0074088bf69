//! Training jobs: `univa train` run as child processes, so that a crash, a panic or running out
//! of memory in training never takes the GUI down (DESIGN.md §2, `jobs`).
//!
//! A job is a [`JobSpec`] (dataset, run folder, full configuration, device). The
//! [`JobManager`] queues jobs per device (one running per device), starts each as
//! `univa train … --events - --stop-file F`, reads its JSON-line [`TrainEvent`]s back on a named
//! thread into live [`Curves`], keeps the last lines of its standard error, cancels gracefully
//! (the stop file: the trainer finishes its step and keeps the last checkpoint) and then by
//! force after a grace period, resumes from the last checkpoint, and keeps the job history in
//! `RUNS/jobs.json`. [`sweep`] turns a grid over one or two fields into one job per point;
//! [`check`] explains invalid combinations before launch. A job's [`Target`] says where it
//! trains: here, on a host over SSH ([`remote::ssh`]: rsync there, events back over the session, the
//! run folder copied back), or on Slurm ([`remote::slurm`]: a generated sbatch script, Slurm's states,
//! sweeps as job arrays), each remote job followed by a worker thread that reports like a local
//! trainer. A Slurm job runs on when the app closes and is followed again when it reopens.
//! No egui here (STYLE.md 1).
//!
//! ```text
//! RUNS/
//!   jobs.json             the history: every job's spec, status and stderr tail
//!   .jobs/<id>/           per job: config.toml (what the child trains with), stop (cancel)
//!   <run>/                a normal run folder (train::run), plus events.jsonl (all attempts)
//!   <sweep>/<point>/      one run folder per grid point, e.g. delta-sweep/delta=0.1/
//! ```
//!
//! [`TrainEvent`]: crate::train::TrainEvent

pub mod check;
mod curves;
pub mod devices;
mod layout;
mod manager;
mod process;
mod record;
pub mod remote;
mod shell;
pub(crate) mod spec;
pub mod sweep;
pub mod target;

pub use check::{DatasetFacts, check};
pub use curves::{Curves, EpochPoint};
pub use devices::{DeviceChoice, GpuInfo};
pub use layout::{EVENTS_FILE, HISTORY_FILE, read_history, request_stop, stop_file};
pub use manager::{Job, JobManager, orphan_outcome, settled_history};
pub use record::{JobId, JobRecord, JobStatus, Owner};
pub use remote::{slurm, ssh};
pub use spec::JobSpec;
pub use sweep::{Ablation, SweepAxis, SweepField};
pub use target::{SlurmTarget, SshHost, Target};

use std::path::PathBuf;

/// Why a job could not be queued, started or recorded. Each message names the file or job.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start the trainer {}: {source}", exe.display())]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("job {0} is not in the list")]
    NoSuchJob(JobId),
    #[error("job {id} ({name}): {problem}")]
    Job { id: JobId, name: String, problem: String },
    #[error("the configuration could not be written as TOML: {0}")]
    Config(#[from] toml::ser::Error),
    #[error("{}: {problem}", path.display())]
    History { path: PathBuf, problem: String },
    #[error(transparent)]
    Sweep(#[from] sweep::SweepError),
    #[error("{0}")]
    Name(String),
}

/// Why a job's name or run folder could not be its run folder under the runs folder: a job,
/// run or sweep name is one folder name, and the run folder has no `..` in it.
pub fn name_problem(spec: &JobSpec) -> Option<String> {
    let named = |what: &str, name: &str| {
        crate::fsutil::folder_name_problem(name).map(|problem| {
            format!("The {what} name {name:?} {problem}; a {what} name is one folder name under the runs folder.")
        })
    };
    named("run", &spec.name).or_else(|| spec.sweep.as_deref().and_then(|sweep| named("sweep", sweep))).or_else(|| {
        spec.run_dir.components().any(|c| c == std::path::Component::ParentDir).then(|| {
            format!("The run folder {} climbs out of its folder (`..`); give it a plain name.", spec.run_dir.display())
        })
    })
}
