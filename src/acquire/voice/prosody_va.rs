//! The default voice VA: a prosody baseline, openly a heuristic (no speech-VA weights ship in
//! any registry package, DESIGN.md §3).
//!
//! Arousal follows the best-replicated vocal correlates of activation (Scherer 2003; Juslin &
//! Laukka 2003): louder, higher-pitched, wider-ranged and faster speech is more aroused. Each
//! cue is turned into a z-like score against typical conversational speech and the weighted sum
//! is squashed by tanh. Valence has no reliable prosodic correlate; the baseline gives a small
//! value from pitch range and rate (lively speech leans positive) with confidence 0.1, and the
//! GUI must show it as such.

use super::features::{SILENCE_DB, VoiceFeatures};
use crate::acquire::{AcquireError, VoicePrediction, VoiceVaModel};
use crate::dataset::Va;

pub const PROSODY_MODEL_ID: &str = "prosody-baseline@1";

/// Typical conversational speech, the centre of each cue's scale.
const TYPICAL_LOUDNESS_DB: f32 = -26.0;
const TYPICAL_F0_HZ: f32 = 160.0;
const TYPICAL_RANGE_ST: f32 = 2.5;
const TYPICAL_RATE_HZ: f32 = 4.0;
/// Less voiced speech than this is too little to say anything.
pub const MIN_VOICED_SECS: f32 = 0.2;

/// The cues the baseline reads off the features (exposed so the GUI can explain a value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProsodyCues {
    /// Mean RMS energy of voiced frames, dBFS.
    pub loudness_db: f32,
    /// Median F0 of voiced frames, Hz.
    pub f0_median_hz: f32,
    /// Standard deviation of F0 in semitones.
    pub f0_range_st: f32,
    /// Voiced runs per second of speech, a syllable-rate proxy.
    pub rate_hz: f32,
    pub voiced_secs: f32,
}

/// Reads the cues; `None` when there is too little voiced speech.
pub fn cues(features: &VoiceFeatures) -> Option<ProsodyCues> {
    let frame_secs = super::features::HOP as f32 / super::features::SAMPLE_RATE;
    let voiced: Vec<usize> = (0..features.frames()).filter(|&i| features.f0_hz[i].is_some()).collect();
    let voiced_secs = voiced.len() as f32 * frame_secs;
    if voiced_secs < MIN_VOICED_SECS {
        return None;
    }
    let loudness_db = voiced.iter().map(|&i| features.rms_db[i]).sum::<f32>() / voiced.len() as f32;
    let mut semitones: Vec<f32> =
        voiced.iter().filter_map(|&i| features.f0_hz[i]).map(|f| 12.0 * (f / TYPICAL_F0_HZ).log2()).collect();
    semitones.sort_by(f32::total_cmp);
    let median_st = semitones[semitones.len() / 2];
    let mean_st = semitones.iter().sum::<f32>() / semitones.len() as f32;
    let f0_range_st = (semitones.iter().map(|s| (s - mean_st).powi(2)).sum::<f32>() / semitones.len() as f32).sqrt();
    let onsets = voiced_onsets(&features.f0_hz.iter().map(Option::is_some).collect::<Vec<_>>());
    // Speech rate over the span from the first to the last non-silent frame (pauses inside
    // count, leading and trailing silence does not).
    let loud = |i: &usize| features.rms_db[*i] > SILENCE_DB;
    let first = (0..features.frames()).find(loud).unwrap_or(0);
    let last = (0..features.frames()).rev().find(loud).unwrap_or(first);
    let speech_secs = (last + 1 - first) as f32 * frame_secs;
    Some(ProsodyCues {
        loudness_db,
        f0_median_hz: TYPICAL_F0_HZ * 2f32.powf(median_st / 12.0),
        f0_range_st,
        rate_hz: onsets as f32 / speech_secs.max(frame_secs),
        voiced_secs,
    })
}

/// Voiced gaps shorter than this many frames are bridged (YIN flickers at vowel edges).
const MIN_GAP_FRAMES: usize = 3;
/// Voiced runs shorter than this many frames are not syllables.
const MIN_RUN_FRAMES: usize = 3;

