//! The plotted figures: the VA plane, the correlation heatmaps, embedding maps and line charts
//! (sweeps, threshold sweeps, training curves). Each takes plain data, so the CLI, the GUI and
//! the tests draw the same figure from the same numbers.

use crate::dataset::Va;
use crate::modality::Modality;

use super::canvas::{
    Align, Axes, Canvas, LABEL_PT, Rect, TICK_PT, TITLE_PT, legend, legend_height, number, text_width,
};
use super::theme::{Marker, Rgb, Theme};
use super::{Figure, FigureError, Page};

/// From this many points on, a scatter layer is one embedded PNG instead of vector marks.
pub const RASTER_FROM_POINTS: usize = 5_000;

const MARGIN: f64 = 6.0;

/// One mark of a scatter layer, in data coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    pub x: f64,
    pub y: f64,
    pub colour: Rgb,
    pub marker: Marker,
}

/// Draws marks of `size` points into `axes`' plot rectangle, in a group `id`: vector marks
/// below [`RASTER_FROM_POINTS`], else one PNG at the page's DPI (id `<id>-raster`).
pub fn scatter(
    canvas: &mut Canvas,
    axes: &Axes,
    id: &str,
    marks: &[Mark],
    size: f64,
    opacity: f64,
    dpi: f64,
) -> Result<(), FigureError> {
    canvas.open_clip(id, axes.plot);
    if marks.len() < RASTER_FROM_POINTS {
        canvas.open_faded_group(&format!("{id}-marks"), opacity);
        for m in marks {
            canvas.marker(m.marker, axes.map(m.x, m.y), size, m.colour, false);
        }
        canvas.close_group();
    } else {
        let png = raster_marks(axes, marks, size, opacity, dpi)?;
        canvas.open_group(&format!("{id}-raster"));
        canvas.png(axes.plot, &png);
        canvas.close_group();
    }
    canvas.close_group();
    Ok(())
}

/// The marks drawn into a transparent bitmap of the plot rectangle at `dpi`, as PNG. Each
/// (marker, colour) is rasterised once, anti-aliased, and stamped at every point's pixel (a
/// point moves at most half a pixel: 0.04 mm at 300 DPI).
fn raster_marks(axes: &Axes, marks: &[Mark], size: f64, opacity: f64, dpi: f64) -> Result<Vec<u8>, FigureError> {
    use resvg::tiny_skia::{Pixmap, PixmapPaint, Transform};
    let scale = dpi / 72.0;
    let (w, h) = ((axes.plot.w * scale).ceil().max(1.0) as u32, (axes.plot.h * scale).ceil().max(1.0) as u32);
    let mut pixmap = Pixmap::new(w, h)
        .ok_or_else(|| FigureError::Render(format!("raster layer: cannot allocate {w} × {h} pixels")))?;
    let r = (size / 2.0 * scale) as f32;
    let half = (r * 1.2).ceil() + 1.0;
    let mut sprites: Vec<((Marker, Rgb), Pixmap)> = Vec::new();
    let paint = PixmapPaint::default();
    for m in marks {
        let key = (m.marker, m.colour);
        let index = match sprites.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                sprites.push((key, sprite(m.marker, m.colour, r, half, opacity)?));
                sprites.len() - 1
            }
        };
        let (px, py) = axes.map(m.x, m.y);
        let x = ((px - axes.plot.x) * scale - f64::from(half)).round() as i32;
        let y = ((py - axes.plot.y) * scale - f64::from(half)).round() as i32;
        pixmap.draw_pixmap(x, y, sprites[index].1.as_ref(), &paint, Transform::identity(), None);
    }
    pixmap.encode_png().map_err(|e| FigureError::Render(format!("raster layer: {e}")))
}

