//! Video: a stream decoder that converts frames to RGBA at a requested size, and the named
//! decoder thread that runs it ahead of playback, fed by [`VideoCommand`]s.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;

use super::demux::StreamDemux;
use super::error::{MediaError, StreamKind};
use super::source::{open_decoder, seconds_per_tick};
use super::worker::{Delivery, deliver};

/// Frame duration assumed when the container states no frame rate.
const FALLBACK_FRAME_SECS: f64 = 1.0 / 25.0;
/// Tolerance when comparing frame times, well below any frame duration.
pub(crate) const TIME_EPSILON_SECS: f64 = 1e-6;

/// One decoded picture, RGBA8, rows packed (`width * 4` bytes each).
#[derive(Clone)]
pub struct VideoFrame {
    /// Presentation time in file seconds.
    pub pts_secs: f64,
    /// How long the frame is shown (from the stream's frame rate).
    pub duration_secs: f64,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
    /// The seek generation the frame was decoded for; frames of older generations are dropped.
    pub(crate) epoch: u64,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrame")
            .field("pts_secs", &self.pts_secs)
            .field("duration_secs", &self.duration_secs)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl VideoFrame {
    /// Whether this frame is the one on screen at `secs`.
    pub fn covers(&self, secs: f64) -> bool {
        secs + TIME_EPSILON_SECS >= self.pts_secs && secs + TIME_EPSILON_SECS < self.pts_secs + self.duration_secs
    }

    /// The RGBA value at (`x`, `y`), or `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let at = (y as usize * self.width as usize + x as usize) * 4;
        let p = self.rgba.get(at..at + 4)?;
        Some([p[0], p[1], p[2], p[3]])
    }
}

/// The largest size with the picture's aspect ratio that fits in `max` (never upscales).
pub fn fit_within(size: (u32, u32), max: (u32, u32)) -> (u32, u32) {
    let (w, h) = (f64::from(size.0.max(1)), f64::from(size.1.max(1)));
    let scale = (f64::from(max.0) / w).min(f64::from(max.1) / h).min(1.0);
    (((w * scale).round() as u32).max(1), ((h * scale).round() as u32).max(1))
}

struct Scaler {
    key: (Pixel, u32, u32, u32, u32),
    context: scaling::Context,
    output: ffmpeg::frame::Video,
}

/// Decodes one video stream of a file, in order, from wherever it was last sought to.
pub(crate) struct VideoStreamDecoder {
    demux: StreamDemux,
    tick_secs: f64,
    frame_secs: f64,
    decoder: ffmpeg::decoder::Video,
    decoded: ffmpeg::frame::Video,
    scaler: Option<Scaler>,
    output_size: Option<(u32, u32)>,
    span_end_secs: Option<f64>,
    last_pts_secs: Option<f64>,
    /// While decoding towards a seek target: the target, so packets of frames shown only before
    /// it can be decoded without output (see [`Self::set_fast_seek`]).
    seek_target_secs: Option<f64>,
    fast_seek: bool,
    /// Whether the codec currently discards non-reference frames.
    skipping_nonref: bool,
}

impl VideoStreamDecoder {
    /// Opens the best video stream of `path`; `threads` = 0 lets ffmpeg pick, 1 decodes on one core.
    pub(crate) fn open(path: &Path, threads: usize) -> Result<Self, MediaError> {
        let demux = StreamDemux::open(path, StreamKind::Video)?;
        let stream_index = demux.stream_index();
        let (tick_secs, frame_secs) = match demux.input().stream(stream_index) {
            Some(stream) => {
                let fps = [stream.avg_frame_rate(), stream.rate()]
                    .into_iter()
                    .map(seconds_per_tick)
                    .find(|fps| fps.is_finite() && *fps > 0.0);
                (seconds_per_tick(stream.time_base()), fps.map_or(FALLBACK_FRAME_SECS, |fps| 1.0 / fps))
            }
            None => (0.0, FALLBACK_FRAME_SECS),
        };
        let decoder = open_decoder(path, demux.input(), stream_index, StreamKind::Video, threads)?
            .video()
            .map_err(|e| MediaError::corrupt(path, StreamKind::Video, e))?;
        Ok(Self {
            demux,
            tick_secs,
            frame_secs,
            decoder,
            decoded: ffmpeg::frame::Video::empty(),
            scaler: None,
            output_size: None,
            span_end_secs: None,
            last_pts_secs: None,
            seek_target_secs: None,
            fast_seek: true,
            skipping_nonref: false,
        })
    }

