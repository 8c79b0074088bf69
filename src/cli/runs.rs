use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::dataset::{Dataset, Split};
use crate::runs::{self, AblationTable, Evaluator, ImportRequest, Run};
use crate::train;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// Print the ablation table of runs: the config fields that differ, Acc, subset Acc, HL, miF1, maF1.
    Table(TableArgs),
    /// Turn another system's per-utterance predictions (CSV) into a run folder shown beside ours.
    ImportPredictions(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct TableArgs {
    /// Run folders; a folder that is not a run stands for the finished runs found under it.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Dataset to evaluate every run on, instead of the one each run records (if it moved).
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print a JSON list of objects: `run`, the differing config fields and the five metrics.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The system's name (MulT, TAILOR, …), shown in tables and the case card.
    #[arg(long)]
    pub name: String,
    /// `id` + a `p_<label>` probability column per label, or a 0/1 column per label.
    #[arg(long)]
    pub csv: PathBuf,
    /// The dataset the ids belong to.
    #[arg(long)]
    pub dataset: PathBuf,
    /// Run folder to write; defaults to `imported/<name>` under the GUI's default runs folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A label is predicted when its probability exceeds this (0/1 columns are cut at 0.5).
    #[arg(long, default_value_t = 0.18)]
    pub threshold: f32,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        RunsCommand::Table(args) => table(args),
        RunsCommand::ImportPredictions(args) => import(args),
    }
}

/// The runs named on the command line, each with the name its row shows.
pub(super) fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, Run)>> {
    let mut runs = Vec::new();
    for path in paths {
        if path.join(runs::CONFIG_FILE).is_file() {
            runs.push((path.display().to_string(), Run::load(path)?));
            continue;
        }
        if !path.is_dir() {
            bail!("{}: is not a run folder (no such directory)", path.display());
        }
        let found = runs::discover(path);
        if found.is_empty() {
            bail!("{}: holds no run folders (none with a {})", path.display(), runs::CONFIG_FILE);
        }
        for dir in found {
            let run = Run::load(&dir)?;
            if run.is_finished() {
                runs.push((dir.display().to_string(), run));
            } else {
                eprintln!("univa: skipping {} ({})", dir.display(), run.status());
            }
        }
    }
    Ok(runs)
}

fn table(args: &TableArgs) -> anyhow::Result<()> {
    let runs = expand(&args.runs)?;
    let mut evaluator = Evaluator::new(train::select_device(&args.device)?);
    let mut rows = Vec::new();
    for (name, run) in &runs {
        if !run.is_finished() {
            eprintln!("univa: {name} is not finished ({}); its best checkpoint so far is used", run.status());
        }
        let dataset = run.dataset(args.dataset.as_deref())?;
        let metrics = evaluator.metrics(run, &dataset, args.split)?;
        rows.push((name.clone(), run.flat_config(), metrics));
    }
    let table = AblationTable::new(rows.iter().map(|(name, config, m)| (name.clone(), config, m.clone())).collect());
    if args.json {
        println!("{}", serde_json::to_string(&table.to_json())?);
    } else {
        print!("{}", table.to_plain());
    }
    Ok(())
}

/// A folder name from a system name: letters, digits, `-`, `_` and `.` kept, the rest `-`.
fn folder_name(name: &str) -> String {
    let slug: String = name
        .trim()
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .collect();
    if slug.trim_matches('.').is_empty() { "system".to_owned() } else { slug }
}

fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let dataset = Dataset::open_lazy(&args.dataset)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::ui::default_runs_dir().join("imported").join(folder_name(&args.name)));
    let request =
        ImportRequest { name: &args.name, csv: &args.csv, dataset: &dataset, out: &out, threshold: args.threshold };
    let coverage = runs::import_predictions(&request)?;
    let covered: Vec<String> = coverage.iter().map(|c| format!("{} {}/{}", c.split, c.covered, c.total)).collect();
    println!("imported {} as run {} (covers {})", args.name.trim(), out.display(), covered.join(", "));
    warn_partial(&out, &coverage);
    Ok(())
}

/// A split only partly covered cannot be scored; say so now rather than at `runs table`.
fn warn_partial(out: &Path, coverage: &[runs::Coverage]) {
    for c in coverage.iter().filter(|c| c.covered > 0 && c.covered < c.total) {
        eprintln!(
            "univa: {} covers {} of {} utterances of the {} split; its metrics there need all of them",
            out.display(),
            c.covered,
            c.total,
            c.split
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn folder_names_keep_safe_characters() {
        assert_eq!(super::folder_name(" MulT "), "MulT");
        assert_eq!(super::folder_name("Facial MMT/v2"), "Facial-MMT-v2");
        assert_eq!(super::folder_name(".."), "system");
    }
}
