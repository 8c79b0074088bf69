//! `univa acquire --dataset D`: fill in the missing vision and audio VA and features of every
//! utterance that has media, and the text VA and token features of every utterance (from its
//! transcript), resumably, recording which model produced each value and every per-utterance
//! failure (an empty transcript is one).
//!
//! An utterance is done for a modality once its VA is set; a rerun skips it, so an interrupted
//! run resumes where its last checkpoint left off. Frame features go into the dataset's feature
//! files when the manifest has no features for the modality yet (a spec is added) or has them
//! with this model's size; features of another size (e.g. imported MOSEI features) are kept and
//! only VA is filled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

use super::decode::TimeSpan;
use super::face::FacePipeline;
use super::voice::{VoicePipeline, features::FRAME_DIM};
use super::{AcquireError, TextVaModel};
use crate::dataset::{Dataset, DatasetError, DatasetWriter, FeatureSpec, Split, SplitFeatures, Utterance, Va};
use crate::fsutil::write_atomic;
use crate::modality::Modality;

/// File in the dataset folder listing the failures of the last run (utterance, modality, why).
pub const FAILURES_FILE: &str = "acquire_failures.csv";

/// File in the dataset folder recording which feature files acquisition wrote, and how.
pub const RECORD_FILE: &str = "acquire.json";

/// What acquisition wrote into a dataset's feature files (`acquire.json`): per modality, the
/// model and settings, so that another clip can be acquired the same way and a model's steps
/// mapped back to the clip. A modality missing here has features from elsewhere (an import).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AcquireRecord {
    pub features: BTreeMap<Modality, FeatureRecord>,
}

/// How one modality's features were made.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureRecord {
    /// Id of the model whose frames (vision, audio) or token embeddings (text) they are.
    pub model: String,
    pub dim: usize,
    /// Steps kept per utterance: vision frames (sampled at `sample_fps` over the utterance's
    /// span, those with a face), audio frames (10 ms over the span) or text tokens (special
    /// tokens included), averaged in equal consecutive chunks ([`chunk`]) when there were more.
    pub max_len: usize,
    /// Vision: frames per second looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_fps: Option<f64>,
}

