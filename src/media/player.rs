//! [`Player`]: one clip's playback — clock, video frames by time, audio output and transport.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

use super::audio::{AUDIO_QUEUE_CHUNKS, AudioStreamDecoder, AudioWorker};
use super::clock::PlaybackClock;
use super::error::MediaError;
use super::output::{AudioFeed, AudioOutputMode, AudioShared, DeviceOutput};
use super::probe;
use super::source::{MediaInfo, TimeSpan};
use super::video::{TIME_EPSILON_SECS, VideoCommand, VideoEvent, VideoFrame, VideoSetup, VideoWorker, fit_within};

/// Slowest and fastest playback speeds.
pub const SPEED_RANGE: std::ops::RangeInclusive<f64> = 0.25..=2.0;
/// Devices pull audio in blocks (10 ms for ALSA hardware, ~100 ms through PulseAudio), so the
/// audio position moves in steps; the clock follows it with this time constant instead of
/// jumping with every block, which would show as stutter.
const AUDIO_SLEW_SECS: f64 = 0.2;
/// A gap between the clock and the audio position larger than this is closed at once.
const AUDIO_RESYNC_SECS: f64 = 0.15;
/// How long the clock waits for sound that should be playing before it runs without it.
const AUDIO_WAIT_SECS: f64 = 3.0;
/// What one step of [`Player::step_frames`] moves in a clip without video.
pub const STEP_WITHOUT_VIDEO_SECS: f64 = 0.2;
/// How far past the decoded frames a requested time may lie before the decoder seeks rather
/// than decodes forward to it.
const RESEEK_AHEAD_SECS: f64 = 1.0;

/// How a [`Player`] is set up.
#[derive(Debug, Clone)]
pub struct PlayerOptions {
    /// Size of the RGBA frames; `None` keeps the clip's size (or fits it in `max_frame_size`).
    pub frame_size: Option<(u32, u32)>,
    /// When `frame_size` is `None`: the clip's picture scaled down (aspect kept) to fit this.
    pub max_frame_size: Option<(u32, u32)>,
    pub audio: AudioOutputMode,
    /// Video decoder threads; 0 lets ffmpeg choose.
    pub decoder_threads: usize,
    /// Decoded frames that may wait ahead of playback (bounds memory).
    pub video_queue_frames: usize,
    /// Skip decoding frames that nothing refers to on the way to a seek target (default on;
    /// off only to measure what it saves).
    pub fast_seek: bool,
}

impl Default for PlayerOptions {
    fn default() -> Self {
        Self {
            frame_size: None,
            max_frame_size: None,
            audio: AudioOutputMode::Auto,
            decoder_threads: 0,
            video_queue_frames: 8,
            fast_seek: true,
        }
    }
}

struct VideoTrack {
    worker: VideoWorker,
    epoch: u64,
    /// The frame on screen (may belong to an older epoch until the first new frame arrives).
    current: Option<VideoFrame>,
    /// The frame after `current`, received but not yet due.
    next: Option<VideoFrame>,
    /// Seek target whose first frame has not arrived yet.
    awaiting: Option<f64>,
    ended: bool,
    error: Option<MediaError>,
    frame_secs: f64,
}

impl VideoTrack {
    fn seek(&mut self, secs: f64) {
        self.epoch += 1;
        self.next = None;
        self.ended = false;
        self.awaiting = Some(secs);
        self.worker.command(VideoCommand::Seek { secs, epoch: self.epoch });
    }

    fn current_is_fresh(&self) -> bool {
        self.current.as_ref().is_some_and(|frame| frame.epoch == self.epoch)
    }

