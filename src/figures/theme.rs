//! Figure themes, independent of the window's: the print theme (white paper, dark ink,
//! Okabe-Ito colours whose lightness differs, each modality with its own marker so that a
//! greyscale print still tells them apart) and a dark theme for slides.

use crate::modality::Modality;

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// CIE L* (0 black … 100 white): what a greyscale print keeps of the colour.
    pub fn lightness(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        let y = 0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2);
        if y > 216.0 / 24389.0 { 116.0 * y.cbrt() - 16.0 } else { y * 24389.0 / 27.0 }
    }

    pub fn mix(self, other: Rgb, t: f64) -> Rgb {
        let lerp = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round().clamp(0.0, 255.0) as u8;
        Rgb(lerp(self.0, other.0), lerp(self.1, other.1), lerp(self.2, other.2))
    }
}

/// A point marker; each modality has its own so that colour is never the only cue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
    Cross,
    /// A triangle pointing down.
    TriangleDown,
    Plus,
}

/// Which theme a figure is drawn in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ThemeName {
    /// White paper, dark ink, colour-blind-safe colours distinct in greyscale.
    #[default]
    Print,
    /// Dark background for slides.
    Dark,
}

/// The colours and strokes of a figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub background: Rgb,
    pub ink: Rgb,
    /// Secondary text, tick labels' gridlines and quadrant lines.
    pub muted: Rgb,
    pub grid: Rgb,
    /// Text, vision, audio.
    pub modality: [Rgb; 3],
    /// Categorical colours for labels and runs, cycled with [`Theme::CATEGORY_MARKERS`].
    pub categories: [Rgb; 7],
    /// The diverging scale's ends and middle (−1, 0, +1).
    pub diverging: [Rgb; 3],
    /// Correct predictions and errors in tables and bars.
    pub good: Rgb,
    pub bad: Rgb,
}

/// Okabe & Ito (2008), "Color Universal Design".
const OKABE_ITO: [Rgb; 7] = [
    Rgb(0x00, 0x72, 0xB2), // blue
    Rgb(0xE6, 0x9F, 0x00), // orange
    Rgb(0x00, 0x9E, 0x73), // bluish green
    Rgb(0xD5, 0x5E, 0x00), // vermillion
    Rgb(0xCC, 0x79, 0xA7), // reddish purple
    Rgb(0x56, 0xB4, 0xE9), // sky blue
    Rgb(0xF0, 0xE4, 0x42), // yellow
];

impl Theme {
    pub const MODALITY_MARKERS: [Marker; 3] = [Marker::Circle, Marker::Square, Marker::Triangle];
    /// As many as the categorical colours, so that no two of the first seven categories share both.
    pub const CATEGORY_MARKERS: [Marker; 7] = [
        Marker::Circle,
        Marker::Square,
        Marker::Triangle,
        Marker::Diamond,
        Marker::Cross,
        Marker::TriangleDown,
        Marker::Plus,
    ];

    pub fn named(name: ThemeName) -> Self {
        match name {
            ThemeName::Print => Self::print(),
            ThemeName::Dark => Self::dark(),
        }
    }

    /// Text blue (L* 47), vision orange (L* 72), audio near-black (L* 13): far apart in greyscale.
    pub fn print() -> Self {
        Self {
            background: Rgb(255, 255, 255),
            ink: Rgb(0x1a, 0x1a, 0x1a),
            muted: Rgb(0x6b, 0x6b, 0x6b),
            grid: Rgb(0xdd, 0xdd, 0xdd),
            modality: [OKABE_ITO[0], OKABE_ITO[1], Rgb(0x1a, 0x1a, 0x1a)],
            categories: OKABE_ITO,
            diverging: [Rgb(0x21, 0x66, 0xac), Rgb(0xf7, 0xf7, 0xf7), Rgb(0xb2, 0x18, 0x2b)],
            good: Rgb(0x00, 0x9E, 0x73),
            bad: Rgb(0xD5, 0x5E, 0x00),
        }
    }

    pub fn dark() -> Self {
        Self {
            background: Rgb(0x1b, 0x1d, 0x22),
            ink: Rgb(0xee, 0xee, 0xee),
            muted: Rgb(0xa0, 0xa0, 0xa0),
            grid: Rgb(0x3a, 0x3d, 0x44),
            modality: [OKABE_ITO[5], OKABE_ITO[1], Rgb(0xee, 0xee, 0xee)],
            categories: [
                OKABE_ITO[5],
                OKABE_ITO[1],
                OKABE_ITO[2],
                OKABE_ITO[3],
                OKABE_ITO[4],
                OKABE_ITO[6],
                OKABE_ITO[0],
            ],
            diverging: [Rgb(0x43, 0x93, 0xc3), Rgb(0xc8, 0xc8, 0xc8), Rgb(0xd6, 0x60, 0x4d)],
            good: Rgb(0x00, 0x9E, 0x73),
            bad: Rgb(0xE6, 0x9F, 0x00),
        }
    }

    pub fn modality_colour(&self, modality: Modality) -> Rgb {
        self.modality[modality.index()]
    }

    pub fn modality_marker(modality: Modality) -> Marker {
        Self::MODALITY_MARKERS[modality.index()]
    }

    /// The colour and marker of category `i` (a label, a run).
    pub fn category(&self, i: usize) -> (Rgb, Marker) {
        (self.categories[i % self.categories.len()], Self::CATEGORY_MARKERS[i % Self::CATEGORY_MARKERS.len()])
    }

    /// The diverging scale at `t` ∈ [−1, 1] (clamped).
    pub fn diverging_at(&self, t: f64) -> Rgb {
        let t = t.clamp(-1.0, 1.0);
        let [low, middle, high] = self.diverging;
        if t < 0.0 { middle.mix(low, -t) } else { middle.mix(high, t) }
    }

    /// Ink that reads on `fill`: the theme's ink or background, whichever differs more in lightness.
    pub fn ink_on(&self, fill: Rgb) -> Rgb {
        let l = fill.lightness();
        let (a, b) = (self.ink, self.background);
        if (a.lightness() - l).abs() >= (b.lightness() - l).abs() { a } else { b }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_modalities_differ_in_greyscale_and_markers() {
        let theme = Theme::print();
        for i in 0..3 {
            for j in i + 1..3 {
                let (a, b) = (theme.modality[i].lightness(), theme.modality[j].lightness());
                assert!((a - b).abs() > 20.0, "modalities {i} and {j}: L* {a:.0} vs {b:.0}");
                assert_ne!(Theme::MODALITY_MARKERS[i], Theme::MODALITY_MARKERS[j]);
            }
        }
        assert!((Rgb(255, 255, 255).lightness() - 100.0).abs() < 1e-6);
        assert!(Rgb(0, 0, 0).lightness().abs() < 1e-6);
    }

    #[test]
    fn diverging_scale_runs_through_the_middle_and_ink_reads_on_it() {
        let theme = Theme::print();
        assert_eq!(theme.diverging_at(0.0), theme.diverging[1]);
        assert_eq!(theme.diverging_at(-3.0), theme.diverging[0]);
        assert_eq!(theme.diverging_at(1.0), theme.diverging[2]);
        assert_eq!(theme.ink_on(theme.diverging[0]), theme.background);
        assert_eq!(theme.ink_on(theme.diverging[1]), theme.ink);
    }
}
