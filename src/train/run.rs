//! A run folder: what training writes and evaluation loads.
//!
//! ```text
//! RUN/
//!   config.json            RunInfo: the run configuration, labels, input shapes, VA statistics, dataset, best epoch
//!   model.safetensors      weights of the best epoch (validation micro-F1)
//!   last.safetensors       weights after the last finished epoch   } for --resume
//!   optimizer.safetensors  AdamW moments after the last epoch      }
//!   trainer_state.json     epoch, step and best score so far       }
//!   checkpoint.json        the epoch's checkpoint as one unit: the epoch and each file's sha256, written last
//!   train.lock             held (advisory lock) by the process that trains the folder; holds its pid
//! ```
//! Every file is written through a temporary file and a rename; the temporary files of a
//! killed writer (`.<name>.tmp-<pid>`) are removed by the next run or resume of the folder.
//! Nothing is written before the first epoch has finished, so training over a run
//! (`--overwrite`) leaves it whole until the new run has a checkpoint of its own. Resume trusts
//! a checkpoint only when `checkpoint.json` matches every file it names; a run written before
//! manifests were kept (no `checkpoint.json`) is resumed from its files as they are, as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::{RunConfig, TrainError};
use crate::dataset::LabelSpec;
use crate::fsutil::write_atomic;
use crate::metrics::Metrics;
use crate::modality::PerModality;
use crate::model::seeded_init::SeededInit;
use crate::model::{InputShape, UniVa};
use crate::va::VaNormalizer;

pub const CONFIG_FILE: &str = "config.json";
pub const BEST_WEIGHTS: &str = "model.safetensors";
pub const LAST_WEIGHTS: &str = "last.safetensors";
pub const OPTIMIZER_STATE: &str = "optimizer.safetensors";
pub const TRAINER_STATE: &str = "trainer_state.json";
/// The manifest written after an epoch's checkpoint files.
pub const CHECKPOINT_MANIFEST: &str = "checkpoint.json";
/// Locked while a process trains the folder.
pub const LOCK_FILE: &str = "train.lock";
/// The copy of `--va-overlay` a run folder keeps.
pub const OVERLAY_FILE: &str = "va-overlay.csv";

/// Everything needed to rebuild a trained model and read its outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub config: RunConfig,
    pub labels: Vec<LabelSpec>,
    pub inputs: PerModality<Option<InputShape>>,
    pub va_normalizer: VaNormalizer,
    pub dataset_name: String,
    /// The dataset folder trained on (absolute; a relative path is relative to the run folder).
    /// Runs written before it was recorded have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_path: Option<PathBuf>,
    /// The epoch of `model.safetensors`, numbered from 1 (runs written before 2026-12 count from 0).
    pub best_epoch: Option<usize>,
    pub best_valid: Option<Metrics>,
}

impl RunInfo {
    /// The prior M of Eq. 8 for the run's labels, by the run's rule: what training initialises
    /// M from (and keeps it at without `train_prior`).
    pub fn prior(&self) -> Result<Vec<Vec<f32>>, crate::va::PriorError> {
        crate::va::prior_matrix(&self.labels, self.config.model.prior_rule)
    }
}

/// Where a resumed run picks up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Epochs finished.
    pub epochs_done: usize,
    pub global_step: usize,
    pub best_micro_f1: f64,
    /// Numbered from 1, as in `config.json` and the events.
    pub best_epoch: Option<usize>,
}

