//! Frontal face detection with rustface (SeetaFace's funnel-structured cascade, BSD-2).

use std::io::Cursor;

use rustface::{Detector, ImageData};

use super::crop::FaceBox;
use crate::acquire::AcquireError;
use crate::acquire::decode::RgbFrame;

/// SeetaFace's frontal model as shipped in the rustface crate (`model/seeta_fd_frontal_v1.0.bin`,
/// BSD-2), copied to `models/seetaface/` and built in.
const SEETA_MODEL: &[u8] = include_bytes!("../../../models/seetaface/seeta_fd_frontal_v1.0.bin");

/// Smallest face side searched for, in pixels of the (scaled) frame; rustface's minimum is 20.
const MIN_FACE: u32 = 40;
/// Detection score threshold; rustface's README uses 2.0, higher rejects more false faces.
const SCORE_THRESHOLD: f64 = 2.0;

/// A face detector. Not `Sync`: each worker thread owns one.
pub struct FaceDetector {
    detector: Box<dyn Detector>,
    /// Frames larger than this (longer side) are shrunk by an integer factor before detection.
    max_side: usize,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector").finish_non_exhaustive()
    }
}

impl FaceDetector {
    /// A detector that looks at frames shrunk to at most `max_side` pixels (longer side): the
    /// cascade's cost grows with the area, and talking-head faces stay far above the 40 px
    /// minimum at 320 px. Boxes are returned in the original frame's pixels.
    pub fn new(max_side: usize) -> Result<Self, AcquireError> {
        let model = rustface::read_model(Cursor::new(SEETA_MODEL)).map_err(|e| {
            AcquireError::model(std::path::Path::new("models/seetaface/seeta_fd_frontal_v1.0.bin (built in)"), e)
        })?;
        let mut detector = rustface::create_detector_with_model(model);
        // All values are within rustface's accepted ranges (it panics outside them).
        detector.set_min_face_size(MIN_FACE);
        detector.set_score_thresh(SCORE_THRESHOLD);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        Ok(Self { detector, max_side: max_side.max(MIN_FACE as usize) })
    }

    /// All faces in the frame, best score first.
    pub fn faces(&mut self, frame: &RgbFrame) -> Vec<FaceBox> {
        let factor = frame.width.max(frame.height).div_ceil(self.max_side).max(1);
        let (grey, width, height) = shrink(&frame.grey(), frame.width, frame.height, factor);
        // rustface panics on an empty image and finds nothing in one smaller than its window.
        if width < MIN_FACE as usize || height < MIN_FACE as usize {
            return Vec::new();
        }
        let image = ImageData::new(&grey, width as u32, height as u32);
        let k = factor as f32;
        let mut faces: Vec<FaceBox> = self
            .detector
            .detect(&image)
            .into_iter()
            .map(|info| {
                let b = info.bbox();
                FaceBox {
                    x: b.x() as f32 * k,
                    y: b.y() as f32 * k,
                    width: b.width() as f32 * k,
                    height: b.height() as f32 * k,
                    score: info.score() as f32,
                }
            })
            .collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        faces
    }

    /// The largest face (the speaker, in a talking-head clip), if any.
    pub fn largest_face(&mut self, frame: &RgbFrame) -> Option<FaceBox> {
        self.faces(frame).into_iter().max_by(|a, b| a.area().total_cmp(&b.area()))
    }
}

/// Shrinks a grey image by an integer `factor`, averaging each `factor × factor` block
/// (the ragged right and bottom edges are dropped).
fn shrink(grey: &[u8], width: usize, height: usize, factor: usize) -> (Vec<u8>, usize, usize) {
    if factor <= 1 {
        return (grey.to_vec(), width, height);
    }
    let (w, h) = (width / factor, height / factor);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0u32;
            for dy in 0..factor {
                let row = (y * factor + dy) * width + x * factor;
                sum += grey[row..row + factor].iter().map(|&v| u32::from(v)).sum::<u32>();
            }
            out.push((sum / (factor * factor) as u32) as u8);
        }
    }
    (out, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_averages_blocks() {
        let grey = [0, 2, 4, 6, 10, 10, 0, 0, 9];
        let (out, w, h) = shrink(&grey, 3, 3, 2);
        assert_eq!((w, h), (1, 1));
        assert_eq!(out, vec![(2 + 6 + 10) / 4]);
        assert_eq!(shrink(&grey, 3, 3, 1).0, grey.to_vec());
    }

    #[test]
    fn a_blank_or_tiny_frame_has_no_face() {
        let mut detector = FaceDetector::new(320).unwrap();
        let blank = RgbFrame { time_secs: 0.0, width: 160, height: 120, rgb: vec![128; 160 * 120 * 3] };
        assert!(detector.faces(&blank).is_empty());
        let tiny = RgbFrame { time_secs: 0.0, width: 8, height: 8, rgb: vec![0; 8 * 8 * 3] };
        assert!(detector.largest_face(&tiny).is_none());
    }
}
