use std::path::PathBuf;
use std::time::Instant;

use crate::import::{self, Corpus, FolderOptions, MediaMode, UnivaOptions, VaScale};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
pub enum Format {
    /// UniVA reference pickles (`final_feat/{A,V,T}/…`) plus `final_multi_labels.csv` or `utt_annot.json`.
    Univa {
        /// Folder holding `final_feat/` and the label file.
        #[arg(long)]
        root: PathBuf,
        /// MOSEI or M3ED.
        #[arg(long)]
        name: Corpus,
        /// New dataset folder.
        #[arg(long)]
        out: PathBuf,
        /// Scale of the VA values in the pickles, mapped onto [-1, 1].
        #[arg(long, default_value = "-1:1")]
        va_scale: VaScale,
    },
    /// TAILOR / CARAT / HHMPN aligned MOSEI (`train_valid_test.pt`).
    Tailor {
        #[arg(long)]
        pt: PathBuf,
        /// New dataset folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Clips plus a CSV (id, media, start, end, text, labels).
    Folder {
        #[arg(long)]
        csv: PathBuf,
        /// New dataset folder (for `--media reference`, a folder that holds the clips).
        #[arg(long)]
        out: PathBuf,
        /// Copy clips into the dataset or reference them where they are.
        #[arg(long, value_enum, default_value_t = MediaArg::Copy)]
        media: MediaArg,
        /// Labels in model order, e.g. `happy,sad,bored=0.3:0.2` (VA on NRC-VAD's [0, 1]).
        #[arg(long)]
        labels: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum MediaArg {
    Copy,
    Reference,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let out = match &args.format {
        Format::Univa { out, .. } | Format::Tailor { out, .. } | Format::Folder { out, .. } => out,
    };
    // A failed import leaves nothing behind in a folder it created.
    let out_existed = out.exists();
    let started = Instant::now();
    let result = match &args.format {
        Format::Univa { root, name, out, va_scale } => import::import_univa(&UnivaOptions {
            root: root.clone(),
            corpus: *name,
            out: out.clone(),
            va_scale: *va_scale,
        }),
        Format::Tailor { pt, out } => import::import_tailor(pt, out),
        Format::Folder { csv, out, media, labels } => {
            let labels = labels
                .as_deref()
                .map(import::parse_labels)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--labels: {e}"))?;
            let media = match media {
                MediaArg::Copy => MediaMode::Copy,
                MediaArg::Reference => MediaMode::Reference,
            };
            import::import_folder(&FolderOptions { csv: csv.clone(), out: out.clone(), media, labels })
        }
    };
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            if !out_existed {
                std::fs::remove_dir_all(out).ok();
            }
            // One line on stderr, whatever the input held.
            anyhow::bail!("import failed: {}", e.to_string().replace(['\n', '\r'], " "));
        }
    };
    let secs = started.elapsed().as_secs_f64();
    println!("imported {summary} in {secs:.2} s ({:.0} utterances/s)", summary.total() as f64 / secs.max(1e-9));
    Ok(())
}
