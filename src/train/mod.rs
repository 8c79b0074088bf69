//! Training and evaluation of UniVA (DESIGN.md §4.7): AdamW with a linear warm-up schedule and
//! gradient clipping, seeded shuffling, validation each epoch, the best checkpoint on validation
//! micro-F1, resumable runs, and progress as events.

mod batches;
mod config;
mod device;
mod events;
mod optim;
pub mod run;

pub use batches::SplitData;
pub use config::{ConfigError, RunConfig, TrainConfig};
pub use device::select_device;
pub use events::{CollectEvents, EventSink, FanOut, NoEvents, TrainEvent};
pub use optim::{AdamW, AdamWParams, linear_schedule};
pub use run::{RunInfo, TrainedModel, TrainerState};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::Device;
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;

use crate::dataset::{Dataset, Split};
use crate::metrics::{self, Metrics};
use crate::modality::{Modality, PerModality};
use crate::model::{ContrastiveMode, InputShape};
use crate::va::VaNormalizer;

/// Why training or evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("{0}")]
    Data(String),
    #[error("{}: {problem}", path.display())]
    Run { path: PathBuf, problem: String },
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
    #[error("correlation prior: {0}")]
    Prior(#[from] crate::va::PriorError),
    #[error(
        "loss became {value} at epoch {epoch}, step {step}; training stopped. The last good checkpoint is kept in {}. \
         Try a lower learning rate or gradient clip.",
        run.display()
    )]
    NonFiniteLoss { epoch: usize, step: usize, value: f32, run: PathBuf },
    #[error("training was stopped at epoch {epoch}; the last good checkpoint is kept in {}", run.display())]
    Cancelled { epoch: usize, run: PathBuf },
    #[error(
        "{} is being trained by {holder} (its lock is {}); wait for it to end or stop it",
        run.display(),
        run.join(run::LOCK_FILE).display()
    )]
    Busy { run: PathBuf, holder: String },
}

/// The outcome of a finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    pub best_epoch: Option<usize>,
    pub best_valid: Option<Metrics>,
    pub parameters: usize,
}

/// What to train and where.
#[derive(Debug)]
pub struct TrainRequest<'a> {
    pub dataset: &'a Dataset,
    pub config: RunConfig,
    pub run_dir: PathBuf,
    pub device: Device,
    /// Continue from `run_dir`'s last finished epoch instead of starting over; with none, it
    /// starts over (unless the folder holds a run, see [`run::start_in`]).
    pub resume: bool,
    /// Train a folder that already holds a run anew (its files are replaced from the first
    /// finished epoch on); without it such a folder is refused.
    pub overwrite: bool,
    /// Set from another thread (the GUI) to stop after the current step.
    pub stop: Option<&'a AtomicBool>,
}

/// The modalities the model reads: those the config activates that the dataset has features for.
fn active_modalities(dataset: &Dataset, config: &RunConfig) -> Vec<Modality> {
    Modality::ALL
        .into_iter()
        .filter(|&m| config.model.is_active(m) && dataset.manifest.feature_spec(m).is_some())
        .collect()
}

