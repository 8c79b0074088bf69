use std::path::PathBuf;

use anyhow::Context as _;

use crate::fsutil::write_atomic;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: super::eval::RunOnSplit,
    /// CSV to write: id, p_<label> per label, predicted (labels joined by ';').
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let super::eval::Evaluated { trained, dataset, evaluation, threshold } = args.target.evaluate()?;
    let names: Vec<&str> = trained.info.labels.iter().map(|l| l.name.as_str()).collect();
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_owned()];
    header.extend(names.iter().map(|n| format!("p_{n}")));
    header.push("predicted".to_owned());
    csv.write_record(&header)?;
    for (&index, probabilities) in evaluation.indices.iter().zip(&evaluation.probabilities) {
        let mut record = vec![dataset.utterances[index].id.clone()];
        record.extend(probabilities.iter().map(|p| format!("{p:.6}")));
        let predicted: Vec<&str> =
            probabilities.iter().zip(&names).filter(|(p, _)| **p > threshold).map(|(_, n)| *n).collect();
        record.push(predicted.join(";"));
        csv.write_record(&record)?;
    }
    let bytes = csv.into_inner().context("could not finish the CSV")?;
    write_atomic(&args.out, &bytes).with_context(|| format!("{}", args.out.display()))?;
    println!("wrote {} predictions to {}", evaluation.indices.len(), args.out.display());
    Ok(())
}
