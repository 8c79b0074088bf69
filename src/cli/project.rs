//! `univa project`: a run's unimodal representations of a split projected to 2-D (the map of
//! the Embedding tab, paper Fig. 3), written as CSV so figures can be made outside the app.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::dataset::{Dataset, Split};
use crate::fsutil::write_atomic;
use crate::projection::{self, EmbeddingRequest, Method, Stage};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum MethodArg {
    /// UMAP (approximate neighbours): whole splits in seconds.
    Umap,
    /// Exact t-SNE, the reference: at most 2,500 points.
    Tsne,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run folder written by `univa train`.
    #[arg(long)]
    pub run: PathBuf,
    #[arg(long)]
    pub dataset: PathBuf,
    #[arg(long, default_value = "train")]
    pub split: Split,
    #[arg(long, value_enum, default_value = "umap")]
    pub method: MethodArg,
    /// Points at most (utterances × modalities), a seeded sample of the split; default: all.
    #[arg(long)]
    pub max_points: Option<usize>,
    /// Seeds the sample and the projection: the same seed gives the same map.
    #[arg(long, default_value_t = 1111)]
    pub seed: u64,
    /// CSV to write: id, modality, x, y (one row per utterance and modality).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let trained = projection::load_run(&args.run)?;
    let dataset = Dataset::open(&args.dataset)?;
    let method = match args.method {
        MethodArg::Umap => Method::Umap,
        MethodArg::Tsne => Method::Tsne,
    };
    let request = EmbeddingRequest {
        method,
        split: Some(args.split),
        max_points: args.max_points,
        seed: args.seed,
        ..EmbeddingRequest::default()
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let points = projection::embed(&trained, &dataset, &request, &mut |step| {
        bar.set_message(match step.stage {
            Stage::Encoding => "encoding".to_owned(),
            Stage::Neighbours => "neighbours (‰)".to_owned(),
            Stage::Projecting => format!("{} iterations", method.name()),
        });
        bar.set_length(step.total as u64);
        bar.set_position(step.done as u64);
        true
    })
    .with_context(|| format!("could not map run {} on {}", args.run.display(), args.dataset.display()))?;
    bar.finish_and_clear();
    let bytes = projection::map_csv(&points, &dataset).context("could not write the CSV")?;
    write_atomic(&args.out, &bytes).with_context(|| format!("{}", args.out.display()))?;
    println!(
        "wrote {} points ({} map of the {} split) to {}",
        points.len(),
        method.name(),
        args.split.name(),
        args.out.display()
    );
    Ok(())
}
