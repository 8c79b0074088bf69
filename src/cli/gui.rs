use std::path::PathBuf;

use crate::{bundle, ui};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Dataset folder to open; without it, the welcome screen.
    pub dataset: Option<PathBuf>,
    /// Trained run folder whose predictions to show.
    #[arg(long)]
    pub run: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let launch = ui::Launch { dataset: args.dataset.clone(), run: args.run.clone() };
    ui::run(launch).map_err(|e| anyhow::anyhow!("the window could not be opened: {e}"))
}

/// `univa` without arguments: the bundled demo with its trained model (`models/demo`, if
/// present) or the welcome screen.
pub fn run_default() -> anyhow::Result<()> {
    run_gui(bundle::find("assets/demo"), bundle::find("models/demo"))
}

fn run_gui(dataset: Option<PathBuf>, run: Option<PathBuf>) -> anyhow::Result<()> {
    self::run(&Args { dataset, run })
}
