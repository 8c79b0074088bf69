//! The player panel: the selected utterance's clip (its span with some context around it), a
//! transport bar, and a timeline with the waveform, the utterance's span and the playhead.
//!
//! One [`Player`] is shown at a time; clips are opened on the media room's opener thread, so
//! selecting another utterance never waits for ffmpeg. The panel's state changes only through
//! [`Transport`] commands and [`PlayerPanel::tick`], called from the app's `logic`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::media::{
    AudioOutputMode, Player, PlayerOpener, PlayerOptions, SPEED_RANGE, TimeSpan, WaveformCache, WaveformState,
};

use super::commands::Command;
use super::session::Session;
use super::settings::PlaybackSettings;
use super::theme;

/// Context shown around an utterance's span: this fraction of its length on each side...
const CONTEXT_FRACTION: f64 = 0.25;
/// ...but at least this many seconds.
const CONTEXT_MIN_SECS: f64 = 1.0;
/// Frames are decoded at most this large (the panel never shows them larger).
const MAX_FRAME_SIZE: (u32, u32) = (960, 540);
/// Waveform bins drawn under the timeline.
const WAVEFORM_BINS: usize = 600;
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
    SetShown(bool),
}

/// The clip shown for the selected utterance.
enum Clip {
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
struct Spans {
    /// The utterance (`None`: the whole clip is the utterance).
    utterance: Option<TimeSpan>,
    /// What the player plays: the utterance and some context.
    window: TimeSpan,
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
    spans: Option<Spans>,
    clip: Clip,
    texture: Option<egui::TextureHandle>,
    shown_pts_secs: Option<f64>,
    position_secs: f64,
    waveforms: Option<WaveformCache>,
    /// Decoding errors and notices of the current clip.
    messages: Vec<String>,
    /// Height of the panel with a clip, kept while the next clip opens so the layout holds still.
    ready_height: f32,
    /// While paused, redraw until then so a seek's frame shows (see [`SETTLE`]).
    settle_until: Option<Instant>,
    /// The timeline drew a waveform still being computed.
    waveform_pending: bool,
}

/// How long a paused player keeps polling after a change (open, seek, step) for the decoder's
/// frame. Polling forever would redraw an idle window 20 times a second.
pub(super) const SETTLE: Duration = Duration::from_secs(1);

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

    pub fn is_ready(&self) -> bool {
        matches!(self.clip, Clip::Ready(_))
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
            Transport::SetShown(shown) => playback.show_player = shown,
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
            Transport::SetShown(shown) => {
                if !shown && player.is_playing() {
                    player.pause();
                }
            }
        }
        self.position_secs = player.update();
        self.settle_until = Some(Instant::now() + SETTLE);
    }
}

/// Draws the panel: picture, transport and timeline, or why there is nothing to play.
pub fn player_ui(ui: &mut egui::Ui, panel: &mut PlayerPanel, playback: PlaybackSettings, commands: &mut Vec<Command>) {
    let status = match &panel.clip {
        Clip::Nothing => Some("Select an utterance to play its clip.".to_owned()),
        Clip::NoMedia => Some("no media: this utterance has no clip".to_owned()),
        Clip::Opening { path } => Some(format!("opening {}…", path.display())),
        Clip::Failed(error) => Some(error.clone()),
        Clip::Ready(_) => None,
    };
    if let Some(status) = status {
        let color =
            if matches!(panel.clip, Clip::Failed(_)) { theme::ERROR_TEXT } else { ui.visuals().weak_text_color() };
        let height = if panel.is_opening() { panel.ready_height } else { 0.0 };
        ui.add_sized(
            [ui.available_width(), height.max(theme::PLAYER_EMPTY_HEIGHT)],
            egui::Label::new(egui::RichText::new(status).color(color)),
        );
        return;
    }
    let top = ui.cursor().top();
    ready_ui(ui, panel, playback, commands);
    panel.ready_height = ui.cursor().top() - top - ui.spacing().item_spacing.y;
}

