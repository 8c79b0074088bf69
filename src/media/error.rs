use std::path::{Path, PathBuf};

/// Why a clip could not be opened, probed or decoded. Every message starts with the file, then
/// says what was wrong with it, so a user can tell which clip to fix or replace.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    // Causes are part of the message (not `#[source]`), so a printed chain does not repeat them.
    #[error("{}: cannot read the file: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },

    #[error("{}: the file is empty (0 bytes)", path.display())]
    Empty { path: PathBuf },

    #[error("{}: not a media file ffmpeg can read ({cause}); is it a complete video or audio clip?", path.display())]
    Unreadable { path: PathBuf, cause: ffmpeg_next::Error },

    #[error("{}: has no {kind} stream", path.display())]
    MissingStream { path: PathBuf, kind: StreamKind },

    #[error("{}: the {kind} codec {codec:?} is not supported by this ffmpeg build ({detail})", path.display())]
    UnsupportedCodec { path: PathBuf, kind: StreamKind, codec: String, detail: String },

    #[error("{}: {kind} stream could not be decoded: {detail}", path.display())]
    Corrupt { path: PathBuf, kind: StreamKind, detail: String },

    #[error("{}: invalid time span {start_secs:.3}s..{end_secs:.3}s: {problem}", path.display())]
    InvalidSpan { path: PathBuf, start_secs: f64, end_secs: f64, problem: String },

    #[error("{}: could not start the {role} thread: {cause}", path.display())]
    Thread { path: PathBuf, role: &'static str, cause: std::io::Error },

    #[error("{}: the {role} thread stopped unexpectedly", path.display())]
    WorkerGone { path: PathBuf, role: &'static str },

    #[error("{}: the {role} has too many requests waiting; try again", path.display())]
    Busy { path: PathBuf, role: &'static str },

    #[error("{}: timed out after {waited_secs:.1}s waiting for the {what}", path.display())]
    Timeout { path: PathBuf, what: &'static str, waited_secs: f64 },

    #[error("{}: ffmpeg CLI failed to {what}: {detail}", path.display())]
    Tool { path: PathBuf, what: &'static str, detail: String },
}

/// The two stream kinds the engine plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Video,
    Audio,
}

impl std::fmt::Display for StreamKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Video => "video",
            Self::Audio => "audio",
        })
    }
}

impl MediaError {
    pub(crate) fn corrupt(path: &Path, kind: StreamKind, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt { path: path.to_path_buf(), kind, detail: detail.to_string() }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::Empty { path }
            | Self::Unreadable { path, .. }
            | Self::MissingStream { path, .. }
            | Self::UnsupportedCodec { path, .. }
            | Self::Corrupt { path, .. }
            | Self::InvalidSpan { path, .. }
            | Self::Thread { path, .. }
            | Self::WorkerGone { path, .. }
            | Self::Busy { path, .. }
            | Self::Timeout { path, .. }
            | Self::Tool { path, .. } => path,
        }
    }
}
