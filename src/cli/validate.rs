use std::path::PathBuf;

use crate::dataset::{Dataset, Split};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset folder.
    pub dataset: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let dataset = Dataset::open(&args.dataset)?;
    let manifest = &dataset.manifest;
    println!("{}: {} utterances, labels {}", manifest.name, dataset.utterances.len(), dataset.label_names().join(", "));
    for split in Split::ALL {
        let n = dataset.split_indices(split).len();
        if n > 0 {
            println!("  {split}: {n}");
        }
    }
    for spec in &manifest.features {
        println!("  features {}: {}×{}", spec.modality, spec.max_len, spec.dim);
    }
    let problems = crate::train::training_problems(&dataset);
    if !problems.is_empty() {
        anyhow::bail!(
            "{}: a dataset, but training would refuse it: {} (evaluation and the workbench can use it)",
            args.dataset.display(),
            problems.join("; ")
        );
    }
    Ok(())
}
