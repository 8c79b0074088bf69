//! The clip's timeline: the waveform's envelope, the utterance's span and the playhead; a click
//! or drag asks to seek.

use crate::media::{TimeSpan, WaveformState};

use super::theme;

/// What the timeline marks, in file seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimelineMarks {
    pub window_start: f64,
    pub window_end: f64,
    /// The utterance's span, shaded.
    pub utterance: Option<TimeSpan>,
    pub position: f64,
}

/// The timeline: waveform envelope, utterance span, playhead. Returns the time to seek to when
/// it is clicked or dragged.
pub fn timeline_ui(ui: &mut egui::Ui, waveform: Option<&WaveformState>, marks: TimelineMarks) -> Option<f64> {
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