/// One marker of radius `r` pixels centred in a square pixmap of `2 · half` pixels.
fn sprite(
    marker: Marker,
    colour: Rgb,
    r: f32,
    half: f32,
    opacity: f64,
) -> Result<resvg::tiny_skia::Pixmap, FigureError> {
    use resvg::tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Transform};
    let side = (2.0 * half) as u32;
    let mut pixmap =
        Pixmap::new(side, side).ok_or_else(|| FigureError::Render("raster layer: marker too large".to_owned()))?;
    let (x, y) = (half, half);
    let mut path = PathBuilder::new();
    match marker {
        Marker::Circle => path.push_circle(x, y, r),
        Marker::Square | Marker::Cross | Marker::Plus => {
            if let Some(rect) = resvg::tiny_skia::Rect::from_xywh(x - r * 0.9, y - r * 0.9, r * 1.8, r * 1.8) {
                path.push_rect(rect);
            }
        }
        Marker::Triangle => {
            path.move_to(x, y - r * 1.1);
            path.line_to(x + r, y + r * 0.75);
            path.line_to(x - r, y + r * 0.75);
            path.close();
        }
        Marker::TriangleDown => {
            path.move_to(x, y + r * 1.1);
            path.line_to(x + r, y - r * 0.75);
            path.line_to(x - r, y - r * 0.75);
            path.close();
        }
        Marker::Diamond => {
            path.move_to(x, y - r * 1.15);
            path.line_to(x + r * 0.85, y);
            path.line_to(x, y + r * 1.15);
            path.line_to(x - r * 0.85, y);
            path.close();
        }
    }
    let mut paint = Paint { anti_alias: true, ..Paint::default() };
    paint.set_color_rgba8(colour.0, colour.1, colour.2, (opacity * 255.0).round() as u8);
    if let Some(path) = path.finish() {
        pixmap.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), None);
    }
    Ok(pixmap)
}

fn title(canvas: &mut Canvas, text: &str, x: f64, y: f64, align: Align) {
    let ink = canvas.theme.ink;
    canvas.text(text, (x, y), TITLE_PT, align, ink);
}

/// What the VA plane of one utterance shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VaPlaneData {
    pub title: String,
    /// Each modality's VA point.
    pub points: Vec<(Modality, Va)>,
    /// Label names and anchors on [-1, 1]².
    pub anchors: Vec<(String, Va)>,
    /// Indices into `anchors` of the gold labels (drawn filled).
    pub gold: Vec<usize>,
    /// Every utterance's points, drawn faintly behind (empty: no cloud).
    pub cloud: Vec<(Modality, Va)>,
    /// Audited points: the model's VA (a ghost) and the annotator's, joined by an arrow.
    pub audited: Vec<(Modality, Va, Va)>,
}

const VA_RANGE: (f64, f64) = (-1.12, 1.12);

/// The VA plane: quadrants, label anchors with names placed clear of each other and of the
/// points, each modality's point; optionally the cloud and audited points.
pub fn va_plane(page: &Page, data: &VaPlaneData) -> Result<Figure, FigureError> {
    let mut canvas = page.canvas();
    let region = Rect::new(MARGIN, MARGIN, canvas.width - 2.0 * MARGIN, canvas.height - 2.0 * MARGIN);
    draw_va_plane(&mut canvas, region, data, page)?;
    Ok(Figure { svg: canvas.finish(), page: *page })
}

