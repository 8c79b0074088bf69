//! Opening a clip: the ffmpeg input, its streams, the optional time span, and [`MediaInfo`].

use std::path::{Path, PathBuf};
use std::sync::Once;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::context::Input;
use ffmpeg_next::media::Type;

use super::error::{MediaError, StreamKind};

/// A part of a clip in file time (seconds from the container's zero). Utterances are often spans
/// of a longer video; `end_secs: None` means "to the end of the file".
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimeSpan {
    pub start_secs: f64,
    pub end_secs: Option<f64>,
}

impl TimeSpan {
    /// The whole file.
    pub const FULL: Self = Self { start_secs: 0.0, end_secs: None };

    pub fn new(start_secs: f64, end_secs: Option<f64>) -> Self {
        Self { start_secs, end_secs }
    }

    /// Whether `secs` lies inside the span (start inclusive, end exclusive).
    pub fn contains(&self, secs: f64) -> bool {
        secs >= self.start_secs && self.end_secs.is_none_or(|end| secs < end)
    }
}

/// What a video stream holds.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Average frames per second as the container states it (0 when unknown).
    pub frame_rate: f64,
}

/// What an audio stream holds.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
}

/// A probed clip: container, streams and the span that will be played.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    pub path: PathBuf,
    /// Container format name as ffmpeg calls it (e.g. `matroska,webm`, `mov,mp4,m4a,3gp,3g2,mj2`).
    pub container: String,
    /// Length of the whole file, when the container knows it.
    pub file_duration_secs: Option<f64>,
    /// The span that is played; its end is clamped to the file's duration when that is known.
    pub span: TimeSpan,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
}

impl MediaInfo {
    /// Length of the played span, when known.
    pub fn duration_secs(&self) -> Option<f64> {
        self.span.end_secs.map(|end| (end - self.span.start_secs).max(0.0))
    }

    /// One paragraph for a terminal: container, span, streams.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!("{}: {}", self.path.display(), self.container)];
        let span_end = self.span.end_secs.map_or_else(|| "end".to_owned(), |e| format!("{e:.3}s"));
        let length = self.duration_secs().map_or_else(|| "unknown length".to_owned(), |d| format!("{d:.3}s"));
        lines.push(format!("  span {:.3}s..{span_end} ({length})", self.span.start_secs));
        if let Some(v) = &self.video {
            lines.push(format!("  video: {} {}x{} @ {:.3} fps", v.codec, v.width, v.height, v.frame_rate));
        }
        if let Some(a) = &self.audio {
            lines.push(format!("  audio: {} {} Hz, {} channel(s)", a.codec, a.sample_rate, a.channels));
        }
        lines.join("\n")
    }
}

/// Initialises ffmpeg once per process and keeps its logging to real errors (ffmpeg writes
/// straight to stderr; a damaged file would otherwise flood the terminal).
pub(crate) fn init_ffmpeg() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // `init` only fails when device registration fails, which the engine does not use;
        // opening a file reports any real problem with its own error.
        if let Err(error) = ffmpeg::init() {
            tracing::debug!("ffmpeg init: {error}");
        }
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

/// Opens the container, after checking the file exists and is not empty.
pub(crate) fn open_input(path: &Path) -> Result<Input, MediaError> {
    init_ffmpeg();
    let metadata = std::fs::metadata(path).map_err(|cause| MediaError::Io { path: path.to_path_buf(), cause })?;
    if metadata.is_dir() {
        let source = std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory, not a clip");
        return Err(MediaError::Io { path: path.to_path_buf(), cause: source });
    }
    if metadata.len() == 0 {
        return Err(MediaError::Empty { path: path.to_path_buf() });
    }
    ffmpeg::format::input(path).map_err(|cause| MediaError::Unreadable { path: path.to_path_buf(), cause })
}

/// Index of the stream of `kind` ffmpeg considers best; cover art (an "attached picture" video
/// stream in mp3/m4a files) does not count as video.
pub(crate) fn best_stream(input: &Input, kind: StreamKind) -> Option<usize> {
    let media_type = match kind {
        StreamKind::Video => Type::Video,
        StreamKind::Audio => Type::Audio,
    };
    let is_playable = |stream: &ffmpeg::format::stream::Stream| {
        stream.parameters().medium() == media_type
            && !stream.disposition().contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC)
    };
    match input.streams().best(media_type) {
        Some(stream) if is_playable(&stream) => Some(stream.index()),
        _ => input.streams().find(|s| is_playable(s)).map(|s| s.index()),
    }
}

/// Seconds per tick of a stream's time base.
pub(crate) fn seconds_per_tick(rational: ffmpeg::Rational) -> f64 {
    if rational.denominator() == 0 { 0.0 } else { f64::from(rational.numerator()) / f64::from(rational.denominator()) }
}

