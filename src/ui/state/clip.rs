//! File → "Predict on a clip…": a clip of one's own, its transcript (read from a `.txt` or
//! `.srt` beside it, or typed), acquired on the worker like the run's training dataset into a
//! scratch dataset, then opened with the run like any utterance (`univa explain --clip`'s
//! pipeline).

use std::path::PathBuf;

/// What the clip window asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum ClipCommand {
    /// Ask for the clip with the file dialog, then for its transcript.
    Choose,
    SetTranscript(String),
    /// Acquire the clip and open it with the attached run.
    Predict,
    Close,
}

/// The clip being set up or acquired.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClipPrediction {
    /// The chosen clip and its transcript, while the window is open.
    pub draft: Option<(PathBuf, String)>,
    /// Acquisition under way: (done, total) steps so far.
    pub acquiring: Option<(usize, usize)>,
    /// Where scratch datasets go (`None`: the user's cache, as `univa explain --clip`).
    pub scratch: Option<PathBuf>,
}
