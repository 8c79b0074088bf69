use std::path::{Path, PathBuf};

use crate::ui;

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
    let root = bundle_root();
    let demo = root.as_ref().map(|r| r.join("assets/demo"));
    let run = root.map(|r| r.join("models/demo")).filter(|r| r.is_dir());
    run_gui(demo, run)
}

fn run_gui(dataset: Option<PathBuf>, run: Option<PathBuf>) -> anyhow::Result<()> {
    self::run(&Args { dataset, run })
}

/// The folder holding `assets/demo` (and `models/demo`): beside the executable, the working
/// directory, or the source tree.
fn bundle_root() -> Option<PathBuf> {
    let beside_exe = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    [beside_exe, Some(PathBuf::from(".")), Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")))]
        .into_iter()
        .flatten()
        .find(|root| root.join("assets/demo").is_dir())
}