    /// Takes in decoded frames up to time `secs`; waits up to `wait` for the first event.
    fn pull(&mut self, secs: f64, mut wait: Option<Duration>) {
        loop {
            if self.next.as_ref().is_some_and(|next| next.pts_secs <= secs + TIME_EPSILON_SECS) {
                self.current = self.next.take();
                continue;
            }
            if self.next.is_some() {
                return;
            }
            let event = match wait.take() {
                Some(timeout) => match self.worker.events().recv_timeout(timeout) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => return,
                    Err(RecvTimeoutError::Disconnected) => return self.mark_gone(),
                },
                None => match self.worker.events().try_recv() {
                    Ok(event) => event,
                    Err(TryRecvError::Empty) => return,
                    Err(TryRecvError::Disconnected) => return self.mark_gone(),
                },
            };
            if event.epoch() != self.epoch {
                continue;
            }
            self.awaiting = None;
            match event {
                VideoEvent::Frame(frame) if !self.current_is_fresh() => self.current = Some(frame),
                VideoEvent::Frame(frame) => self.next = Some(frame),
                VideoEvent::End { .. } => self.ended = true,
                VideoEvent::Failed { error, .. } => {
                    self.ended = true;
                    self.error = Some(error);
                }
            }
        }
    }

    fn mark_gone(&mut self) {
        self.ended = true;
        self.awaiting = None;
    }

    /// Whether the decoder must jump to show `secs` instead of decoding forward to it.
    fn needs_seek(&self, secs: f64, playing: bool) -> bool {
        if let Some(target) = self.awaiting {
            return (secs - target).abs() > self.frame_secs.max(TIME_EPSILON_SECS) && !playing;
        }
        let Some(current) = self.current.as_ref().filter(|_| self.current_is_fresh()) else {
            return !self.ended;
        };
        if secs + TIME_EPSILON_SECS < current.pts_secs {
            return true;
        }
        if current.covers(secs) {
            return false;
        }
        let newest = self.next.as_ref().unwrap_or(current).pts_secs;
        if secs > newest + RESEEK_AHEAD_SECS {
            return true;
        }
        // Paused, the decoder waits after one frame: step to the frame by seeking.
        !playing && self.next.is_none() && !self.ended
    }

    /// The frame on screen if it is the right one for `secs`.
    fn ready_for(&self, secs: f64) -> bool {
        match &self.current {
            Some(frame) if frame.epoch == self.epoch => {
                frame.covers(secs) || self.ended || self.next.as_ref().is_some_and(|n| n.pts_secs > secs)
            }
            _ => self.ended && self.awaiting.is_none(),
        }
    }
}

struct AudioTrack {
    worker: AudioWorker,
    shared: Arc<AudioShared>,
    epoch: u64,
    /// Keeps the device sink alive; `None` in external mode.
    _output: Option<DeviceOutput>,
    /// The feed, until the caller takes it (external mode only).
    feed: Option<AudioFeed>,
}

/// Plays one clip (or a span of it). All methods are cheap and meant to be called from the UI
/// thread each frame; decoding runs on the player's named threads.
///
/// Time is file time in seconds throughout. The clock follows the audio output's position while
/// audio plays and is a monotonic clock otherwise.
pub struct Player {
    info: MediaInfo,
    clock: PlaybackClock,
    playing: bool,
    looping: bool,
    /// What looping repeats; `None`: the whole span.
    loop_span: Option<TimeSpan>,
    speed: f64,
    volume: f32,
    muted: bool,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    /// When the clock was last corrected towards the audio position.
    last_audio_sync: Option<Instant>,
    /// Since when the clock has been waiting for sound to flow.
    audio_wait_since: Option<Instant>,
    notices: Vec<String>,
    /// Why the clip's audio is not heard, while that lasts ("audio output unavailable: …").
    audio_unavailable: Option<String>,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player").field("path", &self.info.path).field("playing", &self.playing).finish_non_exhaustive()
    }
}

