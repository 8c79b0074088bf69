//! The valence-arousal plane: quadrants, label anchors, the selected utterance's per-modality
//! points and, optionally, the cloud of all utterances with click-to-select.

use egui_plot::{Legend, MarkerShape, Plot, PlotPoint, PlotPoints, Points, Polygon, Text};

use crate::modality::Modality;

use super::app::ViewState;
use super::commands::Command;
use super::session::Session;
use super::settings::ViewSettings;
use super::theme;

/// Quadrant names, counter-clockwise from (+V, +A), with the sign of each corner.
const QUADRANTS: [(&str, f64, f64); 4] = [
    ("excited (V+ A+)", 1.0, 1.0),
    ("distressed (V− A+)", -1.0, 1.0),
    ("depressed (V− A−)", -1.0, -1.0),
    ("relaxed (V+ A−)", 1.0, -1.0),
];

pub fn va_plane_ui(
    ui: &mut egui::Ui,
    session: &Session,
    view: &ViewState,
    settings: &ViewSettings,
    height: f32,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.strong("VA plane");
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
    });
    let selected = view.selected.and_then(|i| session.utterance(i));
    let response = Plot::new("va_plane")
        .data_aspect(1.0)
        // Square, so that the whole [-1, 1]² fits at aspect 1 whatever the panel's width.
        .height(height)
        .width(height.min(ui.available_width()))
        .default_x_bounds(-1.1, 1.1)
        .default_y_bounds(-1.1, 1.1)
        .x_axis_label("valence")
        .y_axis_label("arousal")
        .legend(Legend::default().position(egui_plot::Corner::LeftBottom))
        .label_formatter(|hover| match hover {
            egui_plot::HoverPosition::NearDataPoint { plot_name, position, .. } if !plot_name.is_empty() => {
                Some(format!("{plot_name}\nV {:.3}  A {:.3}", position.x, position.y))
            }
            egui_plot::HoverPosition::NearDataPoint { position, .. }
            | egui_plot::HoverPosition::Elsewhere { position } => {
                Some(format!("V {:.3}  A {:.3}", position.x, position.y))
            }
        })
        .show(ui, |plot| {
            for (i, (name, v, a)) in QUADRANTS.into_iter().enumerate() {
                let corners = vec![[0.0, 0.0], [v, 0.0], [v, a], [0.0, a]];
                let fill = theme::QUADRANT_FILLS.get(i).copied().unwrap_or_default();
                plot.polygon(Polygon::new("", corners).fill_color(fill).allow_hover(false).width(0.0));
                plot.text(Text::new("", PlotPoint::new(v * 0.72, a * 1.04), name).color(theme::ANCHOR));
            }
            if settings.show_cloud {
                for modality in Modality::ALL {
                    if settings.cloud_modalities.get(modality.index()).copied().unwrap_or(true) {
                        let points = view.cloud.points.get(modality).as_slice();
                        plot.points(
                            Points::new(format!("{modality} cloud"), PlotPoints::Borrowed(points))
                                .color(theme::cloud_color(modality))
                                .radius(1.5),
                        );
                    }
                }
            }
            let anchors: Vec<[f64; 2]> =
                session.anchors.iter().map(|a| [f64::from(a.valence), f64::from(a.arousal)]).collect();
            for (anchor, name) in anchors.iter().zip(&session.label_names) {
                plot.text(
                    Text::new("", PlotPoint::new(anchor[0], anchor[1] + 0.06), name.as_str()).color(theme::ANCHOR),
                );
            }
            plot.points(
                Points::new("label anchors", anchors).shape(MarkerShape::Diamond).radius(5.0).color(theme::ANCHOR),
            );
            if let Some(u) = selected {
                for (modality, va) in u.va.iter() {
                    let Some(va) = va else { continue };
                    let point = [f64::from(va.valence), f64::from(va.arousal)];
                    // The ring is unnamed so the legend shows the modality's own colour.
                    plot.points(Points::new("", vec![point]).radius(7.0).color(theme::SELECTED_RING));
                    plot.points(
                        Points::new(format!("{modality}"), vec![point])
                            .radius(5.0)
                            .color(theme::modality_color(modality)),
                    );
                }
            }
            plot.pointer_coordinate()
        });
    if settings.show_cloud
        && response.response.clicked()
        && let Some(pointer) = response.inner
        && let Some(index) = nearest(view, settings, pointer)
    {
        commands.push(Command::Select(index));
    }
}

/// The utterance whose cloud point lies nearest to `pointer`, among the modalities shown.
fn nearest(view: &ViewState, settings: &ViewSettings, pointer: PlotPoint) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for modality in Modality::ALL {
        if !settings.cloud_modalities.get(modality.index()).copied().unwrap_or(true) {
            continue;
        }
        let points = view.cloud.points.get(modality);
        let owners = view.cloud.owners.get(modality);
        for (point, &owner) in points.iter().zip(owners) {
            let d = (point.x - pointer.x).powi(2) + (point.y - pointer.y).powi(2);
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, owner));
            }
        }
    }
    // Only a click close to a point selects (0.05 in VA units).
    best.filter(|&(d, _)| d < 0.05f64.powi(2)).map(|(_, owner)| owner)
}

/// Public for tests: the nearest cloud point's utterance.
pub fn nearest_utterance(view: &ViewState, settings: &ViewSettings, valence: f64, arousal: f64) -> Option<usize> {
    nearest(view, settings, PlotPoint::new(valence, arousal))
}