/// The VA plane drawn into `region` of a canvas (the case card places it beside other parts).
pub fn draw_va_plane(canvas: &mut Canvas, region: Rect, data: &VaPlaneData, page: &Page) -> Result<(), FigureError> {
    if data.points.is_empty() && data.cloud.is_empty() {
        return Err(FigureError::Empty(format!("{}: no modality has a VA point to draw", data.title)));
    }
    let theme = canvas.theme.clone();
    let mut entries: Vec<(String, Rgb, Marker)> = Modality::ALL
        .iter()
        .map(|&m| (modality_title(m), theme.modality_colour(m), Theme::modality_marker(m)))
        .collect();
    entries.push(("label anchor (gold filled)".to_owned(), theme.muted, Marker::Diamond));
    if !data.audited.is_empty() {
        entries.push(("hollow: the model's VA → audited".to_owned(), theme.muted, Marker::Circle));
    }
    let inner_w = region.w;
    let legend_h = legend_height(&entries, inner_w);
    let top = region.y + TITLE_PT + 4.0;
    let left = region.x + Axes::left_margin(VA_RANGE, 100.0);
    let avail_w = region.right() - left;
    let avail_h = region.bottom() - top - Axes::BOTTOM_MARGIN - legend_h - 4.0;
    let side = avail_w.min(avail_h);
    if side < 40.0 {
        return Err(FigureError::Data(format!(
            "{:.0} × {:.0} mm is too small for the VA plane; give at least 50 × 60 mm",
            page.width_mm, page.height_mm
        )));
    }
    let plot = Rect::new(left + (avail_w - side) / 2.0, top, side, side);
    let axes = Axes { plot, x: VA_RANGE, y: VA_RANGE };
    title(
        canvas,
        &super::canvas::fit_text(&data.title, TITLE_PT, region.w),
        region.x,
        region.y + TITLE_PT,
        Align::Start,
    );
    axes.draw(canvas, "axes", "valence", "arousal");
    canvas.open_group("quadrants");
    let (zx, zy) = axes.map(0.0, 0.0);
    canvas.line((zx, plot.y), (zx, plot.bottom()), theme.muted, 0.5, Some("2 2"));
    canvas.line((plot.x, zy), (plot.right(), zy), theme.muted, 0.5, Some("2 2"));
    let q = TICK_PT * 0.9;
    canvas.text("V− A+", (plot.x + 2.5, plot.y + q + 2.0), q, Align::Start, theme.muted);
    canvas.text("V+ A+", (plot.right() - 2.5, plot.y + q + 2.0), q, Align::End, theme.muted);
    canvas.text("V− A−", (plot.x + 2.5, plot.bottom() - 2.5), q, Align::Start, theme.muted);
    canvas.text("V+ A−", (plot.right() - 2.5, plot.bottom() - 2.5), q, Align::End, theme.muted);
    canvas.close_group();
    let cloud: Vec<Mark> = data
        .cloud
        .iter()
        .map(|(m, va)| Mark {
            x: f64::from(va.valence),
            y: f64::from(va.arousal),
            colour: theme.modality_colour(*m),
            marker: Theme::modality_marker(*m),
        })
        .collect();
    if !cloud.is_empty() {
        scatter(canvas, &axes, "cloud", &cloud, 2.0, 0.25, page.dpi)?;
    }
    let point_size = 6.0;
    let mut obstacles: Vec<Rect> = Vec::new();
    let anchor_size = 5.0;
    canvas.open_group("anchors");
    for (i, (_, va)) in data.anchors.iter().enumerate() {
        let at = axes.map(f64::from(va.valence), f64::from(va.arousal));
        canvas.marker(Marker::Diamond, at, anchor_size, theme.muted, !data.gold.contains(&i));
        obstacles.push(Rect::new(at.0 - anchor_size / 2.0, at.1 - anchor_size / 2.0, anchor_size, anchor_size));
    }
    canvas.close_group();
    if !data.audited.is_empty() {
        canvas.open_group("audited");
        for (m, model, audited) in &data.audited {
            let a = axes.map(f64::from(model.valence), f64::from(model.arousal));
            let b = axes.map(f64::from(audited.valence), f64::from(audited.arousal));
            canvas.marker(Theme::modality_marker(*m), a, point_size, theme.modality_colour(*m), true);
            // stop at the audited marker's edge, so the head stays visible
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let length = dx.hypot(dy).max(1e-9);
            let shorten = (point_size * 0.6).min(length);
            let end = (b.0 - dx / length * shorten, b.1 - dy / length * shorten);
            canvas.arrow(a, end, theme.modality_colour(*m), 0.7);
        }
        canvas.close_group();
    }
    canvas.open_group("points");
    for (m, va) in &data.points {
        let at = axes.map(f64::from(va.valence), f64::from(va.arousal));
        canvas.marker(Theme::modality_marker(*m), at, point_size, theme.modality_colour(*m), false);
        obstacles.push(Rect::new(at.0 - point_size / 2.0, at.1 - point_size / 2.0, point_size, point_size));
    }
    canvas.close_group();
    canvas.open_group("anchor-labels");
    let anchors: Vec<(String, (f64, f64))> = data
        .anchors
        .iter()
        .map(|(name, va)| (name.clone(), axes.map(f64::from(va.valence), f64::from(va.arousal))))
        .collect();
    for placed in place_labels(&anchors, &mut obstacles, plot, LABEL_PT * 0.95) {
        if placed.leader {
            canvas.line(placed.anchor, placed.leader_end, theme.muted, 0.35, None);
        }
        canvas.text(&placed.text, (placed.x, placed.y), LABEL_PT * 0.95, Align::Start, theme.ink);
    }
    canvas.close_group();
    let legend_y = plot.bottom() + Axes::BOTTOM_MARGIN + 2.0;
    legend(canvas, "legend", &entries, (region.x, legend_y), inner_w);
    Ok(())
}