fn ready_ui(ui: &mut egui::Ui, panel: &mut PlayerPanel, playback: PlaybackSettings, commands: &mut Vec<Command>) {
    let Clip::Ready(player) = &mut panel.clip else { return };
    let spans = panel.spans.unwrap_or(Spans { utterance: None, window: player.span() });
    let window = player.span();
    let window_end = panel_window_end(window, panel.position_secs);
    let wide = ui.available_width() >= theme::PLAYER_SIDE_BY_SIDE_WIDTH;
    // The picture gives way to the VA plane below it on short windows.
    let picture_height = if wide { theme::PLAYER_PICTURE_HEIGHT } else { theme::PLAYER_PICTURE_HEIGHT_NARROW }
        .min(ui.available_height() * theme::PLAYER_PICTURE_HEIGHT_SHARE);
    let picture = |ui: &mut egui::Ui| {
        let size = egui::vec2(picture_height * 16.0 / 9.0, picture_height);
        match &panel.texture {
            Some(texture) => {
                let image_size = texture.size_vec2();
                let scale = (size.x / image_size.x).min(size.y / image_size.y).max(0.01);
                ui.add_sized(size, egui::Image::new((texture.id(), image_size * scale)));
            }
            None => {
                ui.add_sized(size, egui::Label::new(egui::RichText::new("decoding…").weak()));
            }
        }
    };
    let mut controls = |ui: &mut egui::Ui| {
        transport_ui(ui, player, panel.position_secs, window.start_secs..=window_end, playback, commands);
        if let Some(reason) = player.audio_unavailable() {
            ui.colored_label(ui.visuals().warn_fg_color, reason);
        }
        for message in &panel.messages {
            ui.colored_label(theme::ERROR_TEXT, message);
        }
    };
    if wide {
        ui.horizontal_top(|ui| {
            picture(ui);
            ui.vertical(controls);
        });
    } else {
        ui.vertical_centered(picture);
        controls(ui);
    }
    let waveform = match (&mut panel.waveforms, player.info().audio.is_some()) {
        (Some(cache), true) => {
            Some(cache.get(&player.info().path, TimeSpan::new(window.start_secs, Some(window_end)), WAVEFORM_BINS))
        }
        _ => None,
    };
    panel.waveform_pending = matches!(waveform, Some(WaveformState::Pending));
    let marks = TimelineMarks {
        window_start: window.start_secs,
        window_end,
        utterance: spans.utterance,
        position: panel.position_secs,
    };
    if let Some(secs) = timeline_ui(ui, waveform.as_ref(), marks) {
        commands.push(Command::Transport(Transport::Seek(secs)));
    }
}

fn transport_ui(
    ui: &mut egui::Ui,
    player: &Player,
    position_secs: f64,
    range: std::ops::RangeInclusive<f64>,
    playback: PlaybackSettings,
    commands: &mut Vec<Command>,
) {
    let mut push = |transport| commands.push(Command::Transport(transport));
    ui.horizontal(|ui| {
        let label = if player.is_playing() { "Pause" } else { "Play" };
        if ui.button(label).on_hover_text("Space").clicked() {
            push(Transport::TogglePlay);
        }
        let mut position = position_secs;
        widen_sliders(ui);
        let slider = egui::Slider::new(&mut position, range).suffix(" s").fixed_decimals(2).text("position");
        let response = ui.add(slider);
        // Only the user's drag or click seeks; the slider follows playback otherwise.
        if response.changed() && (response.dragged() || response.clicked() || response.has_focus()) {
            push(Transport::Seek(position));
        }
    });
    ui.horizontal(|ui| {
        widen_sliders(ui);
        let mut speed = playback.speed;
        if ui.add(egui::Slider::new(&mut speed, SPEED_RANGE).text("speed").suffix("×").fixed_decimals(2)).changed() {
            push(Transport::SetSpeed(speed));
        }
    });
    ui.horizontal(|ui| {
        widen_sliders(ui);
        let mut volume = playback.volume;
        if ui.add_enabled(!playback.muted, egui::Slider::new(&mut volume, 0.0..=1.0).text("volume")).changed() {
            push(Transport::SetVolume(volume));
        }
    });
    // The toggles share a row so the sliders above keep the column's width.
    ui.horizontal(|ui| {
        let mut looping = playback.looping;
        if ui.checkbox(&mut looping, "Loop utterance").on_hover_text("L").changed() {
            push(Transport::SetLooping(looping));
        }
        let mut muted = playback.muted;
        if ui.checkbox(&mut muted, "Mute").changed() {
            push(Transport::SetMuted(muted));
        }
    });
}

