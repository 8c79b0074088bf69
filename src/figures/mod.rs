//! Publication figures (no egui): each figure is a function from data the library already
//! computes to an SVG drawing in points ([`canvas`]), which [`render`] writes as SVG, as PDF
//! (svg2pdf, the bundled font subset and embedded) or as PNG at a DPI (resvg). The font is
//! loaded into the renderers' font database explicitly and no system font is looked up, so a
//! figure comes out the same on every machine.
//!
//! Dense point layers (≥ [`plots::RASTER_FROM_POINTS`] points) are drawn as one embedded PNG
//! inside the vector file, so that a 50,000-point map stays small.

pub mod canvas;
pub mod data;
pub mod paper;
pub mod plots;
pub mod tables;
pub mod theme;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use resvg::usvg;

pub use theme::{Theme, ThemeName};

/// Why a figure could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// The data holds nothing to draw (an empty split, a run without events, …).
    #[error("{0}")]
    Empty(String),
    /// Input that is not what a figure needs (a file, its row/field, what was expected).
    #[error("{0}")]
    Data(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: unknown figure format; the file name must end in .svg, .pdf or .png", .0.display())]
    Format(PathBuf),
    #[error("figure size {width_mm} × {height_mm} mm: expected both between 10 and 1000 mm")]
    Size { width_mm: f64, height_mm: f64 },
    #[error("DPI {0}: expected between 30 and 2400")]
    Dpi(f64),
    /// The renderers refused the SVG written here (a bug, not the user's data).
    #[error("rendering the figure failed: {0}")]
    Render(String),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error(transparent)]
    Runs(#[from] crate::runs::RunsError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error(transparent)]
    Projection(#[from] crate::projection::ProjectionError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Output format, from the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Pdf,
    Png,
}

impl Format {
    pub fn of_path(path: &Path) -> Result<Self, FigureError> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("svg") => Ok(Self::Svg),
            Some("pdf") => Ok(Self::Pdf),
            Some("png") => Ok(Self::Png),
            _ => Err(FigureError::Format(path.to_owned())),
        }
    }
}

/// Physical size, theme and raster resolution of a figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Page {
    pub width_mm: f64,
    pub height_mm: f64,
    pub theme: ThemeName,
    /// Pixels per inch of a PNG, and of the raster layer inside a vector file.
    pub dpi: f64,
}

/// A single journal column.
pub const SINGLE_COLUMN_MM: f64 = 88.0;
/// Both columns.
pub const DOUBLE_COLUMN_MM: f64 = 180.0;
/// Resolution of PNGs and of raster layers inside vector files, unless asked otherwise.
pub const DEFAULT_DPI: f64 = 300.0;

impl Page {
    pub fn new(width_mm: f64, height_mm: f64, theme: ThemeName, dpi: f64) -> Result<Self, FigureError> {
        let ok = |v: f64| v.is_finite() && (10.0..=1000.0).contains(&v);
        if !ok(width_mm) || !ok(height_mm) {
            return Err(FigureError::Size { width_mm, height_mm });
        }
        check_dpi(dpi)?;
        Ok(Self { width_mm, height_mm, theme, dpi })
    }

    pub fn width_pt(&self) -> f64 {
        self.width_mm * canvas::PT_PER_MM
    }

    pub fn height_pt(&self) -> f64 {
        self.height_mm * canvas::PT_PER_MM
    }

    pub fn canvas(&self) -> canvas::Canvas {
        canvas::Canvas::new(self.width_pt(), self.height_pt(), Theme::named(self.theme))
    }
}

/// A finished drawing: SVG text in points.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub svg: String,
    pub page: Page,
}

