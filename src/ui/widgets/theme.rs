//! Colours and spacing of the workbench, in one place (STYLE.md 13).

use egui::Color32;

use crate::modality::Modality;

/// Modality colours as in the paper's figures: text red, vision green, audio blue.
pub fn modality_color(modality: Modality) -> Color32 {
    match modality {
        Modality::Text => Color32::from_rgb(220, 50, 47),
        Modality::Vision => Color32::from_rgb(40, 160, 60),
        Modality::Audio => Color32::from_rgb(38, 110, 210),
    }
}

/// The same colours faded, for the cloud of all utterances behind the selection.
pub fn cloud_color(modality: Modality) -> Color32 {
    modality_color(modality).gamma_multiply(0.25)
}

pub const HIT: Color32 = Color32::from_rgb(40, 160, 60);
pub const MISS: Color32 = Color32::from_rgb(220, 50, 47);
pub const PARTIAL: Color32 = Color32::from_rgb(225, 170, 60);

/// The colour of an utterance's outcome (exact, partial, miss) wherever it is named.
pub fn outcome_color(outcome: crate::metrics::Outcome) -> Color32 {
    match outcome {
        crate::metrics::Outcome::Exact => HIT,
        crate::metrics::Outcome::Partial => PARTIAL,
        crate::metrics::Outcome::Miss => MISS,
    }
}
/// The colour that marks gold labels: bright on the dark theme, darker on the light one so
/// that it still reads on white (a projector's theme).
pub fn gold(visuals: &egui::Visuals) -> Color32 {
    if visuals.dark_mode { Color32::from_rgb(230, 170, 20) } else { Color32::from_rgb(160, 100, 0) }
}
pub const ANCHOR: Color32 = Color32::from_rgb(150, 150, 150);
pub const QUADRANT_TEXT: Color32 = Color32::from_rgb(125, 125, 140);
pub const THRESHOLD: Color32 = Color32::from_rgb(230, 120, 20);
pub const BAR: Color32 = Color32::from_rgb(90, 130, 190);
pub const BAR_PREDICTED: Color32 = Color32::from_rgb(60, 150, 220);
pub const SELECTED_RING: Color32 = Color32::from_rgb(255, 200, 0);
/// The embedding map's selection ring: white, since its points take the first label's and the
/// first quadrant's yellow, which hides [`SELECTED_RING`] among them.
pub const MAP_SELECTED_RING: Color32 = Color32::WHITE;
/// The audit: the model's point left behind a correction (a faded ring) and the arrow from it,
/// the ring of the point the arrow keys move, corrected and unsure states.
pub const AUDIT_GHOST_ALPHA: f32 = 0.55;
pub const AUDIT_ARROW_ALPHA: f32 = 0.8;
pub const AUDIT_ARMED_RING: Color32 = Color32::WHITE;
pub const AUDIT_CORRECTED: Color32 = Color32::from_rgb(90, 160, 230);
pub const AUDIT_UNSURE: Color32 = Color32::from_rgb(230, 140, 30);

pub const ERROR_TEXT: Color32 = Color32::from_rgb(230, 80, 70);
/// A caveat beside a figure (e.g. agreement over too few units).
pub const WARNING_TEXT: Color32 = Color32::from_rgb(225, 170, 60);

/// Distinct colours for labels (cycled past eight), for the embedding map.
const LABEL_COLORS: [Color32; 8] = [
    Color32::from_rgb(230, 170, 20),
    Color32::from_rgb(70, 130, 220),
    Color32::from_rgb(220, 60, 60),
    Color32::from_rgb(170, 90, 220),
    Color32::from_rgb(60, 170, 90),
    Color32::from_rgb(230, 110, 180),
    Color32::from_rgb(80, 200, 210),
    Color32::from_rgb(160, 120, 70),
];

pub fn label_color(label: usize) -> Color32 {
    LABEL_COLORS[label % LABEL_COLORS.len()]
}

/// Saturated quadrant colours (counter-clockwise from (+V, +A)), for colouring points by quadrant.
const QUADRANT_COLORS: [Color32; 4] = [
    Color32::from_rgb(230, 170, 20),
    Color32::from_rgb(220, 60, 60),
    Color32::from_rgb(80, 110, 230),
    Color32::from_rgb(60, 170, 90),
];

