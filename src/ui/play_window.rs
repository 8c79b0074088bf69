//! The minimal window of `univa play`: the clip's picture, a transport bar and the workbench's
//! timeline (waveform, playhead; click or drag to seek). Reads the player's state and changes it
//! only through [`PlayAction`]s.

use std::time::{Duration, Instant};

use eframe::egui;

use crate::media::{Player, SPEED_RANGE, TimeSpan, WaveformCache, WaveformState};

use super::state::player::SETTLE;
use super::widgets::timeline::{TimelineMarks, timeline_ui};

/// Waveform bins drawn under the timeline.
const WAVEFORM_BINS: usize = 600;

/// What the controls ask the player to do; applied in [`PlayWindow::apply`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum PlayAction {
    TogglePlay,
    Seek(f64),
    Speed(f64),
    Volume(f32),
    Mute(bool),
    Loop(bool),
}

pub struct PlayWindow {
    player: Player,
    texture: Option<egui::TextureHandle>,
    shown_pts_secs: Option<f64>,
    position_secs: f64,
    messages: Vec<String>,
    waveforms: Option<WaveformCache>,
    actions: Vec<PlayAction>,
    /// While paused, redraw until then so a seek's frame shows.
    settle_until: Instant,
    waveform_pending: bool,
}

impl std::fmt::Debug for PlayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayWindow").field("player", &self.player).finish_non_exhaustive()
    }
}

impl PlayWindow {
    /// Wraps an opened player; starts playing at once.
    pub fn new(mut player: Player) -> Self {
        let mut messages = player.take_notices();
        let waveforms = match WaveformCache::new() {
            Ok(cache) => Some(cache),
            Err(error) => {
                messages.push(format!("waveform unavailable: {error}"));
                None
            }
        };
        player.play();
        let position_secs = player.span().start_secs;
        Self {
            player,
            texture: None,
            shown_pts_secs: None,
            position_secs,
            messages,
            waveforms,
            actions: Vec::new(),
            settle_until: Instant::now() + SETTLE,
            waveform_pending: false,
        }
    }

    fn apply(&mut self, action: PlayAction) {
        self.settle_until = Instant::now() + SETTLE;
        match action {
            PlayAction::TogglePlay => self.player.toggle_play(),
            PlayAction::Seek(secs) => self.player.seek(secs),
            PlayAction::Speed(speed) => self.player.set_speed(speed),
            PlayAction::Volume(volume) => self.player.set_volume(volume),
            PlayAction::Mute(muted) => self.player.set_muted(muted),
            PlayAction::Loop(looping) => self.player.set_looping(looping),
        }
    }

    fn upload_frame(&mut self, ctx: &egui::Context) {
        let Some(frame) = self.player.frame_at(self.position_secs) else {
            return;
        };
        if self.shown_pts_secs == Some(frame.pts_secs) && self.texture.is_some() {
            return;
        }
        let image =
            egui::ColorImage::from_rgba_unmultiplied([frame.width as usize, frame.height as usize], &frame.rgba);
        self.shown_pts_secs = Some(frame.pts_secs);
        match &mut self.texture {
            Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
            None => self.texture = Some(ctx.load_texture("univa-play-frame", image, egui::TextureOptions::LINEAR)),
        }
    }

    fn transport_ui(&mut self, ui: &mut egui::Ui) {
        let span = self.player.span();
        let end = span.end_secs.unwrap_or(self.position_secs.max(span.start_secs + 1.0));
        ui.horizontal(|ui| {
            let label = if self.player.is_playing() { "Pause" } else { "Play" };
            if ui.button(label).clicked() {
                self.actions.push(PlayAction::TogglePlay);
            }
            let mut position = self.position_secs;
            let slider = egui::Slider::new(&mut position, span.start_secs..=end).suffix(" s");
            let response = ui.add_sized([ui.available_width() * 0.6, 18.0], slider);
            // Only a user's drag or click seeks; the slider follows playback otherwise.
            if response.changed() && (response.dragged() || response.clicked() || response.has_focus()) {
                self.actions.push(PlayAction::Seek(position));
            }
            let mut speed = self.player.speed();
            if ui.add(egui::Slider::new(&mut speed, SPEED_RANGE).text("speed").suffix("×")).changed() {
                self.actions.push(PlayAction::Speed(speed));
            }
        });
        ui.horizontal(|ui| {
            let mut muted = self.player.is_muted();
            if ui.checkbox(&mut muted, "mute").changed() {
                self.actions.push(PlayAction::Mute(muted));
            }
            let mut volume = self.player.volume();
            if ui.add(egui::Slider::new(&mut volume, 0.0..=1.0).text("volume")).changed() {
                self.actions.push(PlayAction::Volume(volume));
            }
            let mut looping = self.player.is_looping();
            if ui.checkbox(&mut looping, "loop span").changed() {
                self.actions.push(PlayAction::Loop(looping));
            }
            let sound = if self.player.has_audio_output() { "sound on" } else { "no sound output" };
            ui.label(format!("{:.3} s · {sound}", self.position_secs));
        });
        self.waveform_ui(ui, span, end);
        for message in &self.messages {
            ui.colored_label(ui.visuals().warn_fg_color, message);
        }
    }

    fn waveform_ui(&mut self, ui: &mut egui::Ui, span: TimeSpan, end: f64) {
        let info = self.player.info();
        let waveform = match (&mut self.waveforms, info.audio.is_some()) {
            (Some(cache), true) => Some(cache.get(&info.path, span, WAVEFORM_BINS)),
            _ => None,
        };
        self.waveform_pending = matches!(waveform, Some(WaveformState::Pending));
        let marks = TimelineMarks {
            window_start: span.start_secs,
            window_end: end,
            utterance: None,
            position: self.position_secs,
        };
        if let Some(secs) = timeline_ui(ui, waveform.as_ref(), marks) {
            self.actions.push(PlayAction::Seek(secs));
        }
    }
}

impl eframe::App for PlayWindow {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        for action in std::mem::take(&mut self.actions) {
            self.apply(action);
        }
        if ctx.input(|input| input.key_pressed(egui::Key::Space)) {
            self.apply(PlayAction::TogglePlay);
        }
        self.position_secs = self.player.update();
        self.upload_frame(ctx);
        self.messages.extend(self.player.take_notices());
        if let Some(error) = self.player.take_error() {
            self.messages.push(error.to_string());
        }
        // Playing: redraw at the display's rate. Paused: poll briefly for the frame of a seek,
        // and until the waveform is ready; then stay idle.
        if self.player.is_playing() {
            ctx.request_repaint();
        } else if self.waveform_pending || Instant::now() < self.settle_until {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::bottom("univa-play-transport").show(ui, |ui| self.transport_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            let Some(texture) = &self.texture else {
                ui.centered_and_justified(|ui| ui.label("decoding…"));
                return;
            };
            let available = ui.available_size();
            let size = texture.size_vec2();
            let scale = (available.x / size.x).min(available.y / size.y).max(0.01);
            ui.centered_and_justified(|ui| ui.image((texture.id(), size * scale)));
        });
    }
}
