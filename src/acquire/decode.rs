//! Minimal media decoding for acquisition: sampled video frames as RGB, audio as mono f32 at
//! 16 kHz. Kept small on purpose; it moves to the `media` room once that room decodes clips.

use std::path::Path;

use ffmpeg::format::{Pixel, Sample, sample};
use ffmpeg::media::Type;
use ffmpeg::software::{resampling, scaling};
use ffmpeg::util::frame;
use ffmpeg_next as ffmpeg;

use super::AcquireError;

/// Sample rate of decoded audio; what the voice features and wav2vec2-style models expect.
pub const SAMPLE_RATE: u32 = 16_000;

/// Part of a clip to read; `None` ends mean the start or end of the file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimeSpan {
    pub start_secs: Option<f64>,
    pub end_secs: Option<f64>,
}

impl TimeSpan {
    pub fn whole() -> Self {
        Self::default()
    }

    fn contains(self, t: f64) -> bool {
        self.start_secs.is_none_or(|s| t >= s) && self.end_secs.is_none_or(|e| t < e)
    }

    fn is_past(self, t: f64) -> bool {
        self.end_secs.is_some_and(|e| t >= e)
    }
}

/// One decoded video frame, packed RGB24 rows.
#[derive(Clone, Debug)]
pub struct RgbFrame {
    pub time_secs: f64,
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl RgbFrame {
    /// Luma by the BT.601 weights (what OpenCV's grey conversion, and so fer's training, used).
    pub fn grey(&self) -> Vec<u8> {
        self.rgb
            .chunks_exact(3)
            .map(|p| (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])).round() as u8)
            .collect()
    }
}

fn open(path: &Path) -> Result<ffmpeg::format::context::Input, AcquireError> {
    ffmpeg::init().map_err(|e| AcquireError::decode(path, e))?;
    ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    ffmpeg::format::input(path).map_err(|e| AcquireError::decode(path, e))
}

/// Seeks near the span's start so a clip cut from a long file does not decode from zero.
fn seek_to_start(input: &mut ffmpeg::format::context::Input, span: TimeSpan, path: &Path) -> Result<(), AcquireError> {
    if let Some(start) = span.start_secs.filter(|s| *s > 0.0) {
        let ts = (start * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        input.seek(ts, ..ts).map_err(|e| AcquireError::decode(path, format!("seek to {start} s failed: {e}")))?;
    }
    Ok(())
}

/// Decodes the frames of `span` sampled at `sample_fps` (every frame if `sample_fps` <= 0),
/// scaled so that the longer side is at most `max_side` pixels.
pub fn video_frames(
    path: &Path,
    span: TimeSpan,
    sample_fps: f64,
    max_side: usize,
) -> Result<Vec<RgbFrame>, AcquireError> {
    let mut input = open(path)?;
    let stream =
        input.streams().best(Type::Video).ok_or(AcquireError::NoStream { path: path.to_path_buf(), kind: "video" })?;
    let stream_index = stream.index();
    let time_base = f64::from(stream.time_base());
    let context = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| AcquireError::decode(path, e))?;
    let mut decoder = context.decoder().video().map_err(|e| AcquireError::decode(path, e))?;
    let (src_w, src_h) = (decoder.width() as usize, decoder.height() as usize);
    if src_w == 0 || src_h == 0 {
        return Err(AcquireError::decode(path, "video stream has zero size"));
    }
    let scale = (max_side as f64 / src_w.max(src_h) as f64).min(1.0);
    let (dst_w, dst_h) = (((src_w as f64 * scale) as u32).max(2) & !1, ((src_h as f64 * scale) as u32).max(2) & !1);
    let mut scaler = None;
    seek_to_start(&mut input, span, path)?;

    let mut frames = Vec::new();
    let mut next_sample = span.start_secs.unwrap_or(f64::NEG_INFINITY);
    let mut decoded = frame::Video::empty();
    let mut done = false;
    let mut receive =
        |decoder: &mut ffmpeg::decoder::Video, frames: &mut Vec<RgbFrame>| -> Result<bool, AcquireError> {
            while decoder.receive_frame(&mut decoded).is_ok() {
                let Some(ts) = decoded.timestamp().or(decoded.pts()) else { continue };
                let t = ts as f64 * time_base;
                if span.is_past(t) {
                    return Ok(true);
                }
                if !span.contains(t) || t + 1e-6 < next_sample {
                    continue;
                }
                if sample_fps > 0.0 {
                    next_sample = next_sample.max(t) + 1.0 / sample_fps;
                }
                let scaler = match &mut scaler {
                    Some(s) => s,
                    None => scaler.insert(
                        scaling::Context::get(
                            decoded.format(),
                            decoded.width(),
                            decoded.height(),
                            Pixel::RGB24,
                            dst_w,
                            dst_h,
                            scaling::Flags::BILINEAR,
                        )
                        .map_err(|e| AcquireError::decode(path, e))?,
                    ),
                };
                let mut rgb = frame::Video::empty();
                scaler.run(&decoded, &mut rgb).map_err(|e| AcquireError::decode(path, e))?;
                let (w, h, stride) = (dst_w as usize, dst_h as usize, rgb.stride(0));
                let data = rgb.data(0);
                let mut packed = Vec::with_capacity(w * h * 3);
                for row in 0..h {
                    packed.extend_from_slice(&data[row * stride..row * stride + w * 3]);
                }
                frames.push(RgbFrame { time_secs: t, width: w, height: h, rgb: packed });
            }
            Ok(false)
        };
    for (stream, packet) in input.packets() {
        if stream.index() != stream_index {
            continue;
        }
        decoder.send_packet(&packet).map_err(|e| AcquireError::decode(path, e))?;
        if receive(&mut decoder, &mut frames)? {
            done = true;
            break;
        }
    }
    if !done {
        decoder.send_eof().map_err(|e| AcquireError::decode(path, e))?;
        receive(&mut decoder, &mut frames)?;
    }
    Ok(frames)
}

