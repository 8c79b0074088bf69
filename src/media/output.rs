//! Audio output: the rodio source that plays decoded chunks ([`AudioFeed`]) and reports the
//! position it has reached (the master clock), and opening the default device (or not).
//!
//! **Speed change simply resamples**: at speed `s` the feed reads `s` input frames per output
//! frame with linear interpolation, so pitch rises and falls with speed (no time stretching).

use std::num::NonZero;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use super::audio::AudioChunk;

/// Whether the engine opens a sound output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioOutputMode {
    /// Open the default output unless `UNIVA_AUDIO=off`; without a sound card, play silently.
    #[default]
    Auto,
    /// Never open an output; the clock is monotonic.
    Off,
    /// Decode audio but hand the [`AudioFeed`] to the caller (tests, benchmarks, custom
    /// outputs) through [`crate::media::Player::take_audio_feed`].
    External,
}

impl AudioOutputMode {
    /// `Auto` becomes `Off` when the environment variable `UNIVA_AUDIO` is `off`, `0`, `false`
    /// or `none` (CI, batch jobs).
    pub fn resolve(self) -> Self {
        self.resolve_with(std::env::var("UNIVA_AUDIO").ok().as_deref())
    }

    /// [`Self::resolve`] with the variable's value given.
    pub fn resolve_with(self, univa_audio: Option<&str>) -> Self {
        let disabled = univa_audio
            .is_some_and(|value| matches!(value.trim().to_ascii_lowercase().as_str(), "off" | "0" | "false" | "none"));
        match self {
            Self::Auto if disabled => Self::Off,
            other => other,
        }
    }
}

/// State shared between the player and the feed running on the output's thread.
#[derive(Debug)]
pub(crate) struct AudioShared {
    /// Current seek generation; chunks of other generations are dropped.
    pub(crate) epoch: AtomicU64,
    /// File time of the next frame the feed outputs (f64 bits).
    position_bits: AtomicU64,
    /// The epoch `position_bits` belongs to.
    position_epoch: AtomicU64,
    /// Set while the feed has no chunk to play (not while paused).
    starved: AtomicBool,
    paused: AtomicBool,
    speed_bits: AtomicU32,
    volume_bits: AtomicU32,
    muted: AtomicBool,
}

impl AudioShared {
    pub(crate) fn new() -> Self {
        Self {
            epoch: AtomicU64::new(0),
            position_bits: AtomicU64::new(0f64.to_bits()),
            position_epoch: AtomicU64::new(u64::MAX),
            starved: AtomicBool::new(true),
            paused: AtomicBool::new(true),
            speed_bits: AtomicU32::new(1f32.to_bits()),
            volume_bits: AtomicU32::new(1f32.to_bits()),
            muted: AtomicBool::new(false),
        }
    }

    /// The position the feed has reached, if it is playing samples of the current epoch.
    pub(crate) fn flowing_position(&self) -> Option<f64> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let flowing = self.position_epoch.load(Ordering::Acquire) == epoch
            && !self.starved.load(Ordering::Acquire)
            && !self.paused.load(Ordering::Acquire);
        flowing.then(|| f64::from_bits(self.position_bits.load(Ordering::Acquire)))
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
    }

    pub(crate) fn set_speed(&self, speed: f32) {
        self.speed_bits.store(speed.to_bits(), Ordering::Release);
    }

    pub(crate) fn set_volume(&self, volume: f32) {
        self.volume_bits.store(volume.to_bits(), Ordering::Release);
    }

    pub(crate) fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Release);
    }

    pub(crate) fn begin_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Release);
    }
}

/// An endless rodio source over decoded chunks: silence while paused or starved, volume and mute
/// applied, speed by resampling. It is `Send` and is moved to the output device's thread.
pub struct AudioFeed {
    chunks: Receiver<AudioChunk>,
    shared: Arc<AudioShared>,
    chunk: Option<AudioChunk>,
    /// Fractional frame index into `chunk`.
    cursor: f64,
    sample_rate: u32,
    channels: u16,
    frame: Vec<f32>,
    next_in_frame: usize,
}

