//! `univa open [PATH]`: what the desktop entry runs (`packaging/univa-studio.desktop`). No
//! path: the bundled demo, as plain `univa`; a folder: the workbench on it (a folder that is not
//! a dataset shows the workbench's own error); a file: the clip in the player window.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A dataset folder or a clip.
    pub path: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.path {
        None => super::gui::run_default(),
        Some(path) if path.is_file() => super::play::run(&super::play::Args::window(path.clone())),
        Some(path) => super::gui::run(&super::gui::Args { dataset: Some(path.clone()), run: None }),
    }
}