pub fn modality_title(m: Modality) -> String {
    let name = m.name();
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A label placed by [`place_labels`]: its text's start and baseline, and the leader line to
/// its anchor when it sits away from it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacedLabel {
    pub text: String,
    pub x: f64,
    pub y: f64,
    pub anchor: (f64, f64),
    pub leader: bool,
    pub leader_end: (f64, f64),
    pub rect: Rect,
}

/// Places each label near its anchor, clear of the obstacles, the labels placed before it and
/// the plot's edge: the closest free spot on rings of growing distance (with a leader line
/// beyond the first); where none is free, the spot that overlaps least.
pub fn place_labels(
    anchors: &[(String, (f64, f64))],
    obstacles: &mut Vec<Rect>,
    bounds: Rect,
    size: f64,
) -> Vec<PlacedLabel> {
    let mut out = Vec::new();
    for (text, at) in anchors {
        let w = text_width(text, size);
        let h = size;
        let mut best: Option<(f64, PlacedLabel)> = None;
        'rings: for (ring, distance) in [3.5, 8.0, 13.0, 19.0, 26.0].iter().enumerate() {
            let directions = 16;
            for k in 0..directions {
                let angle = k as f64 * std::f64::consts::TAU / directions as f64;
                let (dx, dy) = (angle.cos(), -angle.sin());
                // the box's nearest point sits `distance` from the anchor in this direction
                let cx = at.0 + dx * (distance + w / 2.0 * dx.abs());
                let cy = at.1 + dy * (distance + h / 2.0 * dy.abs());
                let rect = Rect::new(cx - w / 2.0, cy - h / 2.0, w, h);
                let overlap: f64 = obstacles.iter().map(|o| overlap_area(&rect, o)).sum::<f64>()
                    + if bounds.contains(&rect) { 0.0 } else { 1e6 };
                let cost = overlap * 100.0 + ring as f64;
                let label = PlacedLabel {
                    text: text.clone(),
                    x: rect.x,
                    y: rect.y + 0.78 * h,
                    anchor: *at,
                    leader: ring > 0,
                    leader_end: nearest_point(&rect, *at),
                    rect,
                };
                if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                    best = Some((cost, label));
                }
                if overlap == 0.0 {
                    break 'rings;
                }
            }
        }
        if let Some((_, label)) = best {
            obstacles.push(label.rect);
            out.push(label);
        }
    }
    out
}

fn overlap_area(a: &Rect, b: &Rect) -> f64 {
    let w = (a.right().min(b.right()) - a.x.max(b.x)).max(0.0);
    let h = (a.bottom().min(b.bottom()) - a.y.max(b.y)).max(0.0);
    w * h
}

fn nearest_point(r: &Rect, p: (f64, f64)) -> (f64, f64) {
    (p.0.clamp(r.x, r.right()), p.1.clamp(r.y, r.bottom()))
}

/// Square matrices over the same labels, drawn side by side on one scale.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CorrelationData {
    pub labels: Vec<String>,
    /// Title and matrix (rows and columns in `labels` order).
    pub matrices: Vec<(String, Vec<Vec<f32>>)>,
}

/// How a correlation cell's value is written (what the tests compare with `univa va-prior --json`).
pub fn cell_text(value: f32) -> String {
    number(f64::from(value), 2)
}