pub fn quadrant_color(quadrant: usize) -> Color32 {
    QUADRANT_COLORS[quadrant % QUADRANT_COLORS.len()]
}

/// Quadrant fills of the VA plane, counter-clockwise from (+V, +A).
pub const QUADRANT_FILLS: [Color32; 4] = [
    Color32::from_rgba_premultiplied(40, 30, 0, 24),
    Color32::from_rgba_premultiplied(40, 0, 0, 24),
    Color32::from_rgba_premultiplied(0, 0, 40, 24),
    Color32::from_rgba_premultiplied(0, 40, 10, 24),
];

/// The player's utterance span on the timeline, its edges, and the playhead.
pub const UTTERANCE_SPAN: Color32 = Color32::from_rgba_premultiplied(60, 45, 0, 60);
pub const UTTERANCE_EDGE: Color32 = Color32::from_rgb(230, 170, 20);
pub const PLAYHEAD: Color32 = Color32::from_rgb(255, 90, 60);

/// Player pane sizes (points): the transport's column beside the picture in a wide pane, its
/// rows under the picture in a narrow one; the smallest picture; the line saying why nothing
/// plays; the timeline.
pub const PLAYER_CONTROLS_WIDTH: f32 = 300.0;
pub const PLAYER_PICTURE_MIN_HEIGHT: f32 = 60.0;
pub const PLAYER_EMPTY_HEIGHT: f32 = 28.0;
pub const TIMELINE_HEIGHT: f32 = 44.0;
/// Room a slider's value box and name take, and the narrowest a stretched slider gets.
pub const SLIDER_VALUE_WIDTH: f32 = 140.0;
pub const SLIDER_MIN_WIDTH: f32 = 100.0;

/// Browser row height and column widths (points).
pub const ROW_HEIGHT: f32 = 20.0;
pub const COLUMN_WIDTHS: [f32; 8] = [96.0, 52.0, 86.0, 40.0, 0.0, 110.0, 110.0, 64.0];
pub const TRANSCRIPT_MIN_WIDTH: f32 = 60.0;
pub const BAR_HEIGHT: f32 = 14.0;
pub const HEATMAP_CELL_MIN: f32 = 16.0;
pub const HEATMAP_CELL_MAX: f32 = 44.0;
/// Cells at least this large show their value.
pub const HEATMAP_CELL_WITH_VALUE: f32 = 26.0;
pub const HEATMAP_GAP: f32 = 12.0;
pub const HEATMAP_FONT_SIZE: f32 = 13.0;
pub const HEATMAP_BAR_WIDTH: f32 = 220.0;
/// A heatmap cell whose value is not a number.
pub const HEATMAP_MISSING: Color32 = Color32::from_rgb(90, 90, 90);

/// The one diverging scale of the app (heatmaps, VA-coloured maps) for a value on [−1, 1]: blue
/// through grey to red, legible on dark and light panels alike.
pub fn diverging(value: f32) -> Color32 {
    let t = value.clamp(-1.0, 1.0);
    let (low, mid, high) = ([60.0, 110.0, 230.0], [170.0, 170.0, 170.0], [230.0, 70.0, 60.0]);
    let (from, to, s) = if t < 0.0 { (mid, low, -t) } else { (mid, high, t) };
    let mix = |i: usize| (from[i] + (to[i] - from[i]) * s) as u8;
    Color32::from_rgb(mix(0), mix(1), mix(2))
}

/// The run browser's sweep plot height (points); the best value of a
/// table column is strong text on this background (egui's fonts have no bold face).
pub const SWEEP_PLOT_HEIGHT: f32 = 320.0;
pub const BEST_VALUE_BG: Color32 = Color32::from_rgba_premultiplied(30, 90, 40, 110);

/// The Training room: width of the launch form, height of each curve plot and of the job list.
pub const TRAINING_PLOT_HEIGHT: f32 = 190.0;
pub const JOB_PROGRESS_WIDTH: f32 = 140.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_scale_ends_and_middle() {
        assert_eq!(diverging(-1.0), Color32::from_rgb(60, 110, 230));
        assert_eq!(diverging(0.0), Color32::from_rgb(170, 170, 170));
        assert_eq!(diverging(1.0), Color32::from_rgb(230, 70, 60));
        assert_eq!(diverging(7.0), diverging(1.0));
    }
}