/// Trains per `request`, writing checkpoints into the run folder and events into `sink`.
pub fn train(request: TrainRequest<'_>, sink: &mut dyn EventSink) -> Result<TrainSummary, TrainError> {
    let TrainRequest { dataset, config, run_dir, device, resume, overwrite, stop } = request;
    let modalities = active_modalities(dataset, &config);
    if modalities.is_empty() {
        return Err(TrainError::Data(format!(
            "{}: none of the model's modalities has features in this dataset",
            dataset.root.display()
        )));
    }
    std::fs::create_dir_all(&run_dir).map_err(|e| TrainError::Run { path: run_dir.clone(), problem: e.to_string() })?;
    let _lock = run::RunLock::acquire(&run_dir)?;
    let resume = run::start_in(&run_dir, resume, overwrite)? == run::Start::Resume;
    for removed in crate::fsutil::remove_stale_temp_files(&run_dir) {
        tracing::info!("removed {}, left by a killed write", removed.display());
    }
    let train_data = SplitData::new(dataset, Split::Train, &modalities)?;
    let valid_data = SplitData::new(dataset, Split::Valid, &modalities)?;

    let info = RunInfo {
        inputs: PerModality::from_fn(|m| {
            modalities
                .contains(&m)
                .then(|| dataset.manifest.feature_spec(m).map(|s| InputShape { max_len: s.max_len, dim: s.dim }))
                .flatten()
        }),
        labels: dataset.manifest.labels.clone(),
        va_normalizer: VaNormalizer::fit(
            &dataset.utterances.iter().filter(|u| u.split == Split::Train).collect::<Vec<_>>(),
        ),
        dataset_name: dataset.manifest.name.clone(),
        dataset_path: Some(std::fs::canonicalize(&dataset.root).unwrap_or_else(|_| dataset.root.clone())),
        config: config.clone(),
        best_epoch: None,
        best_valid: None,
    };
    // Initial weights, dropout masks and batch order all come from the run's seed (candle's own
    // CPU generator cannot be seeded, so the model draws from its own); the masks and the
    // order of each epoch from (seed, epoch), so a resumed run trains as it would have straight
    // through.
    let mut trained = TrainedModel::new(info, &device)?;
    let named_vars =
        trained.varmap.data().lock().map(|vars| vars.iter().map(|(n, v)| (n.clone(), v.clone())).collect());
    let named_vars = named_vars.map_err(|_| TrainError::Data("model variables are poisoned".to_owned()))?;
    let mut optimizer = AdamW::new(
        named_vars,
        AdamWParams { weight_decay: config.train.weight_decay, eps: config.train.adam_eps, ..Default::default() },
    )?;

    let batch_size = config.train.batch_size.max(1);
    let steps_per_epoch = train_data.len().div_ceil(batch_size);
    let total_steps = steps_per_epoch * config.train.epochs;
    let warmup_steps = ((total_steps as f64) * config.train.warmup_fraction).round() as usize;
    let need_va = config.loss.contrastive == ContrastiveMode::VaDriven;

    let mut state = TrainerState { epochs_done: 0, global_step: 0, best_micro_f1: f64::NEG_INFINITY, best_epoch: None };
    if resume {
        state = TrainerState::read_checked(&run_dir.join(run::TRAINER_STATE), config.train.epochs, steps_per_epoch)?;
        if !run::CheckpointManifest::verify(&run_dir, state.epochs_done)? {
            tracing::warn!(
                "{}: no {} (a run from before checkpoint manifests); its files are resumed as they are",
                run_dir.display(),
                run::CHECKPOINT_MANIFEST
            );
        }
        let saved: RunInfo = run::read_json(&run_dir.join(run::CONFIG_FILE))?;
        // Only the epoch count may change on resume (to train longer).
        let mut comparable = saved.config.clone();
        comparable.train.epochs = config.train.epochs;
        if comparable != config {
            return Err(TrainError::Run {
                path: run_dir.join(run::CONFIG_FILE),
                problem: "was trained with a different configuration; resume with the same preset and config \
                          (only --epochs may change)"
                    .to_owned(),
            });
        }
        trained.info = RunInfo { config: config.clone(), ..saved };
        trained.load_weights(&run_dir.join(run::LAST_WEIGHTS))?;
        optimizer.restore(&run::load_tensors(&run_dir.join(run::OPTIMIZER_STATE), &device)?, state.global_step)?;
    }
    // Nothing is written before the first finished epoch: a run this one replaces stays whole.

    sink.emit(&TrainEvent::Started {
        run: run_dir.display().to_string(),
        device: format!("{device:?}"),
        epochs: config.train.epochs,
        steps_per_epoch,
        parameters: trained.parameter_count(),
        start_epoch: state.epochs_done,
    });

    let mut order: Vec<usize> = (0..train_data.len()).collect();
    for epoch in state.epochs_done..config.train.epochs {
        // Epochs are numbered from 1 wherever a person reads them: events, logs, config.json
        // and trainer_state.json.
        let number = epoch + 1;
        let started = Instant::now();
        // Shuffle from a seed of (run seed, epoch): a resumed run sees the same order.
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.train.seed.wrapping_add(epoch as u64));
        trained.model.reseed_dropout(config.train.seed.wrapping_add(epoch as u64));
        order.sort_unstable();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f64;
        let mut samples = 0usize;
        for (step, rows) in order.chunks(batch_size).enumerate() {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                sink.emit(&TrainEvent::Stopped { epoch: number, step, reason: "stopped by the user".to_owned() });
                return Err(TrainError::Cancelled { epoch: number, run: run_dir });
            }
            let batch = train_data.batch(rows, &trained.info.va_normalizer, need_va, &device)?;
            let output = trained.model.forward(&batch, true)?;
            let parts = trained.model.loss(&output, &batch, &config.loss)?;
            let loss = parts.total.to_scalar::<f32>()?;
            if !loss.is_finite() {
                let reason = format!("loss became {loss}");
                sink.emit(&TrainEvent::Stopped { epoch: number, step, reason });
                return Err(TrainError::NonFiniteLoss { epoch: number, step, value: loss, run: run_dir });
            }
            let grads = parts.total.backward()?;
            let grad_scale = optimizer.clip_scale(&grads, config.train.grad_clip)?;
            let lr = linear_schedule(config.train.learning_rate, state.global_step, warmup_steps, total_steps);
            optimizer.step(&grads, lr, grad_scale)?;
            state.global_step += 1;
            loss_sum += f64::from(loss);
            samples += rows.len();
            if step % config.train.log_every.max(1) == 0 || step + 1 == steps_per_epoch {
                sink.emit(&TrainEvent::Step {
                    epoch: number,
                    step,
                    global_step: state.global_step,
                    lr,
                    loss,
                    kl: parts.kl,
                    eta: parts.eta,
                    contrastive: parts.contrastive,
                    contrastive_per_modality: parts.contrastive_per_modality.clone(),
                    samples_per_sec: samples as f64 / started.elapsed().as_secs_f64().max(1e-9),
                });
            }
        }

        let valid = evaluate_split(&trained, &valid_data, config.train.threshold)?.metrics;
        let improved = valid.micro_f1 > state.best_micro_f1;
        if improved {
            state.best_micro_f1 = valid.micro_f1;
            state.best_epoch = Some(number);
            trained.info.best_epoch = Some(number);
            trained.info.best_valid = Some(valid.clone());
            trained.save_weights(&run_dir.join(run::BEST_WEIGHTS))?;
        }
        state.epochs_done = number;
        // The epoch's checkpoint: its files, then the manifest that makes them one unit. The
        // config is left out of the manifest: a run trained over SSH has its dataset path
        // rewritten when it is copied back (`jobs::ssh`), and resume takes only the
        // normaliser and labels from it, which no epoch changes.
        run::write_json(&run_dir.join(run::CONFIG_FILE), &trained.info)?;
        trained.save_weights(&run_dir.join(run::LAST_WEIGHTS))?;
        run::save_tensors(&run_dir.join(run::OPTIMIZER_STATE), &optimizer.state_tensors()?)?;
        run::write_json(&run_dir.join(run::TRAINER_STATE), &state)?;
        run::CheckpointManifest::write(
            &run_dir,
            state.epochs_done,
            &[run::BEST_WEIGHTS, run::LAST_WEIGHTS, run::OPTIMIZER_STATE, run::TRAINER_STATE],
        )?;
        sink.emit(&TrainEvent::Epoch {
            epoch: number,
            train_loss: (loss_sum / steps_per_epoch.max(1) as f64) as f32,
            valid: Box::new(valid),
            best_micro_f1: state.best_micro_f1,
            improved,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    sink.emit(&TrainEvent::Finished { best_epoch: state.best_epoch.unwrap_or(0), best_micro_f1: state.best_micro_f1 });
    Ok(TrainSummary {
        best_epoch: state.best_epoch,
        best_valid: trained.info.best_valid.clone(),
        parameters: trained.parameter_count(),
    })
}

/// Probabilities and metrics of a model on one split.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Table index of each evaluated utterance.
    pub indices: Vec<usize>,
    /// Softmax probability per label, per utterance.
    pub probabilities: Vec<Vec<f32>>,
    pub gold: Vec<Vec<bool>>,
    pub metrics: Metrics,
}