/// The correlation figure (paper Fig. 4): heatmaps on one diverging scale symmetric about 0
/// (its limit the largest magnitude, at least 1), each cell's value written in it, a colour bar.
pub fn correlation(page: &Page, data: &CorrelationData) -> Result<Figure, FigureError> {
    let n = data.labels.len();
    if n == 0 || data.matrices.is_empty() {
        return Err(FigureError::Empty("no labels, so there is no correlation matrix to draw".to_owned()));
    }
    for (name, m) in &data.matrices {
        if m.len() != n || m.iter().any(|row| row.len() != n) {
            return Err(FigureError::Data(format!("{name}: expected a {n} × {n} matrix over the labels")));
        }
    }
    let limit = data
        .matrices
        .iter()
        .flat_map(|(_, m)| m.iter().flatten())
        .filter(|v| v.is_finite())
        .fold(1.0f64, |l, v| l.max(f64::from(v.abs())));
    let mut canvas = page.canvas();
    let theme = canvas.theme.clone();
    let label_w = data.labels.iter().map(|l| text_width(l, TICK_PT)).fold(0.0, f64::max);
    let k = data.matrices.len() as f64;
    let bar_w = 8.0 + 4.0 + text_width("−1.00", TICK_PT);
    let gap = 10.0;
    let top = MARGIN + TITLE_PT + 5.0;
    let avail_w = (canvas.width - 2.0 * MARGIN - bar_w - 8.0 - k * (label_w + 3.0) - (k - 1.0) * gap) / k;
    let avail_h = canvas.height - top - MARGIN - label_w - 3.0;
    let side = avail_w.min(avail_h);
    let cell = side / n as f64;
    if cell < 8.0 {
        return Err(FigureError::Data(format!(
            "{:.0} × {:.0} mm is too small for {} {n} × {n} heatmaps; make the figure larger",
            page.width_mm,
            page.height_mm,
            data.matrices.len()
        )));
    }
    let value_pt = (cell * 0.32).min(LABEL_PT);
    let mut x = MARGIN;
    for (i, (name, matrix)) in data.matrices.iter().enumerate() {
        let grid = Rect::new(x + label_w + 3.0, top, side, side);
        canvas.open_group(&format!("heatmap-{i}"));
        title(&mut canvas, name, grid.x + side / 2.0, MARGIN + TITLE_PT, Align::Middle);
        for (r, row) in matrix.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                let cell_rect = Rect::new(grid.x + c as f64 * cell, grid.y + r as f64 * cell, cell, cell);
                let fill = if value.is_finite() { theme.diverging_at(f64::from(*value) / limit) } else { theme.grid };
                canvas.rect(cell_rect, Some(fill), Some((theme.background, 0.5)));
                let text = if value.is_finite() { cell_text(*value) } else { "–".to_owned() };
                canvas.text(
                    &text,
                    (cell_rect.x + cell / 2.0, cell_rect.y + cell / 2.0 + value_pt * 0.35),
                    value_pt,
                    Align::Middle,
                    theme.ink_on(fill),
                );
            }
        }
        canvas.close_group();
        canvas.open_group(&format!("heatmap-{i}-labels"));
        for (j, label) in data.labels.iter().enumerate() {
            let mid = j as f64 * cell + cell / 2.0;
            canvas.text(label, (grid.x - 3.0, grid.y + mid + TICK_PT * 0.35), TICK_PT, Align::End, theme.ink);
            canvas.text_rotated(
                label,
                (grid.x + mid + TICK_PT * 0.35, grid.bottom() + 3.0),
                TICK_PT,
                Align::End,
                theme.ink,
                -90.0,
            );
        }
        canvas.close_group();
        x = grid.right() + gap;
    }
    // colour bar
    let bar = Rect::new(x - gap + 8.0, top, 8.0, side);
    canvas.open_group("colour-bar");
    let steps = 64;
    for s in 0..steps {
        let t = 1.0 - 2.0 * (s as f64 + 0.5) / steps as f64;
        let h = bar.h / steps as f64;
        canvas.rect(Rect::new(bar.x, bar.y + s as f64 * h, bar.w, h + 0.05), Some(theme.diverging_at(t)), None);
    }
    canvas.rect(bar, None, Some((theme.ink, 0.5)));
    for t in [-1.0, -0.5, 0.0, 0.5, 1.0] {
        let y = bar.y + (1.0 - t) / 2.0 * bar.h;
        canvas.line((bar.right(), y), (bar.right() + 2.0, y), theme.ink, 0.5, None);
        canvas.text(&number(t * limit, 2), (bar.right() + 3.0, y + TICK_PT * 0.35), TICK_PT, Align::Start, theme.ink);
    }
    canvas.close_group();
    Ok(Figure { svg: canvas.finish(), page: *page })
}