impl AcquireRecord {
    /// The dataset's record; `None` when acquisition never wrote features into it.
    pub fn read(root: &Path) -> Result<Option<Self>, FillError> {
        let path = root.join(RECORD_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FillError::Record { path, problem: source.to_string() }),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| FillError::Record { path, problem: e.to_string() })
    }

    fn write(&self, root: &Path) -> Result<(), FillError> {
        let path = root.join(RECORD_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| FillError::Record { path: path.clone(), problem: e.to_string() })?;
        write_atomic(&path, text.as_bytes()).map_err(|source| FillError::Write { path, source })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Acquire(#[from] AcquireError),
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Record { path: PathBuf, problem: String },
    #[error("a worker thread failed: {0}")]
    Worker(String),
}

/// What to fill and how.
#[derive(Clone, Debug, PartialEq)]
pub struct FillOptions {
    pub vision: bool,
    pub audio: bool,
    /// Fill text VA and token features (needs a text model passed to [`fill_dataset`]).
    pub text: bool,
    /// Steps kept per utterance when features are added: frames are averaged in equal chunks.
    pub max_len: usize,
    /// Worker threads (each holds its own detector and models).
    pub workers: usize,
    /// Write the dataset after this many finished utterances, so a stop loses little.
    pub checkpoint_every: usize,
}

impl Default for FillOptions {
    fn default() -> Self {
        Self { vision: true, audio: true, text: true, max_len: 50, workers: 2, checkpoint_every: 100 }
    }
}

/// One utterance × modality that could not be acquired.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub utterance: String,
    pub modality: Modality,
    pub reason: String,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FillSummary {
    /// Utterance × modality pairs filled in by this run, per modality.
    pub filled: BTreeMap<Modality, usize>,
    /// Already had VA (skipped).
    pub skipped: BTreeMap<Modality, usize>,
    pub failures: Vec<Failure>,
    /// Utterances without media (nothing to acquire from).
    pub without_media: usize,
    /// Modalities whose existing features have another size and were left as they were.
    pub features_kept: Vec<Modality>,
}

/// One modality's result for one utterance: VA, model id and frame features; `None` when the
/// modality was not asked for.
type Outcome = Option<Result<(Va, String, Vec<Vec<f32>>), AcquireError>>;

/// What one utterance still needs.
#[derive(Clone, Copy)]
struct Todo {
    index: usize,
    vision: bool,
    audio: bool,
    text: bool,
}

/// Per-utterance result sent back by a worker.
struct Done {
    index: usize,
    vision: Outcome,
    audio: Outcome,
    text: Outcome,
}

/// The frames that step `i` of `steps` averages when `frames` frames are pooled to at most
/// `max_len` steps ([`pool`]): `steps = min(frames, max_len)`.
pub fn chunk(frames: usize, max_len: usize, i: usize) -> std::ops::Range<usize> {
    if frames <= max_len || max_len == 0 {
        return i..i + 1;
    }
    let start = i * frames / max_len;
    start..((i + 1) * frames / max_len).max(start + 1)
}

/// Averages `frames` into at most `max_len` equal consecutive chunks (fewer frames stay as they are).
fn pool(frames: &[Vec<f32>], max_len: usize) -> Vec<Vec<f32>> {
    if frames.len() <= max_len || max_len == 0 {
        return frames.to_vec();
    }
    (0..max_len)
        .map(|i| {
            let std::ops::Range { start, end } = chunk(frames.len(), max_len, i);
            let dim = frames[start].len();
            let mut mean = vec![0.0f32; dim];
            for f in &frames[start..end] {
                for (m, x) in mean.iter_mut().zip(f) {
                    *m += x;
                }
            }
            mean.iter_mut().for_each(|m| *m /= (end - start) as f32);
            mean
        })
        .collect()
}

/// Fills the dataset at `root`. `progress(done, total)` is called after every utterance;
/// setting `stop` ends the run after the utterances in flight (and a final checkpoint). Text is
/// filled when `options.text` is set and a `text` model is given.
pub fn fill_dataset(
    root: &Path,
    options: &FillOptions,
    make_face: &(dyn Fn() -> Result<FacePipeline, AcquireError> + Sync),
    voice: &VoicePipeline,
    text: Option<&dyn TextVaModel>,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FillSummary, FillError> {
    let dataset = Dataset::open_lazy(root)?;
    let mut manifest = dataset.manifest.clone();
    let mut utterances = dataset.utterances.clone();
    let mut summary = FillSummary::default();

    // Which modalities get features written, and their sizes.
    let face = make_face()?;
    let (face_dim, face_model, face_fps) =
        (face.embedding_dim(), face.model_id().to_owned(), face.settings().sample_fps);
    drop(face);
    let text = text.filter(|_| options.text);
    let text_dim = text.map_or(0, TextVaModel::embedding_dim);
    let mut feature_dims: BTreeMap<Modality, usize> = BTreeMap::new();
    for (modality, wanted, dim) in [
        (Modality::Vision, options.vision, face_dim),
        (Modality::Audio, options.audio, FRAME_DIM),
        (Modality::Text, text.is_some(), text_dim),
    ] {
        if !wanted {
            continue;
        }
        match manifest.feature_spec(modality) {
            None => {
                manifest.features.push(FeatureSpec { modality, max_len: options.max_len, dim });
                feature_dims.insert(modality, dim);
            }
            Some(spec) if spec.dim == dim => {
                feature_dims.insert(modality, dim);
            }
            Some(_) => summary.features_kept.push(modality),
        }
    }
    manifest.features.sort_by_key(|s| s.modality);
    let mut record = AcquireRecord::read(root)?.unwrap_or_default();
    for (&modality, &dim) in &feature_dims {
        let (model, sample_fps) = match modality {
            Modality::Vision => (face_model.clone(), Some(face_fps)),
            Modality::Audio => (voice.model_id().to_owned(), None),
            Modality::Text => (text.map_or_else(String::new, |t| t.model_id().to_owned()), None),
        };
        let max_len = manifest.feature_spec(modality).map_or(options.max_len, |s| s.max_len);
        record.features.insert(modality, FeatureRecord { model, dim, max_len, sample_fps });
    }

    // Start from the existing features (zeros where a modality is new).
    let mut features = existing_features(&dataset, &manifest);

    let mut todo = Vec::new();
    for (i, u) in utterances.iter().enumerate() {
        let has_media = u.media.is_some();
        if !has_media {
            summary.without_media += 1;
        }
        let need_vision = has_media && options.vision && u.va.vision.is_none();
        let need_audio = has_media && options.audio && u.va.audio.is_none();
        let need_text = text.is_some() && u.va.text.is_none();
        for (modality, wanted, need) in [
            (Modality::Vision, has_media && options.vision, need_vision),
            (Modality::Audio, has_media && options.audio, need_audio),
            (Modality::Text, text.is_some(), need_text),
        ] {
            if wanted && !need {
                *summary.skipped.entry(modality).or_default() += 1;
            }
        }
        if need_vision || need_audio || need_text {
            todo.push(Todo { index: i, vision: need_vision, audio: need_audio, text: need_text });
        }
    }

    let total = todo.len();
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let (tx, rx) = sync_channel::<Done>(options.workers.max(1) * 2);
    let row_of = row_positions(&utterances);
    let mut failures = Vec::new();
    std::thread::scope(|scope| -> Result<(), FillError> {
        for w in 0..options.workers.max(1) {
            let (tx, todo, next, first_error, dataset) = (tx.clone(), &todo, &next, &first_error, &dataset);
            std::thread::Builder::new()
                .name(format!("acquire-{w}"))
                .spawn_scoped(scope, move || {
                    let mut face = match make_face() {
                        Ok(f) => f,
                        Err(e) => {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e.to_string());
                            }
                            return;
                        }
                    };
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&Todo { index, vision: need_vision, audio: need_audio, text: need_text }) =
                            todo.get(k)
                        else {
                            return;
                        };
                        let u = &dataset.utterances[index];
                        let text = text.filter(|_| need_text).map(|model| {
                            model.predict(&[u.text.as_str()]).and_then(|p| {
                                let Some(p) = p.into_iter().next() else {
                                    return Err(AcquireError::compute("text VA", "the model returned no prediction"));
                                };
                                Ok((p.va, model.model_id().to_owned(), p.tokens))
                            })
                        });
                        let clip = dataset.media_path(u).zip(u.media.as_ref());
                        let Some((path, media)) = clip.filter(|_| need_vision || need_audio) else {
                            if tx.send(Done { index, vision: None, audio: None, text }).is_err() {
                                return;
                            }
                            continue;
                        };
                        let span = TimeSpan { start_secs: media.start_secs, end_secs: media.end_secs };
                        let vision = need_vision.then(|| {
                            face.run(&path, span).map(|r| {
                                let frames = r.frames.into_iter().map(|f| f.prediction.embedding).collect();
                                (r.va, r.model_id, frames)
                            })
                        });
                        let audio = need_audio.then(|| {
                            voice.run(&path, span).map(|r| {
                                let frames = r.features.frame_vectors().into_iter().map(|v| v.to_vec()).collect();
                                (r.va, r.model_id, frames)
                            })
                        });
                        if tx.send(Done { index, vision, audio, text }).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| FillError::Worker(e.to_string()))?;
        }
        drop(tx);
        let mut done = 0;
        for result in rx {
            let u = &mut utterances[result.index];
            for (modality, outcome) in
                [(Modality::Vision, result.vision), (Modality::Audio, result.audio), (Modality::Text, result.text)]
            {
                match outcome {
                    None => {}
                    Some(Ok((va, model_id, frames))) => {
                        *u.va.get_mut(modality) = Some(va);
                        *u.va_model.get_mut(modality) = model_id;
                        if feature_dims.contains_key(&modality) {
                            write_row(
                                &mut features,
                                &manifest,
                                u.split,
                                modality,
                                row_of[result.index],
                                &pool(&frames, options.max_len),
                            );
                        }
                        *summary.filled.entry(modality).or_default() += 1;
                    }
                    Some(Err(e)) => failures.push(Failure { utterance: u.id.clone(), modality, reason: e.to_string() }),
                }
            }
            done += 1;
            progress(done, total);
            if done % options.checkpoint_every.max(1) == 0 {
                DatasetWriter::new(root, manifest.clone())?.write(&utterances, &features)?;
            }
        }
        Ok(())
    })?;
    if let Ok(mut slot) = first_error.lock()
        && let Some(message) = slot.take()
    {
        return Err(FillError::Worker(message));
    }
    DatasetWriter::new(root, manifest)?.write(&utterances, &features)?;
    if !feature_dims.is_empty() {
        record.write(root)?;
    }
    write_failures(&root.join(FAILURES_FILE), &failures)?;
    summary.failures = failures;
    Ok(summary)
}

