//! 2-D maps of a trained run's unimodal representations H_m (paper Fig. 3): which utterances to
//! take, their encoder outputs, PCA to at most 50 dimensions, and the projection — UMAP for
//! whole splits (tens of thousands of points), exact t-SNE as the reference on a few
//! thousand. No UI here (STYLE.md 1).

pub mod bench;
pub mod knn;
pub mod pca;
pub mod quality;
mod rng;
pub mod tsne;
pub mod umap;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng as _;

use crate::dataset::{Dataset, Split};
use crate::modality::Modality;
use crate::train::{SplitData, TrainError, TrainedModel};

pub use tsne::{TsneConfig, TsneError};
pub use umap::UmapConfig;

/// Utterances encoded per forward pass.
const ENCODE_BATCH: usize = 128;
/// Representations are reduced to this many principal components before the projection.
pub const PCA_COMPONENTS: usize = 50;
/// Exact t-SNE keeps n × n matrices and costs O(n²) per iteration: more points are refused.
pub const EXACT_TSNE_MAX_POINTS: usize = 2500;

/// The projection that lays the representations out in 2-D.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// UMAP: approximate neighbours and O(n) epochs, for whole splits.
    #[default]
    Umap,
    /// Exact t-SNE, at most [`EXACT_TSNE_MAX_POINTS`] points.
    Tsne,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Self::Umap => "UMAP",
            Self::Tsne => "t-SNE",
        }
    }
}

/// What to project.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingRequest {
    pub method: Method,
    /// Only the utterances of this split; `None`: all.
    pub split: Option<Split>,
    /// Points in the map at most (utterances × modalities), a seeded sample; `None`: every one.
    pub max_points: Option<usize>,
    /// Draws the sample and seeds the projection.
    pub seed: u64,
    pub tsne: TsneConfig,
    pub umap: UmapConfig,
}

impl Default for EmbeddingRequest {
    fn default() -> Self {
        Self {
            method: Method::Umap,
            split: Some(Split::Train),
            max_points: None,
            seed: 1111,
            tsne: TsneConfig::default(),
            umap: UmapConfig::default(),
        }
    }
}

/// One utterance's representation of one modality, placed on the map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmbeddedPoint {
    /// Index in the dataset's utterance table.
    pub utterance: usize,
    pub modality: Modality,
    pub position: [f32; 2],
}

/// Where a running projection is, for progress reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Encoding,
    /// The approximate neighbour search.
    Neighbours,
    Projecting,
}

/// A progress report: the stage, how far it is (`done` of `total` steps: utterances, search
/// steps in thousandths, or iterations), and while projecting the layout so far, which
/// [`embed`] reports in the order of its final points.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a> {
    pub stage: Stage,
    pub done: usize,
    pub total: usize,
    pub layout: Option<&'a [[f32; 2]]>,
    /// From [`embed`]: the (utterance, modality) of each point of `layout`.
    pub owners: Option<&'a [(usize, Modality)]>,
}

impl Step<'_> {
    pub fn fraction(&self) -> f32 {
        self.done as f32 / self.total.max(1) as f32
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Tsne(#[from] TsneError),
    #[error("the run's model encodes no modality, so it has no unimodal representations to map")]
    NoModalities,
    #[error("run {}: {problem}, so it has no unimodal representations to map", run.display())]
    NoModel { run: PathBuf, problem: &'static str },
    #[error("the dataset has no utterances{}", split.map_or_else(String::new, |s| format!(" in its {} split", s.name())))]
    NoUtterances { split: Option<Split> },
    #[error("{points} points to project; a map needs at least 4 (raise --max-points or use a larger split)")]
    TooFewPoints { points: usize },
    #[error(
        "exact t-SNE is O(n²) in time and memory and maps at most {max} points, but {points} were asked for: use UMAP, or at most {max} points"
    )]
    TooManyForExact { points: usize, max: usize },
    #[error("representation {row} has {got} values, the first has {expected}")]
    RaggedRow { row: usize, got: usize, expected: usize },
    #[error("representation {row} has a value that is not a finite number")]
    NotFinite { row: usize },
    #[error("the projection was stopped before it finished")]
    Stopped,
}

impl From<candle_core::Error> for ProjectionError {
    fn from(e: candle_core::Error) -> Self {
        Self::Train(TrainError::Tensor(e))
    }
}

impl ProjectionError {
    pub fn is_stopped(&self) -> bool {
        matches!(self, Self::Stopped | Self::Tsne(TsneError::Stopped))
    }
}

/// Up to `max` distinct indices of `0..n`, drawn by a seeded RNG, in ascending order.
pub fn sample(n: usize, max: usize, seed: u64) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, n, max).into_vec();
    picked.sort_unstable();
    picked
}

