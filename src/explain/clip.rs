//! A clip of one's own (issue 28, item 6): the clip becomes a one-utterance scratch dataset in
//! the user's cache, acquired with the models and feature settings `univa acquire` recorded
//! for the run's training dataset, so the run can score and explain it like any utterance.
//!
//! A run whose training features came from elsewhere (an imported MOSEI with GloVe, COVAREP
//! and Facet features) cannot score raw clips; that is refused in one sentence. Transcripts are
//! given or read from a sidecar `.txt`/`.srt`: no speech-recognition weights that
//! candle-transformers' Whisper loads are at hand, so nothing is transcribed here.

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::acquire::face::{FER_MODEL_ID, FacePipeline, FaceSettings, FerFaceModel};
use crate::acquire::fill::{AcquireRecord, FillError, FillOptions, FillSummary, fill_dataset};
use crate::acquire::text::TextVa;
use crate::acquire::voice::VoicePipeline;
use crate::acquire::voice::prosody_va::PROSODY_MODEL_ID;
use crate::acquire::{AcquireError, TextVaModel};
use crate::dataset::{Dataset, DatasetError, DatasetWriter, Manifest, MediaRef, Split, Utterance};
use crate::modality::{Modality, PerModality};

/// The scratch utterance's id.
pub const CLIP_ID: &str = "clip";

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error(
        "{}: its {modality} features were not made by `univa acquire` ({provenance}), so a run trained on it cannot score a raw clip",
        dataset.display()
    )]
    ForeignFeatures { dataset: PathBuf, modality: Modality, provenance: String },
    #[error(
        "{}: its {modality} features were made by {model}, which this build cannot load (it has {known}), so the clip cannot be acquired the same way",
        dataset.display()
    )]
    UnknownModel { dataset: PathBuf, modality: Modality, model: String, known: String },
    #[error(
        "{}: the run reads text, so the clip needs a transcript: give --transcript or --transcript-file, or put a .txt or .srt of the same name beside it (no speech-recognition model is available to transcribe it)",
        clip.display()
    )]
    NoTranscript { clip: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Transcript { path: PathBuf, problem: String },
    #[error("no cache folder for the scratch dataset: the user's home folder is unknown")]
    NoCache,
    #[error(transparent)]
    Fill(#[from] FillError),
    #[error(transparent)]
    Acquire(#[from] AcquireError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
}

/// Where scratch datasets go: `$UNIVA_SCRATCH`, else the user's cache folder.
pub fn scratch_root() -> Result<PathBuf, ClipError> {
    if let Some(dir) = std::env::var_os("UNIVA_SCRATCH") {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "UniVA Studio")
        .map(|dirs| dirs.cache_dir().join("clips"))
        .ok_or(ClipError::NoCache)
}

/// How the training dataset's features were made, for every modality the run reads; a
/// modality acquisition did not make, or made with a model this build cannot load, is refused.
pub fn acquisition_of(training: &Dataset, modalities: &[Modality]) -> Result<AcquireRecord, ClipError> {
    let record = AcquireRecord::read(&training.root)?.unwrap_or_default();
    let provenance = || {
        let p = training.manifest.provenance.trim();
        if p.is_empty() { "it records no provenance".to_owned() } else { p.to_owned() }
    };
    for &m in modalities {
        let Some(made) = record.features.get(&m) else {
            return Err(ClipError::ForeignFeatures {
                dataset: training.root.clone(),
                modality: m,
                provenance: provenance(),
            });
        };
        let known = match m {
            Modality::Vision => FER_MODEL_ID.to_owned(),
            Modality::Audio => PROSODY_MODEL_ID.to_owned(),
            Modality::Text => crate::acquire::text::TextVaConfig::read(
                &crate::acquire::text::default_model_dir().join(crate::acquire::text::MODEL_CONFIG_FILE),
            )
            .map_or_else(|e| format!("no text model: {e}"), |c| c.model_id),
        };
        if made.model != known {
            return Err(ClipError::UnknownModel {
                dataset: training.root.clone(),
                modality: m,
                model: made.model.clone(),
                known,
            });
        }
    }
    Ok(record)
}

/// The transcript: `given`, else the text of `file`, else of a `.txt` or `.srt` beside the clip.
/// `.srt` cues are joined without their numbers and times.
pub fn transcript(clip: &Path, given: Option<&str>, file: Option<&Path>) -> Result<Option<String>, ClipError> {
    if let Some(text) = given {
        return Ok(Some(text.trim().to_owned()));
    }
    let path = match file {
        Some(path) => path.to_path_buf(),
        None => match ["txt", "srt"].iter().map(|e| clip.with_extension(e)).find(|p| p.is_file()) {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ClipError::Io { path: path.clone(), source })?;
    let text = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("srt")) { srt_text(&text) } else { text };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err(ClipError::Transcript { path, problem: "holds no words".to_owned() });
    }
    Ok(Some(text))
}

/// The spoken lines of an `.srt`: every line that is not a cue number or a timing line.
fn srt_text(srt: &str) -> String {
    srt.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c.is_ascii_digit()) && !l.contains("-->"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `univa explain --clip` and the workbench's "Predict on a clip…" share: `clip` acquired
/// into a scratch dataset under `root` (usually [`scratch_root`]) with the models and settings
/// `trained`'s training dataset was made with; refused in one sentence for a run on features
/// made elsewhere.
pub fn acquire_for_run(
    trained: &crate::train::TrainedModel,
    training: &Dataset,
    clip: &Path,
    transcript: Option<&str>,
    root: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ScratchClip, ClipError> {
    let modalities = crate::train::check_compatible(trained, training)?;
    let record = acquisition_of(training, &modalities)?;
    acquire_clip(clip, transcript, training, &record, &modalities, root, progress)
}

/// A one-utterance dataset made from a clip, acquired like the run's training dataset.
#[derive(Debug)]
pub struct ScratchClip {
    pub dataset: Dataset,
    pub summary: FillSummary,
}

/// Writes (or reuses) the scratch dataset of `clip` under `root` and acquires it with the
/// models and settings of `record` for `modalities`; `progress(done, total)` as acquisition
/// goes. The folder is named after the clip and a hash of what went into it, so a second call
/// with the same clip, transcript and record reuses it.
pub fn acquire_clip(
    clip: &Path,
    transcript: Option<&str>,
    training: &Dataset,
    record: &AcquireRecord,
    modalities: &[Modality],
    root: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ScratchClip, ClipError> {
    let clip = std::fs::canonicalize(clip).map_err(|source| ClipError::Io { path: clip.to_path_buf(), source })?;
    let wants_text = modalities.contains(&Modality::Text);
    if wants_text && transcript.is_none_or(|t| t.trim().is_empty()) {
        return Err(ClipError::NoTranscript { clip });
    }
    let meta = std::fs::metadata(&clip).map_err(|source| ClipError::Io { path: clip.clone(), source })?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (clip.as_os_str(), meta.len(), meta.modified().ok(), transcript, format!("{record:?}"), modalities)
        .hash(&mut hasher);
    let stem = clip.file_stem().map_or_else(|| "clip".to_owned(), |s| s.to_string_lossy().into_owned());
    let folder = root.join(format!("{stem}-{:016x}", hasher.finish()));

    if !folder.join(crate::dataset::MANIFEST_FILE).is_file() {
        let media_dir = folder.join("media");
        std::fs::create_dir_all(&media_dir).map_err(|source| ClipError::Io { path: media_dir.clone(), source })?;
        let name = clip.file_name().map_or_else(|| "clip".into(), std::ffi::OsStr::to_os_string);
        let copy = media_dir.join(&name);
        if std::fs::hard_link(&clip, &copy).is_err() {
            std::fs::copy(&clip, &copy).map_err(|source| ClipError::Io { path: copy.clone(), source })?;
        }
        let end_secs = crate::media::probe(&copy, crate::media::TimeSpan::FULL)
            .ok()
            .and_then(|info| info.span.end_secs.or(info.file_duration_secs));
        let utterance = Utterance {
            id: CLIP_ID.to_owned(),
            video_id: stem.clone(),
            split: Split::Test,
            media: Some(MediaRef { path: Path::new("media").join(name), start_secs: Some(0.0), end_secs }),
            text: transcript.unwrap_or_default().to_owned(),
            labels: Vec::new(),
            va: PerModality::default(),
            va_model: PerModality::default(),
        };
        let mut manifest = Manifest::new(format!("clip {stem}"), training.manifest.labels.clone(), Vec::new());
        manifest.provenance = format!("{} acquired like {}", clip.display(), training.root.display());
        DatasetWriter::new(&folder, manifest)?.write(&[utterance], &std::collections::BTreeMap::new())?;
    }

    let made = |m: Modality| modalities.contains(&m) && record.features.contains_key(&m);
    let max_len = modalities.iter().filter_map(|m| record.features.get(m)).map(|f| f.max_len).max().unwrap_or(50);
    let sample_fps =
        record.features.get(&Modality::Vision).and_then(|f| f.sample_fps).unwrap_or(FaceSettings::default().sample_fps);
    let device = crate::acquire::device();
    let make_face = || -> Result<FacePipeline, AcquireError> {
        FacePipeline::new(
            Box::new(FerFaceModel::bundled(&device)?),
            FaceSettings { sample_fps, ..FaceSettings::default() },
        )
    };
    let text = if made(Modality::Text) { Some(TextVa::load_default(&device)?) } else { None };
    let options = FillOptions {
        vision: made(Modality::Vision),
        audio: made(Modality::Audio),
        text: text.is_some(),
        max_len,
        workers: 1,
        checkpoint_every: 1,
    };
    let stop = AtomicBool::new(false);
    let summary = fill_dataset(
        &folder,
        &options,
        &make_face,
        &VoicePipeline::prosody(),
        text.as_ref().map(|t| t as &dyn TextVaModel),
        &stop,
        progress,
    )?;
    Ok(ScratchClip { dataset: Dataset::open(&folder)?, summary })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_cues_lose_their_numbers_and_times() {
        let srt =
            "1\n00:00:00,000 --> 00:00:01,500\nI paced my room\n\n2\n00:00:01,600 --> 00:00:03,000\nthat night.\n";
        assert_eq!(srt_text(srt), "I paced my room that night.");
    }
}
