//! The player's state: the selected utterance's clip (its span with some context around it),
//! the frame on screen, the waveform and the playhead (drawn by `panes/player.rs`).
//!
//! One [`Player`] is shown at a time; clips are opened on the media room's opener thread, so
//! selecting another utterance never waits for ffmpeg. The panel's state changes only through
//! [`Transport`] commands and [`PlayerPanel::tick`], called from the app's `logic`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::media::{AudioOutputMode, Player, PlayerOpener, PlayerOptions, SPEED_RANGE, TimeSpan, WaveformCache};

use super::session::Session;
use super::settings::PlaybackSettings;

/// Context shown around an utterance's span: this fraction of its length on each side...
const CONTEXT_FRACTION: f64 = 0.25;
/// ...but at least this many seconds.
const CONTEXT_MIN_SECS: f64 = 1.0;
/// Frames are decoded at most this large (the panel never shows them larger).
const MAX_FRAME_SIZE: (u32, u32) = (960, 540);
/// Waveform bins drawn under the timeline.
pub(in crate::ui) const WAVEFORM_BINS: usize = 600;
/// Seek step of ←/→ (one frame with shift).
pub const SEEK_STEP_SECS: f64 = 2.0;

/// What the transport controls and playback keys ask for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transport {
    TogglePlay,
    /// Jump to a file time.
    Seek(f64),
    /// Jump by this many seconds (←/→).
    SeekBy(f64),
    /// Step this many frames (shift+←/→); 0.2 s per step without video.
    StepFrames(i32),
    SetLooping(bool),
    ToggleLooping,
    SetSpeed(f64),
    SetVolume(f32),
    SetMuted(bool),
}

/// The clip shown for the selected utterance.
pub(in crate::ui) enum Clip {
    /// No utterance selected.
    Nothing,
    /// The utterance has no media.
    NoMedia,
    Opening {
        path: PathBuf,
    },
    Ready(Box<Player>),
    Failed(String),
}

/// Where the selected utterance lies in its clip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::ui) struct Spans {
    /// The utterance (`None`: the whole clip is the utterance).
    pub(in crate::ui) utterance: Option<TimeSpan>,
    /// What the player plays: the utterance and some context.
    pub(in crate::ui) window: TimeSpan,
}

impl Spans {
    fn around(start_secs: Option<f64>, end_secs: Option<f64>) -> Self {
        if start_secs.is_none() && end_secs.is_none() {
            return Self { utterance: None, window: TimeSpan::FULL };
        }
        let start = start_secs.unwrap_or(0.0).max(0.0);
        let context = end_secs.map_or(CONTEXT_MIN_SECS, |end| ((end - start) * CONTEXT_FRACTION).max(CONTEXT_MIN_SECS));
        // The player clamps the window's end to the clip's length.
        let window = TimeSpan::new((start - context).max(0.0), end_secs.map(|end| end + context));
        Self { utterance: Some(TimeSpan::new(start, end_secs)), window }
    }
}

/// State of the player panel (not persisted: it belongs to the open dataset).
pub struct PlayerPanel {
    opener: Option<PlayerOpener>,
    audio_mode: AudioOutputMode,
    /// The utterance whose clip is shown or opening: its dataset's folder and its index there
    /// (another dataset's utterance of the same index is another clip).
    utterance: Option<(PathBuf, usize)>,
    pub(in crate::ui) spans: Option<Spans>,
    pub(in crate::ui) clip: Clip,
    pub(in crate::ui) texture: Option<egui::TextureHandle>,
    shown_pts_secs: Option<f64>,
    pub(in crate::ui) position_secs: f64,
    pub(in crate::ui) waveforms: Option<WaveformCache>,
    /// Decoding errors and notices of the current clip.
    pub(in crate::ui) messages: Vec<String>,
    /// Height of the panel with a clip, kept while the next clip opens so the layout holds still.
    pub(in crate::ui) ready_height: f32,
    /// While paused, redraw until then so a seek's frame shows (see [`SETTLE`]).
    settle_until: Option<Instant>,
    /// The timeline drew a waveform still being computed.
    pub(in crate::ui) waveform_pending: bool,
}

/// How long a paused player keeps polling after a change (open, seek, step) for the decoder's
/// frame. Polling forever would redraw an idle window 20 times a second.
pub const SETTLE: Duration = Duration::from_secs(1);

impl std::fmt::Debug for PlayerPanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayerPanel").field("utterance", &self.utterance).finish_non_exhaustive()
    }
}

impl Default for PlayerPanel {
    fn default() -> Self {
        Self::new(AudioOutputMode::Auto)
    }
}

