//! Tables as figures and as LaTeX (booktabs): the case study table (paper Table 6), the
//! ablation table of `univa runs table`, and the one-page case card.

use std::fmt::Write as _;

use crate::dataset::{Dataset, Va};
use crate::metrics::Outcome;
use crate::modality::Modality;
use crate::runs::{AblationTable, MetricKey, display_value};

use super::canvas::{Align, Canvas, LABEL_PT, Rect, TICK_PT, TITLE_PT, fit_text, number, text_width, wrap_text};
use super::data::{CaseCard, SystemPrediction};
use super::plots::{draw_va_plane, modality_title};
use super::{Figure, FigureError, Page};

const MARGIN: f64 = 6.0;

/// One utterance of the case table.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseRow {
    pub id: String,
    pub text: String,
    pub gold: Vec<String>,
    pub va: Vec<(Modality, Option<Va>)>,
    /// One per system, in [`CaseTable::systems`] order: predicted label names (`None`: no prediction).
    pub predicted: Vec<Option<Vec<String>>>,
}

/// Utterances × systems (paper Table 6).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseTable {
    pub systems: Vec<String>,
    pub rows: Vec<CaseRow>,
}

impl CaseTable {
    /// The table of the utterances at `indices` with the systems' predictions
    /// (`predictions[system][k]` for `indices[k]`, from [`super::data::predictions`]).
    pub fn new(
        dataset: &Dataset,
        indices: &[usize],
        predictions: &[Vec<SystemPrediction>],
    ) -> Result<Self, FigureError> {
        if indices.is_empty() {
            return Err(FigureError::Empty("no utterances chosen for the case table".to_owned()));
        }
        let names = dataset.label_names();
        let label_names =
            |labels: &[usize]| labels.iter().filter_map(|&l| names.get(l).map(|s| s.to_string())).collect::<Vec<_>>();
        let rows = indices
            .iter()
            .enumerate()
            .filter_map(|(k, &i)| {
                let u = dataset.utterances.get(i)?;
                Some(CaseRow {
                    id: u.id.clone(),
                    text: u.text.clone(),
                    gold: label_names(&u.labels),
                    va: u.va.iter().map(|(m, va)| (m, *va)).collect(),
                    predicted: predictions
                        .iter()
                        .map(|column| column.get(k).and_then(|p| p.predicted.as_ref()).map(|p| label_names(p)))
                        .collect(),
                })
            })
            .collect();
        let systems = predictions.iter().filter_map(|c| c.first().map(|p| p.system.clone())).collect();
        Ok(Self { systems, rows })
    }
}

/// A system's labels with their outcome in the app's one vocabulary ("partial: sad, anger").
fn outcome_text(predicted: &[String], gold: &[String]) -> (Outcome, String) {
    let outcome = Outcome::of(gold, predicted);
    (outcome, format!("{}: {}", outcome.name(), labels_text(predicted)))
}

fn va_text(va: Option<Va>) -> String {
    va.map_or_else(
        || "—".to_owned(),
        |va| format!("{}, {}", number(f64::from(va.valence), 2), number(f64::from(va.arousal), 2)),
    )
}

fn labels_text(labels: &[String]) -> String {
    if labels.is_empty() { "none".to_owned() } else { labels.join(", ") }
}

fn case_headings(table: &CaseTable) -> Vec<String> {
    let mut headings = vec!["Utterance".to_owned(), "Gold".to_owned()];
    headings.extend(Modality::ALL.iter().map(|&m| format!("{} V, A", modality_title(m))));
    headings.extend(table.systems.iter().cloned());
    headings
}

/// The text of column `c` (≥ 1) of a row.
fn case_cell(row: &CaseRow, c: usize) -> String {
    match c {
        1 => labels_text(&row.gold),
        2..=4 => va_text(row.va.iter().find(|(m, _)| m.index() == c - 2).and_then(|(_, v)| *v)),
        _ => row
            .predicted
            .get(c - 5)
            .cloned()
            .flatten()
            .map_or_else(|| "—".to_owned(), |p| outcome_text(&p, &row.gold).1),
    }
}

const CASE_PT: f64 = TICK_PT;
const CASE_PAD: f64 = 5.0;

