//! Face crops: square the detector's box, widen it by a margin, cut it out of the frame and
//! resize it to the model's input. SeetaFace gives a box, no landmarks, so "alignment" here is
//! centring and scaling; the mini-Xception was trained on such centred, unrotated crops.

use crate::acquire::decode::RgbFrame;

/// A face box in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// Detector confidence (SeetaFace score; higher is surer).
    pub score: f32,
}

impl FaceBox {
    pub fn area(&self) -> f32 {
        self.width * self.height
    }
}

/// A square RGB face crop, `size × size × 3` bytes, rows top to bottom.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceCrop {
    pub size: usize,
    pub rgb: Vec<u8>,
}

impl FaceCrop {
    /// Grey values scaled to [-1, 1] the way fer preprocesses: `(grey / 255 - 0.5) * 2`,
    /// grey by BT.601 weights as OpenCV's `COLOR_BGR2GRAY`.
    pub fn grey_unit(&self) -> Vec<f32> {
        self.rgb
            .chunks_exact(3)
            .map(|p| {
                let grey = (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])).round();
                (grey / 255.0 - 0.5) * 2.0
            })
            .collect()
    }
}

/// Fraction of the box side added on every side (fer adds 10 px to Haar boxes of ~100 px).
pub const MARGIN: f32 = 0.1;

/// Cuts the face out of `frame` as a `size × size` crop. The box is made square around its
/// centre (fer's `tosquare`) and widened by [`MARGIN`]; pixels outside the frame repeat the edge.
/// Resampling is bilinear with half-pixel centres, like OpenCV's `INTER_LINEAR`.
pub fn crop_face(frame: &RgbFrame, face: &FaceBox, size: usize) -> FaceCrop {
    let side = face.width.max(face.height) * (1.0 + 2.0 * MARGIN);
    let (cx, cy) = (face.x + face.width / 2.0, face.y + face.height / 2.0);
    let (x0, y0) = (cx - side / 2.0, cy - side / 2.0);
    let scale = side / size as f32;
    let (w, h) = (frame.width as isize, frame.height as isize);
    let pixel = |x: isize, y: isize, c: usize| -> f32 {
        let (x, y) = (x.clamp(0, w - 1) as usize, y.clamp(0, h - 1) as usize);
        f32::from(frame.rgb[(y * frame.width + x) * 3 + c])
    };
    let mut rgb = Vec::with_capacity(size * size * 3);
    for row in 0..size {
        let sy = y0 + (row as f32 + 0.5) * scale - 0.5;
        let (iy, fy) = (sy.floor() as isize, sy - sy.floor());
        for col in 0..size {
            let sx = x0 + (col as f32 + 0.5) * scale - 0.5;
            let (ix, fx) = (sx.floor() as isize, sx - sx.floor());
            for c in 0..3 {
                let top = pixel(ix, iy, c) * (1.0 - fx) + pixel(ix + 1, iy, c) * fx;
                let bottom = pixel(ix, iy + 1, c) * (1.0 - fx) + pixel(ix + 1, iy + 1, c) * fx;
                rgb.push((top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    FaceCrop { size, rgb }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_of_a_uniform_box_is_uniform_and_sized() {
        let mut rgb = vec![0u8; 100 * 80 * 3];
        for y in 20..60 {
            for x in 30..70 {
                rgb[(y * 100 + x) * 3..(y * 100 + x) * 3 + 3].copy_from_slice(&[200, 100, 50]);
            }
        }
        let frame = RgbFrame { time_secs: 0.0, width: 100, height: 80, rgb };
        let face = FaceBox { x: 35.0, y: 25.0, width: 30.0, height: 30.0, score: 1.0 };
        let crop = crop_face(&frame, &face, 16);
        assert_eq!(crop.rgb.len(), 16 * 16 * 3);
        assert!(crop.rgb.chunks_exact(3).all(|p| p == [200, 100, 50]));
        let grey = crop.grey_unit();
        let expected = ((0.299f32 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0).round() / 255.0 - 0.5) * 2.0;
        assert!(grey.iter().all(|g| (g - expected).abs() < 1e-6));
    }

    #[test]
    fn crop_past_the_frame_edge_repeats_the_edge() {
        let frame = RgbFrame { time_secs: 0.0, width: 4, height: 4, rgb: vec![7; 4 * 4 * 3] };
        let face = FaceBox { x: -10.0, y: -10.0, width: 8.0, height: 8.0, score: 1.0 };
        assert!(crop_face(&frame, &face, 8).rgb.iter().all(|&v| v == 7));
    }
}
