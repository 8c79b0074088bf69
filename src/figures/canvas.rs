//! A small SVG writer in points (1/72 in), with text measured on the bundled font so that
//! layout (legends, label placement, margins) knows how wide each string is.
//!
//! plotters' SVG backend was the first choice; it was left because its coordinates are
//! integers (a quarter millimetre steps at 96 units per inch), its embedded bitmaps are RGB
//! without transparency at one pixel per unit (so a raster layer could not be finer than the
//! figure's unit grid), and without font-kit it estimates text widths rather than measuring them.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::theme::{Marker, Rgb, Theme};

/// The font every figure is set in, embedded in PDFs and used for PNGs (assets/fonts/).
pub const FONT_FAMILY: &str = "DejaVu Sans";
pub(crate) const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Points per millimetre.
pub const PT_PER_MM: f64 = 72.0 / 25.4;

/// Type sizes in points.
pub const TICK_PT: f64 = 6.5;
pub const LABEL_PT: f64 = 7.5;
pub const TITLE_PT: f64 = 8.5;

fn face() -> Option<&'static ttf_parser::Face<'static>> {
    static FACE: OnceLock<Option<ttf_parser::Face<'static>>> = OnceLock::new();
    FACE.get_or_init(|| ttf_parser::Face::parse(FONT_BYTES, 0).ok()).as_ref()
}

/// Width of `text` set at `size` points, in points (kerning ignored: at most a few percent off).
pub fn text_width(text: &str, size: f64) -> f64 {
    let Some(face) = face() else {
        return text.chars().count() as f64 * 0.6 * size;
    };
    let per_em = f64::from(face.units_per_em());
    let advance = |c: char| face.glyph_index(c).and_then(|g| face.glyph_hor_advance(g)).map(f64::from);
    let fallback = advance('M').unwrap_or(per_em * 0.8);
    text.chars().map(|c| advance(c).unwrap_or(fallback)).sum::<f64>() / per_em * size
}

/// Shortens `text` with an ellipsis to fit `width` points at `size`.
pub fn fit_text(text: &str, size: f64, width: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_owned();
    }
    let mut out: String = String::new();
    for c in text.chars() {
        if text_width(&format!("{out}{c}…"), size) > width {
            break;
        }
        out.push(c);
    }
    format!("{}…", out.trim_end())
}

/// Breaks `text` into lines no wider than `width` points at `size`.
pub fn wrap_text(text: &str, size: f64, width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
        if text_width(&candidate, size) <= width || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_owned()));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A number for a tick or cell: fixed decimals, a true minus sign.
pub fn number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let negative_zero = text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.');
    match text.strip_prefix('-') {
        Some(rest) if !negative_zero => format!("−{rest}"),
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

/// `<`, `>`, `&` and quotes escaped for SVG text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Horizontal alignment of a text's anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Start,
    Middle,
    End,
}

/// A rectangle in points, y down.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn new(x: f64, y: f64, w: f64, h: f64) -> Self {
        Self { x, y, w, h }
    }

    pub fn right(&self) -> f64 {
        self.x + self.w
    }

    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }

    pub fn intersects(&self, other: &Rect) -> bool {
        self.x < other.right() && other.x < self.right() && self.y < other.bottom() && other.y < self.bottom()
    }

    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x && other.y >= self.y && other.right() <= self.right() && other.bottom() <= self.bottom()
    }

    /// The box of a one-line text at `size` with its anchor at (x, baseline y).
    pub fn of_text(text: &str, size: f64, x: f64, y: f64, align: Align) -> Self {
        let w = text_width(text, size);
        let left = match align {
            Align::Start => x,
            Align::Middle => x - w / 2.0,
            Align::End => x - w,
        };
        Rect::new(left, y - 0.76 * size, w, 0.98 * size)
    }
}

/// An SVG document being written, in points.
pub struct Canvas {
    pub width: f64,
    pub height: f64,
    pub theme: Theme,
    body: String,
}

impl Canvas {
    pub fn new(width: f64, height: f64, theme: Theme) -> Self {
        let mut canvas = Self { width, height, theme, body: String::new() };
        let background = canvas.theme.background;
        canvas.rect(Rect::new(0.0, 0.0, width, height), Some(background), None);
        canvas
    }

    /// Opens a group with an id (kept by SVG readers, so tests and users can find the parts).
    pub fn open_group(&mut self, id: &str) {
        let _ = writeln!(self.body, "<g id=\"{}\">", escape(id));
    }

    /// Opens a group drawn at `opacity`.
    pub fn open_faded_group(&mut self, id: &str, opacity: f64) {
        let _ = writeln!(self.body, "<g id=\"{}\" opacity=\"{opacity:.2}\">", escape(id));
    }