/// Position of each utterance within its split (its feature row).
fn row_positions(utterances: &[Utterance]) -> Vec<usize> {
    let mut counts: BTreeMap<Split, usize> = BTreeMap::new();
    utterances
        .iter()
        .map(|u| {
            let c = counts.entry(u.split).or_default();
            *c += 1;
            *c - 1
        })
        .collect()
}

/// Every feature tensor of the new manifest, filled from the dataset where it has them.
fn existing_features(
    dataset: &Dataset,
    manifest: &crate::dataset::Manifest,
) -> BTreeMap<(Split, Modality), SplitFeatures> {
    let mut out = BTreeMap::new();
    for split in Split::ALL {
        let rows = dataset.split_indices(split).len();
        if rows == 0 {
            continue;
        }
        for spec in &manifest.features {
            let existing =
                dataset.features(split).and_then(|f| f.gather(spec.modality, &(0..rows).collect::<Vec<_>>()));
            let data = match existing {
                Some(r) if r.spec == *spec => {
                    SplitFeatures { features: r.features, mask: r.mask.iter().map(|&m| u8::from(m > 0.5)).collect() }
                }
                _ => SplitFeatures {
                    features: vec![0.0; rows * spec.max_len * spec.dim],
                    mask: vec![0; rows * spec.max_len],
                },
            };
            out.insert((split, spec.modality), data);
        }
    }
    out
}