/// Parses an SVG with the bundled font as the only font (what the PDF and PNG writers, and
/// the tests, read figures with).
pub fn parse_svg(svg: &str) -> Result<usvg::Tree, FigureError> {
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_data(canvas::FONT_BYTES.to_vec());
    let options = usvg::Options {
        font_family: canvas::FONT_FAMILY.to_owned(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    usvg::Tree::from_str(svg, &options).map_err(|e| FigureError::Render(format!("SVG: {e}")))
}

fn check_dpi(dpi: f64) -> Result<(), FigureError> {
    if dpi.is_finite() && (30.0..=2400.0).contains(&dpi) { Ok(()) } else { Err(FigureError::Dpi(dpi)) }
}

/// The figure as file bytes: SVG as drawn, PDF with its page the figure's size in points, PNG
/// of `size × dpi` pixels (with the DPI recorded in its pHYs chunk).
pub fn render(figure: &Figure, format: Format) -> Result<Vec<u8>, FigureError> {
    match format {
        Format::Svg => Ok(figure.svg.clone().into_bytes()),
        Format::Pdf => {
            let tree = parse_svg(&figure.svg)?;
            // usvg sizes the tree in CSS pixels (96 per inch); at that DPI the page is the figure's size.
            svg2pdf::to_pdf(&tree, svg2pdf::ConversionOptions::default(), svg2pdf::PageOptions { dpi: 96.0 })
                .map_err(|e| FigureError::Render(format!("PDF: {e}")))
        }
        Format::Png => png(figure),
    }
}

/// Pixel size of the figure at `dpi`.
pub fn pixel_size(page: &Page, dpi: f64) -> (u32, u32) {
    let px = |mm: f64| (mm / 25.4 * dpi).round().max(1.0) as u32;
    (px(page.width_mm), px(page.height_mm))
}

/// The figure drawn at `dpi`: its pixel size and straight (not premultiplied) RGBA pixels,
/// what the PNG holds and the GUI previews and copies.
pub fn rasterize(figure: &Figure, dpi: f64) -> Result<(u32, u32, Vec<u8>), FigureError> {
    check_dpi(dpi)?;
    let tree = parse_svg(&figure.svg)?;
    let (w, h) = pixel_size(&figure.page, dpi);
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h)
        .ok_or_else(|| FigureError::Render(format!("PNG: cannot allocate {w} × {h} pixels")))?;
    let size = tree.size();
    let transform = resvg::tiny_skia::Transform::from_scale(w as f32 / size.width(), h as f32 / size.height());
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    let rgba: Vec<u8> = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect();
    Ok((w, h, rgba))
}

fn png(figure: &Figure) -> Result<Vec<u8>, FigureError> {
    let (w, h, rgba) = rasterize(figure, figure.page.dpi)?;
    encode_png(&rgba, w, h, Some(figure.page.dpi))
}

/// RGBA pixels as a PNG; `dpi` goes into the pHYs chunk.
pub(crate) fn encode_png(rgba: &[u8], w: u32, h: u32, dpi: Option<f64>) -> Result<Vec<u8>, FigureError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, w, h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        if let Some(dpi) = dpi {
            let per_metre = (dpi / 0.0254).round() as u32;
            encoder.set_pixel_dims(Some(png::PixelDimensions {
                xppu: per_metre,
                yppu: per_metre,
                unit: png::Unit::Meter,
            }));
        }
        let mut writer = encoder.write_header().map_err(|e| FigureError::Render(format!("PNG: {e}")))?;
        writer.write_image_data(rgba).map_err(|e| FigureError::Render(format!("PNG: {e}")))?;
        writer.finish().map_err(|e| FigureError::Render(format!("PNG: {e}")))?;
    }
    Ok(bytes)
}

/// Renders the figure in the format its file name says and writes it atomically: on any
/// error nothing is written.
pub fn save(figure: &Figure, path: &Path) -> Result<(), FigureError> {
    let bytes = render(figure, Format::of_path(path)?)?;
    crate::fsutil::write_atomic(path, &bytes).map_err(|source| FigureError::Io { path: path.to_owned(), source })
}