impl PlayerPanel {
    /// `audio_mode` as for [`PlayerOptions::audio`] (`Auto` honours `UNIVA_AUDIO=off`).
    pub fn new(audio_mode: AudioOutputMode) -> Self {
        Self {
            opener: None,
            audio_mode,
            utterance: None,
            spans: None,
            clip: Clip::Nothing,
            texture: None,
            shown_pts_secs: None,
            position_secs: 0.0,
            waveforms: None,
            messages: Vec::new(),
            ready_height: 0.0,
            settle_until: None,
            waveform_pending: false,
        }
    }

    pub fn is_playing(&self) -> bool {
        matches!(&self.clip, Clip::Ready(player) if player.is_playing())
    }

    pub fn is_opening(&self) -> bool {
        matches!(self.clip, Clip::Opening { .. })
    }

    /// The playback position (file seconds) as of the last tick.
    pub fn position_secs(&self) -> f64 {
        self.position_secs
    }

    /// Whether a frame has been uploaded to a texture.
    pub fn has_picture(&self) -> bool {
        self.texture.is_some()
    }

    /// The timeline's window (file seconds) while a clip is ready: what strips drawn under it
    /// share as their axis.
    pub fn timeline_window(&self) -> Option<(f64, f64)> {
        let Clip::Ready(player) = &self.clip else { return None };
        let window = player.span();
        Some((window.start_secs, panel_window_end(window, self.position_secs)))
    }

    /// The open player, if a clip is ready.
    pub fn player(&self) -> Option<&Player> {
        match &self.clip {
            Clip::Ready(player) => Some(player),
            _ => None,
        }
    }

