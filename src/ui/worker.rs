//! The background worker: opens datasets and evaluates runs on a named thread so the UI never
//! blocks. Jobs and results travel over bounded channels; dropping the worker closes the job
//! channel, which ends the thread after its current job.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use super::session::Session;

#[derive(Debug)]
pub enum Job {
    Open { dataset: PathBuf, run: Option<PathBuf> },
}

#[derive(Debug)]
pub enum JobResult {
    Opened { dataset: PathBuf, session: Box<Session> },
    Failed(String),
}

pub struct Worker {
    jobs: SyncSender<Job>,
    results: Receiver<JobResult>,
    /// Jobs sent and not yet answered.
    pending: usize,
}

impl Worker {
    /// Starts the thread. The UI polls for results while [`Self::is_busy`].
    pub fn start() -> std::io::Result<Self> {
        let (jobs, job_rx) = sync_channel::<Job>(4);
        let (result_tx, results) = sync_channel::<JobResult>(4);
        std::thread::Builder::new().name("univa-ui-worker".to_owned()).spawn(move || {
            for job in job_rx {
                let result = run_job(job);
                if result_tx.send(result).is_err() {
                    break;
                }
            }
        })?;
        Ok(Self { jobs, results, pending: 0 })
    }

    /// Queues a job; fails with a message when the worker is gone or four jobs are queued.
    pub fn submit(&mut self, job: Job) -> Result<(), String> {
        self.jobs.try_send(job).map_err(|e| format!("the background worker cannot take the job: {e}"))?;
        self.pending += 1;
        Ok(())
    }

    pub fn is_busy(&self) -> bool {
        self.pending > 0
    }

    /// A finished result, if any, without blocking.
    pub fn poll(&mut self) -> Option<JobResult> {
        match self.results.try_recv() {
            Ok(result) => {
                self.pending = self.pending.saturating_sub(1);
                Some(result)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.pending = 0;
                Some(JobResult::Failed("the background worker stopped unexpectedly".to_owned()))
            }
        }
    }

    /// Blocks until the next result (for tests and benchmarks, which have no event loop).
    pub fn wait(&mut self) -> Option<JobResult> {
        if self.pending == 0 {
            return None;
        }
        let result = self.results.recv().ok();
        self.pending = self.pending.saturating_sub(1);
        result
    }
}

fn run_job(job: Job) -> JobResult {
    match job {
        Job::Open { dataset, run } => {
            let _span = tracing::info_span!("open", dataset = %dataset.display()).entered();
            match Session::open(&dataset, run.as_deref()) {
                Ok(session) => JobResult::Opened { dataset, session: Box::new(session) },
                Err(error) => JobResult::Failed(format!("Could not open {}: {error}", dataset.display())),
            }
        }
    }
}
