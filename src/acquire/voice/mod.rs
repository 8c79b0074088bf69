//! Voice VA and audio features: decode → frame features (Rust) → VA model.
//!
//! The default VA model is the prosody baseline ([`prosody_va`]), a documented heuristic; a
//! user's wav2vec2-style VA model ([`wav2vec2`]) replaces it when given.

pub mod features;
pub mod prosody_va;
pub mod wav2vec2;

use std::path::{Path, PathBuf};

pub use features::VoiceFeatures;

use super::decode::{self, TimeSpan};
use super::{AcquireError, VoiceVaModel};
use crate::dataset::Va;

/// The voice half of one clip.
#[derive(Clone, Debug, PartialEq)]
pub struct VoiceAcquisition {
    pub media: PathBuf,
    pub va: Va,
    /// (valence, arousal) confidence in [0, 1], from the model.
    pub confidence: [f32; 2],
    pub model_id: String,
    /// Frame features (10 ms hop): the audio features.
    pub features: VoiceFeatures,
}

/// Shortest stretch of non-silent audio worth a VA value.
pub const MIN_SIGNAL_SECS: f32 = 0.25;

/// Runs one voice VA model over clips.
pub struct VoicePipeline {
    model: Box<dyn VoiceVaModel>,
}

impl std::fmt::Debug for VoicePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoicePipeline").field("model", &self.model.model_id()).finish()
    }
}

impl VoicePipeline {
    pub fn new(model: Box<dyn VoiceVaModel>) -> Self {
        Self { model }
    }

    /// The prosody baseline.
    pub fn prosody() -> Self {
        Self::new(Box::new(prosody_va::ProsodyVa))
    }

    pub fn model_id(&self) -> &str {
        self.model.model_id()
    }

    /// Decodes the audio of `span` of `media` and runs features and VA.
    pub fn run(&self, media: &Path, span: TimeSpan) -> Result<VoiceAcquisition, AcquireError> {
        let audio = decode::audio_mono_16k(media, span)?;
        self.run_samples(media, &audio)
    }

    /// Features and VA of already decoded mono 16 kHz audio; `media` names it in errors.
    pub fn run_samples(&self, media: &Path, audio: &[f32]) -> Result<VoiceAcquisition, AcquireError> {
        let _span = tracing::debug_span!("voice_pipeline", media = %media.display()).entered();
        let features = features::compute(audio);
        let frame_secs = features::HOP as f32 / features::SAMPLE_RATE;
        let signal_secs = features.rms_db.iter().filter(|&&db| db > features::SILENCE_DB).count() as f32 * frame_secs;
        if signal_secs < MIN_SIGNAL_SECS {
            return Err(AcquireError::Silent { path: media.to_path_buf(), min_secs: MIN_SIGNAL_SECS });
        }
        let prediction = self.model.predict(audio, &features).map_err(|e| match e {
            AcquireError::Compute { what, message } => {
                AcquireError::Compute { what: format!("{}: {what}", media.display()), message }
            }
            other => other,
        })?;
        Ok(VoiceAcquisition {
            media: media.to_path_buf(),
            va: prediction.va,
            confidence: prediction.confidence,
            model_id: self.model.model_id().to_owned(),
            features,
        })
    }
}
