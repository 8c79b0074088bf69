//! A run folder: what training writes and evaluation loads.
//!
//! ```text
//! RUN/
//!   config.json            RunInfo: the run configuration, labels, input shapes, VA statistics, dataset, best epoch
//!   model.safetensors      weights of the best epoch (validation micro-F1)
//!   last.safetensors       weights after the last finished epoch   } for --resume
//!   optimizer.safetensors  AdamW moments after the last epoch      }
//!   trainer_state.json     epoch, step and best score so far       }
//! ```
//! Every file is written through a temporary file and a rename.

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
    pub best_epoch: Option<usize>,
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
        self.varmap.load(path).map_err(|e| TrainError::Run { path: path.to_path_buf(), problem: e.to_string() })
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
        .map_err(|e| TrainError::Run { path: path.to_path_buf(), problem: e.to_string() })
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
