//! `univa acquire face|voice MEDIA`: VA and features of one clip, printed as text or JSON.
//! `univa acquire --dataset D`: fill in a dataset's missing vision and audio VA and features.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::acquire::decode::TimeSpan;
use crate::acquire::face::{FacePipeline, FaceSettings, FerFaceModel};
use crate::acquire::fill::{FAILURES_FILE, FillOptions, fill_dataset};
use crate::acquire::voice::VoicePipeline;
use crate::acquire::voice::wav2vec2::Wav2Vec2Va;
use crate::acquire::{FaceVaModel, device};
use crate::modality::Modality;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub fill: FillArgs,
}

#[derive(Debug, clap::Args)]
pub struct FillArgs {
    /// Dataset folder whose utterances with media get their missing vision and audio VA and
    /// features (resumable: utterances that have VA are skipped).
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Leave vision alone.
    #[arg(long)]
    pub no_vision: bool,
    /// Leave audio alone.
    #[arg(long)]
    pub no_audio: bool,
    /// Steps per utterance when features are added (frames are averaged in equal chunks).
    #[arg(long, default_value_t = FillOptions::default().max_len)]
    pub max_len: usize,
    /// Worker threads.
    #[arg(long, default_value_t = FillOptions::default().workers)]
    pub workers: usize,
    /// A mini-Xception checkpoint folder instead of the bundled fer model.
    #[arg(long)]
    pub face_model: Option<PathBuf>,
    /// A wav2vec2 VA model folder instead of the prosody baseline.
    #[arg(long)]
    pub wav2vec2: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Face VA (fer expression proxy for EmoFAN) and detection statistics of one clip.
    Face(FaceArgs),
    /// Voice VA (prosody baseline, or a wav2vec2 VA model) of one clip.
    Voice(VoiceArgs),
}

#[derive(Debug, clap::Args)]
pub struct ClipArgs {
    /// Video or audio file.
    pub media: PathBuf,
    /// Start of the utterance in the file, seconds.
    #[arg(long)]
    pub start: Option<f64>,
    /// End of the utterance in the file, seconds.
    #[arg(long)]
    pub end: Option<f64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ClipArgs {
    fn span(&self) -> TimeSpan {
        TimeSpan { start_secs: self.start, end_secs: self.end }
    }
}

#[derive(Debug, clap::Args)]
pub struct FaceArgs {
    #[command(flatten)]
    pub clip: ClipArgs,
    /// A mini-Xception checkpoint folder (model.safetensors + config.json) instead of fer's.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Frames per second to sample.
    #[arg(long, default_value_t = FaceSettings::default().sample_fps)]
    pub fps: f64,
    /// Include every frame's time, box, VA and class probabilities in the JSON.
    #[arg(long)]
    pub frames: bool,
}

#[derive(Debug, clap::Args)]
pub struct VoiceArgs {
    #[command(flatten)]
    pub clip: ClipArgs,
    /// A wav2vec2 VA model folder (Hugging Face config.json + model.safetensors).
    #[arg(long)]
    pub wav2vec2: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        Some(Command::Face(a)) => face(a),
        Some(Command::Voice(a)) => voice(a),
        None => match &args.fill.dataset {
            Some(dataset) => fill(dataset, &args.fill),
            None => anyhow::bail!("give --dataset DIR, or a subcommand (face, voice); see `univa acquire --help`"),
        },
    }
}