impl Player {
    /// Opens `path` (decoding its first frames to catch damaged files now rather than later) and
    /// shows the first frame of the span, paused.
    pub fn open(path: &Path, span: TimeSpan, options: &PlayerOptions) -> Result<Self, MediaError> {
        let info = probe(path, span)?;
        let start = info.span.start_secs;
        let mut notices = Vec::new();
        let video = if let Some(video_info) = &info.video {
            let fitted = options.max_frame_size.map(|max| fit_within((video_info.width, video_info.height), max));
            let setup = VideoSetup {
                threads: options.decoder_threads,
                span_end_secs: info.span.end_secs,
                frame_size: options.frame_size.or(fitted),
                start_secs: start,
                fast_seek: options.fast_seek,
            };
            let (worker, frame_secs) = VideoWorker::spawn(path, setup, options.video_queue_frames)?;
            Some(VideoTrack {
                worker,
                epoch: 0,
                current: None,
                next: None,
                awaiting: Some(start),
                ended: false,
                error: None,
                frame_secs,
            })
        } else {
            None
        };
        let mut audio_unavailable = None;
        let audio = match (&info.audio, options.audio.resolve()) {
            (None, _) => None,
            (Some(_), AudioOutputMode::Off) => {
                let why =
                    if options.audio == AudioOutputMode::Auto { "turned off by UNIVA_AUDIO" } else { "turned off" };
                audio_unavailable = Some(format!("audio output unavailable: {why}; playing without sound"));
                None
            }
            (Some(_), AudioOutputMode::External) => Some(Self::start_audio(path, &info, None)?),
            (Some(_), AudioOutputMode::Auto) => match DeviceOutput::open() {
                Ok(output) => Some(Self::start_audio(path, &info, Some(output))?),
                Err(reason) => {
                    let notice = format!("audio output unavailable: {reason}; playing without sound");
                    notices.push(notice.clone());
                    audio_unavailable = Some(notice);
                    None
                }
            },
        };
        Ok(Self {
            info,
            clock: PlaybackClock::new(start),
            playing: false,
            looping: false,
            loop_span: None,
            speed: 1.0,
            volume: 1.0,
            muted: false,
            video,
            audio,
            last_audio_sync: None,
            audio_wait_since: None,
            notices,
            audio_unavailable,
        })
    }

