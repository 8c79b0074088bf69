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

/// `univa` without arguments: the bundled demo (and its run, if present) or the welcome screen.
pub fn run_default() -> anyhow::Result<()> {
    let demo = demo_dir();
    let run = demo.as_ref().map(|d| d.join("run")).filter(|r| r.is_dir());
    run_gui(demo, run)
}

fn run_gui(dataset: Option<PathBuf>, run: Option<PathBuf>) -> anyhow::Result<()> {
    self::run(&Args { dataset, run })
}

/// `assets/demo` beside the executable, in the working directory, or in the source tree.
fn demo_dir() -> Option<PathBuf> {
    let beside_exe = std::env::current_exe().ok().and_then(|e| e.parent().map(|p| p.join("assets/demo")));
    [beside_exe, Some(PathBuf::from("assets/demo")), Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo"))]
        .into_iter()
        .flatten()
        .find(|p| p.is_dir())
}