    /// On (the default): on the way to a seek target, frames that no other frame refers to and
    /// that would be shown before the target are not decoded at all (B-frames of most encodes;
    /// a quarter to half of the work). Off decodes every frame (for measuring the difference).
    pub(crate) fn set_fast_seek(&mut self, on: bool) {
        self.fast_seek = on;
    }

    /// Discards non-reference frames while the packet at `pts_secs` is shown before the seek
    /// target, and decodes everything from the target on.
    fn update_skipping(&mut self, packet_pts_secs: Option<f64>) {
        let skip = self.fast_seek
            && matches!((self.seek_target_secs, packet_pts_secs), (Some(target), Some(pts))
                if pts + self.frame_secs <= target - TIME_EPSILON_SECS);
        if skip != self.skipping_nonref {
            // Frame threads copy this setting from the user's context with each packet.
            self.decoder.skip_frame(if skip { ffmpeg::Discard::NonReference } else { ffmpeg::Discard::Default });
            self.skipping_nonref = skip;
        }
    }

    /// Frames at or after `end` are treated as the end of the stream.
    pub(crate) fn set_span_end(&mut self, end_secs: Option<f64>) {
        self.span_end_secs = end_secs;
    }

    /// RGBA output size; `None` keeps the coded size.
    pub(crate) fn set_output_size(&mut self, size: Option<(u32, u32)>) {
        self.output_size = size.map(|(w, h)| (w.max(1), h.max(1)));
    }

    /// Width and height as coded in the stream.
    pub(crate) fn coded_size(&self) -> (u32, u32) {
        (self.decoder.width(), self.decoder.height())
    }

    pub(crate) fn frame_secs(&self) -> f64 {
        self.frame_secs
    }

    /// Moves to the last key frame at or before `secs`; the next [`Self::next_frame`] call with
    /// `skip_before = Some(secs)` decodes forward to the exact frame.
    pub(crate) fn seek(&mut self, secs: f64) -> Result<(), MediaError> {
        self.demux.seek(secs)?;
        self.decoder.flush();
        self.last_pts_secs = None;
        Ok(())
    }

