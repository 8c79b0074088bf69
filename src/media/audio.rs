//! Audio: a stream decoder that resamples (swresample) to interleaved `f32` at the output's rate
//! and channel count, and the named decoder thread that keeps the output fed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::ChannelLayout;
use ffmpeg_next::software::resampling;

use super::demux::StreamDemux;
use super::error::{MediaError, StreamKind};
use super::source::{open_decoder, seconds_per_tick};
use super::worker::{Delivery, deliver};

const OUTPUT_FORMAT: ffmpeg::format::Sample = ffmpeg::format::Sample::F32(ffmpeg::format::sample::Type::Packed);

/// Decoded, resampled audio: interleaved `f32` frames starting at `start_secs` (file time).
#[derive(Clone)]
pub struct AudioChunk {
    pub start_secs: f64,
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: Vec<f32>,
    pub(crate) epoch: u64,
}

impl std::fmt::Debug for AudioChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioChunk")
            .field("start_secs", &self.start_secs)
            .field("frames", &self.frames())
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl AudioChunk {
    /// Number of sample frames (one sample per channel each).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    pub fn end_secs(&self) -> f64 {
        self.start_secs + self.frames() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// Drops the frames before `secs`; `false` if nothing is left.
    fn trim_before(&mut self, secs: f64) -> bool {
        let skip = ((secs - self.start_secs) * f64::from(self.sample_rate)).round();
        if skip <= 0.0 {
            return true;
        }
        let skip = (skip as usize).min(self.frames());
        self.samples.drain(..skip * usize::from(self.channels));
        self.start_secs += skip as f64 / f64::from(self.sample_rate);
        !self.samples.is_empty()
    }

    /// Drops the frames from `secs` on; `false` if nothing is left.
    fn trim_after(&mut self, secs: f64) -> bool {
        let keep = ((secs - self.start_secs) * f64::from(self.sample_rate)).round().max(0.0) as usize;
        if keep < self.frames() {
            self.samples.truncate(keep * usize::from(self.channels));
        }
        !self.samples.is_empty()
    }
}

/// Decodes one audio stream of a file and resamples it to `sample_rate` × `channels`.
pub(crate) struct AudioStreamDecoder {
    demux: StreamDemux,
    tick_secs: f64,
    decoder: ffmpeg::decoder::Audio,
    decoded: ffmpeg::frame::Audio,
    resampler: Option<(ResamplerKey, resampling::Context)>,
    sample_rate: u32,
    channels: u16,
    span_end_secs: Option<f64>,
    /// Where the next resampled sample sits in file time; re-anchored on frame timestamps.
    cursor_secs: Option<f64>,
}

type ResamplerKey = (ffmpeg::format::Sample, u64, u16, u32);

impl AudioStreamDecoder {
    /// Opens the best audio stream; `output` is (rate, channels), `None` keeps the source's.
    pub(crate) fn open(path: &Path, output: Option<(u32, u16)>) -> Result<Self, MediaError> {
        let demux = StreamDemux::open(path, StreamKind::Audio)?;
        let stream_index = demux.stream_index();
        let tick_secs = demux.input().stream(stream_index).map_or(0.0, |s| seconds_per_tick(s.time_base()));
        let decoder = open_decoder(path, demux.input(), stream_index, StreamKind::Audio, 1)?
            .audio()
            .map_err(|e| MediaError::corrupt(path, StreamKind::Audio, e))?;
        let (sample_rate, channels) = output.unwrap_or((decoder.rate(), decoder.channels()));
        if sample_rate == 0 || channels == 0 {
            return Err(MediaError::corrupt(
                path,
                StreamKind::Audio,
                "the stream states no sample rate or channel count",
            ));
        }
        Ok(Self {
            demux,
            tick_secs,
            decoder,
            decoded: ffmpeg::frame::Audio::empty(),
            resampler: None,
            sample_rate,
            channels,
            span_end_secs: None,
            cursor_secs: None,
        })
    }

    pub(crate) fn set_span_end(&mut self, end_secs: Option<f64>) {
        self.span_end_secs = end_secs;
    }

    /// (sample rate, channels) of the chunks this decoder produces.
    pub(crate) fn output_format(&self) -> (u32, u16) {
        (self.sample_rate, self.channels)
    }