impl std::fmt::Debug for AudioFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioFeed").field("sample_rate", &self.sample_rate).field("channels", &self.channels).finish()
    }
}

impl AudioFeed {
    pub(crate) fn new(chunks: Receiver<AudioChunk>, shared: Arc<AudioShared>, sample_rate: u32, channels: u16) -> Self {
        let channels = channels.max(1);
        Self {
            chunks,
            shared,
            chunk: None,
            cursor: 0.0,
            sample_rate: sample_rate.max(1),
            channels,
            frame: vec![0.0; usize::from(channels)],
            next_in_frame: usize::from(channels),
        }
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn channel_count(&self) -> u16 {
        self.channels
    }

    /// The file time of the next frame this feed will output, if it is playing.
    pub fn position_secs(&self) -> Option<f64> {
        self.shared.flowing_position()
    }

    /// Fills `out` with interleaved samples, as an output device would pull them.
    pub fn fill(&mut self, out: &mut [f32]) {
        for sample in out {
            *sample = self.next_sample();
        }
    }

    fn next_sample(&mut self) -> f32 {
        if self.next_in_frame >= self.frame.len() {
            self.produce_frame();
            self.next_in_frame = 0;
        }
        let sample = self.frame.get(self.next_in_frame).copied().unwrap_or(0.0);
        self.next_in_frame += 1;
        sample
    }

    /// Computes the next output frame into `self.frame`.
    fn produce_frame(&mut self) {
        if self.shared.paused.load(Ordering::Acquire) {
            self.frame.fill(0.0);
            return;
        }
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        if !self.advance_to_chunk(epoch) {
            self.shared.starved.store(true, Ordering::Release);
            self.frame.fill(0.0);
            return;
        }
        let Some(chunk) = self.chunk.as_ref() else {
            return;
        };
        let channels = usize::from(self.channels);
        let index = self.cursor.floor() as usize;
        let frac = (self.cursor - index as f64) as f32;
        let next = (index + 1).min(chunk.frames().saturating_sub(1));
        let gain = if self.shared.muted.load(Ordering::Relaxed) {
            0.0
        } else {
            f32::from_bits(self.shared.volume_bits.load(Ordering::Relaxed))
        };
        for (channel, out) in self.frame.iter_mut().enumerate() {
            // Chunks carry the output's channel count, so `channel` is always in range.
            let a = chunk.samples.get(index * channels + channel).copied().unwrap_or(0.0);
            let b = chunk.samples.get(next * channels + channel).copied().unwrap_or(a);
            *out = (a + (b - a) * frac) * gain;
        }
        let position = chunk.start_secs + self.cursor / f64::from(self.sample_rate);
        self.shared.position_bits.store(position.to_bits(), Ordering::Release);
        self.shared.position_epoch.store(epoch, Ordering::Release);
        self.shared.starved.store(false, Ordering::Release);
        let speed = f64::from(f32::from_bits(self.shared.speed_bits.load(Ordering::Relaxed)));
        self.cursor += speed;
    }

    /// Makes `self.chunk` the chunk holding `self.cursor`, pulling new ones (and dropping stale
    /// ones) as needed; `false` if none is available.
    fn advance_to_chunk(&mut self, epoch: u64) -> bool {
        loop {
            match &self.chunk {
                Some(chunk) if chunk.epoch != epoch => {
                    self.chunk = None;
                    self.cursor = 0.0;
                }
                Some(chunk) if self.cursor >= chunk.frames() as f64 => {
                    self.cursor -= chunk.frames() as f64;
                    self.chunk = None;
                }
                Some(_) => break,
                None => match self.chunks.try_recv() {
                    Ok(chunk) if chunk.epoch == epoch => self.chunk = Some(chunk),
                    Ok(_) => {}
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => return false,
                },
            }
        }
        true
    }
}

impl Iterator for AudioFeed {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        Some(self.next_sample())
    }
}

