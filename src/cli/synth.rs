use std::path::PathBuf;

use crate::dataset::LabelSpec;
use crate::dataset::synth::{SynthConfig, write_synthetic};
use crate::modality::{Modality, PerModality};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of utterances.
    #[arg(long, short = 'n', default_value_t = 3000)]
    pub utterances: usize,
    #[arg(long, default_value_t = 1111)]
    pub seed: u64,
    /// Comma-separated labels; each must be a known emotion (happy, sad, anger, surprise, disgust, fear, neutral).
    #[arg(long, value_delimiter = ',', default_value = "happy,sad,anger,surprise,disgust,fear")]
    pub labels: Vec<String>,
    /// Sequence length and feature dim of text, as LxD.
    #[arg(long, default_value = "50x300", value_parser = parse_shape)]
    pub text: (usize, usize),
    #[arg(long, default_value = "50x35", value_parser = parse_shape)]
    pub vision: (usize, usize),
    #[arg(long, default_value = "50x74", value_parser = parse_shape)]
    pub audio: (usize, usize),
    /// Comma-separated modalities whose features carry the labels; the others get noise alone.
    #[arg(long, value_delimiter = ',', default_value = "text,vision,audio", value_parser = parse_modality)]
    pub signal_in: Vec<Modality>,
}

fn parse_shape(s: &str) -> Result<(usize, usize), String> {
    let (l, d) = s.split_once(['x', 'X', '×']).ok_or_else(|| format!("{s:?} is not LxD, e.g. 50x300"))?;
    let parse = |x: &str| x.trim().parse::<usize>().ok().filter(|&n| n > 0);
    match (parse(l), parse(d)) {
        (Some(l), Some(d)) => Ok((l, d)),
        _ => Err(format!("{s:?} is not LxD with positive numbers, e.g. 50x300")),
    }
}

/// A modality by its name (text, vision, audio).
pub fn parse_modality(s: &str) -> Result<Modality, String> {
    Modality::from_name(s.trim()).ok_or_else(|| format!("{s:?} is not a modality; expected text, vision or audio"))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let labels = args
        .labels
        .iter()
        .map(|name| {
            LabelSpec::known(name.trim()).ok_or_else(|| {
                anyhow::anyhow!("unknown label {name:?}; known: happy, sad, anger, surprise, disgust, fear, neutral")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = SynthConfig {
        utterances: args.utterances,
        seed: args.seed,
        labels,
        shapes: PerModality { text: args.text, vision: args.vision, audio: args.audio },
        signal: PerModality::from_fn(|m| args.signal_in.contains(&m)),
        ..SynthConfig::default()
    };
    let utterances = write_synthetic(&args.out, &config)?;
    println!("wrote {} synthetic utterances to {}", utterances.len(), args.out.display());
    Ok(())
}
