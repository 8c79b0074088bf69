//! The utterance browser: filters above a virtualised table (only visible rows are laid out).
//! While auditing, an "audited" column shows how many of an utterance's points the annotator
//! has judged, and a filter keeps the audited or the not audited ones.

use egui::{Align2, Color32, FontId, Rect, Sense, Vec2};

use crate::dataset::Split;

use super::PaneContext;
use crate::metrics::Outcome;
use crate::ui::state::{AuditState, AuditedFilter, Command, ErrorFilter, Filter, Session, ViewState};
use crate::ui::widgets::{self, theme};

const HEADERS: [&str; 8] = ["id", "audited", "video", "split", "transcript", "gold", "predicted", "outcome"];
/// Shown only while auditing, beside the id, where a narrow pane still shows it.
const AUDITED: usize = 1;
const TRANSCRIPT: usize = 4;

pub fn browser_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (Some(session), view, threshold) = (cx.session, cx.view, cx.settings.threshold) else { return };
    let auditing = view.audit.is_auditing();
    filters_ui(ui, session, &view.filter, auditing, commands);
    ui.label(format!("{} of {} utterances", view.rows.len(), session.len()));
    ui.separator();
    // A pane narrower than the columns scrolls sideways, so that none is cut off for good.
    let width = table_width(ui.available_width(), auditing);
    egui::ScrollArea::horizontal().id_salt("browser_columns").auto_shrink([false, false]).show(ui, |ui| {
        ui.set_width(width);
        header_ui(ui, auditing);
        table_ui(ui, session, view, threshold, commands);
    });
}

fn label_combo_ui(ui: &mut egui::Ui, name: &str, names: &[String], value: &mut Option<usize>) {
    let shown = value.and_then(|j| names.get(j)).map_or("any", String::as_str);
    widgets::labelled_combo(ui, name, shown, |ui| {
        ui.selectable_value(value, None, "any");
        for (j, n) in names.iter().enumerate() {
            ui.selectable_value(value, Some(j), n);
        }
    });
}

fn filters_ui(ui: &mut egui::Ui, session: &Session, current: &Filter, auditing: bool, commands: &mut Vec<Command>) {
    let mut filter = current.clone();
    let names = &session.label_names;
    ui.add(egui::TextEdit::singleline(&mut filter.search).hint_text("Search id, video or transcript"));
    ui.horizontal_wrapped(|ui| {
        widgets::labelled_combo(ui, "Split", filter.split.map_or("any", Split::name), |ui| {
            ui.selectable_value(&mut filter.split, None, "any");
            for split in Split::ALL {
                ui.selectable_value(&mut filter.split, Some(split), split.name());
            }
        });
        label_combo_ui(ui, "Gold", names, &mut filter.gold);
        label_combo_ui(ui, "Predicted", names, &mut filter.predicted);
    });
    ui.horizontal_wrapped(|ui| {
        widgets::labelled_combo(ui, "Error", filter.error.describe(names), |ui| {
            let outcomes = Outcome::ALL.map(ErrorFilter::Outcome);
            for error in [ErrorFilter::Any, ErrorFilter::AnyError].into_iter().chain(outcomes) {
                ui.selectable_value(&mut filter.error, error, error.describe(names));
            }
            for j in 0..names.len() {
                for error in [ErrorFilter::FalsePositive(j), ErrorFilter::FalseNegative(j)] {
                    ui.selectable_value(&mut filter.error, error, error.describe(names));
                }
            }
        });
        widgets::labelled_slider(ui, "VA disagreement ≥", egui::Slider::new(&mut filter.min_disagreement, 0.0..=2.0));
        if auditing {
            widgets::labelled_combo(ui, "Audited", filter.audited.name(), |ui| {
                for audited in AuditedFilter::ALL {
                    ui.selectable_value(&mut filter.audited, audited, audited.name());
                }
            });
        }
    });
    if filter != *current {
        commands.push(Command::SetFilter(filter));
    }
}

/// The columns shown (their indices in [`HEADERS`]) and their widths: fixed ones from the
/// theme, the transcript takes what is left.
fn columns(total: f32, auditing: bool) -> Vec<(usize, f32)> {
    let transcript = (total - fixed_columns_width(auditing) - 8.0).max(theme::TRANSCRIPT_MIN_WIDTH);
    shown_columns(auditing).map(|i| (i, if i == TRANSCRIPT { transcript } else { theme::COLUMN_WIDTHS[i] })).collect()
}

fn shown_columns(auditing: bool) -> impl Iterator<Item = usize> + Clone {
    (0..HEADERS.len()).filter(move |&i| i != AUDITED || auditing)
}

fn fixed_columns_width(auditing: bool) -> f32 {
    shown_columns(auditing).filter(|&i| i != TRANSCRIPT).map(|i| theme::COLUMN_WIDTHS[i]).sum()
}