impl TrainerState {
    /// Reads `trainer_state.json`, refusing values no run writes, each named: a field that is
    /// not a whole number, more finished epochs than the run is configured for, a step count
    /// that `epochs_done` epochs of `steps_per_epoch` steps do not make, a best epoch not yet
    /// finished, a best score outside [0, 1].
    pub fn read_checked(path: &Path, epochs: usize, steps_per_epoch: usize) -> Result<Self, TrainError> {
        let bad = |problem: String| TrainError::Run { path: path.to_path_buf(), problem };
        let value: serde_json::Value = read_json(path)?;
        let whole = |field: &str| -> Result<Option<usize>, TrainError> {
            match value.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| bad(format!("{field} is {v}; expected a whole number of 0 or more"))),
            }
        };
        let epochs_done = whole("epochs_done")?.ok_or_else(|| bad("has no epochs_done".to_owned()))?;
        let global_step = whole("global_step")?.ok_or_else(|| bad("has no global_step".to_owned()))?;
        let best_epoch = whole("best_epoch")?;
        // Never improved: written as null (JSON has no −∞).
        let best_micro_f1 = match value.get("best_micro_f1") {
            None | Some(serde_json::Value::Null) => f64::NEG_INFINITY,
            Some(v) => v.as_f64().ok_or_else(|| bad(format!("best_micro_f1 is {v}; expected a number")))?,
        };
        if epochs_done > epochs {
            return Err(bad(format!(
                "epochs_done is {epochs_done}, past the {epochs} epochs the run is configured for; resume with \
                 --epochs {epochs_done} or more, or the file is damaged"
            )));
        }
        if global_step != epochs_done * steps_per_epoch {
            return Err(bad(format!(
                "global_step is {global_step}, but {epochs_done} finished epochs of {steps_per_epoch} steps make {}; \
                 the file is damaged or from another dataset or batch size",
                epochs_done * steps_per_epoch
            )));
        }
        // Numbered from 1 (runs written before that counted from 0, so 0 is accepted too).
        if let Some(best) = best_epoch.filter(|&b| b > epochs_done) {
            return Err(bad(format!("best_epoch is {best}, but only {epochs_done} epochs have finished")));
        }
        if best_epoch.is_some() && !(0.0..=1.0).contains(&best_micro_f1) {
            return Err(bad(format!("best_micro_f1 is {best_micro_f1}; a micro-F1 lies in [0, 1]")));
        }
        Ok(Self { epochs_done, global_step, best_micro_f1, best_epoch })
    }
}

/// An epoch's checkpoint as one unit: written after its files, naming each with its sha256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    pub epochs_done: usize,
    pub files: std::collections::BTreeMap<String, String>,
}

