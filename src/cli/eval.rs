use std::path::PathBuf;

use crate::dataset::{Dataset, Split};
use crate::train::{self, Evaluation, TrainedModel};

/// A trained run applied to one split of a dataset (shared by `eval` and `predict`).
#[derive(Debug, clap::Args)]
pub struct RunOnSplit {
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
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// What evaluating a run on a split gives the subcommands.
pub struct Evaluated {
    pub trained: TrainedModel,
    pub dataset: Dataset,
    pub evaluation: Evaluation,
    pub threshold: f32,
}

impl RunOnSplit {
    pub fn evaluate(&self) -> anyhow::Result<Evaluated> {
        let device = train::select_device(&self.device)?;
        let trained = train::load_run(&self.run, &device)?;
        let dataset = Dataset::open(&self.dataset)?;
        let threshold = self.threshold.unwrap_or(trained.info.config.train.threshold);
        let evaluation = train::evaluate(&trained, &dataset, self.split, threshold)?;
        Ok(Evaluated { trained, dataset, evaluation, threshold })
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: RunOnSplit,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let evaluated = args.target.evaluate()?;
    super::metrics::print_metrics(&evaluated.evaluation.metrics, args.json)
}
