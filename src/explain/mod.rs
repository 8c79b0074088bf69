//! Why a trained run said what it did about one utterance (issue 28): each modality's
//! attention pooling weights α_t (Eq. 2) placed on the clip and the transcript ([`timeline`]),
//! each modality's contribution (its pooled representation H_m replaced by the training mean
//! or by zeros, or kept alone, and what that does to every label's probability and decision),
//! and the nearest training utterances in each H_m and in the fused representation. Whole
//! splits give a contribution table (CSV, flip counts). No UI here (STYLE.md 1).
//!
//! Everything comes out of the model's own forward pass ([`UniVa::forward_with`] keeps the
//! weights its pooling used; [`UniVa::fuse`] is that pass's last step), so nothing here can
//! drift from what `univa predict` computes.

pub mod clip;
pub mod timeline;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Serialize;

use crate::dataset::{Dataset, Split, Va};
use crate::modality::{Modality, PerModality};
use crate::model::{Batch, Forward, ModelOutput, UniVa};
use crate::projection::{ProjectionError, knn};
use crate::train::{EVAL_BATCH, SplitData, TrainError, TrainedModel};
pub use timeline::{ModalityAttention, StepMapper};

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Run(#[from] ProjectionError),
    #[error("{}: no utterance has the id {id:?}", dataset.display())]
    UnknownId { dataset: PathBuf, id: String },
    #[error(
        "{}: the training split has no utterances, so there is no training mean or neighbour to compare with",
        dataset.display()
    )]
    NoTraining { dataset: PathBuf },
    #[error(
        "run {}: records no training dataset (trained before runs kept it); give the dataset it was trained on",
        run.display()
    )]
    NoTrainingDataset { run: PathBuf },
    #[error(transparent)]
    Clip(#[from] clip::ClipError),
}

impl From<candle_core::Error> for ExplainError {
    fn from(e: candle_core::Error) -> Self {
        Self::Train(TrainError::Tensor(e))
    }
}

/// What replaces a removed modality's pooled representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The mean of that modality's H_m over the training split.
    TrainMean,
    /// Zeros.
    Zero,
}

impl Rule {
    pub const ALL: [Self; 2] = [Self::TrainMean, Self::Zero];

    pub fn name(self) -> &'static str {
        match self {
            Self::TrainMean => "train-mean",
            Self::Zero => "zero",
        }
    }
}

/// Which modalities an ablation keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ablation {
    /// The modality removed, the others kept.
    Without,
    /// The modality kept, the others removed.
    Only,
}

impl Ablation {
    pub const ALL: [Self; 2] = [Self::Without, Self::Only];

    pub fn name(self) -> &'static str {
        match self {
            Self::Without => "without",
            Self::Only => "only",
        }
    }
}

/// The prediction with one modality removed (or kept alone) by one rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contribution {
    pub modality: Modality,
    pub ablation: Ablation,
    pub rule: Rule,
    /// Probability per label after the ablation.
    pub probabilities: Vec<f32>,
    /// Ablated minus original probability per label.
    pub delta: Vec<f32>,
    /// Per label: whether the decision at the threshold changed.
    pub flips: Vec<bool>,
}

impl Contribution {
    pub fn flipped(&self) -> bool {
        self.flips.iter().any(|&f| f)
    }

    /// Σ |Δ| over the labels: how far the prediction moved.
    pub fn total_change(&self) -> f32 {
        self.delta.iter().map(|d| d.abs()).sum()
    }
}

/// A training utterance near the explained one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Neighbour {
    pub id: String,
    /// Index in the training dataset's table.
    pub utterance: usize,
    pub distance: f32,
    /// Gold label names.
    pub labels: Vec<String>,
    pub va: PerModality<Option<Va>>,
}

/// Where neighbours are searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// One modality's H_m.
    Unimodal(Modality),
    /// The concatenated H_m the classifier reads.
    Fused,
}

