//! `univa acquire face|voice MEDIA`: VA and features of one clip, printed as text or JSON.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::acquire::decode::TimeSpan;
use crate::acquire::face::{FacePipeline, FaceSettings, FerFaceModel};
use crate::acquire::voice::VoicePipeline;
use crate::acquire::voice::wav2vec2::Wav2Vec2Va;
use crate::acquire::{FaceVaModel, device};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
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
        Command::Face(a) => face(a),
        Command::Voice(a) => voice(a),
    }
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
