use std::path::PathBuf;

use serde::Serialize;

use crate::dataset::Dataset;
use crate::va::{self, PriorRule};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub dataset: PathBuf,
    /// How label VA is scaled before the cosines: the reference code's min-max over the label
    /// set, or the centred 2x − 1 of runs trained before it (`[model] prior_rule`).
    #[arg(long, value_enum, default_value_t = PriorRule::default())]
    pub rule: PriorRule,
    /// Print `{"labels": [...], "matrix": [[...]]}` instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Prior<'a> {
    labels: Vec<&'a str>,
    matrix: Vec<Vec<f32>>,
}

/// Prints the labels and the prior M that training initialises from (and the Correlation tab shows).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let dataset = Dataset::open_lazy(&args.dataset)?;
    let matrix = va::prior_matrix(&dataset.manifest.labels, args.rule)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.dataset.join("manifest.toml").display()))?;
    let prior = Prior { labels: dataset.label_names(), matrix };
    if args.json {
        println!("{}", serde_json::to_string(&prior)?);
        return Ok(());
    }
    let width = prior.labels.iter().map(|l| l.len()).max().unwrap_or(0).max(7);
    print!("{:width$}", "");
    for label in &prior.labels {
        print!(" {label:>width$}");
    }
    println!();
    for (label, row) in prior.labels.iter().zip(&prior.matrix) {
        print!("{label:width$}");
        for value in row {
            print!(" {value:>width$.4}");
        }
        println!();
    }
    Ok(())
}