impl Space {
    pub fn name(self) -> &'static str {
        match self {
            Self::Unimodal(m) => m.name(),
            Self::Fused => "fused",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NeighbourList {
    pub space: Space,
    pub neighbours: Vec<Neighbour>,
}

/// Everything about one utterance's prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub id: String,
    /// Index in the explained dataset's table.
    pub utterance: usize,
    pub labels: Vec<String>,
    pub threshold: f32,
    /// The model's probability per label, as `univa predict` gives it.
    pub probabilities: Vec<f32>,
    pub predicted: Vec<bool>,
    pub gold: Vec<bool>,
    pub attention: Vec<ModalityAttention>,
    pub contributions: Vec<Contribution>,
    pub neighbours: Vec<NeighbourList>,
}

/// One utterance's row of a whole split's contributions.
#[derive(Clone, Debug, PartialEq)]
pub struct UtteranceContributions {
    pub utterance: usize,
    pub probabilities: Vec<f32>,
    pub contributions: Vec<Contribution>,
}

/// The training split's representations: the means the ablations use, the neighbour index.
struct TrainingIndex {
    root: PathBuf,
    /// Table index of each row.
    utterances: Vec<usize>,
    ids: Vec<String>,
    labels: Vec<Vec<usize>>,
    va: Vec<PerModality<Option<Va>>>,
    /// Per encoded modality, n × hidden row-major.
    unimodal: PerModality<Vec<f32>>,
    /// n × (hidden · modalities): the H_m side by side, the classifier's input.
    fused: Vec<f32>,
    means: PerModality<Vec<f32>>,
}

/// A trained run ready to explain utterances: its model and the representations of the split
/// it was trained on (built once; the first call's cost).
pub struct Explainer {
    trained: TrainedModel,
    model: UniVa,
    modalities: Vec<Modality>,
    hidden: usize,
    threshold: f32,
    index: TrainingIndex,
}

impl std::fmt::Debug for Explainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Explainer").field("run", &self.trained.info.dataset_name).finish_non_exhaustive()
    }
}

/// Loads a run's model for explanation; a run without one (imported predictions, a folder
/// without weights) is a clear error.
pub fn load_run(run: &Path) -> Result<TrainedModel, ExplainError> {
    Ok(crate::projection::load_run(run)?)
}

/// The dataset a run was trained on, from its record (relative paths are the run folder's).
pub fn training_dataset_path(run: &Path, trained: &TrainedModel) -> Result<PathBuf, ExplainError> {
    match &trained.info.dataset_path {
        Some(path) if path.is_absolute() => Ok(path.clone()),
        Some(path) => Ok(run.join(path)),
        None => Err(ExplainError::NoTrainingDataset { run: run.to_path_buf() }),
    }
}

impl Explainer {
    /// Encodes the training split of `training` (the dataset the run was trained on) once.
    /// `threshold`: the decision threshold ζ, by default the run's.
    pub fn new(trained: TrainedModel, training: &Dataset, threshold: Option<f32>) -> Result<Self, ExplainError> {
        let modalities = crate::train::check_compatible(&trained, training)?;
        let model = trained.inference_model()?;
        let threshold = threshold.unwrap_or(trained.info.config.train.threshold);
        let hidden = trained.info.config.model.hidden;
        let mut explainer = Self {
            trained,
            model,
            modalities,
            hidden,
            threshold,
            index: TrainingIndex {
                root: canonical(&training.root),
                utterances: Vec::new(),
                ids: Vec::new(),
                labels: Vec::new(),
                va: Vec::new(),
                unimodal: PerModality::default(),
                fused: Vec::new(),
                means: PerModality::default(),
            },
        };
        explainer.index = explainer.build_index(training)?;
        Ok(explainer)
    }

    fn build_index(&self, training: &Dataset) -> Result<TrainingIndex, ExplainError> {
        let utterances = training.split_indices(Split::Train);
        if utterances.is_empty() {
            return Err(ExplainError::NoTraining { dataset: training.root.clone() });
        }
        let data = SplitData::new(training, Split::Train, &self.modalities)?;
        let n = utterances.len();
        let mut unimodal = PerModality::<Vec<f32>>::default();
        for &m in &self.modalities {
            unimodal.get_mut(m).reserve(n * self.hidden);
        }
        let rows: Vec<usize> = (0..n).collect();
        for chunk in rows.chunks(EVAL_BATCH) {
            let (_, output) = self.forward(&data, chunk, false)?;
            for &m in &self.modalities {
                if let Some(h) = output.unimodal.get(m) {
                    unimodal.get_mut(m).extend(h.flatten_all()?.to_vec1::<f32>()?);
                }
            }
        }
        let width = self.hidden * self.modalities.len();
        let mut fused = Vec::with_capacity(n * width);
        for row in 0..n {
            for &m in &self.modalities {
                fused.extend_from_slice(&unimodal.get(m)[row * self.hidden..(row + 1) * self.hidden]);
            }
        }
        let means = unimodal.map(|_, rows| {
            let mut mean = vec![0.0f64; if rows.is_empty() { 0 } else { self.hidden }];
            for row in rows.chunks_exact(self.hidden.max(1)) {
                mean.iter_mut().zip(row).for_each(|(m, x)| *m += f64::from(*x));
            }
            mean.into_iter().map(|m| (m / n as f64) as f32).collect()
        });
        Ok(TrainingIndex {
            root: canonical(&training.root),
            ids: utterances.iter().map(|&i| training.utterances[i].id.clone()).collect(),
            labels: utterances.iter().map(|&i| training.utterances[i].labels.clone()).collect(),
            va: utterances.iter().map(|&i| training.utterances[i].va.clone()).collect(),
            utterances,
            unimodal,
            fused,
            means,
        })
    }