    pub(crate) fn seek(&mut self, secs: f64) -> Result<(), MediaError> {
        self.demux.seek(secs)?;
        self.decoder.flush();
        // The resampler holds a few samples of the old position.
        self.resampler = None;
        self.cursor_secs = None;
        Ok(())
    }

    /// The next chunk that ends after `skip_before` (trimmed to start there), or `None` at the
    /// end of the stream or span.
    pub(crate) fn next_chunk(&mut self, skip_before: Option<f64>) -> Result<Option<AudioChunk>, MediaError> {
        loop {
            let Some(mut chunk) = self.decode_resampled()? else {
                return Ok(None);
            };
            if let Some(end) = self.span_end_secs {
                if chunk.start_secs >= end {
                    return Ok(None);
                }
                if !chunk.trim_after(end) {
                    continue;
                }
            }
            if let Some(target) = skip_before
                && !chunk.trim_before(target)
            {
                continue;
            }
            return Ok(Some(chunk));
        }
    }

    fn decode_resampled(&mut self) -> Result<Option<AudioChunk>, MediaError> {
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    if let Some(chunk) = self.resample()? {
                        return Ok(Some(chunk));
                    }
                    continue;
                }
                Err(ffmpeg::Error::Eof) => return Ok(None),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                    if self.demux.is_draining() {
                        return Ok(None);
                    }
                }
                Err(error) => self.demux.count_bad_packet(&error)?,
            }
            self.feed_packet()?;
        }
    }

    fn feed_packet(&mut self) -> Result<(), MediaError> {
        if let Some(packet) = self.demux.next_packet(&mut self.decoder)? {
            self.demux.send(&mut self.decoder, &packet)?;
        }
        Ok(())
    }

    /// Resamples `self.decoded`; `None` when the resampler buffered everything.
    fn resample(&mut self) -> Result<Option<AudioChunk>, MediaError> {
        let in_channels = self.decoded.channels().max(1);
        if self.decoded.channel_layout().is_empty() {
            // Streams without a stated layout (raw PCM, some WAVs): swresample needs one, and it
            // must match the frame's, so give both the default for the channel count.
            self.decoded.set_channel_layout(ChannelLayout::default(i32::from(in_channels)));
        }
        let frame = &self.decoded;
        let in_layout = frame.channel_layout();
        let key = (frame.format(), in_layout.bits(), in_channels, frame.rate());
        if self.resampler.as_ref().is_none_or(|(k, _)| *k != key) {
            let context = resampling::Context::get(
                frame.format(),
                in_layout,
                frame.rate(),
                OUTPUT_FORMAT,
                ChannelLayout::default(i32::from(self.channels)),
                self.sample_rate,
            )
            .map_err(|e| {
                MediaError::corrupt(self.demux.path(), StreamKind::Audio, format!("cannot set up resampling: {e}"))
            })?;
            self.resampler = Some((key, context));
        }
        let Some((_, resampler)) = self.resampler.as_mut() else {
            return Ok(None);
        };
        if let Some(ticks) = frame.timestamp().or_else(|| frame.pts()) {
            // Follow the stream's own timestamps, but only on a real jump: small differences are
            // the resampler's delay, which the running cursor already accounts for.
            let stamped = ticks as f64 * self.tick_secs;
            match self.cursor_secs {
                Some(cursor) if (cursor - stamped).abs() < 0.05 => {}
                _ => self.cursor_secs = Some(stamped),
            }
        }
        let capacity = frame.samples() * self.sample_rate as usize / frame.rate().max(1) as usize + 256;
        let mut output =
            ffmpeg::frame::Audio::new(OUTPUT_FORMAT, capacity, ChannelLayout::default(i32::from(self.channels)));
        resampler.run(frame, &mut output).map_err(|e| {
            MediaError::corrupt(self.demux.path(), StreamKind::Audio, format!("resampling failed: {e}"))
        })?;
        let frames = output.samples();
        if frames == 0 {
            return Ok(None);
        }
        let values = frames * usize::from(self.channels);
        let Some(bytes) = output.data(0).get(..values * 4) else {
            return Err(MediaError::corrupt(
                self.demux.path(),
                StreamKind::Audio,
                "resampled frame is smaller than its size",
            ));
        };
        let samples = bytes.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect();
        let start_secs = self.cursor_secs.unwrap_or(0.0);
        self.cursor_secs = Some(start_secs + frames as f64 / f64::from(self.sample_rate));
        Ok(Some(AudioChunk { start_secs, sample_rate: self.sample_rate, channels: self.channels, samples, epoch: 0 }))
    }
}

