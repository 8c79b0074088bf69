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
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector").finish_non_exhaustive()
    }
}

impl FaceDetector {
    pub fn new() -> Result<Self, AcquireError> {
        let model = rustface::read_model(Cursor::new(SEETA_MODEL))
            .map_err(|e| AcquireError::model(std::path::Path::new("models/seetaface/seeta_fd_frontal_v1.0.bin (built in)"), e))?;
        let mut detector = rustface::create_detector_with_model(model);
        // All values are within rustface's accepted ranges (it panics outside them).
        detector.set_min_face_size(MIN_FACE);
        detector.set_score_thresh(SCORE_THRESHOLD);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        Ok(Self { detector })
    }

    /// All faces in the frame, best score first.
    pub fn faces(&mut self, frame: &RgbFrame) -> Vec<FaceBox> {
        // rustface panics on an empty image and finds nothing in one smaller than its window.
        if frame.width < MIN_FACE as usize || frame.height < MIN_FACE as usize {
            return Vec::new();
        }
        let grey = frame.grey();
        let image = ImageData::new(&grey, frame.width as u32, frame.height as u32);
        let mut faces: Vec<FaceBox> = self
            .detector
            .detect(&image)
            .into_iter()
            .map(|info| {
                let b = info.bbox();
                FaceBox { x: b.x() as f32, y: b.y() as f32, width: b.width() as f32, height: b.height() as f32, score: info.score() as f32 }
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