fn sha256_of(path: &Path) -> Result<String, TrainError> {
    use sha2::Digest as _;
    let bytes =
        std::fs::read(path).map_err(|e| TrainError::Run { path: path.to_path_buf(), problem: e.to_string() })?;
    Ok(sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

impl CheckpointManifest {
    /// Writes the manifest of the files `names` of `run_dir` (those present), last.
    pub fn write(run_dir: &Path, epochs_done: usize, names: &[&str]) -> Result<(), TrainError> {
        let mut files = std::collections::BTreeMap::new();
        for name in names {
            let path = run_dir.join(name);
            if path.is_file() {
                files.insert((*name).to_owned(), sha256_of(&path)?);
            }
        }
        write_json(&run_dir.join(CHECKPOINT_MANIFEST), &Self { epochs_done, files })
    }

    /// Checks that the checkpoint in `run_dir` is the whole one its manifest names, for the
    /// epoch `epochs_done` says. `Ok(false)`: no manifest (a run from before manifests).
    pub fn verify(run_dir: &Path, epochs_done: usize) -> Result<bool, TrainError> {
        let path = run_dir.join(CHECKPOINT_MANIFEST);
        if !path.is_file() {
            return Ok(false);
        }
        let manifest: Self = read_json(&path)?;
        let cut = |name: &str, what: &str| TrainError::Run {
            path: run_dir.join(name),
            problem: format!(
                "{what} the checkpoint of epoch {} ({CHECKPOINT_MANIFEST}): training was cut off while saving an \
                 epoch, so this checkpoint cannot be resumed. The best model still evaluates; train the run anew \
                 with --overwrite",
                manifest.epochs_done
            ),
        };
        if manifest.epochs_done != epochs_done {
            return Err(cut(TRAINER_STATE, "is not of"));
        }
        for (name, digest) in &manifest.files {
            let path = run_dir.join(name);
            if !path.is_file() {
                return Err(cut(name, "is missing from"));
            }
            if sha256_of(&path)? != *digest {
                return Err(cut(name, "does not match"));
            }
        }
        Ok(true)
    }
}

/// Whether `run_dir` holds a run (its `config.json`).
pub fn holds_run(run_dir: &Path) -> bool {
    run_dir.join(CONFIG_FILE).is_file()
}

/// Whether `run_dir` holds a finished epoch to resume from.
pub fn has_checkpoint(run_dir: &Path) -> bool {
    run_dir.join(TRAINER_STATE).is_file() || run_dir.join(CHECKPOINT_MANIFEST).is_file()
}

/// How a training starts in a run folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Fresh,
    Resume,
    /// `--resume` asked for, but the folder holds no finished epoch (killed in the first one,
    /// or a full disk): it trains from the beginning.
    NothingToResume,
}

/// How training may start in `run_dir`: a folder that holds a run is trained only to resume
/// it or to replace it (`overwrite`); `resume` with no finished epoch starts from the
/// beginning, unless the folder holds a run (one without checkpoints, such as a shipped model).
pub fn start_in(run_dir: &Path, resume: bool, overwrite: bool) -> Result<Start, TrainError> {
    match (resume, has_checkpoint(run_dir), holds_run(run_dir)) {
        (true, true, _) => Ok(Start::Resume),
        (true, false, false) => Ok(Start::NothingToResume),
        (true, false, true) => Err(TrainError::Run {
            path: run_dir.to_path_buf(),
            problem: "holds a run with no checkpoint to resume from (no trainer_state.json); evaluate it as it is, \
                      or train it anew with --overwrite"
                .to_owned(),
        }),
        (false, _, true) if !overwrite => Err(TrainError::Run {
            path: run_dir.to_path_buf(),
            problem: "already holds a run; continue it with --resume, or replace it with --overwrite (its files \
                      stay until the new run has finished its first epoch)"
                .to_owned(),
        }),
        (false, ..) => Ok(Start::Fresh),
    }
}

/// The advisory lock of a run folder, held while a process trains it (released when dropped,
/// or when the process dies).
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// Locks `run_dir` (which exists) for this process, or says which process trains it.
    pub fn acquire(run_dir: &Path) -> Result<Self, TrainError> {
        use std::io::{Read as _, Seek as _, Write as _};
        let path = run_dir.join(LOCK_FILE);
        let err = |problem: String| TrainError::Run { path: path.clone(), problem };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| err(e.to_string()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                file.read_to_string(&mut text).ok();
                let holder = text
                    .trim()
                    .parse::<u32>()
                    .map_or_else(|_| "another process".to_owned(), |pid| format!("pid {pid}"));
                return Err(TrainError::Busy { run: run_dir.to_path_buf(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(err(e.to_string())),
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        written.map_err(|e| err(e.to_string()))?;
        Ok(Self { _file: file })
    }
}

/// A model with its variables and description.
pub struct TrainedModel {
    pub model: UniVa,
    pub varmap: VarMap,
    pub info: RunInfo,
    pub device: Device,
}

impl std::fmt::Debug for TrainedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedModel").field("info", &self.info).finish_non_exhaustive()
    }
}

impl TrainedModel {
    /// A freshly initialised model for `info`, its weights drawn from `info`'s training seed.
    pub fn new(info: RunInfo, device: &Device) -> Result<Self, TrainError> {
        let varmap = VarMap::new();
        let init = SeededInit::new(&varmap, info.config.train.seed);
        let vb = VarBuilder::from_backend(Box::new(init), DType::F32, device.clone());
        let model = UniVa::new(vb, &info.config.model, &info.inputs, &info.prior()?)?;
        Ok(Self { model, varmap, info, device: device.clone() })
    }

    /// Loads `RUN/config.json` and the best weights.
    pub fn load(run: &Path, device: &Device) -> Result<Self, TrainError> {
        let info: RunInfo = read_json(&run.join(CONFIG_FILE))?;
        let mut trained = Self::new(info, device)?;
        trained.load_weights(&run.join(BEST_WEIGHTS))?;
        Ok(trained)
    }

    pub fn load_weights(&mut self, path: &Path) -> Result<(), TrainError> {
        if !path.is_file() {
            return Err(TrainError::Run { path: path.to_path_buf(), problem: "is missing".to_owned() });
        }
        let err = |problem: String| TrainError::Run { path: path.to_path_buf(), problem };
        let tensors = load_tensors(path, &self.device)?;
        {
            let vars =
                self.varmap.data().lock().map_err(|_| err("variables are locked by a failed thread".to_owned()))?;
            let mut names: Vec<&String> = vars.keys().collect();
            names.sort();
            let cause = "the run was likely trained on another dataset or config than its config.json describes";
            for name in names {
                let var = &vars[name];
                let Some(tensor) = tensors.get(name) else {
                    return Err(err(format!("has no tensor {name}, which this config needs; {cause}")));
                };
                if tensor.dims() != var.dims() {
                    return Err(err(format!(
                        "tensor {name} is {:?} but this config expects {:?}; {cause}",
                        tensor.dims(),
                        var.dims()
                    )));
                }
                var.set(&tensor.to_dtype(var.dtype())?)?;
            }
        }
        self.check_finite(path)
    }

    /// Refuses weights holding NaN or infinity (as `Dataset::open` refuses such features),
    /// naming the first tensor that does: nothing computed from them would mean anything.
    fn check_finite(&self, path: &Path) -> Result<(), TrainError> {
        let err = |problem: String| TrainError::Run { path: path.to_path_buf(), problem };
        let vars = self.varmap.data().lock().map_err(|_| err("variables are locked by a failed thread".to_owned()))?;
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let values = vars[name].as_tensor().flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                return Err(err(format!(
                    "tensor {name} holds {bad}; the weights are damaged, or training diverged before they were \
                     saved. Train the run again (a lower learning rate if it diverges)"
                )));
            }
        }
        Ok(())
    }

    pub fn save_weights(&self, path: &Path) -> Result<(), TrainError> {
        let tensors: HashMap<String, Tensor> = self
            .varmap
            .data()
            .lock()
            .map_err(|_| TrainError::Run {
                path: path.to_path_buf(),
                problem: "variables are locked by a failed thread".to_owned(),
            })?
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
            .collect();
        save_tensors(path, &tensors)
    }

    /// A copy of the model over detached weights: no autograd graph, fused kernels. Rebuild it
    /// after the weights change.
    pub fn inference_model(&self) -> Result<UniVa, TrainError> {
        let vb = crate::model::frozen_var_builder(&self.varmap, &self.device)?;
        Ok(UniVa::new(vb, &self.info.config.model, &self.info.inputs, &self.info.prior()?)?)
    }

    pub fn parameter_count(&self) -> usize {
        self.varmap.all_vars().iter().map(|v| v.elem_count()).sum()
    }
}

