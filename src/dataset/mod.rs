//! The native dataset format (DESIGN.md §3): a folder a person can read.
//!
//! ```text
//! my-dataset/
//!   manifest.toml            labels (with their VA), feature shapes, split sizes, provenance
//!   utterances.csv           one row per utterance (see `table`)
//!   features/train.safetensors  per modality: `<modality>` f32 [N, L, D] and `<modality>_mask` u8 [N, L]
//!   features/valid.safetensors
//!   features/test.safetensors
//!   media/…                  clips, referenced by paths relative to the folder
//! ```
//!
//! Row `i` of a split's feature tensors belongs to the `i`-th utterance of that split in table
//! order. Loading validates everything and reports the first problem with file, row/field and
//! what was expected; it never executes anything found in the folder.

mod error;
mod features;
mod manifest;
mod overlay;
pub mod synth;
mod table;
mod writer;

pub use error::DatasetError;
pub use features::{FeatureSplit, ModalityRows};
pub use manifest::{FORMAT_NAME, FORMAT_VERSION, FeatureSpec, LabelSpec, Manifest};
pub use overlay::{OVERLAY_COLUMNS, OverlayRow, VaOverlay};
pub use table::{MediaRef, Utterance, Va};
pub use writer::{DatasetWriter, SplitFeatures};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const MANIFEST_FILE: &str = "manifest.toml";
pub const TABLE_FILE: &str = "utterances.csv";
pub const FEATURES_DIR: &str = "features";

/// A dataset split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Valid,
    Test,
}

impl Split {
    pub const ALL: [Self; 3] = [Self::Train, Self::Valid, Self::Test];

    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Valid => "valid",
            Self::Test => "test",
        }
    }

    /// Accepts the names used by the public formats too (`dev`, `val`, `validation`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "train" => Some(Self::Train),
            "valid" | "dev" | "val" | "validation" => Some(Self::Valid),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Split {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| format!("unknown split {s:?} (expected train, valid or test)"))
    }
}

/// A loaded, validated dataset. Features stay memory-mapped and are read per batch.
#[derive(Debug)]
pub struct Dataset {
    pub root: PathBuf,
    pub manifest: Manifest,
    pub utterances: Vec<Utterance>,
    features: Vec<(Split, FeatureSplit)>,
}

impl Dataset {
    /// Opens the dataset folder at `root` and validates everything, feature values included.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, DatasetError> {
        let dataset = Self::open_lazy(root)?;
        for (_, features) in &dataset.features {
            features.verify_values()?;
        }
        Ok(dataset)
    }

    /// Opens and validates the manifest, the table and the feature headers, but leaves feature
    /// values unread until a batch needs them, so a MOSEI-size dataset opens at once.
    pub fn open_lazy(root: impl AsRef<Path>) -> Result<Self, DatasetError> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(DatasetError::invalid(&root, None, "is not a dataset folder (no such directory)"));
        }
        let manifest_path = root.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            return Err(DatasetError::invalid(&root, None, format!("is not a dataset folder (no {MANIFEST_FILE})")));
        }
        let manifest = Manifest::load(&manifest_path)?;
        let utterances = table::load(&root, &manifest)?;
        let mut features = Vec::new();
        for split in Split::ALL {
            let expected_rows = utterances.iter().filter(|u| u.split == split).count();
            if expected_rows == 0 || manifest.features.is_empty() {
                continue;
            }
            let path = root.join(FEATURES_DIR).join(format!("{}.safetensors", split.name()));
            features.push((split, FeatureSplit::open(&path, &manifest.features, expected_rows)?));
        }
        Ok(Self { root, manifest, utterances, features })
    }

    pub fn label_names(&self) -> Vec<&str> {
        self.manifest.labels.iter().map(|l| l.name.as_str()).collect()
    }

    pub fn num_labels(&self) -> usize {
        self.manifest.labels.len()
    }

    /// Indices (into `utterances`) of the utterances of `split`, in table order; position `i`
    /// in the result is row `i` of that split's features.
    pub fn split_indices(&self, split: Split) -> Vec<usize> {
        (0..self.utterances.len()).filter(|&i| self.utterances[i].split == split).collect()
    }

    /// The memory-mapped features of `split`, if the dataset has features and that split rows.
    pub fn features(&self, split: Split) -> Option<&FeatureSplit> {
        self.features.iter().find(|(s, _)| *s == split).map(|(_, f)| f)
    }

    /// Absolute path of an utterance's media file.
    pub fn media_path(&self, utterance: &Utterance) -> Option<PathBuf> {
        utterance.media.as_ref().map(|m| self.root.join(&m.path))
    }
}

/// Checks that `relative` stays inside the dataset folder: relative, no `..`, no root or drive.
pub(crate) fn check_contained(relative: &Path) -> Result<(), String> {
    use std::path::Component;
    if relative.as_os_str().is_empty() {
        return Err("is empty".to_owned());
    }
    for component in relative.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "{:?} escapes the dataset folder ('..' is not allowed)",
                    relative.display().to_string()
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "{:?} escapes the dataset folder (paths must be relative to it)",
                    relative.display().to_string()
                ));
            }
        }
    }
    Ok(())
}