    /// Decodes the next frame into `self.decoded` and returns its time, or `None` at the end of
    /// the stream or span.
    fn decode_next(&mut self) -> Result<Option<f64>, MediaError> {
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    let ticks = self.decoded.timestamp().or_else(|| self.decoded.pts());
                    let pts_secs = match (ticks, self.last_pts_secs) {
                        (Some(ticks), _) => ticks as f64 * self.tick_secs,
                        (None, Some(last)) => last + self.frame_secs,
                        (None, None) => 0.0,
                    };
                    self.last_pts_secs = Some(pts_secs);
                    if self.span_end_secs.is_some_and(|end| pts_secs + TIME_EPSILON_SECS >= end) {
                        return Ok(None);
                    }
                    if self.decoded.format() == Pixel::None || self.decoded.width() == 0 {
                        continue;
                    }
                    return Ok(Some(pts_secs));
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

    /// Reads packets until one of our stream is sent to the decoder (or the file ends).
    fn feed_packet(&mut self) -> Result<(), MediaError> {
        if let Some(packet) = self.demux.next_packet(&mut self.decoder)? {
            self.update_skipping(packet.pts().map(|ticks| ticks as f64 * self.tick_secs));
            self.demux.send(&mut self.decoder, &packet)?;
        }
        Ok(())
    }

    /// The next frame whose display interval reaches past `skip_before` (all frames when `None`),
    /// converted to RGBA. Frames before it are decoded but not converted.
    pub(crate) fn next_frame(&mut self, skip_before: Option<f64>) -> Result<Option<VideoFrame>, MediaError> {
        self.seek_target_secs = skip_before;
        let found = loop {
            let Some(pts_secs) = self.decode_next()? else {
                break None;
            };
            if skip_before.is_some_and(|target| pts_secs + self.frame_secs <= target + TIME_EPSILON_SECS) {
                continue;
            }
            break Some(pts_secs);
        };
        self.seek_target_secs = None;
        found.map(|pts_secs| self.convert(pts_secs)).transpose()
    }

    /// Decodes the next frame without converting it (decode-speed measurements); its time.
    pub(crate) fn skip_frame(&mut self) -> Result<Option<f64>, MediaError> {
        self.decode_next()
    }

    fn convert(&mut self, pts_secs: f64) -> Result<VideoFrame, MediaError> {
        let (format, width, height) = (self.decoded.format(), self.decoded.width(), self.decoded.height());
        let (out_w, out_h) = self.output_size.unwrap_or((width, height));
        let key = (format, width, height, out_w, out_h);
        let scaler = match &mut self.scaler {
            Some(scaler) if scaler.key == key => scaler,
            slot => {
                // Fast bilinear: a display preview, where scaling speed matters more than the
                // last bit of filter quality (same-size conversion takes swscale's direct path).
                let flags = scaling::Flags::FAST_BILINEAR;
                let context =
                    scaling::Context::get(format, width, height, Pixel::RGBA, out_w, out_h, flags).map_err(|e| {
                        MediaError::corrupt(
                            self.demux.path(),
                            StreamKind::Video,
                            format!("cannot convert {format:?} to RGBA: {e}"),
                        )
                    })?;
                slot.insert(Scaler { key, context, output: ffmpeg::frame::Video::new(Pixel::RGBA, out_w, out_h) })
            }
        };
        scaler.context.run(&self.decoded, &mut scaler.output).map_err(|e| {
            MediaError::corrupt(self.demux.path(), StreamKind::Video, format!("RGBA conversion failed: {e}"))
        })?;
        let stride = scaler.output.stride(0);
        let data = scaler.output.data(0);
        let row_bytes = out_w as usize * 4;
        let too_small =
            || MediaError::corrupt(self.demux.path(), StreamKind::Video, "converted frame is smaller than its size");
        let rgba = if stride == row_bytes {
            data.get(..row_bytes * out_h as usize).ok_or_else(too_small)?.to_vec()
        } else {
            let mut rgba = Vec::with_capacity(row_bytes * out_h as usize);
            for row in 0..out_h as usize {
                rgba.extend_from_slice(data.get(row * stride..row * stride + row_bytes).ok_or_else(too_small)?);
            }
            rgba
        };
        Ok(VideoFrame { pts_secs, duration_secs: self.frame_secs, width: out_w, height: out_h, rgba, epoch: 0 })
    }
}

/// What the player tells the video thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum VideoCommand {
    /// Decode ahead continuously (until the queue is full).
    Play,
    /// Deliver at most one more frame, then wait.
    Pause,
    /// Decode from `secs`; frames are tagged with `epoch` so the player can drop older ones.
    Seek {
        secs: f64,
        epoch: u64,
    },
    Resize(Option<(u32, u32)>),
    Stop,
}

/// What the video thread sends back, in order.
pub(crate) enum VideoEvent {
    Frame(VideoFrame),
    /// No more frames in the stream or span for this seek generation.
    End {
        epoch: u64,
    },
    Failed {
        epoch: u64,
        error: MediaError,
    },
}

impl VideoEvent {
    pub(crate) fn epoch(&self) -> u64 {
        match self {
            Self::Frame(frame) => frame.epoch,
            Self::End { epoch } | Self::Failed { epoch, .. } => *epoch,
        }
    }
}

/// How the video thread opens its decoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VideoSetup {
    pub(crate) threads: usize,
    pub(crate) span_end_secs: Option<f64>,
    pub(crate) frame_size: Option<(u32, u32)>,
    pub(crate) start_secs: f64,
    pub(crate) fast_seek: bool,
}

