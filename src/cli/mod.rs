//! The `univa` command line: clap subcommands over the library.
//!
//! Each subcommand lives in its own file with an `Args` struct and a `run` function; this file
//! only lists them and dispatches.

mod acquire;
mod agreement;
mod audit;
mod bench_media;
mod bench_projection;
mod eval;
mod explain;
mod figure;
mod generate;
mod gui;
mod import;
mod jobs;
mod metrics;
mod models;
mod open;
mod play;
mod predict;
mod project;
mod runs;
mod synth;
mod train;
mod va_prior;
mod validate;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "univa",
    version,
    about = "UniVA Studio: multimodal multi-label emotion recognition with valence-arousal"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a synthetic dataset with planted structure.
    Synth(synth::Args),
    /// Train UniVA on a dataset.
    Train(train::Args),
    /// Evaluate a trained run on a split.
    Eval(eval::Args),
    /// Write per-utterance probabilities and predicted labels of a run.
    Predict(predict::Args),
    /// Why a run predicted what it did: attention over time and words, modality contributions, neighbours.
    Explain(explain::Args),
    /// Compute multi-label metrics from a gold and a prediction CSV.
    Metrics(metrics::Args),
    /// Check a dataset folder and print a summary.
    Validate(validate::Args),
    /// Inter-rater agreement of a ratings CSV: Krippendorff's alpha, ICCs, CCC, Pearson r.
    Agreement(agreement::Args),
    /// Open the workbench window on a dataset (and optionally a trained run).
    Gui(gui::Args),
    /// Convert a public MMER format (UniVA pickles, TAILOR .pt, clips + CSV) into a native dataset.
    Import(import::Args),
    /// Open a dataset folder in the workbench or a clip in the player (the bundled demo without a path).
    Open(open::Args),
    /// Play a clip in a minimal window, or decode it headless and print stream info and timing.
    Play(play::Args),
    /// Measure the media engine: decode speed vs ffmpeg, seek latency, A/V offset, memory.
    BenchMedia(bench_media::Args),
    /// Project a run's unimodal representations of a split to 2-D (UMAP or exact t-SNE) as CSV.
    Project(project::Args),
    /// Measure the embedding map: UMAP at 50,000 points, quality against exact t-SNE.
    BenchProjection(bench_projection::Args),
    /// VA and features of a clip from real face and voice models.
    Acquire(acquire::Args),
    /// Compare run folders: the ablation table, and other systems' predictions imported as runs.
    Runs(runs::Args),
    /// Print a dataset's labels and the VA emotion-correlation prior M (Eq. 8).
    VaPrior(va_prior::Args),
    /// Export audited VA (an overlay for `train --va-overlay`) and the audit event log.
    Audit(audit::Args),
    /// Publication figures (SVG, PDF, PNG at a DPI) and LaTeX tables; `figure paper` writes the set.
    Figure(figure::Args),
    /// List or fetch the third-party base models (into the user's cache).
    Models(models::Args),
    /// Training jobs without the window: submit (here, over SSH, on Slurm), list, cancel, follow.
    Jobs(jobs::Args),
    /// Write the man pages and shell completions (for packaging).
    #[command(hide = true)]
    Generate(generate::Args),
}

/// Runs one subcommand. `None` (no arguments) is handled by the binary.
pub fn run(command: Command) -> anyhow::Result<()> {
    // Only for the model-heavy batch commands: long-running media playback under these
    // thresholds kept its freed frame buffers and grew (see `runtime`).
    if matches!(
        command,
        Command::Train(_)
            | Command::Eval(_)
            | Command::Predict(_)
            | Command::Explain(_)
            | Command::Acquire(_)
            | Command::Runs(_)
            | Command::Project(_)
            | Command::Figure(_)
    ) {
        crate::runtime::tune_allocator_for_tensors();
    }
    if matches!(
        command,
        Command::Eval(_)
            | Command::Predict(_)
            | Command::Metrics(_)
            | Command::Validate(_)
            | Command::Agreement(_)
            | Command::Project(_)
            | Command::Runs(_)
            | Command::VaPrior(_)
            | Command::Audit(_)
            | Command::Models(_)
            | Command::Generate(_)
    ) || matches!(&command, Command::Jobs(jobs) if jobs.prints_only())
    {
        crate::runtime::end_quietly_on_closed_output();
    }
    match command {
        Command::Synth(args) => synth::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Metrics(args) => metrics::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Agreement(args) => agreement::run(&args),
        Command::Gui(args) => gui::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Open(args) => open::run(&args),
        Command::Play(args) => play::run(&args),
        Command::BenchMedia(args) => bench_media::run(&args),
        Command::Project(args) => project::run(&args),
        Command::BenchProjection(args) => bench_projection::run(&args),
        Command::Acquire(args) => acquire::run(&args),
        Command::Runs(args) => runs::run(&args),
        Command::VaPrior(args) => va_prior::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Figure(args) => figure::run(&args),
        Command::Models(args) => models::run(&args),
        Command::Jobs(args) => jobs::run(&args),
        Command::Generate(args) => generate::run(&args),
    }
}

/// An error and its causes as one line, `outer: cause: root`, leaving out a cause whose text
/// the line already holds (library errors often print their source in their own message).
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// `univa` with no arguments: the workbench on the bundled demo, or its welcome screen.
pub fn run_default() -> anyhow::Result<()> {
    gui::run_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Wrapped {
        path: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let error = anyhow::Error::new(Wrapped { path: "/tmp/manifest.toml", source: io });
        assert_eq!(error_line(&error), "/tmp/manifest.toml: No such file or directory (os error 2)");
        let error = error.context("opening the run");
        assert_eq!(error_line(&error), "opening the run: /tmp/manifest.toml: No such file or directory (os error 2)");
    }
}