/// Widths of the transcript column and of the others, for a table `width` points wide.
fn case_columns(table: &CaseTable, width: f64) -> (f64, Vec<f64>) {
    let headings = case_headings(table);
    let widths: Vec<f64> = (1..headings.len())
        .map(|c| {
            let header = text_width(&headings[c], CASE_PT);
            table.rows.iter().map(|r| text_width(&case_cell(r, c), CASE_PT)).fold(header, f64::max) + CASE_PAD
        })
        .collect();
    (width - widths.iter().sum::<f64>(), widths)
}

fn transcript_lines(row: &CaseRow, first_w: f64) -> Vec<String> {
    wrap_text(&format!("{}: “{}”", row.id, row.text), CASE_PT, first_w - CASE_PAD)
}

/// The height the case table needs at `width_mm`.
pub fn case_table_height_mm(table: &CaseTable, width_mm: f64) -> f64 {
    let (first_w, _) = case_columns(table, width_mm * super::canvas::PT_PER_MM - 2.0 * MARGIN);
    let lines: usize = table.rows.iter().map(|r| transcript_lines(r, first_w.max(60.0)).len().max(1)).sum();
    let height_pt = 2.0 * MARGIN + CASE_PT + 5.0 + lines as f64 * CASE_PT * 1.3 + table.rows.len() as f64 * 3.0 + 2.0;
    (height_pt / super::canvas::PT_PER_MM).ceil().max(15.0)
}

/// The case table drawn: one row per utterance (id and transcript, gold, VA per modality, each
/// system's labels with their outcome: exact, partial or miss).
pub fn case_table(page: &Page, table: &CaseTable) -> Result<Figure, FigureError> {
    if table.rows.is_empty() {
        return Err(FigureError::Empty("the case table has no rows".to_owned()));
    }
    let mut canvas = page.canvas();
    let theme = canvas.theme.clone();
    let size = CASE_PT;
    let line = size * 1.3;
    let headings = case_headings(table);
    let inner_w = canvas.width - 2.0 * MARGIN;
    let (first_w, widths) = case_columns(table, inner_w);
    if first_w < 60.0 {
        return Err(FigureError::Data(format!(
            "{:.0} mm is too narrow for a case table with {} systems; make the figure wider",
            page.width_mm,
            table.systems.len()
        )));
    }
    let mut y = MARGIN + size;
    canvas.open_group("case-table");
    canvas.line((MARGIN, MARGIN), (MARGIN + inner_w, MARGIN), theme.ink, 0.8, None);
    let columns_x: Vec<f64> = std::iter::once(MARGIN)
        .chain(widths.iter().scan(MARGIN + first_w, |x, w| {
            let at = *x;
            *x += w;
            Some(at)
        }))
        .collect();
    y += 2.0;
    for (c, heading) in headings.iter().enumerate() {
        canvas.text(heading, (columns_x[c], y), size, Align::Start, theme.ink);
    }
    y += 3.0;
    canvas.line((MARGIN, y), (MARGIN + inner_w, y), theme.ink, 0.5, None);
    for row in &table.rows {
        let transcript = transcript_lines(row, first_w);
        let lines = transcript.len().max(1);
        let top = y + line;
        if top + (lines as f64 - 1.0) * line + MARGIN > canvas.height {
            return Err(FigureError::Data(format!(
                "{:.0} mm is too short for {} case rows; make the figure taller",
                page.height_mm,
                table.rows.len()
            )));
        }
        for (l, text) in transcript.iter().enumerate() {
            canvas.text(text, (columns_x[0], top + l as f64 * line), size, Align::Start, theme.ink);
        }
        for (c, &x) in columns_x.iter().enumerate().skip(1) {
            let text = case_cell(row, c);
            let colour = match c {
                5.. if text.starts_with(Outcome::Exact.name()) => theme.good,
                5.. if text.starts_with(Outcome::Partial.name()) || text.starts_with(Outcome::Miss.name()) => theme.bad,
                _ => theme.ink,
            };
            canvas.text(&text, (x, top), size, Align::Start, colour);
        }
        y = top + (lines as f64 - 1.0) * line + 3.0;
    }
    canvas.line((MARGIN, y), (MARGIN + inner_w, y), theme.ink, 0.8, None);
    canvas.close_group();
    Ok(Figure { svg: canvas.finish(), page: *page })
}

/// LaTeX special characters escaped.
pub fn latex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '\\' => out.push_str("\\textbackslash{}"),
            '−' => out.push('-'),
            c => out.push(c),
        }
    }
    out
}