/// Loads a run folder's model on the CPU for its representations; a run without one (another
/// system's imported predictions, or a folder without weights) is a clear error.
pub fn load_run(run: &Path) -> Result<TrainedModel, ProjectionError> {
    let config = run.join(crate::train::run::CONFIG_FILE);
    if let Ok(text) = std::fs::read_to_string(&config)
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
        && value.get("kind").and_then(serde_json::Value::as_str) == Some(crate::runs::imported::IMPORTED_KIND)
    {
        return Err(ProjectionError::NoModel {
            run: run.to_path_buf(),
            problem: "holds another system's imported predictions and no model",
        });
    }
    if !run.join(crate::train::run::BEST_WEIGHTS).is_file() {
        return Err(ProjectionError::NoModel {
            run: run.to_path_buf(),
            problem: "has no trained weights (model.safetensors)",
        });
    }
    Ok(crate::train::load_run(run, &candle_core::Device::Cpu)?)
}

/// The modalities the run's model encodes.
pub fn encoded_modalities(trained: &TrainedModel) -> Vec<Modality> {
    Modality::ALL.into_iter().filter(|&m| trained.info.inputs.get(m).is_some()).collect()
}

/// H_m of each utterance of `indices` for every modality the model encodes, as
/// (utterance, modality, vector). `progress(fraction)` returning `false` stops with
/// [`ProjectionError::Stopped`].
pub fn unimodal_representations(
    trained: &TrainedModel,
    dataset: &Dataset,
    indices: &[usize],
    progress: &mut dyn FnMut(f32) -> bool,
) -> Result<Vec<(usize, Modality, Vec<f32>)>, ProjectionError> {
    let modalities = encoded_modalities(trained);
    if modalities.is_empty() {
        return Err(ProjectionError::NoModalities);
    }
    let model = trained.inference_model()?;
    let mut out = Vec::with_capacity(indices.len() * modalities.len());
    let mut done = 0usize;
    for split in Split::ALL {
        let wanted: Vec<usize> =
            indices.iter().copied().filter(|&i| dataset.utterances.get(i).is_some_and(|u| u.split == split)).collect();
        if wanted.is_empty() {
            continue;
        }
        let data = SplitData::new(dataset, split, &modalities)?;
        let row_of: HashMap<usize, usize> = data.indices.iter().enumerate().map(|(row, &index)| (index, row)).collect();
        let rows: Vec<(usize, usize)> = wanted.iter().filter_map(|i| row_of.get(i).map(|&row| (*i, row))).collect();
        for chunk in rows.chunks(ENCODE_BATCH) {
            let split_rows: Vec<usize> = chunk.iter().map(|&(_, row)| row).collect();
            let batch = data.batch(&split_rows, &trained.info.va_normalizer, false, &trained.device)?;
            let output = model.forward(&batch, false)?;
            for (modality, h) in output.unimodal.iter() {
                let Some(h) = h else { continue };
                for (&(index, _), vector) in chunk.iter().zip(h.to_vec2::<f32>()?) {
                    out.push((index, modality, vector));
                }
            }
            done += chunk.len();
            if !progress(done as f32 / indices.len().max(1) as f32) {
                return Err(ProjectionError::Stopped);
            }
        }
    }
    Ok(out)
}

/// The utterances a request maps: those of its split, a seeded sample of them when they have
/// more than `max_points` representations (`per_utterance` each).
pub fn utterances_to_map(
    dataset: &Dataset,
    request: &EmbeddingRequest,
    per_utterance: usize,
) -> Result<Vec<usize>, ProjectionError> {
    let eligible: Vec<usize> = (0..dataset.utterances.len())
        .filter(|&i| request.split.is_none_or(|s| dataset.utterances[i].split == s))
        .collect();
    if eligible.is_empty() {
        return Err(ProjectionError::NoUtterances { split: request.split });
    }
    let max = request.max_points.map_or(usize::MAX, |m| m / per_utterance.max(1));
    Ok(sample(eligible.len(), max, request.seed).into_iter().map(|i| eligible[i]).collect())
}

/// Rows of equal length as one row-major matrix, checked; returns it and the row length.
pub fn flatten(rows: &[Vec<f32>]) -> Result<(Vec<f32>, usize), ProjectionError> {
    let dim = rows.first().map_or(0, Vec::len);
    let mut flat = Vec::with_capacity(rows.len() * dim);
    for (row, values) in rows.iter().enumerate() {
        if values.len() != dim {
            return Err(ProjectionError::RaggedRow { row, got: values.len(), expected: dim });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(ProjectionError::NotFinite { row });
        }
        flat.extend_from_slice(values);
    }
    Ok((flat, dim))
}

