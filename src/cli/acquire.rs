//! `univa acquire face|voice MEDIA`: VA and features of one clip, printed as text or JSON.
//! `univa acquire text SENTENCE…`: text VA of sentences.
//! `univa acquire train-text` / `eval-text` / `ensemble-text`: train a text VA model on EmoBank,
//! score one, combine several.
//! `univa acquire --dataset D`: fill in a dataset's missing text, vision and audio VA and features.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use crate::acquire::decode::TimeSpan;
use crate::acquire::face::{FacePipeline, FaceSettings, FerFaceModel};
use crate::acquire::fill::{FAILURES_FILE, FillOptions, fill_dataset};
use crate::acquire::text::train::{TrainTextEvent, TrainTextOptions, evaluate, train_text};
use crate::acquire::text::{self, TextVa, emobank};
use crate::acquire::voice::VoicePipeline;
use crate::acquire::voice::wav2vec2::Wav2Vec2Va;
use crate::acquire::{FaceVaModel, TextVaModel, device};
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
    /// Dataset folder whose utterances get their missing text VA and features (from the
    /// transcript) and, with media, vision and audio VA and features (resumable: utterances
    /// that have VA are skipped).
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Leave vision alone.
    #[arg(long)]
    pub no_vision: bool,
    /// Leave audio alone.
    #[arg(long)]
    pub no_audio: bool,
    /// Leave text alone (otherwise every transcript gets text VA and token features).
    #[arg(long)]
    pub no_text: bool,
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
    /// Text VA model folder [default: models/text-va].
    #[arg(long)]
    pub text_model: Option<PathBuf>,
    /// Base folder of the text model [default: all-MiniLM-L6-v2 as fetched by `univa models fetch`].
    #[arg(long)]
    pub text_base: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Face VA (fer expression proxy for EmoFAN) and detection statistics of one clip.
    Face(FaceArgs),
    /// Voice VA (prosody baseline, or a wav2vec2 VA model) of one clip.
    Voice(VoiceArgs),
    /// Text VA of sentences (the trained text model over its BERT-architecture base).
    Text(TextArgs),
    /// Train a text VA model on EmoBank: frozen lower layers cached, top layers + head tuned.
    TrainText(TrainTextArgs),
    /// Pearson r of a text VA model on an EmoBank split.
    EvalText(EvalTextArgs),
    /// Combine text VA models trained over the same base into one ensemble model folder.
    EnsembleText(EnsembleTextArgs),
}

/// Where the text model and its base are.
#[derive(Debug, clap::Args)]
pub struct TextModelArgs {
    /// Text VA model folder (config.json + model.safetensors) [default: models/text-va].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Base model folder (Hugging Face config.json + model.safetensors + tokenizer.json)
    /// [default: all-MiniLM-L6-v2 as fetched by `univa models fetch`].
    #[arg(long)]
    pub base: Option<PathBuf>,
}

