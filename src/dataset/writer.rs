//! Writing a native dataset (synthesis, importers, acquisition).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::table::Row;
use super::{DatasetError, FEATURES_DIR, MANIFEST_FILE, Manifest, Split, TABLE_FILE, Utterance, check_contained};
use crate::fsutil::write_atomic;
use crate::modality::Modality;

/// Frame-level features of one modality for one split, in the split's table order:
/// `features` is `[rows, max_len, dim]` row-major, `mask` is `[rows, max_len]` of 0/1.
#[derive(Clone, Debug, Default)]
pub struct SplitFeatures {
    pub features: Vec<f32>,
    pub mask: Vec<u8>,
}

/// Writes a dataset folder: manifest, table and per-split feature files, each atomically.
/// `DatasetWriter::new(folder, manifest)?.write(&utterances, &features)?` writes a whole dataset.
#[derive(Debug)]
pub struct DatasetWriter {
    root: PathBuf,
    manifest: Manifest,
}

impl DatasetWriter {
    /// Prepares `root` (created if missing). The manifest's split counts are filled in on write.
    pub fn new(root: impl AsRef<Path>, manifest: Manifest) -> Result<Self, DatasetError> {
        let root = root.as_ref().to_path_buf();
        manifest.validate(&root.join(MANIFEST_FILE))?;
        std::fs::create_dir_all(root.join(FEATURES_DIR)).map_err(|e| DatasetError::io(&root, e))?;
        Ok(Self { root, manifest })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes the table, the features of every split and, last, the manifest.
    /// `features[(split, modality)]` must exist for every split with utterances and every
    /// modality in the manifest's feature specs.
    pub fn write(
        &mut self,
        utterances: &[Utterance],
        features: &BTreeMap<(Split, Modality), SplitFeatures>,
    ) -> Result<(), DatasetError> {
        let table_path = self.root.join(TABLE_FILE);
        self.manifest.splits.clear();
        for u in utterances {
            *self.manifest.splits.entry(u.split).or_default() += 1;
            if let Some(media) = &u.media {
                check_contained(&media.path).map_err(|problem| {
                    DatasetError::invalid(
                        &table_path,
                        Some(format!("utterance {:?}, field \"media\"", u.id)),
                        format!("media path {problem}"),
                    )
                })?;
            }
        }
        for &split in self.manifest.splits.keys() {
            self.write_features(split, features)?;
        }
        let mut csv = csv::Writer::from_writer(Vec::new());
        for u in utterances {
            csv.serialize(Row::from_utterance(u, &self.manifest)).map_err(|e| {
                DatasetError::invalid(&table_path, Some(format!("utterance {:?}", u.id)), e.to_string())
            })?;
        }
        let bytes = csv.into_inner().map_err(|e| DatasetError::invalid(&table_path, None, e.to_string()))?;
        write_atomic(&table_path, &bytes).map_err(|e| DatasetError::io(&table_path, e))?;
        self.write_manifest()
    }

    /// Rewrites the manifest alone (e.g. after editing its description).
    pub fn write_manifest(&self) -> Result<(), DatasetError> {
        let path = self.root.join(MANIFEST_FILE);
        let text = self.manifest.to_toml().map_err(|e| DatasetError::invalid(&path, None, e.to_string()))?;
        write_atomic(&path, text.as_bytes()).map_err(|e| DatasetError::io(&path, e))
    }

    fn write_features(
        &self,
        split: Split,
        features: &BTreeMap<(Split, Modality), SplitFeatures>,
    ) -> Result<(), DatasetError> {
        if self.manifest.features.is_empty() {
            return Ok(());
        }
        let path = self.root.join(FEATURES_DIR).join(format!("{}.safetensors", split.name()));
        let rows = self.manifest.splits.get(&split).copied().unwrap_or(0);
        let mut tensors = Vec::new();
        for spec in &self.manifest.features {
            let name = spec.modality.name();
            let data = features.get(&(split, spec.modality)).ok_or_else(|| {
                DatasetError::invalid(
                    &path,
                    Some(format!("tensor {name:?}")),
                    "no features were given for this modality and split",
                )
            })?;
            let expected = rows * spec.max_len * spec.dim;
            if data.features.len() != expected || data.mask.len() != rows * spec.max_len {
                return Err(DatasetError::invalid(
                    &path,
                    Some(format!("tensor {name:?}")),
                    format!(
                        "got {} feature values and {} mask values; expected {rows}×{}×{} = {expected} and {rows}×{}",
                        data.features.len(),
                        data.mask.len(),
                        spec.max_len,
                        spec.dim,
                        spec.max_len
                    ),
                ));
            }
            let bytes: Vec<u8> = data.features.iter().flat_map(|x| x.to_le_bytes()).collect();
            tensors.push((name.to_owned(), safetensors::Dtype::F32, vec![rows, spec.max_len, spec.dim], bytes));
            tensors.push((format!("{name}_mask"), safetensors::Dtype::U8, vec![rows, spec.max_len], data.mask.clone()));
        }
        let views = tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).map(|view| (name.clone(), view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DatasetError::invalid(&path, None, e.to_string()))?;
        let bytes =
            safetensors::serialize(views, None).map_err(|e| DatasetError::invalid(&path, None, e.to_string()))?;
        write_atomic(&path, &bytes).map_err(|e| DatasetError::io(&path, e))
    }
}