/// Sliders added next in this row take its remaining width, less room for their value box and
/// name.
fn widen_sliders(ui: &mut egui::Ui) {
    ui.spacing_mut().slider_width = (ui.available_width() - theme::SLIDER_VALUE_WIDTH).max(theme::SLIDER_MIN_WIDTH);
}

/// Where the timeline ends: the window's end, or (a clip of unknown length) the playhead or a
/// second in.
fn panel_window_end(window: TimeSpan, position_secs: f64) -> f64 {
    window.end_secs.unwrap_or(position_secs.max(window.start_secs + 1.0))
}

/// What the timeline marks, in file seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct TimelineMarks {
    pub(super) window_start: f64,
    pub(super) window_end: f64,
    /// The utterance's span, shaded.
    pub(super) utterance: Option<TimeSpan>,
    pub(super) position: f64,
}

/// The timeline: waveform envelope, utterance span, playhead. Returns the time to seek to when
/// it is clicked or dragged.
pub(super) fn timeline_ui(ui: &mut egui::Ui, waveform: Option<&WaveformState>, marks: TimelineMarks) -> Option<f64> {
    let size = egui::vec2(ui.available_width(), theme::TIMELINE_HEIGHT);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let length = (marks.window_end - marks.window_start).max(f64::EPSILON);
    let x_of = |secs: f64| rect.left() + rect.width() * (((secs - marks.window_start) / length) as f32).clamp(0.0, 1.0);
    if let Some(span) = marks.utterance {
        let end = span.end_secs.unwrap_or(marks.window_end);
        let shaded = egui::Rect::from_x_y_ranges(x_of(span.start_secs)..=x_of(end), rect.y_range());
        painter.rect_filled(shaded, 0.0, theme::UTTERANCE_SPAN);
        for x in [shaded.left(), shaded.right()] {
            painter
                .line_segment([egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())], (1.0, theme::UTTERANCE_EDGE));
        }
    }
    match waveform {
        Some(WaveformState::Ready(waveform)) => {
            let stroke = egui::Stroke::new(1.0, ui.visuals().widgets.inactive.fg_stroke.color);
            let bins = waveform.bins().max(1) as f32;
            for (i, (min, max)) in waveform.min.iter().zip(&waveform.max).enumerate() {
                let x = rect.left() + rect.width() * (i as f32 + 0.5) / bins;
                let y = |v: f32| rect.center().y - v.clamp(-1.0, 1.0) * rect.height() / 2.0;
                painter.line_segment([egui::pos2(x, y(*max)), egui::pos2(x, y(*min))], stroke);
            }
        }
        Some(WaveformState::Pending) => {
            let color = ui.visuals().weak_text_color();
            painter.text(rect.center(), egui::Align2::CENTER_CENTER, "waveform…", egui::FontId::default(), color);
        }
        Some(WaveformState::Failed(error)) => {
            let color = ui.visuals().warn_fg_color;
            painter.text(
                rect.left_center(),
                egui::Align2::LEFT_CENTER,
                error.to_string(),
                egui::FontId::default(),
                color,
            );
        }
        None => {}
    }
    let x = x_of(marks.position);
    painter.line_segment([egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())], (2.0, theme::PLAYHEAD));
    let pointer = response.interact_pointer_pos().filter(|_| response.clicked() || response.dragged())?;
    let fraction = f64::from(((pointer.x - rect.left()) / rect.width().max(1.0)).clamp(0.0, 1.0));
    Some(marks.window_start + fraction * length)
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