/// What the player tells the audio thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AudioCommand {
    Seek { secs: f64, epoch: u64 },
    Stop,
}

/// The named audio decoder thread. Chunks go to the output's feed through a bounded channel;
/// dropping the worker stops the thread.
pub(crate) struct AudioWorker {
    commands: SyncSender<AudioCommand>,
    stop: Arc<AtomicBool>,
    ended: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Chunks of up to ~1024 frames; 48 of them are about one second at 48 kHz.
pub(crate) const AUDIO_QUEUE_CHUNKS: usize = 48;

impl AudioWorker {
    /// Starts decoding at `start_secs` into `chunks`.
    pub(crate) fn spawn(
        decoder: AudioStreamDecoder,
        start_secs: f64,
        chunks: SyncSender<AudioChunk>,
    ) -> Result<Self, MediaError> {
        let path = decoder.demux.path().to_path_buf();
        let (commands, command_rx) = sync_channel(16);
        let stop = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let (thread_stop, thread_ended) = (Arc::clone(&stop), Arc::clone(&ended));
        let thread = std::thread::Builder::new()
            .name("univa-audio-decode".into())
            .spawn(move || run_audio_thread(decoder, start_secs, &command_rx, &chunks, &thread_stop, &thread_ended))
            .map_err(|cause| MediaError::Thread { path, role: "audio decoder", cause })?;
        Ok(Self { commands, stop, ended, thread: Some(thread) })
    }

    pub(crate) fn seek(&self, secs: f64, epoch: u64) -> bool {
        self.ended.store(false, Ordering::Relaxed);
        self.commands.send(AudioCommand::Seek { secs, epoch }).is_ok()
    }

    /// Whether the stream (or span) has been decoded to its end since the last seek.
    pub(crate) fn ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

impl Drop for AudioWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.commands.try_send(AudioCommand::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the audio decoder thread panicked");
        }
    }
}

fn run_audio_thread(
    mut decoder: AudioStreamDecoder,
    start_secs: f64,
    commands: &Receiver<AudioCommand>,
    chunks: &SyncSender<AudioChunk>,
    stop: &AtomicBool,
    ended: &AtomicBool,
) {
    let mut epoch = 0;
    let mut target = Some(start_secs);
    let mut idle = decoder.seek(start_secs).is_err();
    let mut outbox: Option<AudioChunk> = None;
    let mut pending = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let command = match pending.take() {
            Some(command) => Some(command),
            None if idle && outbox.is_none() => match commands.recv_timeout(Duration::from_millis(100)) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match commands.try_recv() {
                Ok(command) => Some(command),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            },
        };
        match command {
            Some(AudioCommand::Stop) => return,
            Some(AudioCommand::Seek { secs, epoch: new_epoch }) => {
                epoch = new_epoch;
                target = Some(secs);
                outbox = None;
                // A failed seek leaves the output silent; video and the clock carry on.
                idle = decoder.seek(secs).is_err();
                ended.store(idle, Ordering::Relaxed);
                continue;
            }
            None => {}
        }
        if let Some(chunk) = outbox.take() {
            match deliver(chunks, chunk, commands, stop) {
                Delivery::Sent => {}
                Delivery::Interrupted(command, chunk) => {
                    pending = Some(command);
                    outbox = Some(chunk);
                }
                Delivery::Closed => return,
            }
            continue;
        }
        if idle {
            continue;
        }
        match decoder.next_chunk(target) {
            Ok(Some(mut chunk)) => {
                target = None;
                chunk.epoch = epoch;
                outbox = Some(chunk);
            }
            Ok(None) => {
                idle = true;
                ended.store(true, Ordering::Relaxed);
            }
            Err(error) => {
                // Audio that stops decoding mid-clip goes quiet; the picture keeps playing.
                tracing::warn!("{error}");
                idle = true;
                ended.store(true, Ordering::Relaxed);
            }
        }
    }
}