/// How an embedding map's points are coloured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Colouring {
    /// By modality (the paper's Fig. 3).
    #[default]
    Modality,
    /// By the utterance's first gold label.
    Label,
    /// By the VA quadrant of the point's modality.
    Quadrant,
    /// By the point's valence, on the diverging scale.
    Valence,
    /// By the point's arousal, on the diverging scale.
    Arousal,
}

/// What one point of a map is coloured by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key {
    /// Index into [`EmbeddingData::categories`].
    Category(usize),
    /// A value on [−1, 1].
    Value(f64),
}

/// One map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbeddingPanel {
    pub title: String,
    pub points: Vec<[f32; 2]>,
    pub keys: Vec<Key>,
}

/// One or two maps (the with/without VA-CL pair of Fig. 3 a/b) coloured the same way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbeddingData {
    pub panels: Vec<EmbeddingPanel>,
    pub colouring: Colouring,
    /// Legend names of the categories (modalities, labels or quadrants).
    pub categories: Vec<String>,
}

/// Embedding maps side by side, without axes (UMAP coordinates mean nothing), a frame, a
/// legend or colour bar underneath.
pub fn embedding(page: &Page, data: &EmbeddingData) -> Result<Figure, FigureError> {
    if data.panels.is_empty() || data.panels.iter().any(|p| p.points.is_empty()) {
        return Err(FigureError::Empty("the map has no points to draw".to_owned()));
    }
    let mut canvas = page.canvas();
    let theme = canvas.theme.clone();
    let style = |i: usize| -> (Rgb, Marker) {
        match data.colouring {
            Colouring::Modality => {
                let m = Modality::ALL.get(i).copied().unwrap_or(Modality::Text);
                (theme.modality_colour(m), Theme::modality_marker(m))
            }
            _ => theme.category(i),
        }
    };
    let used = |i: usize| data.panels.iter().any(|p| p.keys.contains(&Key::Category(i)));
    let entries: Vec<(String, Rgb, Marker)> = data
        .categories
        .iter()
        .enumerate()
        .filter(|(i, _)| used(*i))
        .map(|(i, name)| {
            let (c, m) = style(i);
            (name.clone(), c, m)
        })
        .collect();
    let continuous = matches!(data.colouring, Colouring::Valence | Colouring::Arousal);
    let inner_w = canvas.width - 2.0 * MARGIN;
    let footer = if continuous { 8.0 + TICK_PT + 6.0 } else { legend_height(&entries, inner_w) + 2.0 };
    let k = data.panels.len() as f64;
    let gap = 8.0;
    let top = MARGIN + TITLE_PT + 4.0;
    let w = (inner_w - (k - 1.0) * gap) / k;
    let h = canvas.height - top - footer - 4.0 - MARGIN;
    if w < 30.0 || h < 30.0 {
        return Err(FigureError::Data(format!(
            "{:.0} × {:.0} mm is too small for {} map(s); make the figure larger",
            page.width_mm,
            page.height_mm,
            data.panels.len()
        )));
    }
    let point_size = if data.panels.iter().map(|p| p.points.len()).max().unwrap_or(0) > 2_000 { 1.2 } else { 2.6 };
    for (i, panel) in data.panels.iter().enumerate() {
        let plot = Rect::new(MARGIN + i as f64 * (w + gap), top, w, h);
        let (x, y) = padded_range(&panel.points);
        let axes = Axes { plot, x, y };
        title(&mut canvas, &panel.title, plot.x + w / 2.0, MARGIN + TITLE_PT, Align::Middle);
        let marks: Vec<Mark> = panel
            .points
            .iter()
            .zip(&panel.keys)
            .map(|(p, key)| {
                let (colour, marker) = match key {
                    Key::Category(c) => style(*c),
                    Key::Value(v) => (theme.diverging_at(*v), Marker::Circle),
                };
                Mark { x: f64::from(p[0]), y: f64::from(p[1]), colour, marker }
            })
            .collect();
        scatter(&mut canvas, &axes, &format!("map-{i}"), &marks, point_size, 0.8, page.dpi)?;
        canvas.rect(plot, None, Some((theme.ink, 0.5)));
    }
    let footer_y = canvas.height - MARGIN - footer;
    if continuous {
        let name = if data.colouring == Colouring::Valence { "valence" } else { "arousal" };
        canvas.open_group("colour-bar");
        let bar = Rect::new(canvas.width / 2.0 - 60.0, footer_y + 2.0, 120.0, 6.0);
        let steps = 64;
        for s in 0..steps {
            let t = -1.0 + 2.0 * (s as f64 + 0.5) / steps as f64;
            let sw = bar.w / steps as f64;
            canvas.rect(Rect::new(bar.x + s as f64 * sw, bar.y, sw + 0.05, bar.h), Some(theme.diverging_at(t)), None);
        }
        canvas.rect(bar, None, Some((theme.ink, 0.4)));
        canvas.text("−1", (bar.x - 3.0, bar.bottom()), TICK_PT, Align::End, theme.ink);
        canvas.text(&format!("+1 {name}"), (bar.right() + 3.0, bar.bottom()), TICK_PT, Align::Start, theme.ink);
        canvas.close_group();
    } else {
        let width: f64 = legend_height(&entries, inner_w);
        let one_row = width <= LABEL_PT * 1.5;
        let total: f64 =
            entries.iter().map(|(n, _, _)| LABEL_PT + 2.5 + text_width(n, LABEL_PT) + 8.0).sum::<f64>() - 8.0;
        let x = if one_row { (canvas.width - total) / 2.0 } else { MARGIN };
        legend(&mut canvas, "legend", &entries, (x, footer_y + 2.0), inner_w);
    }
    Ok(Figure { svg: canvas.finish(), page: *page })
}