    pub fn close_group(&mut self) {
        self.body.push_str("</g>\n");
    }

    pub fn rect(&mut self, r: Rect, fill: Option<Rgb>, stroke: Option<(Rgb, f64)>) {
        let _ = writeln!(
            self.body,
            "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\" {}/>",
            r.x,
            r.y,
            r.w.max(0.0),
            r.h.max(0.0),
            paint(fill, stroke)
        );
    }

    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), colour: Rgb, width: f64, dash: Option<&str>) {
        let dash = dash.map(|d| format!(" stroke-dasharray=\"{d}\"")).unwrap_or_default();
        let _ = writeln!(
            self.body,
            "<line x1=\"{:.2}\" y1=\"{:.2}\" x2=\"{:.2}\" y2=\"{:.2}\" stroke=\"{}\" stroke-width=\"{width:.2}\"{dash}/>",
            a.0,
            a.1,
            b.0,
            b.1,
            colour.hex()
        );
    }

    pub fn polyline(&mut self, points: &[(f64, f64)], colour: Rgb, width: f64, dash: Option<&str>) {
        if points.len() < 2 {
            return;
        }
        let mut d = String::new();
        for (i, (x, y)) in points.iter().enumerate() {
            let _ = write!(d, "{}{x:.2},{y:.2}", if i == 0 { "M" } else { " L" });
        }
        let dash = dash.map(|d| format!(" stroke-dasharray=\"{d}\"")).unwrap_or_default();
        let _ = writeln!(
            self.body,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width:.2}\" stroke-linejoin=\"round\"{dash}/>",
            colour.hex()
        );
    }

    /// An arrow from `a` to `b` with a filled head.
    pub fn arrow(&mut self, a: (f64, f64), b: (f64, f64), colour: Rgb, width: f64) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length = dx.hypot(dy);
        if length < 1e-6 {
            return;
        }
        let (ux, uy) = (dx / length, dy / length);
        let head = (3.0 * width + 2.0).min(length);
        let base = (b.0 - ux * head, b.1 - uy * head);
        self.line(a, base, colour, width, None);
        let half = head * 0.45;
        let _ = writeln!(
            self.body,
            "<path d=\"M{:.2},{:.2} L{:.2},{:.2} L{:.2},{:.2} Z\" fill=\"{}\"/>",
            b.0,
            b.1,
            base.0 - uy * half,
            base.1 + ux * half,
            base.0 + uy * half,
            base.1 - ux * half,
            colour.hex()
        );
    }

    /// A marker of `size` points across centred on (x, y); hollow draws the outline only.
    pub fn marker(&mut self, marker: Marker, (x, y): (f64, f64), size: f64, colour: Rgb, hollow: bool) {
        let r = size / 2.0;
        let style = if hollow {
            format!("fill=\"none\" stroke=\"{}\" stroke-width=\"{:.2}\"", colour.hex(), (size * 0.15).max(0.4))
        } else {
            format!("fill=\"{}\"", colour.hex())
        };
        let _ = match marker {
            Marker::Circle => writeln!(self.body, "<circle cx=\"{x:.2}\" cy=\"{y:.2}\" r=\"{r:.2}\" {style}/>"),
            Marker::Square => {
                let s = r * 0.9;
                writeln!(
                    self.body,
                    "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\" {style}/>",
                    x - s,
                    y - s,
                    2.0 * s,
                    2.0 * s
                )
            }
            Marker::Triangle => writeln!(
                self.body,
                "<path d=\"M{x:.2},{:.2} L{:.2},{:.2} L{:.2},{:.2} Z\" {style}/>",
                y - r * 1.1,
                x + r,
                y + r * 0.75,
                x - r,
                y + r * 0.75
            ),
            Marker::Diamond => writeln!(
                self.body,
                "<path d=\"M{x:.2},{:.2} L{:.2},{y:.2} L{x:.2},{:.2} L{:.2},{y:.2} Z\" {style}/>",
                y - r * 1.15,
                x + r * 0.85,
                y + r * 1.15,
                x - r * 0.85
            ),
            Marker::TriangleDown => writeln!(
                self.body,
                "<path d=\"M{x:.2},{:.2} L{:.2},{:.2} L{:.2},{:.2} Z\" {style}/>",
                y + r * 1.1,
                x + r,
                y - r * 0.75,
                x - r,
                y - r * 0.75
            ),
            Marker::Plus => {
                let s = r * 0.95;
                let w = (size * 0.24).max(0.5);
                writeln!(
                    self.body,
                    "<path d=\"M{:.2},{y:.2} L{:.2},{y:.2} M{x:.2},{:.2} L{x:.2},{:.2}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{w:.2}\"/>",
                    x - s,
                    x + s,
                    y - s,
                    y + s,
                    colour.hex()
                )
            }
            Marker::Cross => {
                let s = r * 0.85;
                let w = (size * 0.22).max(0.5);
                writeln!(
                    self.body,
                    "<path d=\"M{:.2},{:.2} L{:.2},{:.2} M{:.2},{:.2} L{:.2},{:.2}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{w:.2}\"/>",
                    x - s,
                    y - s,
                    x + s,
                    y + s,
                    x - s,
                    y + s,
                    x + s,
                    y - s,
                    colour.hex()
                )
            }
        };
    }

    /// One line of text with its anchor at (x, baseline y).
    pub fn text(&mut self, text: &str, (x, y): (f64, f64), size: f64, align: Align, colour: Rgb) {
        self.text_rotated(text, (x, y), size, align, colour, 0.0);
    }

    /// Text turned by `degrees` about its anchor (−90: reads bottom to top).
    pub fn text_rotated(&mut self, text: &str, (x, y): (f64, f64), size: f64, align: Align, colour: Rgb, degrees: f64) {
        if text.is_empty() {
            return;
        }
        let anchor = match align {
            Align::Start => "start",
            Align::Middle => "middle",
            Align::End => "end",
        };
        let rotate =
            if degrees == 0.0 { String::new() } else { format!(" transform=\"rotate({degrees:.1} {x:.2} {y:.2})\"") };
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.2}\" y=\"{y:.2}\" font-family=\"{FONT_FAMILY}\" font-size=\"{size:.2}\" text-anchor=\"{anchor}\" fill=\"{}\"{rotate}>{}</text>",
            colour.hex(),
            escape(text)
        );
    }

    /// A PNG drawn over `r` (the raster layer of a dense scatter).
    pub fn png(&mut self, r: Rect, png: &[u8]) {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let _ = writeln!(
            self.body,
            "<image x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\" preserveAspectRatio=\"none\" href=\"data:image/png;base64,{data}\"/>",
            r.x, r.y, r.w, r.h
        );
    }

    /// Clips what follows (until [`Canvas::close_group`]) to `r`.
    pub fn open_clip(&mut self, id: &str, r: Rect) {
        let _ = writeln!(
            self.body,
            "<clipPath id=\"{id}-clip\"><rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\"/></clipPath>\n<g id=\"{id}\" clip-path=\"url(#{id}-clip)\">",
            r.x, r.y, r.w, r.h
        );
    }

    /// The finished SVG document; its size is in points.
    pub fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w:.3}pt\" height=\"{h:.3}pt\" viewBox=\"0 0 {w:.3} {h:.3}\">\n{}</svg>\n",
            self.body,
            w = self.width,
            h = self.height
        )
    }
}