/// The table's width in a pane `available` wide: the pane's, or what every column needs.
fn table_width(available: f32, auditing: bool) -> f32 {
    available.max(fixed_columns_width(auditing) + theme::TRANSCRIPT_MIN_WIDTH + 8.0)
}

fn header_ui(ui: &mut egui::Ui, auditing: bool) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), theme::ROW_HEIGHT), Sense::hover());
    let mut x = rect.left() + 4.0;
    for (column, width) in columns(rect.width(), auditing) {
        ui.painter().text(
            egui::pos2(x, rect.center().y),
            Align2::LEFT_CENTER,
            HEADERS[column],
            FontId::proportional(13.0),
            ui.visuals().strong_text_color(),
        );
        x += width;
    }
}

fn names(session: &Session, labels: &[usize]) -> String {
    labels.iter().filter_map(|&j| session.label_names.get(j)).cloned().collect::<Vec<_>>().join(", ")
}

fn table_ui(ui: &mut egui::Ui, session: &Session, view: &ViewState, threshold: f32, commands: &mut Vec<Command>) {
    let scroll_target =
        if view.scroll_to_selected { view.selected.and_then(|s| view.rows.iter().position(|&r| r == s)) } else { None };
    let mut area = egui::ScrollArea::vertical().id_salt("browser_rows").auto_shrink([false, false]);
    if let Some(position) = scroll_target {
        // Keep the selection in view when the keyboard or the VA plane moves it.
        let spacing = ui.spacing().item_spacing.y;
        let offset = position as f32 * (theme::ROW_HEIGHT + spacing) - 3.0 * theme::ROW_HEIGHT;
        area = area.vertical_scroll_offset(offset.max(0.0));
    }
    area.show_rows(ui, theme::ROW_HEIGHT, view.rows.len(), |ui, range| {
        for &index in view.rows.get(range).unwrap_or_default() {
            let row = Row { index, selected: view.selected == Some(index), threshold };
            row_ui(ui, session, &view.audit, row, commands);
        }
    });
}

/// One row of the table and how it is shown.
struct Row {
    index: usize,
    selected: bool,
    threshold: f32,
}

fn row_ui(ui: &mut egui::Ui, session: &Session, audit: &AuditState, row: Row, commands: &mut Vec<Command>) {
    let Row { index, selected, threshold } = row;
    let Some(u) = session.utterance(index) else { return };
    let (rect, response) = ui.allocate_exact_size(Vec2::new(ui.available_width(), theme::ROW_HEIGHT), Sense::click());
    let auditing = audit.is_auditing();
    let audited = if auditing { audited_cell(audit, session, index) } else { String::new() };
    response.widget_info(|| {
        let mut info = egui::WidgetInfo::selected(egui::Role::Row, true, selected, &u.id);
        // What the "audited" column shows, for screen readers.
        info.current_text_value = (!audited.is_empty()).then(|| format!("audited {audited}"));
        info
    });
    if response.clicked() {
        commands.push(Command::Select(index));
    }
    let visuals = ui.visuals();
    if selected {
        ui.painter().rect_filled(rect, 2.0, visuals.selection.bg_fill);
    } else if response.hovered() {
        ui.painter().rect_filled(rect, 2.0, visuals.widgets.hovered.weak_bg_fill);
    }
    let predicted = session.predicted(index, threshold);
    let outcome = predicted.as_deref().map(|p| Outcome::of(&u.labels, p));
    let text_color = if selected { visuals.selection.stroke.color } else { visuals.text_color() };
    let mut cells: [(String, Color32); 8] = [
        (u.id.clone(), text_color),
        (audited, theme::HIT),
        (u.video_id.clone(), text_color),
        (u.split.name().to_owned(), text_color),
        (u.text.clone(), text_color),
        (names(session, &u.labels), theme::gold(visuals)),
        (predicted.as_deref().map(|p| names(session, p)).unwrap_or_default(), text_color),
        match outcome {
            Some(outcome) => (outcome.marked().to_owned(), theme::outcome_color(outcome)),
            None => (String::new(), text_color),
        },
    ];
    let mut x = rect.left() + 4.0;
    for (column, width) in columns(rect.width(), auditing) {
        let (text, color) = std::mem::take(&mut cells[column]);
        let cell = Rect::from_min_max(egui::pos2(x, rect.top()), egui::pos2(x + width - 6.0, rect.bottom()));
        ui.painter().with_clip_rect(cell.intersect(ui.clip_rect())).text(
            egui::pos2(x, rect.center().y),
            Align2::LEFT_CENTER,
            text,
            FontId::proportional(13.0),
            color,
        );
        x += width;
    }
}

/// "✓" when the annotator judged every point of the utterance, "1/3" when some, else nothing.
fn audited_cell(audit: &AuditState, session: &Session, index: usize) -> String {
    match audit.judged_points(session, index) {
        (0, _) => String::new(),
        (judged, points) if judged == points => "✓".to_owned(),
        (judged, points) => format!("{judged}/{points}"),
    }
}
