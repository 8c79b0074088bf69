//! The audit in the VA plane: the model's point stays as a ghost with an arrow to the
//! annotator's correction; points are dragged with the mouse or clicked to arm them for the
//! arrow keys; in review, every annotator's point of the selected utterance.

use egui_plot::{Arrows, MarkerShape, PlotPoint, PlotResponse, PlotUi, Points, Text};

use crate::dataset::Va;
use crate::modality::Modality;
use crate::store::Status;

use crate::ui::state::{AuditCommand, AuditState, Command, Session};
use crate::ui::widgets::theme;

/// How far (screen points) from a point a press still grabs it.
const GRAB_RADIUS: f32 = 12.0;
/// Room (screen points) between an arrow's head and the corrected point's centre.
const ARROW_GAP: f64 = 8.0;

fn plot_point(va: Va) -> [f64; 2] {
    [f64::from(va.valence), f64::from(va.arousal)]
}

/// The selected utterance's points as the current annotator sees them.
pub fn audit_points_ui(plot: &mut PlotUi<'_>, session: &Session, audit: &AuditState, index: usize) {
    let Some(u) = session.utterance(index) else { return };
    for (m, model) in u.va.iter() {
        let Some(model) = *model else { continue };
        let Some(shown) = audit.shown(session, index, m) else { continue };
        let colour = theme::modality_color(m);
        let judgment = audit.mine(index, m);
        if shown != model {
            // The arrow stops at the marker's edge, so that its head shows.
            let [dx, dy] = plot.transform().dvalue_dpos();
            let (ex, ey) = (f64::from(shown.valence - model.valence), f64::from(shown.arousal - model.arousal));
            let length_points = (ex / dx.abs()).hypot(ey / dy.abs());
            let keep = (1.0 - ARROW_GAP / length_points.max(ARROW_GAP)).max(0.0);
            let tip = [f64::from(model.valence) + ex * keep, f64::from(model.arousal) + ey * keep];
            plot.points(
                Points::new(format!("{m} model"), vec![plot_point(model)])
                    .radius(6.0)
                    .filled(false)
                    .color(colour.gamma_multiply(theme::AUDIT_GHOST_ALPHA)),
            );
            plot.arrows(
                Arrows::new("", vec![plot_point(model)], vec![tip])
                    .color(colour.gamma_multiply(theme::AUDIT_ARROW_ALPHA))
                    .tip_length(9.0),
            );
        }
        let ring = if audit.armed == Some(m) { theme::AUDIT_ARMED_RING } else { theme::SELECTED_RING };
        let ring_radius = if audit.armed == Some(m) { 9.0 } else { 7.0 };
        plot.points(Points::new("", vec![plot_point(shown)]).radius(ring_radius).color(ring));
        let shape = match judgment.map(|j| j.status) {
            Some(Status::Accepted) => MarkerShape::Square,
            _ => MarkerShape::Circle,
        };
        plot.points(Points::new(m.name(), vec![plot_point(shown)]).radius(5.0).shape(shape).color(colour));
        if judgment.is_some_and(|j| j.unsure) {
            let at = PlotPoint::new(shown.valence, f64::from(shown.arousal) + 0.05);
            plot.text(Text::new("", at, egui::RichText::new("?").strong().size(16.0)).color(theme::AUDIT_UNSURE));
        }
    }
}

/// The review's marker of the `k`-th annotator (cycled), with its name for the table.
pub const REVIEW_MARKERS: [(MarkerShape, &str); 6] = [
    (MarkerShape::Square, "square"),
    (MarkerShape::Diamond, "diamond"),
    (MarkerShape::Up, "triangle up"),
    (MarkerShape::Down, "triangle down"),
    (MarkerShape::Cross, "cross"),
    (MarkerShape::Asterisk, "asterisk"),
];

/// Review: the model's point (a ring) and each annotator's (a marker of their own) per modality.
pub fn review_points_ui(plot: &mut PlotUi<'_>, session: &Session, audit: &AuditState, index: usize) {
    let Some(u) = session.utterance(index) else { return };
    for (m, model) in u.va.iter() {
        let Some(model) = *model else { continue };
        let colour = theme::modality_color(m);
        plot.points(Points::new(format!("{m} model"), vec![plot_point(model)]).radius(6.0).filled(false).color(colour));
        for (k, annotator) in audit.annotators.iter().enumerate() {
            let Some(j) = audit.judgments.get(&annotator.id).and_then(|p| p.get(&(index, m))) else { continue };
            plot.points(
                Points::new(format!("{m} {}", annotator.name), vec![plot_point(j.va)])
                    .radius(5.0)
                    .shape(REVIEW_MARKERS[k % REVIEW_MARKERS.len()].0)
                    .color(colour),
            );
        }
    }
}

/// Mouse work on the plane while auditing: a press near a point and a drag moves it (saved on
/// release), a click on a point arms it for the keys. `true` when the pointer was used here.
pub fn audit_pointer<R>(
    ctx: &egui::Context,
    response: &PlotResponse<R>,
    session: &Session,
    audit: &AuditState,
    index: usize,
    commands: &mut Vec<Command>,
) -> bool {
    let plane = &response.response;
    let transform = &response.transform;
    let value_at = |pos: egui::Pos2| {
        let p = transform.value_from_position(pos);
        Va::new(p.x as f32, p.y as f32)
    };
    let grabbed = |pos: egui::Pos2| -> Option<Modality> {
        Modality::ALL
            .into_iter()
            .filter_map(|m| {
                let va = audit.shown(session, index, m)?;
                let at = transform.position_from_point(&PlotPoint::new(va.valence, va.arousal));
                Some((m, at.distance(pos)))
            })
            .filter(|&(_, d)| d <= GRAB_RADIUS)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(m, _)| m)
    };
    let pointer = ctx.input(|i| i.pointer.latest_pos());
    let audit_command = Command::Audit;
    if plane.drag_started_by(egui::PointerButton::Primary) {
        let origin = ctx.input(|i| i.pointer.press_origin());
        if let (Some(m), Some(pos)) = (origin.and_then(grabbed), pointer) {
            // The keyboard goes to the point: the arrows nudge it after the drag.
            ctx.memory_mut(egui::Memory::stop_text_input);
            commands.push(audit_command(AuditCommand::DragTo(m, value_at(pos))));
            return true;
        }
    }
    if let Some((m, _)) = audit.drag {
        if let Some(pos) = pointer.or_else(|| plane.interact_pointer_pos()) {
            commands.push(audit_command(AuditCommand::DragTo(m, value_at(pos))));
        }
        if !plane.dragged() || plane.drag_stopped() {
            commands.push(audit_command(AuditCommand::DragEnd));
        }
        return true;
    }
    if plane.clicked()
        && let Some(m) = plane.interact_pointer_pos().and_then(grabbed)
    {
        ctx.memory_mut(egui::Memory::stop_text_input);
        commands.push(audit_command(AuditCommand::Arm(Some(m))));
        return true;
    }
    false
}