    fn start_audio(path: &Path, info: &MediaInfo, output: Option<DeviceOutput>) -> Result<AudioTrack, MediaError> {
        let mut decoder = AudioStreamDecoder::open(path, output.as_ref().map(DeviceOutput::format))?;
        decoder.set_span_end(info.span.end_secs);
        let (sample_rate, channels) = decoder.output_format();
        let (chunk_tx, chunk_rx) = sync_channel(AUDIO_QUEUE_CHUNKS);
        let shared = Arc::new(AudioShared::new());
        let worker = AudioWorker::spawn(decoder, info.span.start_secs, chunk_tx)?;
        let feed = AudioFeed::new(chunk_rx, Arc::clone(&shared), sample_rate, channels);
        let feed = match &output {
            Some(output) => {
                output.play(feed);
                None
            }
            None => Some(feed),
        };
        Ok(AudioTrack { worker, shared, epoch: 0, _output: output, feed })
    }

    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    pub fn span(&self) -> TimeSpan {
        self.info.span
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn volume(&self) -> f32 {
        self.volume
    }

    pub fn is_muted(&self) -> bool {
        self.muted
    }

    pub fn is_looping(&self) -> bool {
        self.looping
    }

    /// Whether decoded audio goes to a sound output or an external feed.
    pub fn has_audio_output(&self) -> bool {
        self.audio.is_some()
    }

    /// Why the clip's sound is not played (no output device, or output turned off); `None` while
    /// it plays or when the clip has no audio.
    pub fn audio_unavailable(&self) -> Option<&str> {
        self.audio_unavailable.as_deref()
    }

    /// The video's frame duration, if the clip has video.
    pub fn frame_secs(&self) -> Option<f64> {
        self.video.as_ref().map(|track| track.frame_secs)
    }

    /// Messages for the user that arrived since the last call (e.g. "audio output unavailable: …",
    /// reported once per player).
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// A video decoding error that stopped the picture, if one happened since the last call.
    pub fn take_error(&mut self) -> Option<MediaError> {
        self.video.as_mut().and_then(|track| track.error.take())
    }

    /// In [`AudioOutputMode::External`] mode, the source to pull samples from (once).
    pub fn take_audio_feed(&mut self) -> Option<AudioFeed> {
        self.audio.as_mut().and_then(|track| track.feed.take())
    }

    /// The playback position. While audio plays, the clock is slaved to the audio output's
    /// position (smoothed over [`AUDIO_SLEW_SECS`], so it never drifts from the sound yet moves
    /// evenly); otherwise it is the monotonic clock.
    pub fn position_secs(&mut self) -> f64 {
        let now = Instant::now();
        let mut secs = self.clock.at(now);
        let audio = self.audio.as_ref().filter(|_| self.playing);
        let audio_position = audio.and_then(|a| a.shared.flowing_position());
        // Sound expected but not flowing yet (a device starting, the decoder refilling after a
        // seek): the picture waits for it, for at most AUDIO_WAIT_SECS.
        let waiting = audio.is_some_and(|a| !a.worker.ended())
            && audio_position.is_none()
            && now.duration_since(*self.audio_wait_since.get_or_insert(now)).as_secs_f64() < AUDIO_WAIT_SECS;
        if audio_position.is_some() {
            self.audio_wait_since = None;
        }
        if waiting && self.clock.is_running() {
            self.clock.pause();
            secs = self.clock.now_secs();
        } else if !waiting && self.playing && !self.clock.is_running() {
            self.clock.play();
        }
        if let Some(audio_secs) = audio_position {
            let error = audio_secs - secs;
            if error.abs() > AUDIO_RESYNC_SECS {
                secs = audio_secs;
            } else {
                let since = self.last_audio_sync.map_or(f64::INFINITY, |t| now.duration_since(t).as_secs_f64());
                secs += error * (1.0 - (-since / AUDIO_SLEW_SECS).exp());
            }
            // Never ahead of the audio handed to the device: if it stalls (a device starting up,
            // a busy sound server), the picture waits for the sound.
            secs = secs.min(audio_secs);
            self.clock.set_at(secs, now);
            self.last_audio_sync = Some(now);
        }
        self.clamp_to_span(secs)
    }

    fn clamp_to_span(&self, secs: f64) -> f64 {
        let secs = secs.max(self.info.span.start_secs);
        self.info.span.end_secs.map_or(secs, |end| secs.min(end))
    }

    /// Whether playback has reached the end of the span (or of the streams, when the length is unknown).
    fn reached_end(&self, secs: f64) -> bool {
        match self.info.span.end_secs {
            Some(end) => secs >= end - TIME_EPSILON_SECS,
            None => {
                self.video.as_ref().is_none_or(|v| v.ended && v.next.is_none())
                    && self.audio.as_ref().is_none_or(|a| a.worker.ended())
            }
        }
    }

    fn reached_loop_end(&self, secs: f64) -> bool {
        match self.loop_span.and_then(|span| span.end_secs) {
            Some(end) => secs >= end - TIME_EPSILON_SECS,
            None => self.reached_end(secs),
        }
    }

    /// Advances playback: handles the end of the span (loop or stop there), takes in decoded
    /// frames, and returns the position. Call once per UI frame.
    pub fn update(&mut self) -> f64 {
        let mut secs = self.position_secs();
        if self.playing && self.looping && self.reached_loop_end(secs) {
            secs = self.loop_span.map_or(self.info.span.start_secs, |span| span.start_secs);
            self.seek(secs);
        } else if self.playing && self.reached_end(secs) {
            self.pause();
            secs = self.position_secs();
        }
        if let Some(track) = &mut self.video {
            track.pull(secs, None);
        }
        secs
    }

    /// The frame to show at `secs` (normally [`Self::update`]'s position); asks the decoder to
    /// jump when `secs` is far from what it has decoded. Never blocks: until the right frame is
    /// decoded, the last frame shown is returned.
    pub fn frame_at(&mut self, secs: f64) -> Option<&VideoFrame> {
        let playing = self.playing;
        let track = self.video.as_mut()?;
        track.pull(secs, None);
        if track.needs_seek(secs, playing) {
            track.seek(secs);
            track.pull(secs, None);
        }
        track.current.as_ref()
    }

    /// Like [`Self::frame_at`], but waits (up to `timeout`) until the frame for `secs` is decoded.
    pub fn wait_frame_at(&mut self, secs: f64, timeout: Duration) -> Result<Option<&VideoFrame>, MediaError> {
        let playing = self.playing;
        let path = self.info.path.clone();
        let Some(track) = self.video.as_mut() else {
            return Ok(None);
        };
        let deadline = Instant::now() + timeout;
        track.pull(secs, None);
        if track.needs_seek(secs, playing) {
            track.seek(secs);
        }
        loop {
            if let Some(error) = track.error.take() {
                return Err(error);
            }
            if track.ready_for(secs) {
                return Ok(track.current.as_ref());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(MediaError::Timeout { path, what: "video frame", waited_secs: timeout.as_secs_f64() });
            }
            track.pull(secs, Some((deadline - now).min(Duration::from_millis(20))));
        }
    }

    pub fn play(&mut self) {
        if self.playing {
            return;
        }
        let secs = self.position_secs();
        if self.info.span.end_secs.is_some() && self.reached_end(secs) {
            let restart = self.loop_span.filter(|_| self.looping).unwrap_or(self.info.span);
            self.seek(restart.start_secs);
        }
        self.playing = true;
        // With sound, the clock starts when the sound does (see `position_secs`).
        self.audio_wait_since = None;
        if self.audio.is_none() {
            self.clock.play();
        }
        if let Some(track) = &self.video {
            track.worker.command(VideoCommand::Play);
        }
        if let Some(track) = &self.audio {
            track.shared.set_paused(false);
        }
    }

    pub fn pause(&mut self) {
        let secs = self.position_secs();
        self.playing = false;
        self.clock.pause();
        self.clock.set(secs);
        if let Some(track) = &self.video {
            track.worker.command(VideoCommand::Pause);
        }
        if let Some(track) = &self.audio {
            track.shared.set_paused(true);
        }
    }

    pub fn toggle_play(&mut self) {
        if self.playing { self.pause() } else { self.play() }
    }

    /// Jumps to `secs` (clamped to the span); frames and audio from before the jump are dropped.
    pub fn seek(&mut self, secs: f64) {
        let secs = self.clamp_to_span(secs);
        self.clock.set(secs);
        self.audio_wait_since = None;
        if let Some(track) = &mut self.video {
            track.seek(secs);
        }
        if let Some(track) = &mut self.audio {
            track.epoch += 1;
            track.shared.begin_epoch(track.epoch);
            track.worker.seek(secs, track.epoch);
        }
    }

    /// Steps `frames` video frames forwards (or back, when negative) from the frame at the
    /// current position; without video, `frames` × [`STEP_WITHOUT_VIDEO_SECS`].
    pub fn step_frames(&mut self, frames: i32) {
        let secs = self.position_secs();
        let Some(track) = &self.video else {
            self.seek(secs + f64::from(frames) * STEP_WITHOUT_VIDEO_SECS);
            return;
        };
        let step = track.frame_secs;
        // The decoded frame's own time when it is the one at `secs` (it may still be on its way
        // after a seek); otherwise frames are taken to lie on the frame-rate grid.
        let start = match &track.current {
            Some(frame) if track.current_is_fresh() && frame.covers(secs) => frame.pts_secs,
            _ => ((secs + TIME_EPSILON_SECS) / step).floor() * step,
        };
        // Aim at the middle of the frame, so that rounding never lands on its neighbour.
        self.seek(start + (f64::from(frames) + 0.5) * step);
    }

    /// Playback speed, clamped to 0.25–2×. Audio is simply resampled (pitch follows speed).
    pub fn set_speed(&mut self, speed: f64) {
        let speed = speed.clamp(*SPEED_RANGE.start(), *SPEED_RANGE.end());
        let secs = self.position_secs();
        self.clock.set(secs);
        self.clock.set_speed(speed);
        self.speed = speed;
        if let Some(track) = &self.audio {
            track.shared.set_speed(speed as f32);
        }
    }

    /// Volume from 0 (silent) to 1 (as decoded).
    pub fn set_volume(&mut self, volume: f32) {
        self.volume = volume.clamp(0.0, 1.0);
        if let Some(track) = &self.audio {
            track.shared.set_volume(self.volume);
        }
    }

    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
        if let Some(track) = &self.audio {
            track.shared.set_muted(muted);
        }
    }

    /// When on, reaching the end of the span jumps back to its start and keeps playing.
    pub fn set_looping(&mut self, looping: bool) {
        self.looping = looping;
    }

    /// What looping repeats: a part of the span (e.g. an utterance inside the context shown
    /// around it), clamped to the span; `None` repeats the whole span.
    pub fn set_loop_span(&mut self, span: Option<TimeSpan>) {
        self.loop_span = span.map(|span| {
            let start = self.clamp_to_span(span.start_secs);
            TimeSpan::new(start, span.end_secs.map(|end| self.clamp_to_span(end)))
        });
    }

    /// Changes the size of the RGBA frames decoded from now on.
    pub fn set_frame_size(&mut self, size: Option<(u32, u32)>) {
        if let Some(track) = &self.video {
            track.worker.command(VideoCommand::Resize(size));
        }
    }
}