/// Batch size for inference: large enough to amortise per-op overhead, small enough for memory.
pub const EVAL_BATCH: usize = 128;

fn evaluate_split(trained: &TrainedModel, data: &SplitData<'_>, threshold: f32) -> Result<Evaluation, TrainError> {
    let model = trained.inference_model()?;
    let mut probabilities = Vec::with_capacity(data.len());
    let rows: Vec<usize> = (0..data.len()).collect();
    for chunk in rows.chunks(EVAL_BATCH) {
        let batch = data.batch(chunk, &trained.info.va_normalizer, false, &trained.device)?;
        let output = model.forward(&batch, false)?;
        probabilities.extend(output.log_probs.exp()?.to_vec2::<f32>()?);
    }
    let gold = data.gold();
    let names: Vec<String> = trained.info.labels.iter().map(|l| l.name.clone()).collect();
    let metrics = metrics::compute(&gold, &metrics::predict(&probabilities, threshold), &names)?;
    Ok(Evaluation { indices: data.indices.clone(), probabilities, gold, metrics })
}

/// Why training with the default configuration (the VA-driven contrastive loss) would refuse
/// `dataset`, each a sentence; empty when it would not. What `univa validate` says.
pub fn training_problems(dataset: &Dataset) -> Vec<String> {
    let mut problems = Vec::new();
    for split in [Split::Train, Split::Valid] {
        if dataset.split_indices(split).is_empty() {
            let why = if split == Split::Train { "to train on" } else { "to choose the best checkpoint on" };
            problems.push(format!("it has no {split} split {why}"));
        }
    }
    let with_features: Vec<Modality> =
        Modality::ALL.into_iter().filter(|&m| dataset.manifest.feature_spec(m).is_some()).collect();
    let lacking = dataset
        .utterances
        .iter()
        .filter(|u| u.split == Split::Train)
        .find_map(|u| with_features.iter().find(|&&m| u.va.get(m).is_none()).map(|m| (u, *m)));
    if let Some((utterance, m)) = lacking {
        problems.push(format!(
            "utterance {:?} has no {m} VA, which the VA-driven contrastive loss needs (acquire VA with `univa \
             acquire`, or train with [loss] contrastive = \"off\")",
            utterance.id
        ));
    }
    problems
}

