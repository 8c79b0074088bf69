//! Importers: the public MMER formats converted into the native dataset format (DESIGN.md §3).
//!
//! - [`import_univa`]: the UniVA reference pickles (`final_feat/{A,V,T}/…`) plus
//!   `final_multi_labels.csv` (MOSEI) or `utt_annot.json` (M3ED);
//! - [`import_tailor`]: `train_valid_test.pt` of TAILOR / CARAT / HHMPN (aligned MOSEI);
//! - [`import_folder`]: a folder of clips and a CSV of labels.
//!
//! Pickles go through [`pickle`], a restricted unpickler: importing a dataset never executes
//! code, and a file that asks for anything but arrays, tensors and plain containers is refused.

mod folder;
mod matrix;
pub mod pickle;
mod tailor;
mod torch_archive;
mod univa_format;

pub use folder::{FolderOptions, MediaMode, import_folder, parse_labels};
pub use tailor::import_tailor;
pub use univa_format::{Corpus, UnivaOptions, import_univa};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dataset::{DatasetError, Split};

/// Why an import failed. Every message names the input file and, where known, the place in it.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },

    #[error("{}: {error}{}", path.display(), if *offset > 0 { format!(" (pickle starting at byte {offset})") } else { String::new() })]
    Pickle { path: PathBuf, offset: usize, error: pickle::PickleError },

    #[error("{}: {}{problem}", path.display(), location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
    Invalid { path: PathBuf, location: Option<String>, problem: String },

    /// Writing the native dataset failed (its message names the output file).
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

impl ImportError {
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), error }
    }

    pub fn pickle(path: &Path, offset: usize, error: pickle::PickleError) -> Self {
        Self::Pickle { path: path.to_path_buf(), offset, error }
    }

    pub fn invalid(path: &Path, location: Option<String>, problem: impl Into<String>) -> Self {
        Self::Invalid { path: path.to_path_buf(), location, problem: problem.into() }
    }
}

/// Refuses to write over an existing dataset.
fn check_out(out: &Path) -> Result<(), ImportError> {
    let manifest = out.join(crate::dataset::MANIFEST_FILE);
    if manifest.exists() {
        return Err(ImportError::invalid(&manifest, None, "already exists; import into a new folder"));
    }
    Ok(())
}

/// What an import wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportSummary {
    pub out: PathBuf,
    pub labels: Vec<String>,
    pub utterances: BTreeMap<Split, usize>,
    /// Feature values that were NaN or ±inf in the input and were written as 0
    /// (MOSEI's COVAREP audio has `-inf` frames; the reference code zeroes them too).
    pub zeroed_non_finite: usize,
}

impl ImportSummary {
    pub fn total(&self) -> usize {
        self.utterances.values().sum()
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let splits: Vec<String> = self.utterances.iter().map(|(s, n)| format!("{s} {n}")).collect();
        write!(
            f,
            "{}: {} utterances ({}), labels {}",
            self.out.display(),
            self.total(),
            splits.join(", "),
            self.labels.join(", ")
        )?;
        if self.zeroed_non_finite > 0 {
            write!(f, "; {} non-finite feature values written as 0", self.zeroed_non_finite)?;
        }
        Ok(())
    }
}

/// A linear map from a source VA scale onto the native [-1, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VaScale {
    pub low: f32,
    pub high: f32,
}

impl Default for VaScale {
    fn default() -> Self {
        Self { low: -1.0, high: 1.0 }
    }
}

impl VaScale {
    /// Maps `x` onto [-1, 1]; `None` if it lies outside the source scale (or is not finite).
    pub fn apply(self, x: f64) -> Option<f32> {
        let (low, high) = (f64::from(self.low), f64::from(self.high));
        if !x.is_finite() || x < low || x > high {
            return None;
        }
        Some(((x - low) / (high - low) * 2.0 - 1.0).clamp(-1.0, 1.0) as f32)
    }
}

impl std::str::FromStr for VaScale {
    type Err = String;

    /// `LOW:HIGH`, e.g. `1:5` for EmoBank's scale.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |x: &str| x.trim().parse::<f32>().ok().filter(|v| v.is_finite());
        match s.split_once(':').map(|(a, b)| (parse(a), parse(b))) {
            Some((Some(low), Some(high))) if low < high => Ok(Self { low, high }),
            _ => Err(format!("{s:?} is not a VA scale; expected LOW:HIGH with LOW < HIGH, e.g. -1:1 or 1:5")),
        }
    }
}
