//! The background worker: opens datasets, evaluates runs, computes the run browser's metrics
//! and projects representations on a named thread so the UI never blocks. Jobs and results travel over bounded channels; dropping
//! the worker closes the job channel, which ends the thread after its current job. Long jobs
//! report progress between their final answers and stop when their stop flag is set.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

use crate::dataset::{Dataset, Split};
use crate::projection::{self, EmbeddedPoint, EmbeddingRequest, ProjectionError, Step};
use crate::runs::{Evaluator, Run};

use super::explainers::ExplainerCache;
use crate::explain::Explanation;
use crate::ui::state::{EmbeddingUpdate, RunMetricsUpdate, Session};

/// How often a running projection sends its layout so far to the map.
const LAYOUT_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub enum Job {
    Open {
        dataset: PathBuf,
        run: Option<PathBuf>,
    },
    /// Project the run's unimodal representations of the dataset's utterances (UMAP or t-SNE).
    Embed {
        /// Answers carry it, so that the UI can drop answers to requests it no longer wants.
        request_id: u64,
        dataset: PathBuf,
        run: PathBuf,
        request: EmbeddingRequest,
        stop: Arc<AtomicBool>,
    },
    /// Explain one utterance of the dataset with the run (the Explain tab).
    Explain {
        run: PathBuf,
        dataset: PathBuf,
        utterance: usize,
    },
    /// Acquire a clip of one's own as the run's training dataset was acquired, into a scratch
    /// dataset ("Predict on a clip…").
    AcquireClip {
        run: PathBuf,
        clip: PathBuf,
        transcript: Option<String>,
        /// Where the scratch dataset goes.
        scratch: PathBuf,
    },
    /// Metrics of runs on a split, for the run browser; each run with the dataset to use.
    RunMetrics {
        request_id: u64,
        runs: Vec<(Run, PathBuf)>,
        split: Split,
        stop: Arc<AtomicBool>,
    },
}

#[derive(Debug)]
pub enum JobResult {
    Opened {
        dataset: PathBuf,
        session: Box<Session>,
    },
    Failed(String),
    Embedding {
        request_id: u64,
        update: EmbeddingUpdate,
    },
    RunMetrics {
        request_id: u64,
        update: RunMetricsUpdate,
    },
    Explained {
        run: PathBuf,
        utterance: usize,
        result: Result<Box<Explanation>, String>,
    },
    /// Not an answer: how far a clip's acquisition has come.
    ClipProgress {
        done: usize,
        total: usize,
    },
    /// The clip's scratch dataset, to open with the run; what could not be acquired is said.
    ClipAcquired {
        run: PathBuf,
        result: Result<(PathBuf, Vec<String>), String>,
    },
}