/// The case table as a booktabs `tabular`; labels a system got wrong are in italics.
pub fn case_table_latex(table: &CaseTable) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "% Case study table written by `univa figure case-table`; needs \\usepackage{{booktabs}}.");
    let _ = writeln!(out, "% A system's labels that are not gold are in italics; — marks no prediction.");
    let columns = 5 + table.systems.len();
    let _ = writeln!(out, "\\begin{{tabular}}{{p{{0.28\\linewidth}}{}}}", "l".repeat(columns - 1));
    let _ = writeln!(out, "\\toprule");
    let mut header = vec!["Utterance".to_owned(), "Gold".to_owned()];
    header.extend(Modality::ALL.iter().map(|&m| format!("{} (V, A)", modality_title(m))));
    header.extend(table.systems.iter().map(|s| latex_escape(s)));
    let _ = writeln!(out, "{} \\\\", header.join(" & "));
    let _ = writeln!(out, "\\midrule");
    for row in &table.rows {
        let mut cells = vec![format!("\\texttt{{{}}}: {}", latex_escape(&row.id), latex_escape(&row.text))];
        cells.push(latex_escape(&labels_text(&row.gold)));
        for m in Modality::ALL {
            cells.push(
                latex_escape(&va_text(row.va.iter().find(|(n, _)| *n == m).and_then(|(_, v)| *v)))
                    .replace(", ", ", $\\;$"),
            );
        }
        for predicted in &row.predicted {
            cells.push(match predicted {
                None => "—".to_owned(),
                Some(p) if p.is_empty() => "none".to_owned(),
                Some(p) => p
                    .iter()
                    .map(|l| {
                        if row.gold.contains(l) { latex_escape(l) } else { format!("\\textit{{{}}}", latex_escape(l)) }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let _ = writeln!(out, "{} \\\\", cells.join(" & "));
    }
    let _ = writeln!(out, "\\bottomrule\n\\end{{tabular}}");
    out
}

/// The ablation table as a booktabs `tabular`, the best value of each metric in bold.
pub fn ablation_latex(table: &AblationTable) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "% Ablation table written by `univa figure ablation-table`; needs \\usepackage{{booktabs}}.");
    let _ =
        writeln!(out, "\\begin{{tabular}}{{l{}{}}}", "l".repeat(table.fields.len()), "r".repeat(MetricKey::ALL.len()));
    let _ = writeln!(out, "\\toprule");
    let mut header = vec!["Run".to_owned()];
    header.extend(table.fields.iter().map(|f| latex_escape(f)));
    header.extend(MetricKey::ALL.iter().map(|m| {
        let arrow = if m.higher_is_better() { "$\\uparrow$" } else { "$\\downarrow$" };
        format!("{} {arrow}", latex_escape(m.heading()))
    }));
    let _ = writeln!(out, "{} \\\\", header.join(" & "));
    let _ = writeln!(out, "\\midrule");
    let best: Vec<Vec<bool>> = MetricKey::ALL.iter().map(|&m| table.best(m)).collect();
    for (r, row) in table.rows.iter().enumerate() {
        let mut cells = vec![latex_escape(&row.run)];
        cells.extend(
            row.fields.iter().map(|v| v.as_ref().map_or_else(|| "—".to_owned(), |v| latex_escape(&display_value(v)))),
        );
        for (m, metric) in MetricKey::ALL.iter().enumerate() {
            let value = format!("{:.4}", metric.value(&row.metrics));
            cells.push(if best[m][r] { format!("\\textbf{{{value}}}") } else { value });
        }
        let _ = writeln!(out, "{} \\\\", cells.join(" & "));
    }
    let _ = writeln!(out, "\\bottomrule\n\\end{{tabular}}");
    out
}

/// The case card as one page: frame and transcript, the VA plane, the probability bars with
/// the threshold line and each label's margin p − ζ, gold vs predicted per system.
pub fn case_card(page: &Page, card: &CaseCard) -> Result<Figure, FigureError> {
    let mut canvas = page.canvas();
    let theme = canvas.theme.clone();
    let w = canvas.width - 2.0 * MARGIN;
    let h = canvas.height - 2.0 * MARGIN;
    if w < 300.0 || h < 200.0 {
        return Err(FigureError::Data(format!(
            "{:.0} × {:.0} mm is too small for a case card; give at least 110 × 75 mm",
            page.width_mm, page.height_mm
        )));
    }
    let column = (w - 2.0 * 10.0) / 3.0;
    canvas.open_group("card-header");
    canvas.text(&fit_text(&card.id, TITLE_PT, column), (MARGIN, MARGIN + TITLE_PT), TITLE_PT, Align::Start, theme.ink);
    canvas.text(
        &fit_text(&card.source, TICK_PT, column),
        (MARGIN, MARGIN + TITLE_PT + TICK_PT + 3.0),
        TICK_PT,
        Align::Start,
        theme.muted,
    );
    canvas.close_group();
    // left column: the frame and the transcript
    let mut y = MARGIN + TITLE_PT + TICK_PT + 8.0;
    if let Some((fw, fh, rgba)) = &card.frame {
        let aspect = f64::from(*fh) / f64::from((*fw).max(1));
        let (iw, ih) = if column * aspect > h * 0.5 { (h * 0.5 / aspect, h * 0.5) } else { (column, column * aspect) };
        let png = super::encode_png(rgba, *fw, *fh, None)?;
        canvas.open_group("frame");
        canvas.png(Rect::new(MARGIN, y, iw, ih), &png);
        canvas.close_group();
        y += ih + 6.0;
    }
    canvas.open_group("transcript");
    let size = LABEL_PT;
    for line in wrap_text(&format!("“{}”", card.transcript), size, column) {
        y += size * 1.3;
        if y > MARGIN + h {
            break;
        }
        canvas.text(&line, (MARGIN, y), size, Align::Start, theme.ink);
    }
    canvas.close_group();
    // middle column: the VA plane
    let plane_region = Rect::new(MARGIN + column + 10.0, MARGIN, column, h);
    draw_va_plane(&mut canvas, plane_region, &card.plane, page)?;
    // right column: probability bars and the systems
    let x0 = MARGIN + 2.0 * (column + 10.0);
    probability_bars(&mut canvas, Rect::new(x0, MARGIN, column, h * 0.6), card)?;
    systems_block(&mut canvas, Rect::new(x0, MARGIN + h * 0.6 + 6.0, column, h * 0.4 - 6.0), card);
    Ok(Figure { svg: canvas.finish(), page: *page })
}

fn probability_bars(canvas: &mut Canvas, region: Rect, card: &CaseCard) -> Result<(), FigureError> {
    let theme = canvas.theme.clone();
    let Some(ours) = card.systems.iter().find(|s| s.probabilities.is_some()) else {
        return Err(FigureError::Data(format!("{}: no run with probabilities for the case card", card.id)));
    };
    let (Some(probabilities), Some(threshold)) = (&ours.probabilities, ours.threshold) else {
        return Err(FigureError::Data(format!("{}: the run gave no probabilities", card.id)));
    };
    canvas.open_group("probabilities");
    canvas.text(
        &fit_text(&format!("p(label) of {}", ours.system), TITLE_PT, region.w),
        (region.x, region.y + TITLE_PT),
        TITLE_PT,
        Align::Start,
        theme.ink,
    );
    let label_w = card.labels.iter().map(|l| text_width(l, TICK_PT)).fold(0.0, f64::max) + 4.0;
    let margin_w = text_width("−0.00", TICK_PT) + 6.0;
    let header_y = region.y + TITLE_PT + 4.0 + TICK_PT;
    let bars = Rect::new(region.x + label_w, header_y + 4.0, region.w - label_w - margin_w, 0.0);
    let max_p = probabilities.iter().copied().fold(threshold, f32::max).max(0.5);
    let scale = |p: f32| bars.x + f64::from(p / max_p) * bars.w;
    let row_h = ((region.h - (bars.y - region.y) - 3.0 * TICK_PT - 8.0) / card.labels.len().max(1) as f64).min(14.0);
    for (l, name) in card.labels.iter().enumerate() {
        let p = probabilities.get(l).copied().unwrap_or(0.0);
        let top = bars.y + l as f64 * row_h;
        let gold = card.gold.contains(&l);
        let predicted = p > threshold;
        let fill = if predicted == gold { theme.good } else { theme.bad };
        canvas.text(name, (bars.x - 3.0, top + row_h * 0.5 + TICK_PT * 0.35), TICK_PT, Align::End, theme.ink);
        canvas.rect(Rect::new(bars.x, top + row_h * 0.15, scale(p) - bars.x, row_h * 0.7), Some(fill), None);
        if gold {
            canvas.rect(Rect::new(bars.x, top + row_h * 0.15, bars.w, row_h * 0.7), None, Some((theme.ink, 0.5)));
        }
        canvas.text(
            &number(f64::from(p - threshold), 2),
            (region.right(), top + row_h * 0.5 + TICK_PT * 0.35),
            TICK_PT,
            Align::End,
            theme.muted,
        );
    }
    let bottom = bars.y + card.labels.len() as f64 * row_h;
    let tx = scale(threshold);
    canvas.line((tx, bars.y - 2.0), (tx, bottom + 2.0), theme.ink, 0.8, Some("3 2"));
    let caption = format!("ζ = {threshold:.2}");
    let align = if tx + text_width(&caption, TICK_PT) / 2.0 > bars.right() { Align::End } else { Align::Middle };
    canvas.text(&caption, (tx, header_y), TICK_PT, align, theme.ink);
    canvas.text("p − ζ", (region.right(), header_y), TICK_PT, Align::End, theme.muted);
    let mut key_y = bottom + 4.0;
    for line in wrap_text("outlined: gold; green: decided right, orange: wrong", TICK_PT, region.w) {
        key_y += TICK_PT * 1.3;
        canvas.text(&line, (region.x, key_y), TICK_PT, Align::Start, theme.muted);
    }
    canvas.close_group();
    Ok(())
}

fn systems_block(canvas: &mut Canvas, region: Rect, card: &CaseCard) {
    let theme = canvas.theme.clone();
    canvas.open_group("systems");
    let gold: Vec<String> = card.gold.iter().filter_map(|&l| card.labels.get(l).cloned()).collect();
    let size = LABEL_PT;
    let mut y = region.y + size;
    canvas.text(&format!("Gold: {}", labels_text(&gold)), (region.x, y), size, Align::Start, theme.ink);
    for system in &card.systems {
        y += size * 1.5;
        if y > region.bottom() {
            break;
        }
        let (text, colour) = match &system.predicted {
            None => (format!("{}: no prediction", system.system), theme.muted),
            Some(p) => {
                let names: Vec<String> = p.iter().filter_map(|&l| card.labels.get(l).cloned()).collect();
                let (outcome, text) = outcome_text(&names, &gold);
                (format!("{}: {text}", system.system), if outcome == Outcome::Exact { theme.good } else { theme.bad })
            }
        };
        canvas.text(&fit_text(&text, size, region.w), (region.x, y), size, Align::Start, colour);
    }
    canvas.close_group();
}

/// The case card's Markdown: the facts and every label's probability and margin.
pub fn case_card_markdown(card: &CaseCard) -> String {
    let mut out = String::new();
    let gold: Vec<String> = card.gold.iter().filter_map(|&l| card.labels.get(l).cloned()).collect();
    let _ = writeln!(out, "### {}\n\n{}\n\n> {}\n", card.id, card.source, card.transcript);
    let _ = writeln!(out, "| modality | valence | arousal |\n|---|---|---|");
    for (m, va) in &card.plane.points {
        let _ = writeln!(out, "| {} | {:.3} | {:.3} |", m.name(), va.valence, va.arousal);
    }
    let _ = writeln!(out, "\nGold: {}\n", labels_text(&gold));
    for system in &card.systems {
        let predicted: Vec<String> =
            system.predicted.iter().flatten().filter_map(|&l| card.labels.get(l).cloned()).collect();
        let _ = writeln!(
            out,
            "**{}**: {}",
            system.system,
            if system.predicted.is_some() { labels_text(&predicted) } else { "no prediction".to_owned() }
        );
        if let (Some(p), Some(t)) = (&system.probabilities, system.threshold) {
            let _ = writeln!(out, "\n| label | p | p − ζ (ζ = {t:.2}) | gold | predicted |\n|---|---|---|---|---|");
            for (l, name) in card.labels.iter().enumerate() {
                let v = p.get(l).copied().unwrap_or(0.0);
                let _ = writeln!(
                    out,
                    "| {name} | {v:.3} | {:+.3} | {} | {} |",
                    v - t,
                    if card.gold.contains(&l) { "yes" } else { "" },
                    if v > t { "yes" } else { "" }
                );
            }
        }
        out.push('\n');
    }
    out
}