/// Projects the rows of `data` (n × `dim`, row-major, finite) to 2-D: PCA to at most
/// [`PCA_COMPONENTS`] dimensions, then the request's method with its seed. `progress`
/// returning false stops with [`ProjectionError::Stopped`].
pub fn project(
    data: &[f32],
    dim: usize,
    request: &EmbeddingRequest,
    progress: &mut dyn FnMut(Step<'_>) -> bool,
) -> Result<Vec<[f32; 2]>, ProjectionError> {
    let n = data.len() / dim.max(1);
    if n < 4 || dim == 0 {
        return Err(ProjectionError::TooFewPoints { points: n });
    }
    if request.method == Method::Tsne && n > EXACT_TSNE_MAX_POINTS {
        return Err(ProjectionError::TooManyForExact { points: n, max: EXACT_TSNE_MAX_POINTS });
    }
    let reduced;
    let (input, input_dim) = if dim > PCA_COMPONENTS {
        reduced = pca::pca(data, dim, PCA_COMPONENTS);
        (reduced.as_slice(), PCA_COMPONENTS)
    } else {
        (data, dim)
    };
    match request.method {
        Method::Tsne => {
            let rows: Vec<Vec<f32>> = input.chunks_exact(input_dim).map(<[f32]>::to_vec).collect();
            let config = TsneConfig { seed: request.seed, ..request.tsne.clone() };
            Ok(tsne::tsne(&rows, &config, &mut |done, total| {
                progress(Step { stage: Stage::Projecting, done, total, layout: None, owners: None })
            })?)
        }
        Method::Umap => {
            let config = UmapConfig { seed: request.seed, ..request.umap.clone() };
            umap::umap(input, input_dim, &config, &mut |report| match report {
                umap::UmapProgress::Neighbours(fraction) => progress(Step {
                    stage: Stage::Neighbours,
                    done: (fraction * 1000.0) as usize,
                    total: 1000,
                    layout: None,
                    owners: None,
                }),
                umap::UmapProgress::Epoch { done, total, layout } => {
                    progress(Step { stage: Stage::Projecting, done, total, layout: Some(layout), owners: None })
                }
            })
            .ok_or(ProjectionError::Stopped)
        }
    }
}

/// A map as CSV, `id,modality,x,y` (one row per utterance and modality), the ids from the
/// dataset it was made from: what `univa project` writes and the Embedding tab saves.
pub fn map_csv(points: &[EmbeddedPoint], dataset: &Dataset) -> std::io::Result<Vec<u8>> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["id", "modality", "x", "y"]).map_err(std::io::Error::other)?;
    for point in points {
        let id = dataset.utterances.get(point.utterance).map_or("", |u| u.id.as_str());
        let (x, y) = (format!("{:.6}", point.position[0]), format!("{:.6}", point.position[1]));
        csv.write_record([id, point.modality.name(), &x, &y]).map_err(std::io::Error::other)?;
    }
    csv.into_inner().map_err(|e| e.into_error())
}