impl TextModelArgs {
    fn load(&self) -> anyhow::Result<TextVa> {
        let model = self.model.clone().unwrap_or_else(text::default_model_dir);
        let base = self.base.clone().unwrap_or_else(text::default_base_dir);
        TextVa::load(&model, &base, &device()).with_context(|| {
            format!(
                "cannot load the text VA model {} over {} (fetch the default base with `univa models fetch {}`)",
                model.display(),
                base.display(),
                text::BASE_FETCH_IDS
            )
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct TextArgs {
    /// Sentences to score.
    #[arg(required = true)]
    pub sentences: Vec<String>,
    #[command(flatten)]
    pub model: TextModelArgs,
    /// Print one JSON object per sentence instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TrainTextArgs {
    /// EmoBank CSV (id,split,V,A,D,text; official split column).
    #[arg(long)]
    pub emobank: PathBuf,
    /// Model folder to write (config.json, model.safetensors, training.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Base model folder [default: all-MiniLM-L6-v2 as fetched by `univa models fetch`].
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Top layers of the base to fine-tune.
    #[arg(long, default_value_t = TrainTextOptions::default().trained_layers)]
    pub layers: usize,
    #[arg(long, default_value_t = TrainTextOptions::default().epochs)]
    pub epochs: usize,
    #[arg(long, default_value_t = TrainTextOptions::default().batch_size)]
    pub batch_size: usize,
    /// Peak learning rate of the fine-tuned layers.
    #[arg(long, default_value_t = TrainTextOptions::default().lr_layers)]
    pub lr_layers: f64,
    /// Layer-wise rate decay: each fine-tuned layer learns at this factor times the rate of the
    /// layer above it (1: one rate for all).
    #[arg(long, default_value_t = TrainTextOptions::default().lr_layer_decay)]
    pub lr_layer_decay: f64,
    /// Peak learning rate of the head.
    #[arg(long, default_value_t = TrainTextOptions::default().lr_head)]
    pub lr_head: f64,
    #[arg(long, default_value_t = TrainTextOptions::default().seed)]
    pub seed: u64,
    /// Keep the fine-tuned layers in f32 (twice the size) instead of f16.
    #[arg(long)]
    pub f32_layers: bool,
    /// Train low-rank adapters of this rank over the top layers (0: fine-tune the layers themselves).
    #[arg(long, default_value_t = TrainTextOptions::default().lora_rank)]
    pub lora_rank: usize,
    /// Adapter scale numerator (updates are alpha / rank · B·A).
    #[arg(long, default_value_t = TrainTextOptions::default().lora_alpha)]
    pub lora_alpha: f64,
    /// Dropout rate inside the trained layers while training.
    #[arg(long, default_value_t = TrainTextOptions::default().dropout)]
    pub dropout: f32,
    /// Keep a moving average of the trained weights with this decay per step (step t uses at
    /// most (1 + t) / (10 + t)), scored beside them each epoch; the better of the two is kept
    /// (0: off).
    #[arg(long, default_value_t = TrainTextOptions::default().ema_decay)]
    pub ema: f64,
    /// Train on train + dev and keep the last epoch (its moving average with --ema): a final
    /// model once the recipe and epoch count are chosen on dev. Dev scores are then in-sample.
    #[arg(long)]
    pub refit: bool,
    /// Train on this fraction of the train split (a random subset drawn with the seed; one
    /// seed's subsets are nested): the points of a learning curve.
    #[arg(long, default_value_t = TrainTextOptions::default().train_fraction)]
    pub train_fraction: f64,
    /// Model id stored with every VA value the model produces.
    #[arg(long, default_value_t = TrainTextOptions::default().model_id)]
    pub model_id: String,
}

#[derive(Debug, clap::Args)]
pub struct EvalTextArgs {
    #[command(flatten)]
    pub model: TextModelArgs,
    /// EmoBank CSV (id,split,V,A,D,text).
    #[arg(long)]
    pub emobank: PathBuf,
    /// Split to score: train, dev or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Print {"pearson_v", "pearson_a", "n"} as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct EnsembleTextArgs {
    /// Model folders of the members (same base, trained layers and adapter layout); an ensemble
    /// folder contributes all its members.
    #[arg(required = true, num_args = 2..)]
    pub members: Vec<PathBuf>,
    /// Ensemble model folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Model id stored with every VA value the ensemble produces.
    #[arg(long)]
    pub model_id: String,
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
        Some(Command::Text(a)) => text_va(a),
        Some(Command::TrainText(a)) => train_text_cmd(a),
        Some(Command::EvalText(a)) => eval_text(a),
        Some(Command::EnsembleText(a)) => ensemble_text(a),
        None => match &args.fill.dataset {
            Some(dataset) => fill(dataset, &args.fill),
            None => anyhow::bail!(
                "give --dataset DIR, or a subcommand (face, voice, text, train-text, eval-text, ensemble-text); see `univa acquire --help`"
            ),
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
    let text_model = if args.no_text {
        None
    } else {
        Some(TextModelArgs { model: args.text_model.clone(), base: args.text_base.clone() }.load()?)
    };
    let options = FillOptions {
        vision: !args.no_vision,
        audio: !args.no_audio,
        text: !args.no_text,
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
    let summary = fill_dataset(
        dataset,
        &options,
        &make_face,
        &voice,
        text_model.as_ref().map(|m| m as &dyn TextVaModel),
        &stop,
        &mut progress,
    )
    .with_context(|| format!("acquisition into {} failed", dataset.display()))?;
    bar.finish_and_clear();
    for modality in [Modality::Text, Modality::Vision, Modality::Audio] {
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

fn text_va(args: &TextArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let texts: Vec<&str> = args.sentences.iter().map(String::as_str).collect();
    let predictions = model.predict(&texts).context("text VA failed")?;
    for (text, p) in texts.iter().zip(predictions) {
        if args.json {
            println!(
                "{}",
                json!({
                    "text": text,
                    "model": model.model_id(),
                    "valence": p.va.valence,
                    "arousal": p.va.arousal,
                    "dominance": p.dominance,
                    "tokens": p.tokens.len(),
                })
            );
        } else {
            println!("{:+.3} valence, {:+.3} arousal: {text}", p.va.valence, p.va.arousal);
        }
    }
    Ok(())
}

fn train_text_cmd(args: &TrainTextArgs) -> anyhow::Result<()> {
    let options = TrainTextOptions {
        trained_layers: args.layers,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr_layers: args.lr_layers,
        lr_layer_decay: args.lr_layer_decay,
        lr_head: args.lr_head,
        seed: args.seed,
        f16_layers: !args.f32_layers,
        lora_rank: args.lora_rank,
        lora_alpha: args.lora_alpha,
        dropout: args.dropout,
        ema_decay: args.ema,
        refit: args.refit,
        train_fraction: args.train_fraction,
        model_id: args.model_id.clone(),
        ..TrainTextOptions::default()
    };
    let base = args.base.clone().unwrap_or_else(text::default_base_dir);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut progress = |event: TrainTextEvent| match event {
        TrainTextEvent::Caching { done, total } => {
            bar.set_message("caching frozen layers");
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        TrainTextEvent::Step { epoch, step, steps, loss } => {
            bar.set_message(format!("epoch {epoch} loss {loss:.3}"));
            bar.set_length(steps as u64);
            bar.set_position(step as u64);
        }
        TrainTextEvent::Epoch(e) => bar.suspend(|| {
            let average = e
                .dev_average
                .map(|a| format!("; averaged weights r_V {:.4} r_A {:.4}", a.pearson_v, a.pearson_a))
                .unwrap_or_default();
            let dev = if args.refit { "dev (trained on)" } else { "dev" };
            eprintln!(
                "epoch {}: train loss {:.4}, {dev} r_V {:.4} r_A {:.4}{average} ({:.0} s)",
                e.epoch, e.train_loss, e.dev.pearson_v, e.dev.pearson_a, e.secs
            );
        }),
    };
    let report = train_text(&base, &args.emobank, &args.out, &options, &device(), &mut progress)
        .with_context(|| format!("training on {} failed", args.emobank.display()))?;
    bar.finish_and_clear();
    println!(
        "kept epoch {}{} of {}; frozen layers cached in {:.0} s; model in {}",
        report.best_epoch,
        if report.kept_average { " (averaged weights)" } else { "" },
        report.epochs.len(),
        report.cache_secs,
        args.out.display()
    );
    Ok(())
}

fn eval_text(args: &EvalTextArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let sentences = emobank::read(&args.emobank, Some(&args.split))?;
    let started = std::time::Instant::now();
    let scores = evaluate(&model, &sentences, 64).context("evaluation failed")?;
    if args.json {
        println!("{}", serde_json::to_string(&scores)?);
    } else {
        println!(
            "{} ({}): r_V {:.4}, r_A {:.4} on {} sentences ({:.1} sentences/s)",
            args.split,
            model.model_id(),
            scores.pearson_v,
            scores.pearson_a,
            scores.n,
            scores.n as f64 / started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn ensemble_text(args: &EnsembleTextArgs) -> anyhow::Result<()> {
    let config = text::ensemble::combine(&args.members, &args.out, &args.model_id)
        .with_context(|| format!("cannot write the ensemble {}", args.out.display()))?;
    println!("{} members as {} in {}", config.members, config.model_id, args.out.display());
    Ok(())
}