fn fill(dataset: &std::path::Path, args: &FillArgs) -> anyhow::Result<()> {
    let device = device();
    let face_model = args.face_model.clone();
    let make_face = move || -> Result<FacePipeline, crate::acquire::AcquireError> {
        let model: Box<dyn FaceVaModel> = match &face_model {
            Some(dir) => Box::new(FerFaceModel::from_dir(dir, &device)?),
            None => Box::new(FerFaceModel::bundled(&device)?),
        };
        FacePipeline::new(model, FaceSettings::default())
    };
    let voice = match &args.wav2vec2 {
        Some(dir) => VoicePipeline::new(Box::new(Wav2Vec2Va::from_dir(dir, &crate::acquire::device())?)),
        None => VoicePipeline::prosody(),
    };
    let options = FillOptions {
        vision: !args.no_vision,
        audio: !args.no_audio,
        max_len: args.max_len,
        workers: args.workers,
        ..FillOptions::default()
    };
    let bar = indicatif::ProgressBar::hidden();
    let mut progress = |done: usize, total: usize| {
        if bar.is_hidden() && total > 0 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total as u64);
        }
        bar.set_position(done as u64);
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let summary = fill_dataset(dataset, &options, &make_face, &voice, &stop, &mut progress)
        .with_context(|| format!("acquisition into {} failed", dataset.display()))?;
    bar.finish_and_clear();
    for modality in [Modality::Vision, Modality::Audio] {
        let filled = summary.filled.get(&modality).copied().unwrap_or(0);
        let skipped = summary.skipped.get(&modality).copied().unwrap_or(0);
        let failed = summary.failures.iter().filter(|f| f.modality == modality).count();
        println!("{modality}: {filled} filled, {skipped} already had VA, {failed} failed");
    }
    if summary.without_media > 0 {
        println!("{} utterances have no media", summary.without_media);
    }
    for modality in &summary.features_kept {
        println!("{modality}: existing features have another size; kept them and filled VA only");
    }
    for f in summary.failures.iter().take(10) {
        println!("  failed {} ({}): {}", f.utterance, f.modality, f.reason);
    }
    if summary.failures.len() > 10 {
        println!("  … {} more in {}", summary.failures.len() - 10, dataset.join(FAILURES_FILE).display());
    }
    Ok(())
}

fn face(args: &FaceArgs) -> anyhow::Result<()> {
    let device = device();
    let model: Box<dyn FaceVaModel> = match &args.model {
        Some(dir) => Box::new(FerFaceModel::from_dir(dir, &device)?),
        None => Box::new(FerFaceModel::bundled(&device)?),
    };
    let settings = FaceSettings { sample_fps: args.fps, ..FaceSettings::default() };
    let mut pipeline = FacePipeline::new(model, settings)?;
    let result = pipeline.run(&args.clip.media, args.clip.span()).with_context(|| "face acquisition failed")?;
    if args.clip.json {
        let mut out = json!({
            "media": result.media,
            "model": result.model_id,
            "valence": result.va.valence,
            "arousal": result.va.arousal,
            "frames_sampled": result.frames_sampled,
            "frames_with_face": result.frames.len(),
            "detection_rate": result.detection_rate(),
        });
        if args.frames {
            out["frames"] = result
                .frames
                .iter()
                .map(|f| {
                    json!({
                        "time_secs": f.time_secs,
                        "box": [f.face.x, f.face.y, f.face.width, f.face.height],
                        "valence": f.prediction.va.valence,
                        "arousal": f.prediction.va.arousal,
                        "probabilities": f.prediction.class_probabilities,
                    })
                })
                .collect();
        }
        println!("{out}");
    } else {
        println!(
            "{}: valence {:+.3}, arousal {:+.3} ({}; faces in {}/{} sampled frames)",
            result.media.display(),
            result.va.valence,
            result.va.arousal,
            result.model_id,
            result.frames.len(),
            result.frames_sampled
        );
    }
    Ok(())
}

fn voice(args: &VoiceArgs) -> anyhow::Result<()> {
    let pipeline = match &args.wav2vec2 {
        Some(dir) => VoicePipeline::new(Box::new(Wav2Vec2Va::from_dir(dir, &device())?)),
        None => VoicePipeline::prosody(),
    };
    let result = pipeline.run(&args.clip.media, args.clip.span()).with_context(|| "voice acquisition failed")?;
    let voiced = result.features.f0_hz.iter().filter(|f| f.is_some()).count();
    if args.clip.json {
        println!(
            "{}",
            json!({
                "media": result.media,
                "model": result.model_id,
                "valence": result.va.valence,
                "arousal": result.va.arousal,
                "confidence": {"valence": result.confidence[0], "arousal": result.confidence[1]},
                "frames": result.features.frames(),
                "voiced_frames": voiced,
                "duration_secs": result.features.duration_secs,
            })
        );
    } else {
        println!(
            "{}: valence {:+.3} (confidence {:.2}), arousal {:+.3} (confidence {:.2}) ({}; {voiced}/{} frames voiced)",
            result.media.display(),
            result.va.valence,
            result.confidence[0],
            result.va.arousal,
            result.confidence[1],
            result.model_id,
            result.features.frames()
        );
    }
    Ok(())
}
