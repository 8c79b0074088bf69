//! "Export figure…": a pane's button asks for a [`FigureRequest`]; this window offers format,
//! size, DPI and theme, a preview, Save… and Copy as image. The figure comes from the same
//! `figures` functions as `univa figure`, so the window and the command line write the same
//! file.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::figures::data::SystemPrediction;
use crate::figures::{self, DOUBLE_COLUMN_MM, Figure, FigureError, Page, SINGLE_COLUMN_MM, ThemeName, data};
use crate::figures::{plots, tables};
use crate::va::PriorRule;

use super::file_dialog::FileDialog;
use crate::ui::state::{FigureRequest, Session};

/// Size, resolution and theme chosen in the window.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSettings {
    pub width_mm: f64,
    pub height_mm: f64,
    pub dpi: f64,
    pub theme: ThemeName,
}

/// An evaluated run: its folder, probabilities by utterance (`None`: not evaluated) and ζ.
#[derive(Clone, Copy, Debug)]
pub struct RunProbabilities<'a> {
    pub dir: &'a Path,
    pub probabilities: &'a [Option<Vec<f32>>],
    pub threshold: f32,
}

/// The figure `univa figure va-plane|correlation|case-card` draws for the same request and
/// settings; `run` is the attached run's folder, probabilities by utterance and threshold ζ
/// (a case card needs them).
pub fn figure_for(
    dataset: &Dataset,
    prior_rule: PriorRule,
    run: Option<RunProbabilities<'_>>,
    request: &FigureRequest,
    settings: &ExportSettings,
) -> Result<Figure, FigureError> {
    let page = Page::new(settings.width_mm, settings.height_mm, settings.theme, settings.dpi)?;
    match request {
        FigureRequest::VaPlane { utterance, cloud } => {
            plots::va_plane(&page, &data::va_plane(dataset, utterance, *cloud)?)
        }
        FigureRequest::Correlation => plots::correlation(&page, &data::correlation(dataset, prior_rule)?),
        FigureRequest::CaseCard { index, utterance } => {
            let Some(RunProbabilities { dir, probabilities, threshold }) = run else {
                return Err(FigureError::Data(format!("{utterance}: a case card needs a trained run; open one")));
            };
            let p = probabilities.get(*index).cloned().flatten();
            let ours = SystemPrediction {
                system: data::system_name(dir),
                predicted: p
                    .as_ref()
                    .map(|p| p.iter().enumerate().filter(|(_, v)| **v > threshold).map(|(l, _)| l).collect()),
                probabilities: p,
                threshold: Some(threshold),
            };
            tables::case_card(&page, &data::case_card_of(dataset, *index, vec![ours])?)
        }
        FigureRequest::ThresholdSweep { split } => {
            let Some(RunProbabilities { threshold, .. }) = run else {
                return Err(FigureError::Data("a threshold sweep needs a trained run; open one".to_owned()));
            };
            let (gold, probabilities) =
                crate::ui::state::split_rows(dataset, run.map_or(&[][..], |r| r.probabilities), *split);
            let names: Vec<String> = dataset.label_names().iter().map(|n| n.to_string()).collect();
            let panel = data::threshold_sweep_of(&gold, &probabilities, &names, threshold, *split)?;
            plots::lines(&page, &[panel], 1)
        }
        FigureRequest::Curves { run } => plots::lines(&page, &data::curves(run)?, 3),
        FigureRequest::Embedding { maps, colouring } => {
            plots::embedding(&page, &data::embedding(maps, Some(dataset), *colouring)?)
        }
    }
}

/// [`figure_for`] with the session's dataset, rule and run; training curves need none (they
/// are exported from the Training room, where no dataset may be open).
fn session_figure(
    session: Option<&Session>,
    request: &FigureRequest,
    settings: &ExportSettings,
) -> Result<Figure, FigureError> {
    let Some(session) = session else {
        return match request {
            FigureRequest::Curves { run } => {
                let page = Page::new(settings.width_mm, settings.height_mm, settings.theme, settings.dpi)?;
                plots::lines(&page, &data::curves(run)?, 3)
            }
            _ => Err(FigureError::Data("open a dataset first".to_owned())),
        };
    };
    let run = session.run.as_ref().map(|r| RunProbabilities {
        dir: &r.dir,
        probabilities: &r.probabilities,
        threshold: r.trained_threshold,
    });
    figure_for(&session.dataset, session.prior_rule, run, request, settings)
}

/// The open window: what it exports, the settings, the preview drawn for them, the last message.
pub(super) struct ExportWindow {
    request: FigureRequest,
    settings: ExportSettings,
    preview: Option<(FigureRequest, ExportSettings, Result<egui::TextureHandle, String>)>,
    message: Option<String>,
}

fn window_id() -> egui::Id {
    egui::Id::unique("figure_export_window")
}

/// Width of the preview in pixels.
const PREVIEW_PX: f64 = 420.0;