/// The named video decoder thread and its two bounded channels. Dropping it stops the thread.
pub(crate) struct VideoWorker {
    commands: SyncSender<VideoCommand>,
    events: Receiver<VideoEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl VideoWorker {
    /// Opens the video of `path` on a new thread (ffmpeg's scaler must stay on the thread that
    /// uses it) and starts decoding at `start_secs` (one frame, then paused). At most
    /// `queue_frames` decoded frames wait in the channel, which bounds memory whatever the
    /// clip's length. Returns the worker and the stream's frame duration.
    pub(crate) fn spawn(path: &Path, setup: VideoSetup, queue_frames: usize) -> Result<(Self, f64), MediaError> {
        let (commands, command_rx) = sync_channel(16);
        let (event_tx, events) = sync_channel(queue_frames.max(1));
        let (opened_tx, opened_rx) = sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread_path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("univa-video-decode".into())
            .spawn(move || {
                let decoder = match VideoStreamDecoder::open(&thread_path, setup.threads) {
                    Ok(mut decoder) => {
                        decoder.set_span_end(setup.span_end_secs);
                        decoder.set_output_size(setup.frame_size);
                        decoder.set_fast_seek(setup.fast_seek);
                        decoder
                    }
                    Err(error) => {
                        let _ = opened_tx.send(Err(error));
                        return;
                    }
                };
                if opened_tx.send(Ok(decoder.frame_secs())).is_ok() {
                    run_video_thread(decoder, setup.start_secs, &command_rx, &event_tx, &thread_stop);
                }
            })
            .map_err(|cause| MediaError::Thread { path: path.to_path_buf(), role: "video decoder", cause })?;
        let mut worker = Self { commands, events, stop, thread: Some(thread) };
        match opened_rx.recv() {
            Ok(Ok(frame_secs)) => Ok((worker, frame_secs)),
            Ok(Err(error)) => Err(error),
            Err(_) => {
                worker.thread.take();
                Err(MediaError::WorkerGone { path: path.to_path_buf(), role: "video decoder" })
            }
        }
    }

    /// Sends a command; `false` if the thread has gone.
    pub(crate) fn command(&self, command: VideoCommand) -> bool {
        self.commands.send(command).is_ok()
    }

    pub(crate) fn events(&self) -> &Receiver<VideoEvent> {
        &self.events
    }
}

impl Drop for VideoWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread may be blocked on a full command queue's other end; the stop flag covers it.
        let _ = self.commands.try_send(VideoCommand::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the video decoder thread panicked");
        }
    }
}

fn run_video_thread(
    mut decoder: VideoStreamDecoder,
    start_secs: f64,
    commands: &Receiver<VideoCommand>,
    events: &SyncSender<VideoEvent>,
    stop: &AtomicBool,
) {
    let mut epoch = 0;
    let mut playing = false;
    let mut target = Some(start_secs);
    let mut idle = false;
    let mut outbox = None;
    let mut pending = None;
    if let Err(error) = decoder.seek(start_secs) {
        outbox = Some(VideoEvent::Failed { epoch, error });
    }
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
        if let Some(command) = command {
            match command {
                VideoCommand::Stop => return,
                VideoCommand::Play => {
                    playing = true;
                    idle = false;
                }
                VideoCommand::Pause => playing = false,
                VideoCommand::Resize(size) => decoder.set_output_size(size),
                VideoCommand::Seek { secs, epoch: new_epoch } => {
                    epoch = new_epoch;
                    target = Some(secs);
                    idle = false;
                    outbox = decoder.seek(secs).err().map(|error| VideoEvent::Failed { epoch, error });
                }
            }
            continue;
        }
        if let Some(event) = outbox.take() {
            let is_frame = matches!(event, VideoEvent::Frame(_));
            match deliver(events, event, commands, stop) {
                Delivery::Sent => idle = !is_frame || !playing,
                Delivery::Interrupted(command, event) => {
                    pending = Some(command);
                    outbox = Some(event);
                }
                Delivery::Closed => return,
            }
            continue;
        }
        if idle {
            continue;
        }
        outbox = Some(match decoder.next_frame(target) {
            Ok(Some(mut frame)) => {
                target = None;
                frame.epoch = epoch;
                VideoEvent::Frame(frame)
            }
            Ok(None) => VideoEvent::End { epoch },
            Err(error) => VideoEvent::Failed { epoch, error },
        });
    }
}