/// Evaluates a trained model on a split of a dataset whose labels match the run's.
pub fn evaluate(
    trained: &TrainedModel,
    dataset: &Dataset,
    split: Split,
    threshold: f32,
) -> Result<Evaluation, TrainError> {
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(TrainError::Data(format!(
            "the decision threshold ζ is {threshold}; it lies strictly between 0 and 1"
        )));
    }
    let modalities = check_compatible(trained, dataset)?;
    evaluate_split(trained, &SplitData::new(dataset, split, &modalities)?, threshold)
}

/// Checks that `dataset` has the run's labels and features of the shapes its model reads;
/// returns the modalities the model reads.
pub fn check_compatible(trained: &TrainedModel, dataset: &Dataset) -> Result<Vec<Modality>, TrainError> {
    let run_labels: Vec<&str> = trained.info.labels.iter().map(|l| l.name.as_str()).collect();
    if run_labels != dataset.label_names() {
        return Err(TrainError::Data(format!(
            "{}: labels {} differ from the model's {}",
            dataset.root.display(),
            dataset.label_names().join(", "),
            run_labels.join(", ")
        )));
    }
    let modalities: Vec<Modality> =
        Modality::ALL.into_iter().filter(|&m| trained.info.inputs.get(m).is_some()).collect();
    for &m in &modalities {
        let (Some(want), Some(have)) = (trained.info.inputs.get(m), dataset.manifest.feature_spec(m)) else {
            return Err(TrainError::Data(format!(
                "{}: has no {m} features; the model needs them",
                dataset.root.display()
            )));
        };
        if want.dim != have.dim || want.max_len != have.max_len {
            return Err(TrainError::Data(format!(
                "{}: {m} features are {}×{}; the model was trained on {}×{}",
                dataset.root.display(),
                have.max_len,
                have.dim,
                want.max_len,
                want.dim
            )));
        }
    }
    Ok(modalities)
}

/// Loads a run folder onto `device`.
pub fn load_run(run: &Path, device: &Device) -> Result<TrainedModel, TrainError> {
    TrainedModel::load(run, device)
}
