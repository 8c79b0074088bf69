//! The case card of one utterance, laid out like the paper's Table 6: transcript, VA per
//! modality, gold, prediction and its outcome (exact / partial / miss), and one row per other system whose imported
//! predictions the run browser attached ("Compare in case card"). Exports as Markdown (with every
//! label's probability and the threshold), and as the one-page case card figure (`figures`).

use std::fmt::Write as _;

use crate::metrics::Outcome;
use crate::runs::ImportedPredictions;

use super::{PaneContext, export_button_ui};
use crate::ui::state::{Command, FigureRequest, Session};
use crate::ui::widgets::theme;

/// The facts a case card shows, shared by the panel and the Markdown export.
struct Card {
    id: String,
    video: String,
    split: String,
    transcript: String,
    /// (modality, "V, A" or "—").
    va: Vec<(String, String)>,
    gold: Vec<String>,
    predicted: Option<Prediction>,
    /// (system, its prediction; `None` where it has none for the utterance).
    systems: Vec<(String, Option<Prediction>)>,
}

/// A system's predicted label names and how they relate to the gold labels.
struct Prediction {
    labels: Vec<String>,
    outcome: Outcome,
}

impl Prediction {
    fn labels_text(prediction: Option<&Self>, missing: &str) -> String {
        prediction.map_or_else(|| missing.to_owned(), |p| p.labels.join(", "))
    }
}

fn outcome_text(prediction: Option<&Prediction>) -> &'static str {
    prediction.map_or("no prediction", |p| p.outcome.marked())
}

impl Card {
    fn of(session: &Session, index: usize, threshold: f32, systems: &[&ImportedPredictions]) -> Option<Self> {
        let u = session.utterance(index)?;
        let names = |labels: &[usize]| labels.iter().filter_map(|&j| session.label_names.get(j).cloned()).collect();
        let prediction = |predicted: Vec<usize>| Prediction {
            labels: names(&predicted),
            outcome: Outcome::of(&u.labels, &predicted),
        };
        Some(Self {
            id: u.id.clone(),
            video: u.video_id.clone(),
            split: u.split.name().to_owned(),
            transcript: u.text.clone(),
            va: u
                .va
                .iter()
                .map(|(m, va)| {
                    let shown =
                        va.map_or_else(|| "—".to_owned(), |va| format!("({:+.2}, {:+.2})", va.valence, va.arousal));
                    (m.name().to_owned(), shown)
                })
                .collect(),
            gold: names(&u.labels),
            predicted: session.predicted(index, threshold).map(prediction),
            systems: systems.iter().map(|s| (s.info.name.clone(), s.predicted(&u.id).map(prediction))).collect(),
        })
    }
}

/// The card as a Markdown table (paper Table 6 columns), then one row per compared system, or
/// `None` for an unknown index.
pub fn markdown(session: &Session, index: usize, threshold: f32, systems: &[&ImportedPredictions]) -> Option<String> {
    let card = Card::of(session, index, threshold, systems)?;
    let mut out = String::new();
    let _ = writeln!(out, "**{}** (video {}, {} split, threshold {threshold:.2})\n", card.id, card.video, card.split);
    let _ = writeln!(out, "| Transcript | VA (text) | VA (vision) | VA (audio) | Gold | Prediction | Result |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let va = |m: &str| card.va.iter().find(|(n, _)| n == m).map_or("—", |(_, v)| v.as_str()).to_owned();
    let transcript = card.transcript.replace('|', "\\|");
    let _ = writeln!(
        out,
        "| {transcript} | {} | {} | {} | {} | {} | {} |",
        va("text"),
        va("vision"),
        va("audio"),
        card.gold.join(", "),
        Prediction::labels_text(card.predicted.as_ref(), "—"),
        outcome_text(card.predicted.as_ref()),
    );
    // Every label's probability against the threshold, as the prediction panel shows them.
    if let Some(probabilities) = session.probabilities(index) {
        let gold = session.gold(index);
        let _ = writeln!(out, "\n| Label | Probability | Margin p − ζ | Predicted | Gold |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for (j, &p) in probabilities.iter().enumerate() {
            let name = session.label_names.get(j).map_or("?", String::as_str);
            let mark = |on: bool| if on { "✓" } else { "" };
            let is_gold = gold.get(j).copied().unwrap_or(false);
            let _ = writeln!(
                out,
                "| {name} | {p:.3} | {:+.3} | {} | {} |",
                p - threshold,
                mark(p > threshold),
                mark(is_gold)
            );
        }
    }
    if !card.systems.is_empty() {
        let _ = writeln!(out, "\n| System | Prediction | Result |");
        let _ = writeln!(out, "|---|---|---|");
        if let Some(predicted) = &card.predicted {
            let _ = writeln!(
                out,
                "| UniVA (this run) | {} | {} |",
                predicted.labels.join(", "),
                predicted.outcome.marked()
            );
        }
        for (name, predicted) in &card.systems {
            let shown = Prediction::labels_text(predicted.as_ref(), "—");
            let name = name.replace('|', "\\|");
            let _ = writeln!(out, "| {name} | {shown} | {} |", outcome_text(predicted.as_ref()));
        }
    }
    Some(out)
}

pub fn case_card_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let (Some(session), selected, threshold, systems) =
        (cx.session, cx.view.selected, cx.settings.threshold, &cx.systems[..])
    else {
        return;
    };
    let Some(card) = selected.and_then(|i| Card::of(session, i, threshold, systems)) else {
        ui.label("Select an utterance to see its case card.");
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.strong(&card.id);
        ui.weak(format!("video {} · {} split", card.video, card.split));
        if ui.button("Export Markdown…").clicked() {
            commands.push(Command::ExportCaseCard);
        }
        if session.run.is_some()
            && let Some(index) = selected
        {
            let utterance = card.id.clone();
            export_button_ui(ui, commands, || FigureRequest::CaseCard { index, utterance });
        }
        if ui.button("Copy Markdown").clicked()
            && let Some(index) = selected
            && let Some(text) = markdown(session, index, threshold, systems)
        {
            ui.ctx().copy_text(text);
        }
    });
    card_grid_ui(ui, &card);
}

fn card_grid_ui(ui: &mut egui::Ui, card: &Card) {
    egui::Grid::new("case_card").num_columns(2).striped(true).spacing([16.0, 6.0]).show(ui, |ui| {
        ui.strong("Transcript");
        ui.add(egui::Label::new(&card.transcript).wrap());
        ui.end_row();
        for (modality, va) in &card.va {
            ui.strong(format!("VA ({modality})"));
            ui.label(va);
            ui.end_row();
        }
        ui.strong("Gold");
        ui.colored_label(theme::gold(ui.visuals()), card.gold.join(", "));
        ui.end_row();
        ui.strong("Prediction");
        ui.label(Prediction::labels_text(card.predicted.as_ref(), "— (no run)"));
        ui.end_row();
        ui.strong("Result");
        outcome_ui(ui, card.predicted.as_ref());
        ui.end_row();
        for (name, predicted) in &card.systems {
            ui.strong(format!("Prediction ({name})"));
            ui.horizontal(|ui| {
                ui.label(Prediction::labels_text(predicted.as_ref(), "— (no prediction)"));
                if predicted.is_some() {
                    outcome_ui(ui, predicted.as_ref());
                }
            });
            ui.end_row();
        }
    });
}

fn outcome_ui(ui: &mut egui::Ui, prediction: Option<&Prediction>) {
    match prediction {
        Some(p) => ui.colored_label(theme::outcome_color(p.outcome), p.outcome.marked()),
        None => ui.weak("no prediction"),
    };
}