fn paint(fill: Option<Rgb>, stroke: Option<(Rgb, f64)>) -> String {
    let fill = fill.map_or_else(|| "fill=\"none\"".to_owned(), |c| format!("fill=\"{}\"", c.hex()));
    match stroke {
        Some((colour, width)) => format!("{fill} stroke=\"{}\" stroke-width=\"{width:.2}\"", colour.hex()),
        None => fill,
    }
}

/// Tick positions for [lo, hi]: about `target` of them, at 1, 2 or 5 × 10^k, and their decimals.
pub fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, usize) {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return (vec![lo], 2);
    }
    let rough = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= rough).unwrap_or(10.0 * magnitude);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    ((first..=last).map(|i| i as f64 * step).collect(), decimals)
}

/// Data ranges mapped into a plot rectangle (y up).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Axes {
    pub plot: Rect,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl Axes {
    pub fn map(&self, x: f64, y: f64) -> (f64, f64) {
        let fx = (x - self.x.0) / (self.x.1 - self.x.0).max(1e-12);
        let fy = (y - self.y.0) / (self.y.1 - self.y.0).max(1e-12);
        (self.plot.x + fx * self.plot.w, self.plot.bottom() - fy * self.plot.h)
    }

    /// Frame, gridlines, ticks and their labels, and the axis titles, in a group `id`.
    pub fn draw(&self, canvas: &mut Canvas, id: &str, x_label: &str, y_label: &str) {
        let theme = canvas.theme.clone();
        canvas.open_group(id);
        let (x_ticks, x_decimals) = ticks(self.x.0, self.x.1, (self.plot.w / 45.0).round().max(2.0) as usize);
        let (y_ticks, y_decimals) = ticks(self.y.0, self.y.1, (self.plot.h / 30.0).round().max(2.0) as usize);
        for &t in &x_ticks {
            let (px, _) = self.map(t, self.y.0);
            canvas.line((px, self.plot.y), (px, self.plot.bottom()), theme.grid, 0.4, None);
            canvas.line((px, self.plot.bottom()), (px, self.plot.bottom() + 2.0), theme.ink, 0.5, None);
            canvas.text(
                &number(t, x_decimals),
                (px, self.plot.bottom() + 2.5 + TICK_PT),
                TICK_PT,
                Align::Middle,
                theme.ink,
            );
        }
        for &t in &y_ticks {
            let (_, py) = self.map(self.x.0, t);
            canvas.line((self.plot.x, py), (self.plot.right(), py), theme.grid, 0.4, None);
            canvas.line((self.plot.x - 2.0, py), (self.plot.x, py), theme.ink, 0.5, None);
            canvas.text(
                &number(t, y_decimals),
                (self.plot.x - 3.0, py + TICK_PT * 0.35),
                TICK_PT,
                Align::End,
                theme.ink,
            );
        }
        canvas.rect(self.plot, None, Some((theme.ink, 0.6)));
        canvas.text(
            x_label,
            (self.plot.x + self.plot.w / 2.0, self.plot.bottom() + 5.0 + TICK_PT + LABEL_PT),
            LABEL_PT,
            Align::Middle,
            theme.ink,
        );
        let widest = y_ticks.iter().map(|t| text_width(&number(*t, y_decimals), TICK_PT)).fold(0.0, f64::max);
        canvas.text_rotated(
            y_label,
            (self.plot.x - 5.0 - widest - 0.3 * LABEL_PT, self.plot.y + self.plot.h / 2.0),
            LABEL_PT,
            Align::Middle,
            theme.ink,
            -90.0,
        );
        canvas.close_group();
    }

    /// Space left of the plot that [`Axes::draw`] needs for y tick labels of this range and the title.
    pub fn left_margin(y: (f64, f64), height: f64) -> f64 {
        let (y_ticks, decimals) = ticks(y.0, y.1, (height / 30.0).round().max(2.0) as usize);
        let widest = y_ticks.iter().map(|t| text_width(&number(*t, decimals), TICK_PT)).fold(0.0, f64::max);
        widest + 7.0 + LABEL_PT
    }

    /// Space below the plot for x tick labels and the title.
    pub const BOTTOM_MARGIN: f64 = 6.0 + TICK_PT + LABEL_PT + 2.0;
}

