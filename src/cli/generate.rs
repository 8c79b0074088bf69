//! `univa generate` (hidden): the man pages and shell completions a package installs, written
//! from the clap definitions so they never drift from the binary (`packaging/build-deb.sh`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the man pages (`univa.1` and one `univa-<subcommand>.1` each).
    #[arg(long, value_name = "DIR")]
    pub man: Option<PathBuf>,
    /// Folder for the bash, zsh and fish completions (`univa.bash`, `_univa`, `univa.fish`).
    #[arg(long, value_name = "DIR")]
    pub completions: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.man.is_none() && args.completions.is_none() {
        anyhow::bail!("nothing to generate: give --man DIR and/or --completions DIR");
    }
    if let Some(dir) = &args.man {
        create(dir)?;
        clap_mangen::generate_to(super::Cli::command(), dir)
            .with_context(|| format!("{}: writing the man pages", dir.display()))?;
        println!("man pages in {}", dir.display());
    }
    if let Some(dir) = &args.completions {
        create(dir)?;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let path = clap_complete::generate_to(shell, &mut super::Cli::command(), "univa", dir)
                .with_context(|| format!("{}: writing the {shell} completions", dir.display()))?;
            println!("{shell} completions: {}", path.display());
        }
    }
    Ok(())
}

fn create(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: creating the folder", dir.display()))
}
