//! The valence-arousal plane: quadrants, label anchors, the selected utterance's per-modality
//! points and, optionally, the cloud of all utterances with click-to-select.

use egui::{Align2, Sense, Vec2};
use egui_plot::{HoverPosition, MarkerShape, Plot, PlotPoint, Points, Polygon, Text};

use crate::modality::Modality;
use crate::va::QUADRANTS;

use super::audit::plane as audit_plane;
use super::{PaneContext, export_button_ui};
use crate::ui::state::{Cloud, Command, FigureRequest, Session, ViewSettings, ViewState};
use crate::ui::widgets::theme;

/// The plane's plot id, fixed so that its zoom survives layout changes (and tests can read its
/// transform from `egui_plot::PlotMemory`).
pub fn va_plane_id() -> egui::Id {
    egui::Id::unique("univa va plane")
}

/// Half the side of the VA square the plane shows by default.
const PLANE_EXTENT: f64 = 1.1;
/// Room egui_plot takes for the axes' ticks and labels beside and below the data frame.
const Y_AXIS_WIDTH: f32 = 40.0;
const X_AXIS_HEIGHT: f32 = 44.0;
const MIN_SIDE: f32 = 160.0;
/// How far from a cloud point (in points on screen) a click still selects it.
const CLICK_RADIUS: f32 = 8.0;
/// Radius (VA units) within which [`nearest_utterance`] finds a point.
const NEAREST_RADIUS: f64 = 0.05;

/// The plane fills its pane as a square, centred, under a row of its choices and the legend. A
/// panned or zoomed plane gets home with a double-click or the Home button.
pub fn va_plane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (Some(session), view, settings) = (cx.session, cx.view, cx.settings) else { return };
    let mut home = false;
    ui.horizontal_wrapped(|ui| {
        home = ui.button("⌂ Home").on_hover_text("Back to the whole plane (or double-click it)").clicked();
        let mut show_cloud = settings.show_cloud;
        if ui.checkbox(&mut show_cloud, "Cloud of all utterances").changed() {
            commands.push(Command::SetShowCloud(show_cloud));
        }
        if settings.show_cloud {
            for modality in Modality::ALL {
                let mut on = settings.cloud_modalities.get(modality.index()).copied().unwrap_or(true);
                if ui.checkbox(&mut on, modality.name()).changed() {
                    commands.push(Command::SetCloudModality(modality, on));
                }
            }
            ui.weak(format!("{} points", view.cloud.len()));
        }
        if let Some(u) = view.selected.and_then(|i| session.utterance(i)) {
            let request = FigureRequest::VaPlane { utterance: u.id.clone(), cloud: settings.show_cloud };
            export_button_ui(ui, commands, || request);
        }
    });
    legend_ui(ui);
    let selected = view.selected.and_then(|i| session.utterance(i));
    let cloud = &view.cloud;
    let shown = shown_modalities(settings);
    let audit = &view.audit;
    // While auditing, a drag on the plane moves a point instead of panning the view.
    let editing = audit.is_auditing() && !audit.review && view.selected.is_some();
    // The data frame is square, so that the whole [-1.1, 1.1]² fits at aspect 1 in the room left;
    // the widget adds the axes' room to it.
    let side = (ui.available_height() - X_AXIS_HEIGHT).min(ui.available_width() - Y_AXIS_WIDTH).max(MIN_SIDE);
    // Centred in a pane wider than it is tall.
    let margin = ((ui.available_width() - side - Y_AXIS_WIDTH) / 2.0).max(0.0);
    let mut plot = Plot::new("va_plane")
        .id(va_plane_id())
        .data_aspect(1.0)
        .height(side + X_AXIS_HEIGHT)
        .width(side + Y_AXIS_WIDTH)
        .default_x_bounds(-PLANE_EXTENT, PLANE_EXTENT)
        .default_y_bounds(-PLANE_EXTENT, PLANE_EXTENT)
        .x_axis_label("valence")
        .y_axis_label("arousal")
        .allow_drag(!editing)
        .allow_double_click_reset(true)
        .label_formatter(move |hover| hover_label(session, cloud, hover));
    if home {
        plot = plot.reset();
    }
    let response = ui
        .horizontal(|ui| {
            ui.add_space(margin);
            plot.show(ui, |plot| {
                let units_per_point = 2.0 * PLANE_EXTENT / f64::from(side);
                for (i, (name, v, a)) in QUADRANTS.into_iter().enumerate() {
                    let corners = vec![[0.0, 0.0], [v, 0.0], [v, a], [0.0, a]];
                    let fill = theme::QUADRANT_FILLS.get(i).copied().unwrap_or_default();
                    plot.polygon(Polygon::new("", corners).fill_color(fill).allow_hover(false).width(0.0));
                    // Names sit in the outer corner of their quadrant, anchored inwards, clear of the
                    // axes and of the labels' anchors (which lie at radius ≤ 1 from the origin).
                    let anchor = match (v > 0.0, a > 0.0) {
                        (true, true) => Align2::RIGHT_TOP,
                        (false, true) => Align2::LEFT_TOP,
                        (false, false) => Align2::LEFT_BOTTOM,
                        (true, false) => Align2::RIGHT_BOTTOM,
                    };
                    let corner = PlotPoint::new(v * 1.08, a * 1.08);
                    plot.text(Text::new("", corner, name).color(theme::QUADRANT_TEXT).anchor(anchor));
                }
                if settings.show_cloud {
                    for &modality in &shown {
                        let item = cloud.item(modality, cloud_name(modality), theme::cloud_color(modality));
                        plot.add(item);
                    }
                }
                let anchors: Vec<[f64; 2]> =
                    session.anchors.iter().map(|a| [f64::from(a.valence), f64::from(a.arousal)]).collect();
                for (point, name, align) in anchor_labels(&anchors, &session.label_names, units_per_point) {
                    plot.text(Text::new("", point, name).color(theme::ANCHOR).anchor(align));
                }
                plot.points(
                    Points::new("label anchor", anchors).shape(MarkerShape::Diamond).radius(5.0).color(theme::ANCHOR),
                );
                match view.selected {
                    Some(index) if audit.is_auditing() && audit.review => {
                        audit_plane::review_points_ui(plot, session, audit, index);
                    }
                    Some(index) if audit.is_auditing() => audit_plane::audit_points_ui(plot, session, audit, index),
                    _ => {}
                }
                if let Some(u) = selected.filter(|_| !audit.is_auditing()) {
                    for (modality, va) in u.va.iter() {
                        let Some(va) = va else { continue };
                        let point = [f64::from(va.valence), f64::from(va.arousal)];
                        plot.points(Points::new("", vec![point]).radius(7.0).color(theme::SELECTED_RING));
                        plot.points(
                            Points::new(modality.name(), vec![point])
                                .radius(5.0)
                                .color(theme::modality_color(modality)),
                        );
                    }
                }
                plot.pointer_coordinate()
            })
        })
        .inner;
    let used_by_audit = match view.selected {
        Some(index) if editing => audit_plane::audit_pointer(ui.ctx(), &response, session, audit, index, commands),
        _ => false,
    };
    if settings.show_cloud
        && !used_by_audit
        && response.response.clicked()
        && let Some(pointer) = response.inner
    {
        let [dx, dy] = response.transform.dvalue_dpos();
        let radius = f64::from(CLICK_RADIUS) * dx.abs().max(dy.abs());
        if let Some((modality, index)) = cloud.nearest(&shown, pointer, radius)
            && let Some(owner) = cloud.owner(modality, index)
        {
            commands.push(Command::Select(owner));
        }
    }
}

