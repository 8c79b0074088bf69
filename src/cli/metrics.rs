use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::metrics::{self, Metrics, label_file};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Gold labels: a CSV with `id` and one 0/1 column per label.
    #[arg(long)]
    pub gold: PathBuf,
    /// Predictions: the same layout, or `univa predict` output (`p_<label>` probability columns).
    #[arg(long)]
    pub pred: PathBuf,
    /// Threshold applied to probability columns (`p_<label>`).
    #[arg(long, default_value_t = 0.18)]
    pub threshold: f32,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let gold = label_file::read(&args.gold)?;
    let pred = label_file::read(&args.pred)?;
    if gold.labels != pred.labels {
        bail!(
            "{}: labels {} differ from the gold file's {}",
            args.pred.display(),
            pred.labels.join(", "),
            gold.labels.join(", ")
        );
    }
    let cut = if pred.probabilities { args.threshold } else { 0.5 };
    let mut gold_rows = Vec::new();
    let mut pred_rows = Vec::new();
    for id in &gold.order {
        let Some(p) = pred.rows.get(id) else {
            bail!("{}: no prediction for id {id:?}", args.pred.display());
        };
        gold_rows.push(gold.rows[id].iter().map(|&v| v > 0.5).collect());
        pred_rows.push(p.iter().map(|&v| v > cut).collect());
    }
    let m =
        metrics::compute(&gold_rows, &pred_rows, &gold.labels).with_context(|| format!("{}", args.gold.display()))?;
    print_metrics(&m, args.json)
}

/// Prints metrics as one JSON object (`--json`) or as a readable table.
pub fn print_metrics(metrics: &Metrics, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(metrics)?);
        return Ok(());
    }
    println!(
        "Acc {:.4}  subset Acc {:.4}  HL {:.4}  miF1 {:.4}  maF1 {:.4}",
        metrics.acc, metrics.subset_acc, metrics.hamming_loss, metrics.micro_f1, metrics.macro_f1
    );
    println!("{:<12} {:>9} {:>9} {:>9} {:>8}", "label", "precision", "recall", "F1", "support");
    for l in &metrics.per_label {
        println!("{:<12} {:>9.4} {:>9.4} {:>9.4} {:>8}", l.label, l.precision, l.recall, l.f1, l.support);
    }
    Ok(())
}