/// Legend entries drawn in rows that wrap at `width`, starting at (x, y) (top left); returns the height used.
pub fn legend(canvas: &mut Canvas, id: &str, entries: &[(String, Rgb, Marker)], (x, y): (f64, f64), width: f64) -> f64 {
    let size = LABEL_PT;
    let mut cx = x;
    let mut row = 0.0;
    canvas.open_group(id);
    for (name, colour, marker) in entries {
        let w = size + 2.5 + text_width(name, size) + 8.0;
        if cx > x && cx + w - 8.0 > x + width {
            cx = x;
            row += size * 1.4;
        }
        canvas.marker(*marker, (cx + size / 2.0, y + row + size * 0.5), size * 0.8, *colour, false);
        canvas.text(name, (cx + size + 2.5, y + row + size * 0.82), size, Align::Start, canvas.theme.ink);
        cx += w;
    }
    canvas.close_group();
    row + size * 1.4
}

/// The height [`legend`] will take for these entries in `width`.
pub fn legend_height(entries: &[(String, Rgb, Marker)], width: f64) -> f64 {
    let size = LABEL_PT;
    let mut cx = 0.0;
    let mut rows = 1.0;
    for (name, _, _) in entries {
        let w = size + 2.5 + text_width(name, size) + 8.0;
        if cx > 0.0 && cx + w - 8.0 > width {
            cx = 0.0;
            rows += 1.0;
        }
        cx += w;
    }
    rows * size * 1.4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        let (t, d) = ticks(-1.0, 1.0, 4);
        assert_eq!(t, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(d, 1);
        let (t, d) = ticks(0.0, 37.0, 4);
        assert_eq!(t, vec![0.0, 10.0, 20.0, 30.0]);
        assert_eq!(d, 0);
    }

    #[test]
    fn numbers_use_a_minus_sign_and_no_negative_zero() {
        assert_eq!(number(-0.5, 2), "−0.50");
        assert_eq!(number(-0.001, 2), "0.00");
        assert_eq!(number(0.25, 1), "0.2");
    }

    #[test]
    fn text_is_measured_on_the_font_and_fitted() {
        let narrow = text_width("iiii", 10.0);
        let wide = text_width("MMMM", 10.0);
        assert!(narrow > 5.0 && wide > 2.0 * narrow, "{narrow} {wide}");
        let fitted = fit_text("a rather long transcript of an utterance", 8.0, 60.0);
        assert!(fitted.ends_with('…') && text_width(&fitted, 8.0) <= 60.0, "{fitted}");
        let lines = wrap_text("one two three four five six seven", 8.0, 40.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| text_width(l, 8.0) <= 40.0), "{lines:?}");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