/// The legend as a row above the plot, so that it never covers a quadrant.
fn legend_ui(ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        for modality in Modality::ALL {
            swatch_ui(ui, theme::modality_color(modality), false);
            ui.label(modality.name());
        }
        swatch_ui(ui, theme::ANCHOR, true);
        ui.label("label anchor").on_hover_text(
            "NRC-VAD valence and arousal mapped from [0, 1] by 2x − 1, the scale of the modality points. \
             The prior M (Correlation tab) scales over the label set instead.",
        );
        let (rect, _) = ui.allocate_exact_size(Vec2::splat(14.0), Sense::hover());
        ui.painter().circle_stroke(rect.center(), 5.5, egui::Stroke::new(2.0, theme::SELECTED_RING));
        ui.label("selected utterance");
    });
}

fn swatch_ui(ui: &mut egui::Ui, color: egui::Color32, diamond: bool) {
    let (rect, _) = ui.allocate_exact_size(Vec2::splat(14.0), Sense::hover());
    let c = rect.center();
    if diamond {
        let r = 5.0;
        let points = vec![c + Vec2::new(0.0, -r), c + Vec2::new(r, 0.0), c + Vec2::new(0.0, r), c + Vec2::new(-r, 0.0)];
        ui.painter().add(egui::Shape::convex_polygon(points, color, egui::Stroke::NONE));
    } else {
        ui.painter().circle_filled(c, 5.0, color);
    }
}

fn cloud_name(modality: Modality) -> String {
    format!("{modality} cloud")
}

fn shown_modalities(settings: &ViewSettings) -> Vec<Modality> {
    Modality::ALL.into_iter().filter(|m| settings.cloud_modalities.get(m.index()).copied().unwrap_or(true)).collect()
}