impl ExportWindow {
    /// The window for `request`, at the size `univa figure` uses by default.
    pub(super) fn new(request: FigureRequest) -> Self {
        let (width_mm, height_mm) = request.default_size_mm();
        let settings = ExportSettings { width_mm, height_mm, dpi: figures::DEFAULT_DPI, theme: ThemeName::Print };
        Self { request, settings, preview: None, message: None }
    }
}

/// Draws the export window while one is open (call once per frame).
pub(super) fn export_window_ui(ctx: &egui::Context, session: Option<&Session>, shown: &mut Option<ExportWindow>) {
    let Some(window) = shown else { return };
    let mut open = true;
    egui::Window::new(format!("Export figure: {}", window.request.title()))
        .id(window_id().with("window"))
        .open(&mut open)
        .pivot(egui::Align2::CENTER_CENTER)
        .default_pos(ctx.content_rect().center())
        .resizable(false)
        .show(ctx, |ui| window_ui(ui, session, window));
    if !open {
        *shown = None;
    }
}

fn window_ui(ui: &mut egui::Ui, session: Option<&Session>, window: &mut ExportWindow) {
    let settings = &mut window.settings;
    egui::Grid::new("figure_export_settings").num_columns(2).show(ui, |ui| {
        ui.label("Size (mm)");
        ui.horizontal(|ui| {
            ui.add(egui::DragValue::new(&mut settings.width_mm).range(10.0..=1000.0).speed(1.0).suffix(" wide"));
            ui.add(egui::DragValue::new(&mut settings.height_mm).range(10.0..=1000.0).speed(1.0).suffix(" high"));
            if ui.small_button("single column").clicked() {
                settings.width_mm = SINGLE_COLUMN_MM;
            }
            if ui.small_button("double").clicked() {
                settings.width_mm = DOUBLE_COLUMN_MM;
            }
        });
        ui.end_row();
        ui.label("DPI (PNG, raster layers)");
        ui.add(egui::DragValue::new(&mut settings.dpi).range(30.0..=2400.0).speed(10.0));
        ui.end_row();
        ui.label("Theme");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut settings.theme, ThemeName::Print, "print");
            ui.selectable_value(&mut settings.theme, ThemeName::Dark, "dark");
        });
        ui.end_row();
    });
    let fresh = window
        .preview
        .as_ref()
        .is_some_and(|(request, settings, _)| *request == window.request && *settings == window.settings);
    if !fresh {
        let preview = preview(ui.ctx(), session, &window.request, &window.settings);
        window.preview = Some((window.request.clone(), window.settings.clone(), preview));
    }
    match window.preview.as_ref().map(|(_, _, p)| p) {
        Some(Ok(texture)) => {
            ui.add(egui::Image::new(texture).max_width(PREVIEW_PX as f32));
        }
        Some(Err(error)) => {
            ui.colored_label(crate::ui::widgets::theme::ERROR_TEXT, error);
        }
        None => {}
    }
    ui.horizontal(|ui| {
        if ui.button("Save…").clicked() {
            window.message = Some(save(session, &window.request, &window.settings));
        }
        if ui.button("Copy as image").clicked() {
            window.message = Some(copy(ui.ctx(), session, &window.request, &window.settings));
        }
    });
    if let Some(message) = &window.message {
        ui.label(message);
    }
}

fn preview(
    ctx: &egui::Context,
    session: Option<&Session>,
    request: &FigureRequest,
    settings: &ExportSettings,
) -> Result<egui::TextureHandle, String> {
    let figure = session_figure(session, request, settings).map_err(|e| e.to_string())?;
    let dpi = (PREVIEW_PX * 2.0 / (settings.width_mm / 25.4)).clamp(30.0, 600.0);
    let (w, h, rgba) = figures::rasterize(&figure, dpi).map_err(|e| e.to_string())?;
    let image = egui::ColorImage::from_rgba_unmultiplied([w as usize, h as usize], &rgba);
    Ok(ctx.load_texture("figure_export_preview", image, egui::TextureOptions::LINEAR))
}

fn save(session: Option<&Session>, request: &FigureRequest, settings: &ExportSettings) -> String {
    let Some(path): Option<PathBuf> = FileDialog::new("Export figure")
        .filter("PDF", &["pdf"])
        .filter("SVG", &["svg"])
        .filter("PNG", &["png"])
        .file_name(format!("{}.pdf", request.file_stem()))
        .save_file()
    else {
        return String::new();
    };
    let written = session_figure(session, request, settings).and_then(|figure| figures::save(&figure, &path));
    match written {
        Ok(()) => format!("Wrote {}", path.display()),
        Err(error) => format!("Could not write {}: {error}", path.display()),
    }
}

fn copy(ctx: &egui::Context, session: Option<&Session>, request: &FigureRequest, settings: &ExportSettings) -> String {
    let drawn = session_figure(session, request, settings).and_then(|figure| figures::rasterize(&figure, settings.dpi));
    match drawn {
        Ok((w, h, rgba)) => {
            ctx.copy_image(egui::ColorImage::from_rgba_unmultiplied([w as usize, h as usize], &rgba));
            format!("Copied {w} × {h} pixels")
        }
        Err(error) => format!("Could not draw the figure: {error}"),
    }
}