fn padded_range(points: &[[f32; 2]]) -> ((f64, f64), (f64, f64)) {
    let mut x = (f64::INFINITY, f64::NEG_INFINITY);
    let mut y = (f64::INFINITY, f64::NEG_INFINITY);
    for p in points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
        x = (x.0.min(f64::from(p[0])), x.1.max(f64::from(p[0])));
        y = (y.0.min(f64::from(p[1])), y.1.max(f64::from(p[1])));
    }
    let pad = |(lo, hi): (f64, f64)| {
        if !lo.is_finite() {
            return (-1.0, 1.0);
        }
        let d = ((hi - lo) * 0.04).max(1e-3);
        (lo - d, hi + d)
    };
    (pad(x), pad(y))
}

/// One line of a line chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Draw a marker at each point (few points: sweeps, epochs).
    pub markers: bool,
}

/// One chart of a line figure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinePanel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// A vertical marker line and its caption (the run's threshold, the best epoch).
    pub marker_line: Option<(f64, String)>,
}

/// Line charts in a grid of `columns`, each with its legend above the plot.
pub fn lines(page: &Page, panels: &[LinePanel], columns: usize) -> Result<Figure, FigureError> {
    let panels: Vec<&LinePanel> = panels.iter().filter(|p| p.series.iter().any(|s| !s.points.is_empty())).collect();
    if panels.is_empty() {
        return Err(FigureError::Empty("no series has any point to draw".to_owned()));
    }
    let mut canvas = page.canvas();
    let theme = canvas.theme.clone();
    let columns = columns.clamp(1, panels.len());
    let rows = panels.len().div_ceil(columns);
    let gap = 8.0;
    let cell_w = (canvas.width - 2.0 * MARGIN - (columns as f64 - 1.0) * gap) / columns as f64;
    let cell_h = (canvas.height - 2.0 * MARGIN - (rows as f64 - 1.0) * gap) / rows as f64;
    for (i, panel) in panels.iter().enumerate() {
        let (cx, cy) = (MARGIN + (i % columns) as f64 * (cell_w + gap), MARGIN + (i / columns) as f64 * (cell_h + gap));
        let entries: Vec<(String, Rgb, Marker)> = panel
            .series
            .iter()
            .enumerate()
            .map(|(j, s)| {
                let (c, m) = theme.category(j);
                (s.name.clone(), c, m)
            })
            .collect();
        let legend_h = if entries.len() > 1 { legend_height(&entries, cell_w) } else { 0.0 };
        let all: Vec<(f64, f64)> = panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        let x = range_of(all.iter().map(|p| p.0), 0.0);
        let y = range_of(all.iter().map(|p| p.1), 0.06);
        let plot_top = cy + TITLE_PT + 3.0 + legend_h + 2.0;
        let plot_h = cell_h - (plot_top - cy) - Axes::BOTTOM_MARGIN;
        let left = Axes::left_margin(y, plot_h);
        let plot = Rect::new(cx + left, plot_top, cell_w - left - 2.0, plot_h);
        if plot.w < 30.0 || plot.h < 25.0 {
            return Err(FigureError::Data(format!(
                "{:.0} × {:.0} mm is too small for {} charts; make the figure larger",
                page.width_mm,
                page.height_mm,
                panels.len()
            )));
        }
        let axes = Axes { plot, x, y };
        let id = format!("panel-{i}");
        canvas.open_group(&id);
        title(&mut canvas, &panel.title, cx, cy + TITLE_PT, Align::Start);
        if entries.len() > 1 {
            legend(&mut canvas, &format!("{id}-legend"), &entries, (cx, cy + TITLE_PT + 3.0), cell_w);
        }
        axes.draw(&mut canvas, &format!("{id}-axes"), &panel.x_label, &panel.y_label);
        canvas.open_clip(&format!("{id}-series"), plot);
        if let Some((at, _)) = &panel.marker_line {
            let (px, _) = axes.map(*at, y.0);
            canvas.line((px, plot.y), (px, plot.bottom()), theme.muted, 0.6, Some("3 2"));
        }
        for (j, series) in panel.series.iter().enumerate() {
            let (colour, marker) = theme.category(j);
            let points: Vec<(f64, f64)> = series.points.iter().map(|p| axes.map(p.0, p.1)).collect();
            canvas.polyline(&points, colour, 0.9, None);
            if series.markers || points.len() == 1 {
                for p in &points {
                    canvas.marker(marker, *p, 3.2, colour, false);
                }
            }
        }
        canvas.close_group();
        if let Some((_, caption)) = &panel.marker_line {
            // the caption sits at the panel's top right, after a sample of the dashed line
            let room = cell_w - text_width(&panel.title, TITLE_PT) - 16.0;
            let caption = super::canvas::fit_text(caption, TICK_PT, room.max(20.0));
            let right = cx + cell_w - 2.0;
            let start = right - text_width(&caption, TICK_PT);
            canvas.line(
                (start - 12.0, cy + TITLE_PT - 2.0),
                (start - 3.0, cy + TITLE_PT - 2.0),
                theme.muted,
                0.6,
                Some("3 2"),
            );
            canvas.text(&caption, (right, cy + TITLE_PT), TICK_PT, Align::End, theme.muted);
        }
        canvas.close_group();
    }
    Ok(Figure { svg: canvas.finish(), page: *page })
}

fn range_of(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        let d = if lo.abs() > 1e-9 { lo.abs() * 0.1 } else { 1.0 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowded_labels_do_not_overlap_each_other_or_leave_the_plot() {
        let bounds = Rect::new(0.0, 0.0, 200.0, 200.0);
        let anchors: Vec<(String, (f64, f64))> = ["anger", "disgust", "fear", "surprise", "contempt"]
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), (20.0 + i as f64 * 4.0, 30.0 + i as f64 * 3.0)))
            .collect();
        let mut obstacles = Vec::new();
        let placed = place_labels(&anchors, &mut obstacles, bounds, 7.0);
        assert_eq!(placed.len(), 5);
        for (i, a) in placed.iter().enumerate() {
            assert!(bounds.contains(&a.rect), "{a:?}");
            for b in &placed[i + 1..] {
                assert!(!a.rect.intersects(&b.rect), "{a:?} overlaps {b:?}");
            }
        }
    }
}
