//! The worker thread's explainer, kept while requests are for the same run and dataset (building
//! a run's training index takes seconds; explaining one utterance does not).

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::explain::{Explainer, Explanation, StepMapper};

/// Nearest training utterances given per representation.
const NEIGHBOURS: usize = 5;

/// The worker thread's explainer, kept while requests are for the same run and dataset.
#[derive(Default)]
pub(super) struct ExplainerCache {
    current: Option<Loaded>,
}

struct Loaded {
    run: PathBuf,
    dataset_root: PathBuf,
    dataset: Dataset,
    mapper: StepMapper,
    explainer: Explainer,
}

impl ExplainerCache {
    /// Explains `utterance` of the dataset at `dataset` with `run`, building the run's
    /// training index first when the run or dataset changed.
    pub(super) fn explain(&mut self, run: &Path, dataset: &Path, utterance: usize) -> Result<Explanation, String> {
        let fresh = self.current.as_ref().is_none_or(|c| c.run != run || c.dataset_root != dataset);
        if fresh {
            self.current = None;
            self.current =
                Some(load(run, dataset).map_err(|e| format!("Could not explain with {}: {e}", run.display()))?);
        }
        let Some(loaded) = &self.current else { return Err("no explainer".to_owned()) };
        loaded.explainer.explain(&loaded.dataset, &loaded.mapper, utterance, NEIGHBOURS).map_err(|e| e.to_string())
    }
}

fn load(run: &Path, dataset_root: &Path) -> Result<Loaded, crate::explain::ExplainError> {
    let dataset = Dataset::open_lazy(dataset_root).map_err(crate::train::TrainError::from)?;
    let trained = crate::explain::load_run(run)?;
    let training = crate::explain::training_dataset_path(run, &trained).ok().filter(|p| p.is_dir());
    let explainer = match training {
        Some(path) if std::fs::canonicalize(&path).ok() != std::fs::canonicalize(dataset_root).ok() => {
            let training = Dataset::open_lazy(&path).map_err(crate::train::TrainError::from)?;
            Explainer::new(trained, &training, None)?
        }
        _ => Explainer::new(trained, &dataset, None)?,
    };
    let mapper = StepMapper::for_dataset(&dataset);
    Ok(Loaded { run: run.to_path_buf(), dataset_root: dataset_root.to_path_buf(), dataset, mapper, explainer })
}
