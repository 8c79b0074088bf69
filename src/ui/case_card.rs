//! The case card of one utterance, laid out like the paper's Table 6: transcript, VA per
//! modality, gold, prediction and hit/miss. Exports as Markdown.

use std::fmt::Write as _;

use super::commands::Command;
use super::session::Session;
use super::theme;

/// The facts a case card shows, shared by the panel and the Markdown export.
struct Card {
    id: String,
    video: String,
    split: String,
    transcript: String,
    /// (modality, "V, A" or "—").
    va: Vec<(String, String)>,
    gold: Vec<String>,
    predicted: Option<Vec<String>>,
}

impl Card {
    fn of(session: &Session, index: usize, threshold: f32) -> Option<Self> {
        let u = session.utterance(index)?;
        let names = |labels: &[usize]| labels.iter().filter_map(|&j| session.label_names.get(j).cloned()).collect();
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
            predicted: session.predicted(index, threshold).map(|p| names(&p)),
        })
    }

    fn hit(&self) -> Option<bool> {
        let predicted = self.predicted.as_ref()?;
        let mut a = predicted.clone();
        let mut b = self.gold.clone();
        a.sort();
        b.sort();
        Some(a == b)
    }
}

fn hit_text(hit: Option<bool>) -> &'static str {
    match hit {
        Some(true) => "✓ hit",
        Some(false) => "× miss",
        None => "no prediction",
    }
}

/// The card as a Markdown table (paper Table 6 columns), or `None` for an unknown index.
pub fn markdown(session: &Session, index: usize, threshold: f32) -> Option<String> {
    let card = Card::of(session, index, threshold)?;
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
        card.predicted.as_ref().map_or_else(|| "—".to_owned(), |p| p.join(", ")),
        hit_text(card.hit()),
    );
    Some(out)
}

pub fn case_card_ui(
    ui: &mut egui::Ui,
    session: &Session,
    selected: Option<usize>,
    threshold: f32,
    commands: &mut Vec<Command>,
) {
    let Some(card) = selected.and_then(|i| Card::of(session, i, threshold)) else {
        ui.label("Select an utterance to see its case card.");
        return;
    };
    ui.horizontal(|ui| {
        ui.strong(&card.id);
        ui.weak(format!("video {} · {} split", card.video, card.split));
        if ui.button("Export Markdown…").clicked() {
            commands.push(Command::ExportCaseCard);
        }
        if ui.button("Copy Markdown").clicked()
            && let Some(index) = selected
            && let Some(text) = markdown(session, index, threshold)
        {
            ui.ctx().copy_text(text);
        }
    });
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
        ui.colored_label(theme::GOLD, card.gold.join(", "));
        ui.end_row();
        ui.strong("Prediction");
        ui.label(card.predicted.as_ref().map_or_else(|| "— (no run)".to_owned(), |p| p.join(", ")));
        ui.end_row();
        ui.strong("Result");
        let hit = card.hit();
        let color = if hit == Some(true) { theme::HIT } else { theme::MISS };
        ui.colored_label(color, hit_text(hit));
        ui.end_row();
    });
}