    /// Shows the clip of `selected` (opening it in the background when the selection changed),
    /// advances playback and uploads a new frame when it changed. Called every frame.
    pub fn tick(
        &mut self,
        ctx: &egui::Context,
        session: Option<&Session>,
        selected: Option<usize>,
        playback: PlaybackSettings,
    ) {
        let selected = session.zip(selected);
        let shown = self.utterance.as_ref().map(|(root, index)| (root, *index));
        if selected.map(|(session, index)| (&session.dataset.root, index)) != shown {
            self.switch_to(selected);
        }
        self.receive_opened(playback);
        let Clip::Ready(player) = &mut self.clip else {
            if self.is_opening() {
                ctx.request_repaint_after(Duration::from_millis(30));
            }
            return;
        };
        self.position_secs = player.update();
        self.messages.extend(player.take_notices().into_iter().filter(|n| player.audio_unavailable() != Some(n)));
        if let Some(error) = player.take_error() {
            self.messages.push(error.to_string());
        }
        if let Some(frame) = player.frame_at(self.position_secs)
            && (self.shown_pts_secs != Some(frame.pts_secs) || self.texture.is_none())
        {
            let size = [frame.width as usize, frame.height as usize];
            let image = egui::ColorImage::from_rgba_unmultiplied(size, &frame.rgba);
            self.shown_pts_secs = Some(frame.pts_secs);
            match &mut self.texture {
                Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
                None => {
                    self.texture = Some(ctx.load_texture("univa-player-frame", image, egui::TextureOptions::LINEAR));
                }
            }
        }
        // Playing: redraw at the display's rate. Paused: poll briefly for a seek's frame, and
        // until the waveform is ready; then stay idle.
        if player.is_playing() {
            ctx.request_repaint();
        } else if self.waveform_pending || self.settle_until.is_some_and(|until| Instant::now() < until) {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
    }

    /// Blocks until the clip being opened is ready or failed (tests have no event loop).
    pub fn wait_until_open(&mut self, playback: PlaybackSettings) {
        if !self.is_opening() {
            return;
        }
        let opened = self.opener.as_mut().and_then(PlayerOpener::wait);
        if let Some(opened) = opened {
            self.accept(opened.result, playback);
        }
    }

    fn switch_to(&mut self, selected: Option<(&Session, usize)>) {
        self.utterance = selected.map(|(session, index)| (session.dataset.root.clone(), index));
        self.texture = None;
        self.shown_pts_secs = None;
        self.messages.clear();
        self.spans = None;
        let old = std::mem::replace(&mut self.clip, Clip::Nothing);
        if let (Clip::Ready(player), Some(opener)) = (old, &self.opener) {
            opener.retire(*player);
        }
        let Some((session, index)) = selected else { return };
        let Some(utterance) = session.utterance(index) else { return };
        let (Some(media), Some(path)) = (&utterance.media, session.dataset.media_path(utterance)) else {
            self.clip = Clip::NoMedia;
            return;
        };
        let spans = Spans::around(media.start_secs, media.end_secs);
        self.spans = Some(spans);
        self.position_secs = spans.utterance.map_or(spans.window.start_secs, |u| u.start_secs);
        if self.opener.is_none() {
            match PlayerOpener::start() {
                Ok(opener) => self.opener = Some(opener),
                Err(error) => {
                    self.clip = Clip::Failed(format!("could not start the clip opener thread: {error}"));
                    return;
                }
            }
        }
        if self.waveforms.is_none() {
            match WaveformCache::new() {
                Ok(cache) => self.waveforms = Some(cache),
                Err(error) => self.messages.push(format!("waveform unavailable: {error}")),
            }
        }
        let Some(opener) = self.opener.as_mut() else { return };
        let options =
            PlayerOptions { max_frame_size: Some(MAX_FRAME_SIZE), audio: self.audio_mode, ..PlayerOptions::default() };
        self.clip = match opener.open(path.clone(), spans.window, options) {
            Ok(_) => Clip::Opening { path },
            Err(error) => Clip::Failed(error.to_string()),
        };
    }

    fn receive_opened(&mut self, playback: PlaybackSettings) {
        if !self.is_opening() {
            return;
        }
        if let Some(opened) = self.opener.as_mut().and_then(PlayerOpener::poll) {
            self.accept(opened.result, playback);
        }
    }

    fn accept(&mut self, result: Result<Player, crate::media::MediaError>, playback: PlaybackSettings) {
        self.clip = match result {
            Ok(mut player) => {
                player.set_speed(playback.speed);
                player.set_volume(playback.volume);
                player.set_muted(playback.muted);
                player.set_looping(playback.looping);
                let utterance = self.spans.and_then(|s| s.utterance);
                player.set_loop_span(utterance);
                if let Some(start) = utterance.map(|u| u.start_secs) {
                    player.seek(start);
                }
                self.position_secs = player.update();
                self.settle_until = Some(Instant::now() + SETTLE);
                Clip::Ready(Box::new(player))
            }
            Err(error) => Clip::Failed(error.to_string()),
        };
    }

    /// Applies a transport command; settings that outlive the clip are kept in `playback`.
    pub fn apply(&mut self, transport: Transport, playback: &mut PlaybackSettings) {
        match transport {
            Transport::SetLooping(on) => playback.looping = on,
            Transport::ToggleLooping => playback.looping = !playback.looping,
            Transport::SetSpeed(speed) => playback.speed = speed.clamp(*SPEED_RANGE.start(), *SPEED_RANGE.end()),
            Transport::SetVolume(volume) => playback.volume = volume.clamp(0.0, 1.0),
            Transport::SetMuted(muted) => playback.muted = muted,
            Transport::TogglePlay | Transport::Seek(_) | Transport::SeekBy(_) | Transport::StepFrames(_) => {}
        }
        let Clip::Ready(player) = &mut self.clip else { return };
        match transport {
            Transport::TogglePlay => player.toggle_play(),
            Transport::Seek(secs) => player.seek(secs),
            Transport::SeekBy(delta) => player.seek(self.position_secs + delta),
            Transport::StepFrames(frames) => player.step_frames(frames),
            Transport::SetLooping(_) | Transport::ToggleLooping => player.set_looping(playback.looping),
            Transport::SetSpeed(_) => player.set_speed(playback.speed),
            Transport::SetVolume(_) => player.set_volume(playback.volume),
            Transport::SetMuted(_) => player.set_muted(playback.muted),
        }
        self.position_secs = player.update();
        self.settle_until = Some(Instant::now() + SETTLE);
    }
}

/// Where the timeline ends: the window's end, or (a clip of unknown length) the playhead or a
/// second in.
pub(in crate::ui) fn panel_window_end(window: TimeSpan, position_secs: f64) -> f64 {
    window.end_secs.unwrap_or(position_secs.max(window.start_secs + 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_adds_context_around_the_utterance() {
        let spans = Spans::around(Some(10.0), Some(18.0));
        assert_eq!(spans.utterance, Some(TimeSpan::new(10.0, Some(18.0))));
        // A quarter of the 8 s span on each side.
        assert_eq!(spans.window, TimeSpan::new(8.0, Some(20.0)));
        // At least a second, and never before the clip's start.
        let short = Spans::around(Some(0.5), Some(1.5));
        assert_eq!(short.window, TimeSpan::new(0.0, Some(2.5)));
        // No span: the whole clip is the utterance.
        let whole = Spans::around(None, None);
        assert_eq!((whole.utterance, whole.window), (None, TimeSpan::FULL));
        // Only a start: from a second before it to the end of the clip.
        let open = Spans::around(Some(3.0), None);
        assert_eq!(open.window, TimeSpan::new(2.0, None));
    }
}