/// Writes tensors as safetensors, atomically.
pub fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<(), TrainError> {
    let err = |problem: String| TrainError::Run { path: path.to_path_buf(), problem };
    let mut entries: Vec<(&String, &Tensor)> = tensors.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let bytes =
        safetensors::serialize(entries.iter().map(|(n, t)| (n.as_str(), *t)), None).map_err(|e| err(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|e| err(e.to_string()))
}

pub fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>, TrainError> {
    candle_core::safetensors::load(path, device)
        .map_err(|e| TrainError::Run { path: path.to_path_buf(), problem: safetensors_problem(e) })
}

/// What is wrong with a safetensors file, without the path (the error names it once) and
/// without candle's backtrace.
fn safetensors_problem(mut e: candle_core::Error) -> String {
    loop {
        e = match e {
            candle_core::Error::WithPath { inner, .. } | candle_core::Error::WithBacktrace { inner, .. } => *inner,
            candle_core::Error::Io(io) => return io.to_string(),
            other => return format!("is not a safetensors file that can be read ({other})"),
        };
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let err = |problem: String| TrainError::Run { path: path.to_path_buf(), problem };
    let text = serde_json::to_string_pretty(value).map_err(|e| err(e.to_string()))?;
    write_atomic(path, text.as_bytes()).map_err(|e| err(e.to_string()))
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TrainError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrainError::Run { path: path.to_path_buf(), problem: e.to_string() })?;
    serde_json::from_str(&text).map_err(|e| TrainError::Run {
        path: path.to_path_buf(),
        problem: format!("not a run file of this version: {e}"),
    })
}