/// Writes one utterance's (pooled) frames into its feature row, padding with zeros.
fn write_row(
    features: &mut BTreeMap<(Split, Modality), SplitFeatures>,
    manifest: &crate::dataset::Manifest,
    split: Split,
    modality: Modality,
    row: usize,
    frames: &[Vec<f32>],
) {
    let (Some(spec), Some(data)) = (manifest.feature_spec(modality), features.get_mut(&(split, modality))) else {
        return;
    };
    let base = row * spec.max_len * spec.dim;
    let mask_base = row * spec.max_len;
    if base + spec.max_len * spec.dim > data.features.len() {
        return;
    }
    data.features[base..base + spec.max_len * spec.dim].iter_mut().for_each(|x| *x = 0.0);
    data.mask[mask_base..mask_base + spec.max_len].iter_mut().for_each(|m| *m = 0);
    for (t, frame) in frames.iter().take(spec.max_len).enumerate() {
        let n = frame.len().min(spec.dim);
        data.features[base + t * spec.dim..base + t * spec.dim + n].copy_from_slice(&frame[..n]);
        data.mask[mask_base + t] = 1;
    }
}

fn write_failures(path: &Path, failures: &[Failure]) -> Result<(), FillError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    let io = |e: std::io::Error| FillError::Write { path: path.to_path_buf(), source: e };
    csv.write_record(["utterance", "modality", "reason"]).map_err(|e| io(e.into()))?;
    for f in failures {
        csv.write_record([f.utterance.as_str(), f.modality.name(), f.reason.as_str()]).map_err(|e| io(e.into()))?;
    }
    let bytes = csv.into_inner().map_err(|e| io(e.into_error()))?;
    write_atomic(path, &bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_equal_chunks_and_keeps_short_sequences() {
        let frames: Vec<Vec<f32>> = (0..6).map(|i| vec![i as f32]).collect();
        assert_eq!(pool(&frames, 3), vec![vec![0.5], vec![2.5], vec![4.5]]);
        assert_eq!(pool(&frames, 10), frames);
        let odd: Vec<Vec<f32>> = (0..5).map(|i| vec![i as f32]).collect();
        assert_eq!(pool(&odd, 2).len(), 2);
    }
}