impl JobResult {
    /// Progress reports come between a job's submission and its one final answer.
    fn is_final(&self) -> bool {
        !matches!(
            self,
            Self::Embedding { update: EmbeddingUpdate::Progress { .. } | EmbeddingUpdate::Layout(_), .. }
                | Self::RunMetrics { update: RunMetricsUpdate::Run { .. }, .. }
                | Self::ClipProgress { .. }
        )
    }
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
        let (result_tx, results) = sync_channel::<JobResult>(16);
        std::thread::Builder::new().name("univa-ui-worker".to_owned()).spawn(move || {
            // The Explain tab's model and training index, kept between its requests.
            let mut explainers = ExplainerCache::default();
            for job in job_rx {
                let result = run_job(job, &result_tx, &mut explainers);
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

    fn received(&mut self, result: JobResult) -> JobResult {
        if result.is_final() {
            self.pending = self.pending.saturating_sub(1);
        }
        result
    }

    /// A finished result or progress report, if any, without blocking.
    pub fn poll(&mut self) -> Option<JobResult> {
        match self.results.try_recv() {
            Ok(result) => Some(self.received(result)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                if self.pending == 0 {
                    return None;
                }
                self.pending = 0;
                Some(JobResult::Failed("the background worker stopped unexpectedly".to_owned()))
            }
        }
    }

    /// Blocks until the next result or progress report (for tests and benchmarks, which have
    /// no event loop); `None` once every job is answered.
    pub fn wait(&mut self) -> Option<JobResult> {
        if self.pending == 0 {
            return None;
        }
        match self.results.recv() {
            Ok(result) => Some(self.received(result)),
            Err(_) => {
                self.pending = 0;
                Some(JobResult::Failed("the background worker stopped unexpectedly".to_owned()))
            }
        }
    }
}

fn run_job(job: Job, results: &SyncSender<JobResult>, explainers: &mut ExplainerCache) -> JobResult {
    match job {
        Job::Explain { run, dataset, utterance } => {
            let _span = tracing::info_span!("explain", run = %run.display()).entered();
            let result = explainers.explain(&run, &dataset, utterance).map(Box::new);
            JobResult::Explained { run, utterance, result }
        }
        Job::AcquireClip { run, clip, transcript, scratch } => {
            let _span = tracing::info_span!("acquire_clip", clip = %clip.display()).entered();
            let mut progress = |done: usize, total: usize| {
                // Best effort, as for a projection: the next report supersedes a dropped one.
                let _ = results.try_send(JobResult::ClipProgress { done, total });
            };
            let result = acquire_clip(&run, &clip, transcript.as_deref(), &scratch, &mut progress);
            JobResult::ClipAcquired { run, result }
        }
        Job::Open { dataset, run } => {
            let _span = tracing::info_span!("open", dataset = %dataset.display()).entered();
            match Session::open(&dataset, run.as_deref()) {
                Ok(session) => JobResult::Opened { dataset, session: Box::new(session) },
                Err(error) => JobResult::Failed(error.to_string()),
            }
        }
        Job::Embed { request_id, dataset, run, request, stop } => {
            let _span = tracing::info_span!("embed", run = %run.display()).entered();
            let mut last_layout: Option<Instant> = None;
            let mut report = |step: Step<'_>| {
                // Progress is best effort: a full channel means the UI has not caught up, and
                // the next report supersedes this one.
                let update = EmbeddingUpdate::Progress { stage: step.stage, done: step.done, total: step.total };
                let _ = results.try_send(JobResult::Embedding { request_id, update });
                if let (Some(layout), Some(owners)) = (step.layout, step.owners)
                    && last_layout.is_none_or(|t| t.elapsed() >= LAYOUT_EVERY)
                {
                    last_layout = Some(Instant::now());
                    let points = owners
                        .iter()
                        .zip(layout)
                        .map(|(&(utterance, modality), &position)| EmbeddedPoint { utterance, modality, position })
                        .collect();
                    let _ =
                        results.try_send(JobResult::Embedding { request_id, update: EmbeddingUpdate::Layout(points) });
                }
                !stop.load(Ordering::Relaxed)
            };
            let update = match embed(&dataset, &run, &request, &mut report) {
                Ok(points) => EmbeddingUpdate::Done(points),
                Err(EmbedError::Projection { source, .. }) if source.is_stopped() => EmbeddingUpdate::Stopped,
                Err(error) => EmbeddingUpdate::Failed(error.to_string()),
            };
            JobResult::Embedding { request_id, update }
        }
        Job::RunMetrics { request_id, runs, split, stop } => {
            let _span = tracing::info_span!("run_metrics", runs = runs.len()).entered();
            let mut evaluator = Evaluator::new(candle_core::Device::Cpu);
            for (run, dataset) in runs {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let result = evaluator.metrics(&run, &dataset, split).map_err(|e| e.to_string());
                // Each run's answer must arrive (unlike progress), so this send waits for room.
                let update = RunMetricsUpdate::Run { dir: run.dir, result };
                if results.send(JobResult::RunMetrics { request_id, update }).is_err() {
                    break;
                }
            }
            JobResult::RunMetrics { request_id, update: RunMetricsUpdate::Done }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum EmbedError {
    #[error("could not open {}: {source}", path.display())]
    Dataset {
        path: PathBuf,
        #[source]
        source: crate::dataset::DatasetError,
    },
    #[error("could not project run {}: {source}", path.display())]
    Projection {
        path: PathBuf,
        #[source]
        source: ProjectionError,
    },
}

/// The dataset is opened again here (memory-mapped, so cheaply) rather than shared with the UI,
/// which keeps `Session` plain owned data.
fn embed(
    dataset: &std::path::Path,
    run: &std::path::Path,
    request: &EmbeddingRequest,
    progress: &mut dyn FnMut(Step<'_>) -> bool,
) -> Result<Vec<EmbeddedPoint>, EmbedError> {
    let data =
        Dataset::open_lazy(dataset).map_err(|source| EmbedError::Dataset { path: dataset.to_path_buf(), source })?;
    let trained =
        projection::load_run(run).map_err(|source| EmbedError::Projection { path: run.to_path_buf(), source })?;
    projection::embed(&trained, &data, request, progress)
        .map_err(|source| EmbedError::Projection { path: run.to_path_buf(), source })
}

/// The scratch dataset of `clip` acquired like `run`'s training dataset, and what could not be
/// acquired (a modality the model then sees as empty).
fn acquire_clip(
    run: &std::path::Path,
    clip: &std::path::Path,
    transcript: Option<&str>,
    scratch: &std::path::Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(PathBuf, Vec<String>), String> {
    let trained = crate::explain::load_run(run).map_err(|e| e.to_string())?;
    let training = crate::explain::training_dataset_path(run, &trained).map_err(|e| e.to_string())?;
    let training = Dataset::open(&training).map_err(|e| e.to_string())?;
    let scratch = crate::explain::clip::acquire_for_run(&trained, &training, clip, transcript, scratch, progress)
        .map_err(|e| format!("Could not acquire {}: {e}", clip.display()))?;
    let failures = scratch
        .summary
        .failures
        .iter()
        .map(|f| format!("no {} ({}); the model sees it as empty", f.modality, f.reason))
        .collect();
    Ok((scratch.dataset.root, failures))
}
