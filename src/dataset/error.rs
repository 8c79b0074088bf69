use std::path::{Path, PathBuf};

/// Why a dataset could not be read or written. The message names the file, the place in it
/// (row/field) where known, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: {}{problem}", path.display(), location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        /// Row and/or field, e.g. `row 12, field "labels"`.
        location: Option<String>,
        problem: String,
    },
}

impl DatasetError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub fn invalid(path: &Path, location: Option<String>, problem: impl Into<String>) -> Self {
        Self::Invalid { path: path.to_path_buf(), location, problem: problem.into() }
    }
}
