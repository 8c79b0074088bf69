//! Frame grabs for the utterance browser: one picture at a time, decoded on the caller's thread
//! (the browser calls it from its own worker, never from the UI thread).

use std::path::Path;

use super::error::{MediaError, StreamKind};
use super::video::{VideoFrame, VideoStreamDecoder, fit_within};

/// The frame shown at `secs`, scaled (keeping its aspect ratio, never up) to fit `max_size`
/// (`None`: the clip's own size).
pub fn grab_frame(path: &Path, secs: f64, max_size: Option<(u32, u32)>) -> Result<VideoFrame, MediaError> {
    let mut decoder = VideoStreamDecoder::open(path, 0)?;
    decoder.set_output_size(max_size.map(|max| fit_within(decoder.coded_size(), max)));
    decoder.seek(secs)?;
    decoder.next_frame(Some(secs))?.ok_or_else(|| {
        MediaError::corrupt(path, StreamKind::Video, format!("no video frame at {secs:.3}s (is the clip shorter?)"))
    })
}
