//! What the workbench has open: a dataset, optionally a trained run's probabilities for every
//! utterance, and the numbers derived from them at the current threshold. Plain data, no egui,
//! so the worker thread builds it and tests check it without a window.

use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, DatasetError, Split, Utterance, Va};
use crate::metrics::{self, Metrics};
use crate::modality::Modality;
use crate::train::{self, TrainError};
use crate::va;

/// Why a dataset or run could not be opened. Each message names the folder that failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("Could not open dataset: {0}")]
    Dataset(#[from] DatasetError),
    #[error("Could not open run {}: {source}", path.display())]
    Run {
        path: PathBuf,
        #[source]
        source: TrainError,
    },
}

/// A trained run evaluated on every split of the open dataset.
#[derive(Debug)]
pub struct RunResults {
    pub dir: PathBuf,
    /// The run's learned correlation matrix M.
    pub learned: Vec<Vec<f32>>,
    /// Probability per label, by utterance index; `None` for utterances of unevaluated splits.
    pub probabilities: Vec<Option<Vec<f32>>>,
    /// Threshold the run was trained with.
    pub trained_threshold: f32,
    /// The rule the run built its prior M with.
    pub prior_rule: va::PriorRule,
}

/// The open dataset and everything that does not depend on view settings.
#[derive(Debug)]
pub struct Session {
    pub dataset: Dataset,
    pub label_names: Vec<String>,
    pub anchors: Vec<Va>,
    /// VA prior M (Eq. 8) by `prior_rule`, or why the labels have none.
    pub prior: Result<Vec<Vec<f32>>, va::PriorError>,
    /// The attached run's rule for M, else the reference rule.
    pub prior_rule: va::PriorRule,
    /// Empirical label co-occurrence over the whole dataset.
    pub cooccurrence: Vec<Vec<f32>>,
    pub run: Option<RunResults>,
    /// Largest distance between two modality VA points of each utterance (0 with < 2 points).
    pub disagreement: Vec<f32>,
}

impl Session {
    /// Opens a dataset (features memory-mapped, not scanned) and, if given, evaluates a run on
    /// every split that has utterances.
    pub fn open(dataset: &Path, run: Option<&Path>) -> Result<Self, OpenError> {
        let dataset = Dataset::open_lazy(dataset)?;
        let run = match run {
            Some(dir) => Some(evaluate_run(&dataset, dir)?),
            None => None,
        };
        Ok(Self::from_dataset(dataset, run))
    }

    pub fn from_dataset(dataset: Dataset, run: Option<RunResults>) -> Self {
        let labels = &dataset.manifest.labels;
        let label_names = labels.iter().map(|l| l.name.clone()).collect();
        let anchors = labels.iter().map(va::label_anchor).collect();
        let prior_rule = run.as_ref().map_or_else(va::PriorRule::default, |r| r.prior_rule);
        let prior = va::prior_matrix(labels, prior_rule);
        let all: Vec<&Utterance> = dataset.utterances.iter().collect();
        let cooccurrence = va::cooccurrence(&all, labels.len());
        let disagreement = dataset.utterances.iter().map(disagreement).collect();
        Self { dataset, label_names, anchors, prior, prior_rule, cooccurrence, run, disagreement }
    }

    pub fn utterance(&self, index: usize) -> Option<&Utterance> {
        self.dataset.utterances.get(index)
    }

    pub fn len(&self) -> usize {
        self.dataset.utterances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dataset.utterances.is_empty()
    }

    pub fn probabilities(&self, index: usize) -> Option<&[f32]> {
        self.run.as_ref()?.probabilities.get(index)?.as_deref()
    }

    /// Predicted labels of an utterance at `threshold`, if the run covers it.
    pub fn predicted(&self, index: usize, threshold: f32) -> Option<Vec<usize>> {
        let probabilities = self.probabilities(index)?;
        Some(probabilities.iter().enumerate().filter(|&(_, &p)| p > threshold).map(|(j, _)| j).collect())
    }