/// Picks the request's utterances, encodes them and projects every (utterance, modality)
/// representation into one 2-D map, so that modalities can be compared on it.
pub fn embed(
    trained: &TrainedModel,
    dataset: &Dataset,
    request: &EmbeddingRequest,
    progress: &mut dyn FnMut(Step<'_>) -> bool,
) -> Result<Vec<EmbeddedPoint>, ProjectionError> {
    let modalities = encoded_modalities(trained);
    if modalities.is_empty() {
        return Err(ProjectionError::NoModalities);
    }
    let indices = utterances_to_map(dataset, request, modalities.len())?;
    if request.method == Method::Tsne && indices.len() * modalities.len() > EXACT_TSNE_MAX_POINTS {
        return Err(ProjectionError::TooManyForExact {
            points: indices.len() * modalities.len(),
            max: EXACT_TSNE_MAX_POINTS,
        });
    }
    let total = indices.len();
    let representations = unimodal_representations(trained, dataset, &indices, &mut |fraction| {
        progress(Step {
            stage: Stage::Encoding,
            done: (fraction * total as f32) as usize,
            total,
            layout: None,
            owners: None,
        })
    })?;
    let (owners, rows): (Vec<(usize, Modality)>, Vec<Vec<f32>>) =
        representations.into_iter().map(|(u, m, v)| ((u, m), v)).unzip();
    let (flat, dim) = flatten(&rows)?;
    drop(rows);
    let positions = project(&flat, dim, request, &mut |step| {
        progress(Step { owners: step.layout.map(|_| owners.as_slice()), ..step })
    })?;
    Ok(owners
        .into_iter()
        .zip(positions)
        .map(|((utterance, modality), position)| EmbeddedPoint { utterance, modality, position })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_request(method: Method) -> EmbeddingRequest {
        EmbeddingRequest {
            method,
            seed: 5,
            tsne: TsneConfig { iterations: 400, exaggeration_iterations: 150, ..TsneConfig::default() },
            umap: UmapConfig { epochs: Some(200), ..UmapConfig::default() },
            ..EmbeddingRequest::default()
        }
    }

    /// UMAP against the exact t-SNE reference on the same small input with known structure
    /// (3 modalities × 4 labels, 64-D, label clusters that overlap): the maps keep modality and label neighbourhoods about
    /// equally well, and both far better than chance (1/3 and 1/4).
    #[test]
    fn umap_keeps_the_structure_the_exact_tsne_keeps() {
        let spread = bench::Spread { label: 0.12, ..bench::Spread::default() };
        let data = bench::synthetic(150, 3, 4, 64, spread, 8);
        let tsne_map = project(&data.data, data.dim, &small_request(Method::Tsne), &mut |_| true).unwrap();
        let umap_map = project(&data.data, data.dim, &small_request(Method::Umap), &mut |_| true).unwrap();
        let (t, u) = (bench::quality_of(&data, &tsne_map), bench::quality_of(&data, &umap_map));
        assert!(t.modality_agreement > 0.9 && t.label_agreement > 0.5, "t-SNE {t:?}");
        assert!((u.modality_agreement - t.modality_agreement).abs() < 0.05, "UMAP {u:?} vs t-SNE {t:?}");
        assert!((u.label_agreement - t.label_agreement).abs() < 0.08, "UMAP {u:?} vs t-SNE {t:?}");
        assert!((u.trustworthiness - t.trustworthiness).abs() < 0.05, "UMAP {u:?} vs t-SNE {t:?}");
        // A map that ignores the input (the points in a random order on a circle) is much worse.
        let mut rng = rng::SplitMix::new(1);
        let random: Vec<[f32; 2]> = (0..data.len())
            .map(|_| {
                let a = rng.unit() as f32 * std::f32::consts::TAU;
                [a.cos(), a.sin()]
            })
            .collect();
        let r = bench::quality_of(&data, &random);
        assert!(u.label_agreement > r.label_agreement + 0.3 && u.trustworthiness > r.trustworthiness + 0.2, "{r:?}");
    }

    #[test]
    fn same_seed_same_map_other_seed_other_map_and_stop_is_honoured() {
        let data = bench::synthetic(40, 3, 2, 60, bench::Spread::default(), 3);
        let request = small_request(Method::Umap);
        let a = project(&data.data, data.dim, &request, &mut |_| true).unwrap();
        assert_eq!(a, project(&data.data, data.dim, &request, &mut |_| true).unwrap());
        let other = EmbeddingRequest { seed: 6, ..request.clone() };
        assert_ne!(a, project(&data.data, data.dim, &other, &mut |_| true).unwrap());
        let mut layouts = 0;
        let stopped = project(&data.data, data.dim, &request, &mut |step| {
            layouts += usize::from(step.layout.is_some_and(|l| l.len() == data.len()));
            step.done < 20
        });
        assert!(matches!(stopped, Err(ProjectionError::Stopped)));
        assert_eq!(layouts, 20, "a layout with every epoch until the stop");
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let request = small_request(Method::Umap);
        let e = project(&[0.0; 6], 2, &request, &mut |_| true).unwrap_err();
        assert!(e.to_string().contains("at least 4"), "{e}");
        let many = vec![0.5f32; (EXACT_TSNE_MAX_POINTS + 1) * 2];
        let e = project(&many, 2, &small_request(Method::Tsne), &mut |_| true).unwrap_err();
        assert!(matches!(e, ProjectionError::TooManyForExact { .. }) && e.to_string().contains("use UMAP"), "{e}");
        let e = flatten(&[vec![1.0, 2.0], vec![1.0]]).unwrap_err();
        assert_eq!(e.to_string(), "representation 1 has 1 values, the first has 2");
        let e = flatten(&[vec![1.0], vec![f32::NAN]]).unwrap_err();
        assert!(e.to_string().contains("representation 1") && e.to_string().contains("not a finite"));
        // Identical points (a collapsed encoder) still map, without NaN.
        let same = project(&vec![1.0f32; 30 * 3], 3, &request, &mut |_| true).unwrap();
        assert!(same.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    }

    #[test]
    fn sample_is_seeded_sorted_distinct_and_capped() {
        let a = sample(10_000, 500, 3);
        assert_eq!(a.len(), 500);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|&i| i < 10_000));
        assert_eq!(a, sample(10_000, 500, 3));
        assert_ne!(a, sample(10_000, 500, 4));
        assert_eq!(sample(7, 500, 3), (0..7).collect::<Vec<_>>());
    }
}