/// Decodes the audio of `span`, down-mixed to mono f32 at [`SAMPLE_RATE`].
pub fn audio_mono_16k(path: &Path, span: TimeSpan) -> Result<Vec<f32>, AcquireError> {
    let mut input = open(path)?;
    let stream =
        input.streams().best(Type::Audio).ok_or(AcquireError::NoStream { path: path.to_path_buf(), kind: "audio" })?;
    let stream_index = stream.index();
    let time_base = f64::from(stream.time_base());
    let context = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| AcquireError::decode(path, e))?;
    let mut decoder = context.decoder().audio().map_err(|e| AcquireError::decode(path, e))?;
    seek_to_start(&mut input, span, path)?;

    let target = Sample::F32(sample::Type::Packed);
    let mono = ffmpeg::ChannelLayout::MONO;
    let mut resampler: Option<(resampling::Context, u32)> = None;
    let mut samples = Vec::new();
    let mut decoded = frame::Audio::empty();
    // Samples of the first kept frame before the span's start are trimmed at the end.
    let mut first_time: Option<f64> = None;
    let mut past_end = false;
    let mut convert = |decoder: &mut ffmpeg::decoder::Audio,
                       samples: &mut Vec<f32>,
                       first_time: &mut Option<f64>|
     -> Result<bool, AcquireError> {
        while decoder.receive_frame(&mut decoded).is_ok() {
            let t = decoded.timestamp().or(decoded.pts()).map(|ts| ts as f64 * time_base);
            if let Some(t) = t {
                if span.is_past(t) {
                    return Ok(true);
                }
                let frame_secs = decoded.samples() as f64 / f64::from(decoded.rate().max(1));
                if span.start_secs.is_some_and(|s| t + frame_secs < s) {
                    continue;
                }
                first_time.get_or_insert(t);
            }
            if decoded.channel_layout().is_empty() {
                decoded.set_channel_layout(ffmpeg::ChannelLayout::default(i32::from(decoded.channels())));
            }
            let (ctx, rate) = match &mut resampler {
                Some(r) => r,
                None => resampler.insert((
                    resampling::Context::get(
                        decoded.format(),
                        decoded.channel_layout(),
                        decoded.rate(),
                        target,
                        mono,
                        SAMPLE_RATE,
                    )
                    .map_err(|e| AcquireError::decode(path, e))?,
                    decoded.rate(),
                )),
            };
            let capacity = decoded.samples() * SAMPLE_RATE as usize / (*rate).max(1) as usize + 256;
            let mut out = frame::Audio::new(target, capacity, mono);
            ctx.run(&decoded, &mut out).map_err(|e| AcquireError::decode(path, e))?;
            samples.extend_from_slice(&out.plane::<f32>(0)[..out.samples()]);
        }
        Ok(false)
    };
    for (stream, packet) in input.packets() {
        if stream.index() != stream_index {
            continue;
        }
        decoder.send_packet(&packet).map_err(|e| AcquireError::decode(path, e))?;
        if convert(&mut decoder, &mut samples, &mut first_time)? {
            past_end = true;
            break;
        }
    }
    if !past_end {
        decoder.send_eof().map_err(|e| AcquireError::decode(path, e))?;
        convert(&mut decoder, &mut samples, &mut first_time)?;
    }
    if let Some((mut ctx, _)) = resampler {
        loop {
            let mut out = frame::Audio::new(target, 4096, mono);
            ctx.flush(&mut out).map_err(|e| AcquireError::decode(path, e))?;
            if out.samples() == 0 {
                break;
            }
            samples.extend_from_slice(&out.plane::<f32>(0)[..out.samples()]);
        }
    }
    // Trim to the span exactly: decoding starts at a frame boundary before `start`.
    let rate = f64::from(SAMPLE_RATE);
    if let (Some(start), Some(first)) = (span.start_secs, first_time) {
        let skip = (((start - first) * rate).max(0.0) as usize).min(samples.len());
        samples.drain(..skip);
    }
    if let (Some(start), Some(end)) = (span.start_secs.or(first_time.map(|_| 0.0)), span.end_secs) {
        samples.truncate(((end - start).max(0.0) * rate) as usize);
    }
    Ok(samples)
}