/// Hover text: the utterance under a cloud point, otherwise the coordinates.
fn hover_label(session: &Session, cloud: &Cloud, hover: &HoverPosition<'_>) -> Option<String> {
    match hover {
        HoverPosition::NearDataPoint { plot_name, position, index } if !plot_name.is_empty() => {
            let owner = Modality::ALL
                .into_iter()
                .find(|&m| *plot_name == cloud_name(m))
                .and_then(|m| cloud.owner(m, *index))
                .and_then(|i| session.utterance(i));
            Some(match owner {
                Some(u) => format!("{}\n{plot_name}\nV {:.3}  A {:.3}", u.id, position.x, position.y),
                None => format!("{plot_name}\nV {:.3}  A {:.3}", position.x, position.y),
            })
        }
        HoverPosition::NearDataPoint { position, .. } | HoverPosition::Elsewhere { position } => {
            Some(format!("V {:.3}  A {:.3}", position.x, position.y))
        }
    }
}

/// Places each anchor's name beside it (above, below, right or left: the first that is free and
/// inside the plane), so that the names of anchors close together (fear, disgust, anger) do not overlap. Text
/// extents are estimated from the character count at the plot's scale.
fn anchor_labels<'n>(
    anchors: &[[f64; 2]],
    names: &'n [String],
    units_per_point: f64,
) -> Vec<(PlotPoint, &'n str, Align2)> {
    const CHAR_WIDTH: f64 = 7.0;
    const LINE_HEIGHT: f64 = 14.0;
    const GAP: f64 = 7.0;
    let mut placed: Vec<[f64; 4]> = Vec::new();
    // Anchors' own markers are obstacles too.
    let marker = 5.0 * units_per_point;
    let markers: Vec<[f64; 4]> =
        anchors.iter().map(|&[x, y]| [x - marker, y - marker, x + marker, y + marker]).collect();
    let mut labels = Vec::with_capacity(anchors.len());
    for (&[x, y], name) in anchors.iter().zip(names) {
        let w = name.chars().count() as f64 * CHAR_WIDTH * units_per_point;
        let h = LINE_HEIGHT * units_per_point;
        let g = GAP * units_per_point;
        let candidates = [
            (PlotPoint::new(x, y + g), Align2::CENTER_BOTTOM, [x - w / 2.0, y + g, x + w / 2.0, y + g + h]),
            (PlotPoint::new(x, y - g), Align2::CENTER_TOP, [x - w / 2.0, y - g - h, x + w / 2.0, y - g]),
            (PlotPoint::new(x + g, y), Align2::LEFT_CENTER, [x + g, y - h / 2.0, x + g + w, y + h / 2.0]),
            (PlotPoint::new(x - g, y), Align2::RIGHT_CENTER, [x - g - w, y - h / 2.0, x - g, y + h / 2.0]),
        ];
        let overlaps = |r: &[f64; 4]| {
            let outside = r[0] < -PLANE_EXTENT || r[2] > PLANE_EXTENT || r[1] < -PLANE_EXTENT || r[3] > PLANE_EXTENT;
            outside || placed.iter().chain(&markers).any(|p| r[0] < p[2] && p[0] < r[2] && r[1] < p[3] && p[1] < r[3])
        };
        let (point, align, rect) = candidates.iter().find(|(_, _, r)| !overlaps(r)).unwrap_or(&candidates[0]);
        placed.push(*rect);
        labels.push((*point, name.as_str(), *align));
    }
    labels
}

/// Public for tests: the utterance of the cloud point nearest to (valence, arousal), within
/// 0.05, among the modalities the settings show.
pub fn nearest_utterance(view: &ViewState, settings: &ViewSettings, valence: f64, arousal: f64) -> Option<usize> {
    let (modality, index) =
        view.cloud.nearest(&shown_modalities(settings), PlotPoint::new(valence, arousal), NEAREST_RADIUS)?;
    view.cloud.owner(modality, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_labels_of_close_anchors_do_not_overlap() {
        // fear, disgust and anger lie within 0.25 of each other on the NRC-VAD anchors.
        let anchors = [[-0.854, 0.68], [-0.896, 0.55], [-0.666, 0.73], [1.0, 0.47]];
        let names: Vec<String> = ["fear", "disgust", "anger", "happy"].map(String::from).to_vec();
        // A 300-point plane, as in a 1280-wide window.
        let units = 2.2 / 300.0;
        let labels = anchor_labels(&anchors, &names, units);
        assert_eq!(labels.len(), 4);
        let aligns: Vec<Align2> = labels.iter().map(|l| l.2).collect();
        // The first takes the default (above); a crowded one is moved elsewhere.
        assert_eq!(aligns[0], Align2::CENTER_BOTTOM);
        assert!(aligns[1..3].iter().any(|&a| a != Align2::CENTER_BOTTOM), "{aligns:?}");
        // happy sits at the right edge: its name goes to the left, inside the plane.
        assert_eq!(aligns[3], Align2::RIGHT_CENTER);
    }
}