    pub fn trained(&self) -> &TrainedModel {
        &self.trained
    }

    /// Training utterances in the index (means and neighbours).
    pub fn training_size(&self) -> usize {
        self.index.utterances.len()
    }

    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    pub fn label_names(&self) -> Vec<String> {
        self.trained.info.labels.iter().map(|l| l.name.clone()).collect()
    }

    /// The table index of the utterance `id` of `dataset`.
    pub fn find(dataset: &Dataset, id: &str) -> Result<usize, ExplainError> {
        dataset
            .utterances
            .iter()
            .position(|u| u.id == id)
            .ok_or_else(|| ExplainError::UnknownId { dataset: dataset.root.clone(), id: id.to_owned() })
    }

    /// The batch of split rows `rows` and the model's output with the attention weights kept
    /// when `attention`.
    fn forward(
        &self,
        data: &SplitData<'_>,
        rows: &[usize],
        attention: bool,
    ) -> Result<(Batch, ModelOutput), ExplainError> {
        let batch = data.batch(rows, &self.trained.info.va_normalizer, false, &self.trained.device)?;
        let output = self.model.forward_with(&batch, Forward { train: false, attention })?;
        Ok((batch, output))
    }

    /// Explains the utterance at table index `utterance` of `dataset` (the training dataset or
    /// another with the same labels and features), with `k` neighbours per space. `mapper`
    /// places the steps; build it once per dataset ([`StepMapper::for_dataset`]).
    pub fn explain(
        &self,
        dataset: &Dataset,
        mapper: &StepMapper,
        utterance: usize,
        k: usize,
    ) -> Result<Explanation, ExplainError> {
        let (batch, output) = self.forward_one(dataset, utterance, true)?;
        let u = &dataset.utterances[utterance];
        let probabilities = first_row(&output.log_probs.exp()?)?;
        let mut contributions = self.ablate(&output.unimodal, std::slice::from_ref(&probabilities))?;
        let contributions = contributions.pop().unwrap_or_default();

        let mut attention = Vec::with_capacity(self.modalities.len());
        for &m in &self.modalities {
            let (Some(weights), Some(input)) = (output.attention.get(m), batch.inputs.get(m)) else { continue };
            let weights = weights.first().cloned().unwrap_or_default();
            let real: Vec<bool> = first_row(&input.mask)?.iter().map(|&v| v > 0.5).collect();
            attention.push(mapper.map(u, m, &weights, &real));
        }

        let skip = (canonical(&dataset.root) == self.index.root && u.split == Split::Train)
            .then(|| self.index.utterances.iter().position(|&i| i == utterance))
            .flatten();
        let mut neighbours = Vec::with_capacity(self.modalities.len() + 1);
        let mut fused_query = Vec::with_capacity(self.hidden * self.modalities.len());
        for &m in &self.modalities {
            let Some(h) = output.unimodal.get(m) else { continue };
            let query = first_row(h)?;
            neighbours.push(self.neighbours(Space::Unimodal(m), self.index.unimodal.get(m), &query, k, skip));
            fused_query.extend(query);
        }
        neighbours.push(self.neighbours(Space::Fused, &self.index.fused, &fused_query, k, skip));

        Ok(Explanation {
            id: u.id.clone(),
            utterance,
            labels: self.label_names(),
            threshold: self.threshold,
            predicted: probabilities.iter().map(|&p| p > self.threshold).collect(),
            gold: u.label_vector(dataset.num_labels()),
            probabilities,
            attention,
            contributions,
            neighbours,
        })
    }