    /// Exact, partial or miss at `threshold`, if the run covers the utterance.
    pub fn outcome(&self, index: usize, threshold: f32) -> Option<metrics::Outcome> {
        let gold = &self.utterance(index)?.labels;
        Some(metrics::Outcome::of(gold, &self.predicted(index, threshold)?))
    }

    pub fn gold(&self, index: usize) -> Vec<bool> {
        self.utterance(index).map(|u| u.label_vector(self.label_names.len())).unwrap_or_default()
    }

    /// Gold rows and probabilities of the utterances of `split` that the run covers.
    fn split_rows(&self, split: Split) -> (Vec<Vec<bool>>, Vec<Vec<f32>>) {
        let probabilities = self.run.as_ref().map_or(&[][..], |r| &r.probabilities[..]);
        split_rows(&self.dataset, probabilities, split)
    }

    /// Metrics of the run on `split` at `threshold`; `None` without a run or evaluated rows.
    pub fn metrics(&self, split: Split, threshold: f32) -> Option<Metrics> {
        let (gold, probabilities) = self.split_rows(split);
        metrics::compute(&gold, &metrics::predict(&probabilities, threshold), &self.label_names).ok()
    }

    /// Metrics over a grid of thresholds on `split`, for the sweep plot.
    pub fn sweep(&self, split: Split) -> Vec<(f32, Metrics)> {
        let (gold, probabilities) = self.split_rows(split);
        metrics::sweep(&gold, &probabilities, &metrics::threshold_grid(0.0, 0.6, 60), &self.label_names)
            .unwrap_or_default()
    }

    /// VA points of every utterance for one modality, with the utterance index of each point.
    pub fn cloud(&self, modality: Modality) -> (Vec<[f64; 2]>, Vec<usize>) {
        self.dataset
            .utterances
            .iter()
            .enumerate()
            .filter_map(|(i, u)| u.va.get(modality).map(|va| ([f64::from(va.valence), f64::from(va.arousal)], i)))
            .unzip()
    }
}

fn evaluate_run(dataset: &Dataset, dir: &Path) -> Result<RunResults, OpenError> {
    let wrap = |source| OpenError::Run { path: dir.to_path_buf(), source };
    let trained = train::load_run(dir, &candle_core::Device::Cpu).map_err(wrap)?;
    let threshold = trained.info.config.train.threshold;
    let learned = trained.model.correlation_matrix().map_err(|e| wrap(TrainError::from(e)))?;
    let mut probabilities = vec![None; dataset.utterances.len()];
    for split in Split::ALL {
        if !dataset.utterances.iter().any(|u| u.split == split) {
            continue;
        }
        let evaluation = train::evaluate(&trained, dataset, split, threshold).map_err(wrap)?;
        for (index, row) in evaluation.indices.into_iter().zip(evaluation.probabilities) {
            if let Some(slot) = probabilities.get_mut(index) {
                *slot = Some(row);
            }
        }
    }
    let prior_rule = trained.info.config.model.prior_rule;
    Ok(RunResults { dir: dir.to_path_buf(), learned, probabilities, trained_threshold: threshold, prior_rule })
}

/// Largest pairwise distance between the utterance's available modality VA points.
fn disagreement(utterance: &Utterance) -> f32 {
    let points: Vec<Va> = utterance.va.iter().filter_map(|(_, va)| *va).collect();
    let mut largest = 0.0f32;
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            largest = largest.max(a.distance(*b));
        }
    }
    largest
}

/// Gold rows and probabilities of the utterances of `split` that have probabilities (one entry
/// per utterance, `None` where the run did not evaluate it), in table order.
pub fn split_rows(
    dataset: &Dataset,
    probabilities: &[Option<Vec<f32>>],
    split: Split,
) -> (Vec<Vec<bool>>, Vec<Vec<f32>>) {
    let labels = dataset.label_names().len();
    dataset
        .utterances
        .iter()
        .zip(probabilities)
        .filter(|(u, _)| u.split == split)
        .filter_map(|(u, p)| Some((u.label_vector(labels), p.clone()?)))
        .unzip()
}
