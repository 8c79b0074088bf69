use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::metrics::{self, Metrics};

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

/// A label file: label names in column order and each id's row of values.
struct LabelFile {
    labels: Vec<String>,
    rows: HashMap<String, Vec<f32>>,
    order: Vec<String>,
    probabilities: bool,
}

fn read_label_file(path: &Path) -> anyhow::Result<LabelFile> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("{}", path.display()))?;
    let header = reader.headers().with_context(|| format!("{}", path.display()))?.clone();
    if header.get(0) != Some("id") {
        bail!("{}: the first column must be `id`", path.display());
    }
    let columns: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, name)| *name != "predicted")
        .map(|(i, name)| (i, name.to_owned()))
        .collect();
    let probabilities = !columns.is_empty() && columns.iter().all(|(_, name)| name.starts_with("p_"));
    let labels: Vec<String> = columns
        .iter()
        .map(|(_, name)| name.strip_prefix("p_").filter(|_| probabilities).unwrap_or(name).to_owned())
        .collect();
    let mut rows = HashMap::new();
    let mut order = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}", path.display()))?;
        let id = record.get(0).unwrap_or_default().to_owned();
        let values = columns
            .iter()
            .map(|(i, name)| {
                let cell = record.get(*i).unwrap_or_default().trim();
                cell.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    anyhow::anyhow!("{}: row {}, column {name:?}: {cell:?} is not a number", path.display(), line + 2)
                })
            })
            .collect::<anyhow::Result<Vec<f32>>>()?;
        if rows.insert(id.clone(), values).is_some() {
            bail!("{}: row {}: id {id:?} appears twice", path.display(), line + 2);
        }
        order.push(id);
    }
    Ok(LabelFile { labels, rows, order, probabilities })
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let gold = read_label_file(&args.gold)?;
    let pred = read_label_file(&args.pred)?;
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