    /// The model's probabilities for one utterance by a plain forward pass (no weights kept):
    /// what [`Self::explain`] is measured against.
    pub fn predict(&self, dataset: &Dataset, utterance: usize) -> Result<Vec<f32>, ExplainError> {
        let (_, output) = self.forward_one(dataset, utterance, false)?;
        first_row(&output.log_probs.exp()?)
    }

    /// One utterance of `dataset` through the model.
    fn forward_one(
        &self,
        dataset: &Dataset,
        utterance: usize,
        attention: bool,
    ) -> Result<(Batch, ModelOutput), ExplainError> {
        let Some(u) = dataset.utterances.get(utterance) else {
            return Err(ExplainError::UnknownId { dataset: dataset.root.clone(), id: format!("#{utterance}") });
        };
        crate::train::check_compatible(&self.trained, dataset)?;
        let data = SplitData::new(dataset, u.split, &self.modalities)?;
        let Some(row) = data.indices.iter().position(|&i| i == utterance) else {
            return Err(ExplainError::UnknownId { dataset: dataset.root.clone(), id: u.id.clone() });
        };
        self.forward(&data, &[row], attention)
    }

    fn neighbours(&self, space: Space, data: &[f32], query: &[f32], k: usize, skip: Option<usize>) -> NeighbourList {
        let names = self.label_names();
        let neighbours = knn::nearest(data, query.len(), query, k, skip)
            .into_iter()
            .map(|(row, distance)| {
                let row = row as usize;
                Neighbour {
                    id: self.index.ids[row].clone(),
                    utterance: self.index.utterances[row],
                    distance,
                    labels: self.index.labels[row].iter().filter_map(|&l| names.get(l).cloned()).collect(),
                    va: self.index.va[row].clone(),
                }
            })
            .collect();
        NeighbourList { space, neighbours }
    }

    /// Every ablation (each rule, each modality removed or kept alone) of a batch whose H_m are
    /// `unimodal` and whose probabilities are `original`: per utterance, its contributions.
    fn ablate(
        &self,
        unimodal: &PerModality<Option<Tensor>>,
        original: &[Vec<f32>],
    ) -> Result<Vec<Vec<Contribution>>, ExplainError> {
        let b = original.len();
        let device = &self.trained.device;
        let mut variants = Vec::new();
        for rule in Rule::ALL {
            for ablation in Ablation::ALL {
                for &m in &self.modalities {
                    variants.push((m, ablation, rule));
                }
            }
        }
        // Each modality's input to one fusion call over every variant: rows v·b..(v+1)·b are
        // variant v, with the modality's H_m or its replacement.
        let mut stacked = PerModality::<Option<Tensor>>::default();
        for &m in &self.modalities {
            let Some(h) = unimodal.get(m) else { continue };
            let mean = Tensor::from_slice(self.index.means.get(m), (1, self.hidden), device)?
                .broadcast_as((b, self.hidden))?;
            let zeros = Tensor::zeros((b, self.hidden), h.dtype(), device)?;
            let parts: Vec<&Tensor> = variants
                .iter()
                .map(|&(target, ablation, rule)| {
                    let removed = match ablation {
                        Ablation::Without => target == m,
                        Ablation::Only => target != m,
                    };
                    match (removed, rule) {
                        (false, _) => h,
                        (true, Rule::TrainMean) => &mean,
                        (true, Rule::Zero) => &zeros,
                    }
                })
                .collect();
            *stacked.get_mut(m) = Some(Tensor::cat(&parts, 0)?.contiguous()?);
        }
        let probabilities = self.model.fuse(&stacked)?.exp()?.to_vec2::<f32>()?;
        let mut out = vec![Vec::with_capacity(variants.len()); b];
        for (v, &(modality, ablation, rule)) in variants.iter().enumerate() {
            for (row, original) in original.iter().enumerate() {
                let p = probabilities[v * b + row].clone();
                let delta = p.iter().zip(original).map(|(a, o)| a - o).collect();
                let flips =
                    p.iter().zip(original).map(|(a, o)| (*a > self.threshold) != (*o > self.threshold)).collect();
                out[row].push(Contribution { modality, ablation, rule, probabilities: p, delta, flips });
            }
        }
        Ok(out)
    }

