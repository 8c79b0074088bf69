use std::path::{Path, PathBuf};

/// Why a clip's VA or features could not be computed. Every message names the file (media,
/// weights or config) and the problem, so a per-utterance failure can be reported as it is.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("{path}: cannot decode media: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("{path}: has no {kind} stream")]
    NoStream { path: PathBuf, kind: &'static str },
    #[error("{path}: no face found in any of the {frames} sampled frames")]
    NoFace { path: PathBuf, frames: usize },
    #[error("{path}: audio is silent or shorter than {min_secs} s of signal")]
    Silent { path: PathBuf, min_secs: f32 },
    #[error("{path}: cannot load model: {message}")]
    Model { path: PathBuf, message: String },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Data { path: PathBuf, line: u64, message: String },
    #[error("{what}: {message}")]
    Compute { what: String, message: String },
}

impl AcquireError {
    pub(crate) fn decode(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::Decode { path: path.to_path_buf(), message: message.to_string() }
    }

    pub(crate) fn model(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::Model { path: path.to_path_buf(), message: message.to_string() }
    }

    pub(crate) fn compute(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Compute { what: what.into(), message: message.to_string() }
    }
}
