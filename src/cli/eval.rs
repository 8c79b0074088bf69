use std::path::PathBuf;

use crate::dataset::{Dataset, Split};
use crate::train;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run folder written by `univa train`.
    #[arg(long)]
    pub run: PathBuf,
    #[arg(long)]
    pub dataset: PathBuf,
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Decision threshold ζ; defaults to the run's.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let device = train::select_device(&args.device)?;
    let trained = train::load_run(&args.run, &device)?;
    let dataset = Dataset::open(&args.dataset)?;
    let threshold = args.threshold.unwrap_or(trained.info.config.train.threshold);
    let evaluation = train::evaluate(&trained, &dataset, args.split, threshold)?;
    super::metrics::print_metrics(&evaluation.metrics, args.json)
}