    /// Contributions of every utterance of a split, batched as `univa predict` batches (so the
    /// probabilities are its very numbers). `progress(fraction)` returning false stops early
    /// with what is done.
    pub fn contributions(
        &self,
        dataset: &Dataset,
        split: Split,
        progress: &mut dyn FnMut(f32) -> bool,
    ) -> Result<Vec<UtteranceContributions>, ExplainError> {
        crate::train::check_compatible(&self.trained, dataset)?;
        let data = SplitData::new(dataset, split, &self.modalities)?;
        let rows: Vec<usize> = (0..data.len()).collect();
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(EVAL_BATCH) {
            let (_, output) = self.forward(&data, chunk, false)?;
            let probabilities = output.log_probs.exp()?.to_vec2::<f32>()?;
            let contributions = self.ablate(&output.unimodal, &probabilities)?;
            for ((&row, probabilities), contributions) in chunk.iter().zip(probabilities).zip(contributions) {
                out.push(UtteranceContributions { utterance: data.indices[row], probabilities, contributions });
            }
            if !progress(out.len() as f32 / rows.len().max(1) as f32) {
                break;
            }
        }
        Ok(out)
    }

    pub fn device(&self) -> &Device {
        &self.trained.device
    }
}

/// The first row of a `[B, k]` tensor.
fn first_row(t: &Tensor) -> Result<Vec<f32>, ExplainError> {
    Ok(t.get(0)?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A split's contributions as CSV, one row per utterance and ablation, and one `none` row with
/// the model's own probabilities: `id, modality, ablation, rule, flips, p_<label>…, d_<label>…`
/// (`flips`: the labels whose decision changed, joined by `;`).
pub fn contributions_csv(
    rows: &[UtteranceContributions],
    dataset: &Dataset,
    labels: &[String],
) -> std::io::Result<Vec<u8>> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["id", "modality", "ablation", "rule", "flips"].map(str::to_owned).to_vec();
    header.extend(labels.iter().map(|l| format!("p_{l}")));
    header.extend(labels.iter().map(|l| format!("d_{l}")));
    csv.write_record(&header).map_err(std::io::Error::other)?;
    let number = |x: &f32| format!("{x:.6}");
    for row in rows {
        let id = dataset.utterances.get(row.utterance).map_or("", |u| u.id.as_str());
        let mut record: Vec<String> =
            vec![id.to_owned(), String::new(), "none".to_owned(), String::new(), String::new()];
        record.extend(row.probabilities.iter().map(number));
        record.extend(labels.iter().map(|_| number(&0.0)));
        csv.write_record(&record).map_err(std::io::Error::other)?;
        for c in &row.contributions {
            let flips: Vec<&str> = c.flips.iter().zip(labels).filter(|(f, _)| **f).map(|(_, l)| l.as_str()).collect();
            let mut record = vec![
                id.to_owned(),
                c.modality.name().to_owned(),
                c.ablation.name().to_owned(),
                c.rule.name().to_owned(),
                flips.join(";"),
            ];
            record.extend(c.probabilities.iter().map(number));
            record.extend(c.delta.iter().map(number));
            csv.write_record(&record).map_err(std::io::Error::other)?;
        }
    }
    csv.into_inner().map_err(|e| e.into_error())
}

/// How often one ablation flips a decision over a split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlipRate {
    pub modality: Modality,
    pub ablation: Ablation,
    pub rule: Rule,
    /// Utterances with at least one label's decision changed.
    pub utterances_flipped: usize,
    /// Label decisions changed (utterances × labels).
    pub decisions_flipped: usize,
    /// Mean Σ|Δ| over the utterances.
    pub mean_change: f32,
}

/// Flip counts per ablation over a split's contributions, in the contributions' order.
pub fn flip_rates(rows: &[UtteranceContributions]) -> Vec<FlipRate> {
    let Some(first) = rows.first() else { return Vec::new() };
    first
        .contributions
        .iter()
        .enumerate()
        .map(|(v, c)| {
            let all: Vec<&Contribution> = rows.iter().filter_map(|r| r.contributions.get(v)).collect();
            FlipRate {
                modality: c.modality,
                ablation: c.ablation,
                rule: c.rule,
                utterances_flipped: all.iter().filter(|c| c.flipped()).count(),
                decisions_flipped: all.iter().map(|c| c.flips.iter().filter(|&&f| f).count()).sum(),
                mean_change: all.iter().map(|c| c.total_change()).sum::<f32>() / all.len().max(1) as f32,
            }
        })
        .collect()
}