/// A codec context opened for decoding the stream at `index`, with the packet time base set so
/// that frame timestamps come out in the stream's time base.
pub(crate) fn open_decoder(
    path: &Path,
    input: &Input,
    index: usize,
    kind: StreamKind,
    threads: usize,
) -> Result<ffmpeg::decoder::Opened, MediaError> {
    let Some(stream) = input.stream(index) else {
        return Err(MediaError::MissingStream { path: path.to_path_buf(), kind });
    };
    let parameters = stream.parameters();
    let codec_name = parameters.id().name().to_owned();
    let mut context = ffmpeg::codec::Context::from_parameters(parameters)
        .map_err(|e| MediaError::corrupt(path, kind, format!("bad codec parameters: {e}")))?;
    if threads != 1 {
        context.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
    }
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(stream.time_base());
    let opened = match ffmpeg::codec::decoder::find(decoder.id()) {
        Some(codec) => decoder.open_as(codec),
        None => Err(ffmpeg::Error::DecoderNotFound),
    };
    opened.map_err(|error| match error {
        ffmpeg::Error::DecoderNotFound | ffmpeg::Error::PatchWelcome => MediaError::UnsupportedCodec {
            path: path.to_path_buf(),
            kind,
            codec: codec_name.clone(),
            detail: error.to_string(),
        },
        other => MediaError::corrupt(path, kind, format!("cannot open the {codec_name} decoder: {other}")),
    })
}

/// Reads the container header and stream parameters and resolves `span` against the file's length.
/// This does not decode; [`crate::media::probe`] also decodes the first frames.
pub(crate) fn read_info(path: &Path, input: &Input, span: TimeSpan) -> Result<MediaInfo, MediaError> {
    let file_duration_secs =
        (input.duration() > 0).then(|| input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
    let video_index = decodable_stream(path, input, StreamKind::Video)?;
    let audio_index = decodable_stream(path, input, StreamKind::Audio)?;
    if video_index.is_none() && audio_index.is_none() {
        return Err(MediaError::MissingStream { path: path.to_path_buf(), kind: StreamKind::Video });
    }
    let video = video_index.and_then(|index| {
        let stream = input.stream(index)?;
        let parameters = stream.parameters();
        // Width/height live in the codec parameters; a context built from them reads them safely.
        let context = ffmpeg::codec::Context::from_parameters(parameters.clone()).ok()?;
        let video = context.decoder().video().ok()?;
        Some(VideoInfo {
            codec: parameters.id().name().to_owned(),
            width: video.width(),
            height: video.height(),
            frame_rate: seconds_per_tick(stream.avg_frame_rate()),
        })
    });
    let audio = audio_index.and_then(|index| {
        let stream = input.stream(index)?;
        let parameters = stream.parameters();
        let context = ffmpeg::codec::Context::from_parameters(parameters.clone()).ok()?;
        let audio = context.decoder().audio().ok()?;
        Some(AudioInfo {
            codec: parameters.id().name().to_owned(),
            sample_rate: audio.rate(),
            channels: audio.channels(),
        })
    });
    let span = resolve_span(path, span, file_duration_secs)?;
    Ok(MediaInfo {
        path: path.to_path_buf(),
        container: input.format().name().to_owned(),
        file_duration_secs,
        span,
        video,
        audio,
    })
}

/// The best stream of `kind`, if any, after checking this ffmpeg build can decode it: a clip
/// whose picture or sound cannot be decoded is reported, not silently played without it.
fn decodable_stream(path: &Path, input: &Input, kind: StreamKind) -> Result<Option<usize>, MediaError> {
    let Some(index) = best_stream(input, kind) else {
        return Ok(None);
    };
    let id = input.stream(index).map_or(ffmpeg::codec::Id::None, |s| s.parameters().id());
    if id == ffmpeg::codec::Id::None || ffmpeg::codec::decoder::find(id).is_none() {
        let codec = if id == ffmpeg::codec::Id::None { "unknown".to_owned() } else { id.name().to_owned() };
        return Err(MediaError::UnsupportedCodec {
            path: path.to_path_buf(),
            kind,
            codec,
            detail: "no decoder for it".to_owned(),
        });
    }
    Ok(Some(index))
}

fn resolve_span(path: &Path, span: TimeSpan, file_duration_secs: Option<f64>) -> Result<TimeSpan, MediaError> {
    let invalid = |problem: &str| MediaError::InvalidSpan {
        path: path.to_path_buf(),
        start_secs: span.start_secs,
        end_secs: span.end_secs.unwrap_or(f64::INFINITY),
        problem: problem.to_owned(),
    };
    if !span.start_secs.is_finite() || span.start_secs < 0.0 {
        return Err(invalid("the start must be a finite, non-negative number of seconds"));
    }
    if let Some(end) = span.end_secs
        && (!end.is_finite() || end <= span.start_secs)
    {
        return Err(invalid("the end must come after the start"));
    }
    let Some(duration) = file_duration_secs else {
        return Ok(span);
    };
    if span.start_secs >= duration {
        return Err(invalid(&format!("the clip is only {duration:.3}s long")));
    }
    let end = span.end_secs.map_or(duration, |end| end.min(duration));
    Ok(TimeSpan { start_secs: span.start_secs, end_secs: Some(end) })
}