/// Number of voiced runs (syllable nuclei, roughly) after bridging short gaps.
fn voiced_onsets(voiced: &[bool]) -> usize {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < voiced.len() {
        if !voiced[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < voiced.len() && voiced[i] {
            i += 1;
        }
        match runs.last_mut() {
            Some((_, end)) if start - *end < MIN_GAP_FRAMES => *end = i,
            _ => runs.push((start, i)),
        }
    }
    runs.iter().filter(|(start, end)| end - start >= MIN_RUN_FRAMES).count()
}

/// VA from the cues (see the module docs for the reasoning and weights).
pub fn va_from_cues(c: &ProsodyCues) -> Va {
    let loud = (c.loudness_db - TYPICAL_LOUDNESS_DB) / 8.0;
    let pitch = 12.0 * (c.f0_median_hz / TYPICAL_F0_HZ).log2() / 5.0;
    let range = (c.f0_range_st - TYPICAL_RANGE_ST) / 1.5;
    let rate = (c.rate_hz - TYPICAL_RATE_HZ) / 1.5;
    let arousal = (0.4 * loud + 0.25 * pitch + 0.2 * range + 0.15 * rate).tanh();
    let valence = 0.3 * (0.5 * range + 0.3 * rate - 0.2 * loud).tanh();
    Va::new(valence, arousal)
}

/// The baseline as a [`VoiceVaModel`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ProsodyVa;

impl VoiceVaModel for ProsodyVa {
    fn model_id(&self) -> &str {
        PROSODY_MODEL_ID
    }

    fn predict(&self, _audio: &[f32], features: &VoiceFeatures) -> Result<VoicePrediction, AcquireError> {
        let c = cues(features).ok_or_else(|| {
            AcquireError::compute("prosody VA", format!("less than {MIN_VOICED_SECS} s of voiced speech"))
        })?;
        // Arousal confidence grows with the amount of voiced speech, up to 0.5 at 3 s.
        let arousal_confidence = 0.5 * (c.voiced_secs / 3.0).min(1.0);
        Ok(VoicePrediction { va: va_from_cues(&c), confidence: [0.1, arousal_confidence] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquire::voice::features;

    /// Syllable-like bursts of a harmonic tone: `rate` bursts per second at `f0` (gliding by
    /// `glide` semitones within each burst), amplitude `amp`.
    fn speechlike(f0: f32, glide: f32, rate: f32, amp: f32, secs: f32) -> Vec<f32> {
        let sr = features::SAMPLE_RATE;
        let period = 1.0 / rate;
        let mut phase = 0.0f32;
        (0..(secs * sr) as usize)
            .map(|n| {
                let t = n as f32 / sr;
                let within = (t % period) / period;
                if within > 0.6 {
                    return 0.0;
                }
                let f = f0 * 2f32.powf(glide * (within - 0.3) / 12.0);
                phase += 2.0 * std::f32::consts::PI * f / sr;
                amp * (phase.sin() + 0.5 * (2.0 * phase).sin())
            })
            .collect()
    }

    #[test]
    fn loud_high_fast_speech_is_more_aroused_than_quiet_low_slow_speech() {
        let excited = features::compute(&speechlike(260.0, 6.0, 6.0, 0.3, 3.0));
        let calm = features::compute(&speechlike(110.0, 1.0, 2.5, 0.02, 3.0));
        let (e, c) =
            (ProsodyVa.predict(&[], &excited).expect("voiced"), ProsodyVa.predict(&[], &calm).expect("voiced"));
        assert!(e.va.arousal > 0.3 && c.va.arousal < -0.3, "excited {:?}, calm {:?}", e.va, c.va);
        assert!(e.confidence[0] < e.confidence[1]);
        let cues = cues(&excited).expect("voiced");
        assert!((cues.rate_hz - 6.0).abs() < 1.5, "{cues:?}");
        assert!((cues.f0_median_hz - 260.0).abs() < 30.0, "{cues:?}");
    }

    #[test]
    fn onsets_bridge_flicker_and_skip_blips() {
        let v = |s: &str| s.chars().map(|c| c == '1').collect::<Vec<_>>();
        assert_eq!(voiced_onsets(&v("0111101111000011110001000")), 2);
        assert_eq!(voiced_onsets(&v("")), 0);
        assert_eq!(voiced_onsets(&v("111")), 1);
    }

    #[test]
    fn silence_is_refused() {
        let silent = features::compute(&vec![0.0; 16_000]);
        assert!(ProsodyVa.predict(&[], &silent).is_err());
    }
}