impl rodio::Source for AudioFeed {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::new(self.channels).unwrap_or(NonZero::<u16>::MIN)
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        NonZero::new(self.sample_rate).unwrap_or(NonZero::<u32>::MIN)
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

/// An open sound output: rodio's device sink, kept alive while the player lives.
pub(crate) struct DeviceOutput {
    sink: rodio::stream::MixerDeviceSink,
}

impl DeviceOutput {
    /// Opens the default output device. Without a sound card this fails in a few milliseconds
    /// (rodio 0.23 returns an error; ALSA may print to stderr).
    pub(crate) fn open() -> Result<Self, String> {
        let mut sink = rodio::stream::DeviceSinkBuilder::open_default_sink().map_err(|e| e.to_string())?;
        sink.log_on_drop(false);
        Ok(Self { sink })
    }

    /// (sample rate, channels) of the device.
    pub(crate) fn format(&self) -> (u32, u16) {
        let config = self.sink.config();
        (config.sample_rate().get(), config.channel_count().get())
    }

    pub(crate) fn play(&self, feed: AudioFeed) {
        self.sink.mixer().add(feed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;

    fn chunk(start_secs: f64, values: &[f32], epoch: u64) -> AudioChunk {
        AudioChunk { start_secs, sample_rate: 10, channels: 1, samples: values.to_vec(), epoch }
    }

    #[test]
    fn univa_audio_off_disables_only_auto() {
        assert_eq!(AudioOutputMode::Auto.resolve_with(Some("off")), AudioOutputMode::Off);
        assert_eq!(AudioOutputMode::Auto.resolve_with(Some(" OFF ")), AudioOutputMode::Off);
        assert_eq!(AudioOutputMode::Auto.resolve_with(Some("0")), AudioOutputMode::Off);
        assert_eq!(AudioOutputMode::Auto.resolve_with(Some("on")), AudioOutputMode::Auto);
        assert_eq!(AudioOutputMode::Auto.resolve_with(None), AudioOutputMode::Auto);
        assert_eq!(AudioOutputMode::External.resolve_with(Some("off")), AudioOutputMode::External);
    }

    #[test]
    fn feed_reports_position_applies_gain_speed_and_drops_stale_chunks() {
        let (tx, rx) = sync_channel(8);
        let shared = Arc::new(AudioShared::new());
        let mut feed = AudioFeed::new(rx, Arc::clone(&shared), 10, 1);
        tx.send(chunk(5.0, &[0.0, 0.1, 0.2, 0.3], 0)).unwrap();
        let mut out = [1.0; 2];
        feed.fill(&mut out);
        assert_eq!(out, [0.0, 0.0], "paused feeds output silence");
        assert_eq!(shared.flowing_position(), None);
        shared.set_paused(false);
        shared.set_volume(0.5);
        feed.fill(&mut out);
        assert_eq!(out, [0.0, 0.05]);
        assert_eq!(shared.flowing_position(), Some(5.1));
        shared.set_speed(2.0);
        feed.fill(&mut out[..1]);
        assert!((out[0] - 0.1).abs() < 1e-6);
        // A seek: the rest of the old chunk and any queued old chunk are dropped.
        tx.send(chunk(6.0, &[0.9], 0)).unwrap();
        tx.send(chunk(9.0, &[0.4, 0.4], 1)).unwrap();
        shared.begin_epoch(1);
        shared.set_speed(1.0);
        shared.set_muted(true);
        feed.fill(&mut out[..1]);
        assert_eq!(out[0], 0.0);
        assert_eq!(shared.flowing_position(), Some(9.0));
        shared.set_muted(false);
        feed.fill(&mut out);
        assert!((out[0] - 0.2).abs() < 1e-6);
        assert_eq!(out[1], 0.0, "starved after the last chunk");
        assert_eq!(shared.flowing_position(), None);
    }
}
