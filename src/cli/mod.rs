//! The `univa` command line: clap subcommands over the library.
//!
//! Each subcommand lives in its own file with an `Args` struct and a `run` function; this file
//! only lists them and dispatches.

mod eval;
mod gui;
mod metrics;
mod predict;
mod synth;
mod train;
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
    /// Compute multi-label metrics from a gold and a prediction CSV.
    Metrics(metrics::Args),
    /// Check a dataset folder and print a summary.
    Validate(validate::Args),
    /// Open the workbench window on a dataset (and optionally a trained run).
    Gui(gui::Args),
}

/// Runs one subcommand. `None` (no arguments) is handled by the binary.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Synth(args) => synth::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Metrics(args) => metrics::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Gui(args) => gui::run(&args),
    }
}

/// `univa` with no arguments: the workbench on the bundled demo, or its welcome screen.
pub fn run_default() -> anyhow::Result<()> {
    gui::run_default()
}
