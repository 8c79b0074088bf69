//! Memory-mapped frame-level features of one split (`features/<split>.safetensors`).

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use super::{DatasetError, FeatureSpec};
use crate::modality::Modality;

/// One split's features, memory-mapped: opening is instant whatever the size, and a batch
/// copies out only the rows it needs.
pub struct FeatureSplit {
    path: PathBuf,
    bytes: memmap2::Mmap,
    rows: usize,
    /// Per modality present: the spec and byte ranges of the feature and mask tensors in `bytes`.
    tensors: Vec<(FeatureSpec, std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl std::fmt::Debug for FeatureSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureSplit").field("path", &self.path).field("rows", &self.rows).finish_non_exhaustive()
    }
}

/// Rows of one modality copied out of the map: `features` is `[rows, max_len, dim]`, `mask`
/// is `[rows, max_len]` with 1.0 for real steps and 0.0 for padding.
#[derive(Clone, Debug, PartialEq)]
pub struct ModalityRows {
    pub spec: FeatureSpec,
    pub rows: usize,
    pub features: Vec<f32>,
    pub mask: Vec<f32>,
}

/// Maps `path` read-only. One of the crate's few audited uses of `unsafe` (STYLE.md 11;
/// ARCHITECTURE.md lists them).
#[allow(unsafe_code)]
fn map_file(path: &Path) -> Result<memmap2::Mmap, DatasetError> {
    if path.is_dir() {
        return Err(DatasetError::invalid(
            path,
            None,
            "is a folder; expected a safetensors file of features".to_owned(),
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    // SAFETY: the map is read-only and private to this process. If another program truncates
    // the file while it is mapped, reads may fault; the dataset folder is ours while open and
    // the app writes features only through atomic renames, which never touch a mapped inode.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| DatasetError::io(path, e))
}

impl FeatureSplit {
    /// Maps the file and checks every tensor named by `specs` against its expected dtype and shape.
    pub fn open(path: &Path, specs: &[FeatureSpec], expected_rows: usize) -> Result<Self, DatasetError> {
        let bytes = map_file(path)?;
        let tensors = {
            let st = SafeTensors::deserialize(&bytes)
                .map_err(|e| DatasetError::invalid(path, None, format!("not a readable safetensors file: {e}")))?;
            let base = bytes.as_ptr() as usize;
            let mut tensors = Vec::new();
            for spec in specs {
                let name = spec.modality.name();
                let mask_name = format!("{name}_mask");
                let feature_view = st.tensor(name).map_err(|_| {
                    DatasetError::invalid(
                        path,
                        Some(format!("tensor {name:?}")),
                        "is missing; the manifest lists features for this modality",
                    )
                })?;
                let mask_view = st.tensor(&mask_name).map_err(|_| {
                    DatasetError::invalid(
                        path,
                        Some(format!("tensor {mask_name:?}")),
                        "is missing; every feature tensor needs its mask",
                    )
                })?;
                let check =
                    |tensor: &str, view: &safetensors::tensor::TensorView<'_>, dtype: Dtype, shape: &[usize]| {
                        if view.dtype() != dtype || view.shape() != shape {
                            return Err(DatasetError::invalid(
                                path,
                                Some(format!("tensor {tensor:?}")),
                                format!("has {:?} {:?}; expected {dtype:?} {shape:?}", view.dtype(), view.shape()),
                            ));
                        }
                        Ok(())
                    };
                check(name, &feature_view, Dtype::F32, &[expected_rows, spec.max_len, spec.dim])?;
                check(&mask_name, &mask_view, Dtype::U8, &[expected_rows, spec.max_len])?;
                let range = |view: &safetensors::tensor::TensorView<'_>| {
                    let start = view.data().as_ptr() as usize - base;
                    start..start + view.data().len()
                };
                tensors.push((*spec, range(&feature_view), range(&mask_view)));
            }
            tensors
        };
        Ok(Self { path: path.to_path_buf(), bytes, rows: expected_rows, tensors })
    }

    /// Rejects NaN/inf features and masks other than 0/1, naming the first bad row. Reads the
    /// whole file, so the GUI skips it when opening (see [`super::Dataset::open_lazy`]).
    pub fn verify_values(&self) -> Result<(), DatasetError> {
        for (spec, features, mask) in &self.tensors {
            let name = spec.modality.name();
            let row_bytes = spec.max_len * spec.dim * 4;
            for (row, chunk) in self.bytes[features.clone()].chunks_exact(row_bytes).enumerate() {
                if chunk.chunks_exact(4).any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()) {
                    return Err(DatasetError::invalid(
                        &self.path,
                        Some(format!("tensor {name:?}, row {row}")),
                        "holds NaN or infinite values",
                    ));
                }
            }
            if let Some(pos) = self.bytes[mask.clone()].iter().position(|&m| m > 1) {
                return Err(DatasetError::invalid(
                    &self.path,
                    Some(format!("tensor \"{name}_mask\", row {}", pos / spec.max_len)),
                    format!("holds {}; masks are 0 or 1", self.bytes[mask.start + pos]),
                ));
            }
        }
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn modalities(&self) -> impl Iterator<Item = Modality> + '_ {
        self.tensors.iter().map(|(spec, _, _)| spec.modality)
    }

    /// Copies the given rows (positions within this split) of one modality.
    /// Returns `None` if the modality has no features; rows past the end are skipped.
    pub fn gather(&self, modality: Modality, rows: &[usize]) -> Option<ModalityRows> {
        let (spec, features, mask) = self.tensors.iter().find(|(s, _, _)| s.modality == modality)?;
        let row_floats = spec.max_len * spec.dim;
        let mut out = ModalityRows {
            spec: *spec,
            rows: 0,
            features: Vec::with_capacity(rows.len() * row_floats),
            mask: Vec::with_capacity(rows.len() * spec.max_len),
        };
        for &row in rows.iter().filter(|&&r| r < self.rows) {
            let start = features.start + row * row_floats * 4;
            let bytes = &self.bytes[start..start + row_floats * 4];
            out.features.extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            let start = mask.start + row * spec.max_len;
            out.mask.extend(self.bytes[start..start + spec.max_len].iter().map(|&m| f32::from(m)));
            out.rows += 1;
        }
        Some(out)
    }
}
