//! The media engine: open a clip (or a span of it), decode video and audio on named threads,
//! play audio through rodio with its position as the master clock, and hand the UI the frame for
//! a time. Also waveform envelopes and frame grabs. No UI code lives here.
//!
//! Threads: `univa-video-decode` and `univa-audio-decode` per [`Player`] (bounded channels,
//! commands, a seek generation counter so frames from before a seek are dropped), rodio's output
//! thread pulling an [`AudioFeed`], and `univa-waveform` per [`WaveformCache`].
//!
//! Playback speed (0.25–2×) simply resamples the audio: pitch follows speed.

mod audio;
mod clock;
mod demux;
mod error;
mod opener;
mod output;
mod player;
mod source;
pub mod testclip;
mod thumbnail;
mod video;
mod waveform;
mod worker;

use std::path::Path;

pub use audio::AudioChunk;
pub use clock::PlaybackClock;
pub use error::{MediaError, StreamKind};
pub use opener::{Opened, PlayerOpener};
pub use output::{AudioFeed, AudioOutputMode};
pub use player::{Player, PlayerOptions, SPEED_RANGE};
pub use source::{AudioInfo, MediaInfo, TimeSpan, VideoInfo};
pub use thumbnail::grab_frame;
pub use video::{VideoFrame, fit_within};
pub use waveform::{Waveform, WaveformCache, WaveformState, compute_waveform};

/// Opens `path`, reads its streams and checks that the first frame of each decodes, so that a
/// damaged or unsupported file fails here with an error naming it.
pub fn probe(path: &Path, span: TimeSpan) -> Result<MediaInfo, MediaError> {
    let info = source::read_info(path, &source::open_input(path)?, span)?;
    let start = info.span.start_secs;
    if info.video.is_some() {
        let mut decoder = video::VideoStreamDecoder::open(path, 1)?;
        decoder.set_output_size(Some((16, 16)));
        decoder.seek(start)?;
        if decoder.next_frame(None)?.is_none() {
            return Err(MediaError::corrupt(path, StreamKind::Video, "no frame could be decoded"));
        }
    }
    if info.audio.is_some() {
        let mut decoder = audio::AudioStreamDecoder::open(path, None)?;
        decoder.seek(start)?;
        if decoder.next_chunk(None)?.is_none() {
            return Err(MediaError::corrupt(path, StreamKind::Audio, "no audio could be decoded"));
        }
    }
    Ok(info)
}

/// Decodes every video frame before `end_secs` (all when `None`) on `threads` decoder threads,
/// converting each to RGBA at `convert_to` or not converting at all; the frame count. For
/// measuring decoder speed (`univa bench-media`).
pub fn decode_all_video_frames(
    path: &Path,
    threads: usize,
    end_secs: Option<f64>,
    convert_to: Option<(u32, u32)>,
) -> Result<usize, MediaError> {
    let mut decoder = video::VideoStreamDecoder::open(path, threads)?;
    decoder.set_span_end(end_secs);
    let mut frames = 0;
    match convert_to {
        None => {
            while decoder.skip_frame()?.is_some() {
                frames += 1;
            }
        }
        Some(size) => {
            decoder.set_output_size(Some(size));
            while decoder.next_frame(None)?.is_some() {
                frames += 1;
            }
        }
    }
    Ok(frames)
}

/// What decoding an audio span produced (for `univa play --headless`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioDecodeSummary {
    pub frames: usize,
    pub sample_rate: u32,
    pub channels: u16,
    /// Largest absolute sample value.
    pub peak: f32,
}

/// Decodes (and converts to `f32`) all audio of `span` as fast as possible.
pub fn decode_audio_span(path: &Path, span: TimeSpan) -> Result<AudioDecodeSummary, MediaError> {
    let info = source::read_info(path, &source::open_input(path)?, span)?;
    let mut decoder = audio::AudioStreamDecoder::open(path, None)?;
    decoder.set_span_end(info.span.end_secs);
    decoder.seek(info.span.start_secs)?;
    let (sample_rate, channels) = decoder.output_format();
    let mut summary = AudioDecodeSummary { frames: 0, sample_rate, channels, peak: 0.0 };
    let mut skip_before = Some(info.span.start_secs);
    while let Some(chunk) = decoder.next_chunk(skip_before.take())? {
        summary.frames += chunk.frames();
        summary.peak = chunk.samples.iter().fold(summary.peak, |peak, s| peak.max(s.abs()));
    }
    Ok(summary)
}
