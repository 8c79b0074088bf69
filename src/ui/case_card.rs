//! The case card of one utterance, laid out like the paper's Table 6: transcript, VA per
//! modality, gold, prediction and its outcome (exact / partial / miss), and one row per other system whose imported
//! predictions the run browser attached ("Compare in case card"). Exports as Markdown, and as PNG: a screenshot
//! (`ViewportCommand::Screenshot`) of a frame with the card drawn whole on top, cropped to it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use crate::metrics::Outcome;
use crate::runs::ImportedPredictions;

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

pub fn case_card_ui(
    ui: &mut egui::Ui,
    session: &Session,
    selected: Option<usize>,
    threshold: f32,
    systems: &[&ImportedPredictions],
    commands: &mut Vec<Command>,
) {
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
        if ui.button("Export PNG…").clicked() {
            commands.push(Command::ExportCaseCardPng(None));
        }
        if session.run.is_some()
            && let Some(index) = selected
        {
            let utterance = card.id.clone();
            super::figure_export::export_button_ui(
                ui,
                super::figure_export::FigureRequest::CaseCard { index, utterance },
            );
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

/// Draws the card whole, without buttons, on top of everything for the frame a PNG is taken
/// from (the panel's copy may be scrolled or cut off); returns where it is, in points.
pub(super) fn export_card_ui(
    ctx: &egui::Context,
    session: &Session,
    index: usize,
    threshold: f32,
    systems: &[&ImportedPredictions],
) -> Option<egui::Rect> {
    let card = Card::of(session, index, threshold, systems)?;
    let area = egui::Area::new(egui::Id::unique("case_card_png"))
        .order(egui::Order::Tooltip)
        .fixed_pos(ctx.content_rect().min + egui::vec2(theme::CARD_PNG_MARGIN, theme::CARD_PNG_MARGIN))
        .show(ctx, |ui| {
            egui::Frame::new().fill(ui.visuals().panel_fill).inner_margin(theme::CARD_PNG_MARGIN).show(ui, |ui| {
                ui.set_max_width(theme::CARD_PNG_WIDTH);
                ui.horizontal(|ui| {
                    ui.strong(&card.id);
                    ui.weak(format!("video {} · {} split · threshold {threshold:.2}", card.video, card.split));
                });
                card_grid_ui(ui, &card);
            });
        });
    Some(area.response.rect)
}

/// Transcript, VA per modality, gold, prediction, result: the rows of paper Table 6.
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
        ui.colored_label(theme::GOLD, card.gold.join(", "));
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

/// Frames a PNG export waits for its screenshot before it gives up.
const SCREENSHOT_MAX_FRAMES: u8 = 60;

/// A PNG export in flight: the card is drawn whole on top of one frame, that frame's screenshot
/// is asked for, then cropped to the card and written.
pub(super) struct PngExport {
    path: PathBuf,
    /// Frames the card has been drawn in: egui lays a new area out invisibly in its first frame.
    frames_drawn: u8,
    /// Where the card was (points) in the frame whose screenshot was asked for.
    region: Option<egui::Rect>,
    images: Option<Receiver<Arc<egui::ColorImage>>>,
}

impl PngExport {
    pub(super) fn new(path: PathBuf) -> Self {
        Self { path, frames_drawn: 0, region: None, images: None }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn is_requested(&self) -> bool {
        self.images.is_some()
    }

    /// Whether the renderer has let too many frames pass without delivering the screenshot.
    pub(super) fn timed_out(&self) -> bool {
        self.frames_drawn > SCREENSHOT_MAX_FRAMES
    }

    /// Where the card was drawn for the screenshot (points), once requested.
    pub(super) fn region(&self) -> Option<egui::Rect> {
        self.region
    }

    /// Notes that the card was drawn at `region` this frame; once it has been visible, asks the
    /// renderer for a screenshot of this frame.
    pub(super) fn drawn(&mut self, ctx: &egui::Context, region: egui::Rect) {
        self.frames_drawn = self.frames_drawn.saturating_add(1);
        ctx.request_repaint();
        if self.frames_drawn < 2 || self.is_requested() {
            return;
        }
        let (sender, images) = sync_channel(1);
        let callback = egui::ScreenshotCallback::new(move |image| {
            // The export may have been dropped meanwhile; then nobody wants the image.
            let _ = sender.try_send(image);
        });
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(callback));
        ctx.request_repaint();
        self.region = Some(region);
        self.images = Some(images);
    }

    /// The card as PNG bytes once the screenshot has arrived.
    pub(super) fn take_png(&self, pixels_per_point: f32) -> Option<Result<Vec<u8>, png::EncodingError>> {
        let image = self.images.as_ref()?.try_recv().ok()?;
        let region = self.region?;
        Some(crop_to_png(&image, region, pixels_per_point))
    }
}

/// The part of `image` under `region` (points, scaled by `pixels_per_point`), as PNG bytes.
pub(super) fn crop_to_png(
    image: &egui::ColorImage,
    region: egui::Rect,
    pixels_per_point: f32,
) -> Result<Vec<u8>, png::EncodingError> {
    let [width, height] = image.size;
    let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
    let (x0, x1) = (
        clamp((region.min.x * pixels_per_point).floor(), width),
        clamp((region.max.x * pixels_per_point).ceil(), width),
    );
    let (y0, y1) = (
        clamp((region.min.y * pixels_per_point).floor(), height),
        clamp((region.max.y * pixels_per_point).ceil(), height),
    );
    let (crop_w, crop_h) = (x1.saturating_sub(x0).max(1), y1.saturating_sub(y0).max(1));
    let mut rgba = Vec::with_capacity(crop_w * crop_h * 4);
    for y in y0..y0 + crop_h {
        for x in x0..x0 + crop_w {
            // Screenshots are opaque, so premultiplied and straight alpha agree.
            let pixel = image.pixels.get(y * width + x).copied().unwrap_or(egui::Color32::TRANSPARENT);
            rgba.extend_from_slice(&pixel.to_array());
        }
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, crop_w as u32, crop_h as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgba)?;
    writer.finish()?;
    Ok(bytes)
}

fn outcome_ui(ui: &mut egui::Ui, prediction: Option<&Prediction>) {
    match prediction {
        Some(p) => ui.colored_label(theme::outcome_color(p.outcome), p.outcome.marked()),
        None => ui.weak("no prediction"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_to_png_takes_the_region_in_pixels_and_clamps_it_to_the_image() {
        let mut image = egui::ColorImage::filled([40, 20], egui::Color32::BLACK);
        image.pixels[5 * 40 + 10] = egui::Color32::WHITE;
        // 2 pixels per point: points (5, 2.5)..(10, 5) are pixels (10, 5)..(20, 10).
        let region = egui::Rect::from_min_max(egui::pos2(5.0, 2.5), egui::pos2(10.0, 5.0));
        let png = crop_to_png(&image, region, 2.0).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (10, 5));
        assert_eq!(&pixels[..4], &[255, 255, 255, 255], "the region's top-left pixel");
        // A region reaching outside the picture is cut to it, not a panic.
        let outside = egui::Rect::from_min_max(egui::pos2(-5.0, -5.0), egui::pos2(100.0, 100.0));
        let png = crop_to_png(&image, outside, 1.0).unwrap();
        let info = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (40, 20));
    }
}
