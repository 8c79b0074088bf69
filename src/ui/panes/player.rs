//! The clip player pane: the selected utterance's picture, scaled to fill the pane, a transport
//! bar, the timeline with the waveform, the utterance's span and the playhead, and the
//! utterance's transcript in full beneath.

use crate::media::{Player, SPEED_RANGE, TimeSpan, WaveformState};

use super::PaneContext;
use crate::ui::state::player::{Clip, PlayerPanel, Spans, Transport, WAVEFORM_BINS, panel_window_end};
use crate::ui::state::{Command, PlaybackSettings};
use crate::ui::widgets::timeline::{TimelineMarks, timeline_ui};
use crate::ui::widgets::{self, theme};

/// The player pane: the clip, then the transcript line, then (once the Explain tab has it) the
/// attention of the selected utterance's explanation on the timeline's axis.
pub fn player_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, panel: &mut PlayerPanel, commands: &mut Vec<Command>) {
    let playback = cx.settings.playback;
    let transcript = cx.session.zip(cx.view.selected).and_then(|(s, i)| s.utterance(i)).map(|u| u.text.as_str());
    let transcript = transcript.filter(|t| !t.is_empty()).map(|t| egui::RichText::new(format!("“{t}”")).italics());
    // Room kept under the picture for the transcript (as it wraps) and the attention strips.
    let explanation = cx.explanation();
    let below = transcript.as_ref().map_or(0.0, |t| widgets::wrapped_height(ui, t.clone(), ui.available_width()))
        + explanation.map_or(0.0, super::explain::strips_height);
    player_ui(ui, panel, playback, below, commands);
    if let Some(transcript) = transcript {
        ui.add(egui::Label::new(transcript).wrap());
    }
    if let (Some(explanation), Some(window)) = (explanation, panel.timeline_window()) {
        super::explain::player_strips_ui(ui, explanation, window, commands);
    }
}

/// Draws the panel: picture, transport and timeline, or why there is nothing to play.
/// `below`: the height the pane keeps under the timeline.
pub fn player_ui(
    ui: &mut egui::Ui,
    panel: &mut PlayerPanel,
    playback: PlaybackSettings,
    below: f32,
    commands: &mut Vec<Command>,
) {
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
    ready_ui(ui, panel, playback, below, commands);
    panel.ready_height = ui.cursor().top() - top - ui.spacing().item_spacing.y;
}

fn ready_ui(
    ui: &mut egui::Ui,
    panel: &mut PlayerPanel,
    playback: PlaybackSettings,
    below: f32,
    commands: &mut Vec<Command>,
) {
    let Clip::Ready(player) = &mut panel.clip else { return };
    let spans = panel.spans.unwrap_or(Spans { utterance: None, window: player.span() });
    let window = player.span();
    let window_end = panel_window_end(window, panel.position_secs);
    let aspect = panel.texture.as_ref().map_or(16.0 / 9.0, |t| t.aspect_ratio());
    // The picture takes what the controls, the timeline and the lines below leave, at the
    // clip's aspect ratio, with the controls beside it or under it: whichever shows it larger.
    let timeline = theme::TIMELINE_HEIGHT + ui.spacing().item_spacing.y;
    let room = ui.available_size() - egui::vec2(0.0, timeline + below);
    let beside = fit(room - egui::vec2(theme::PLAYER_CONTROLS_WIDTH + ui.spacing().item_spacing.x, 0.0), aspect);
    let notes: Vec<&str> =
        player.audio_unavailable().into_iter().chain(panel.messages.iter().map(String::as_str)).collect();
    let under = fit(room - egui::vec2(0.0, controls_height(ui, room.x, &notes)), aspect);
    let wide = beside.x > under.x;
    let picture = if wide { beside } else { under };
    let picture_ui = |ui: &mut egui::Ui| match &panel.texture {
        Some(texture) => {
            ui.add(egui::Image::new((texture.id(), picture)).alt_text("clip frame"));
        }
        None => {
            ui.add_sized(picture, egui::Label::new(egui::RichText::new("decoding…").weak()));
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
            picture_ui(ui);
            ui.vertical(controls);
        });
    } else {
        ui.vertical_centered(picture_ui);
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
    // Speed and volume share a row where the pane is wide enough for two sliders.
    let paired = pairs_sliders(ui.available_width());
    let speed_ui = |ui: &mut egui::Ui, push: &mut dyn FnMut(Transport)| {
        let mut speed = playback.speed;
        if ui.add(egui::Slider::new(&mut speed, SPEED_RANGE).text("speed").suffix("×").fixed_decimals(2)).changed() {
            push(Transport::SetSpeed(speed));
        }
    };
    let volume_ui = |ui: &mut egui::Ui, push: &mut dyn FnMut(Transport)| {
        let mut volume = playback.volume;
        if ui.add_enabled(!playback.muted, egui::Slider::new(&mut volume, 0.0..=1.0).text("volume")).changed() {
            push(Transport::SetVolume(volume));
        }
    };
    if paired {
        ui.horizontal(|ui| {
            ui.spacing_mut().slider_width = ui.available_width() / 2.0 - theme::SLIDER_VALUE_WIDTH;
            speed_ui(ui, &mut push);
            volume_ui(ui, &mut push);
        });
    } else {
        ui.horizontal(|ui| {
            widen_sliders(ui);
            speed_ui(ui, &mut push);
        });
        ui.horizontal(|ui| {
            widen_sliders(ui);
            volume_ui(ui, &mut push);
        });
    }
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

/// Whether a controls column `width` wide holds the speed and volume sliders in one row.
fn pairs_sliders(width: f32) -> bool {
    width >= 2.0 * (theme::SLIDER_MIN_WIDTH + theme::SLIDER_VALUE_WIDTH)
}

/// The height the controls take under the picture, `width` wide: the transport's rows (play and
/// position, speed and volume in one or two, the toggles) and the `notes` under them (the
/// silent-audio notice, playback errors) as they wrap.
fn controls_height(ui: &egui::Ui, width: f32, notes: &[&str]) -> f32 {
    let spacing = ui.spacing();
    let row = spacing.interact_size.y + spacing.item_spacing.y;
    let rows = if pairs_sliders(width) { 3 } else { 4 };
    rows as f32 * row + notes.iter().map(|note| widgets::wrapped_height(ui, *note, width)).sum::<f32>()
}

/// Sliders added next in this row take its remaining width, less room for their value box and
/// name.
fn widen_sliders(ui: &mut egui::Ui) {
    ui.spacing_mut().slider_width = (ui.available_width() - theme::SLIDER_VALUE_WIDTH).max(theme::SLIDER_MIN_WIDTH);
}

/// The largest size of `aspect` (width / height) inside `room`, never below a thumbnail.
fn fit(room: egui::Vec2, aspect: f32) -> egui::Vec2 {
    let room = room.max(egui::vec2(theme::PLAYER_PICTURE_MIN_HEIGHT * aspect, theme::PLAYER_PICTURE_MIN_HEIGHT));
    let height = room.y.min(room.x / aspect);
    egui::vec2(height * aspect, height)
}
