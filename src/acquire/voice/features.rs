//! Frame-level acoustic features of mono 16 kHz speech: the audio features of a clip.
//!
//! One frame every 10 ms. Per frame: log-mel energies (25 ms Hann window, 512-point FFT,
//! 40 triangular HTK-mel bands over 20 Hz – 8 kHz), F0 by YIN (de Cheveigné & Kawahara 2002)
//! over a 40 ms window in 60–400 Hz, a voicing probability (1 − YIN's aperiodicity at the
//! chosen lag) and the RMS energy in dBFS.

use std::f32::consts::PI;

pub const SAMPLE_RATE: f32 = 16_000.0;
/// 10 ms hop.
pub const HOP: usize = 160;
/// 25 ms analysis window for the spectrum.
pub const WINDOW: usize = 400;
const N_FFT: usize = 512;
pub const N_MELS: usize = 40;
/// 40 ms pitch window: YIN needs two periods of the lowest F0 (60 Hz → 267 samples).
const PITCH_WINDOW: usize = 640;
const F0_MIN: f32 = 60.0;
const F0_MAX: f32 = 400.0;
/// YIN's absolute threshold on the cumulative-mean-normalised difference.
const YIN_THRESHOLD: f32 = 0.15;
/// Frames quieter than this are never voiced (background, breath).
pub const SILENCE_DB: f32 = -50.0;

/// Number of values per frame in [`VoiceFeatures::frame_vectors`]: log-mels, F0 in
/// semitones above 55 Hz / 48 (0 when unvoiced), voicing, RMS dB / 100.
pub const FRAME_DIM: usize = N_MELS + 3;

/// Features of one utterance, one entry per 10 ms frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VoiceFeatures {
    /// `[frames][N_MELS]` natural-log mel energies.
    pub log_mel: Vec<[f32; N_MELS]>,
    /// F0 in Hz, `None` where the frame is unvoiced.
    pub f0_hz: Vec<Option<f32>>,
    /// Voicing probability in [0, 1].
    pub voicing: Vec<f32>,
    /// RMS energy in dB relative to full scale.
    pub rms_db: Vec<f32>,
    /// Length of the audio in seconds.
    pub duration_secs: f32,
}

impl VoiceFeatures {
    pub fn frames(&self) -> usize {
        self.rms_db.len()
    }

    /// The frame features as fixed-size vectors (scaled to roughly unit range), for the dataset.
    pub fn frame_vectors(&self) -> Vec<[f32; FRAME_DIM]> {
        (0..self.frames())
            .map(|i| {
                let mut v = [0.0; FRAME_DIM];
                v[..N_MELS].copy_from_slice(&self.log_mel[i]);
                v[N_MELS] = self.f0_hz[i].map_or(0.0, |f| 12.0 * (f / 55.0).log2() / 48.0);
                v[N_MELS + 1] = self.voicing[i];
                v[N_MELS + 2] = self.rms_db[i] / 100.0;
                v
            })
            .collect()
    }
}

/// Computes the features of `audio` (mono, 16 kHz, roughly [-1, 1]).
pub fn compute(audio: &[f32]) -> VoiceFeatures {
    let frames = audio.len().div_ceil(HOP);
    let window: Vec<f32> = (0..WINDOW).map(|n| 0.5 - 0.5 * (2.0 * PI * n as f32 / WINDOW as f32).cos()).collect();
    let bank = mel_bank();
    let mut out = VoiceFeatures { duration_secs: audio.len() as f32 / SAMPLE_RATE, ..Default::default() };
    let mut re = vec![0.0f32; N_FFT];
    let mut im = vec![0.0f32; N_FFT];
    for f in 0..frames {
        let centre = f * HOP + HOP / 2;
        // Spectrum over a window centred on the frame; samples past either end are zero.
        let sample = |i: isize| if i < 0 { 0.0 } else { audio.get(i as usize).copied().unwrap_or(0.0) };
        let start = centre as isize - (WINDOW / 2) as isize;
        re.iter_mut().for_each(|x| *x = 0.0);
        im.iter_mut().for_each(|x| *x = 0.0);
        let mut energy = 0.0f32;
        for (n, w) in window.iter().enumerate() {
            let x = sample(start + n as isize);
            energy += x * x;
            re[n] = x * w;
        }
        fft(&mut re, &mut im);
        let power: Vec<f32> = (0..=N_FFT / 2).map(|k| re[k] * re[k] + im[k] * im[k]).collect();
        let mut mel = [0.0f32; N_MELS];
        for (m, filter) in bank.iter().enumerate() {
            let e: f32 = filter.iter().map(|&(k, w)| power[k] * w).sum();
            mel[m] = (e + 1e-10).ln();
        }
        out.log_mel.push(mel);
        let rms_db = 10.0 * (energy / WINDOW as f32 + 1e-12).log10();
        out.rms_db.push(rms_db);
        let pitch_start = centre as isize - (PITCH_WINDOW / 2) as isize;
        let segment: Vec<f32> = (0..PITCH_WINDOW as isize).map(|n| sample(pitch_start + n)).collect();
        let (f0, voicing) = if rms_db < SILENCE_DB { (None, 0.0) } else { yin(&segment) };
        out.f0_hz.push(f0);
        out.voicing.push(voicing);
    }
    out
}

/// YIN over one window: (F0 if periodic enough, voicing probability).
fn yin(x: &[f32]) -> (Option<f32>, f32) {
    let tau_min = (SAMPLE_RATE / F0_MAX).floor() as usize;
    let tau_max = ((SAMPLE_RATE / F0_MIN).ceil() as usize).min(x.len() / 2);
    let w = x.len() - tau_max;
    // Difference function and its cumulative-mean normalisation.
    let mut cmnd = vec![1.0f32; tau_max + 1];
    let mut running = 0.0f32;
    for tau in 1..=tau_max {
        let d: f32 = (0..w).map(|j| (x[j] - x[j + tau]).powi(2)).sum();
        running += d;
        cmnd[tau] = if running > 0.0 { d * tau as f32 / running } else { 1.0 };
    }
    // First dip below the threshold (then walk to its local minimum), else the global minimum.
    let mut best = None;
    let mut tau = tau_min.max(2);
    while tau < tau_max {
        if cmnd[tau] < YIN_THRESHOLD {
            while tau + 1 < tau_max && cmnd[tau + 1] < cmnd[tau] {
                tau += 1;
            }
            best = Some(tau);
            break;
        }
        tau += 1;
    }
    let tau = best
        .unwrap_or_else(|| (tau_min.max(2)..tau_max).min_by(|&a, &b| cmnd[a].total_cmp(&cmnd[b])).unwrap_or(tau_min));
    let voicing = (1.0 - cmnd[tau]).clamp(0.0, 1.0);
    if best.is_none() {
        return (None, voicing);
    }
    // Parabolic interpolation around the minimum for sub-sample precision.
    let refined = if tau > 1 && tau < tau_max {
        let (a, b, c) = (cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]);
        let denom = a - 2.0 * b + c;
        if denom.abs() > 1e-12 { tau as f32 + 0.5 * (a - c) / denom } else { tau as f32 }
    } else {
        tau as f32
    };
    (Some(SAMPLE_RATE / refined), voicing)
}

fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

/// Triangular mel filters as sparse (FFT bin, weight) lists.
fn mel_bank() -> Vec<Vec<(usize, f32)>> {
    let (lo, hi) = (hz_to_mel(20.0), hz_to_mel(SAMPLE_RATE / 2.0));
    let edges: Vec<f32> = (0..N_MELS + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f32 / (N_MELS + 1) as f32)).collect();
    let bin_hz = SAMPLE_RATE / N_FFT as f32;
    (0..N_MELS)
        .map(|m| {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            (0..=N_FFT / 2)
                .filter_map(|k| {
                    let hz = k as f32 * bin_hz;
                    let w = if hz <= left || hz >= right {
                        0.0
                    } else if hz <= centre {
                        (hz - left) / (centre - left)
                    } else {
                        (right - hz) / (right - centre)
                    };
                    (w > 0.0).then_some((k, w))
                })
                .collect()
        })
        .collect()
}

/// In-place iterative radix-2 FFT; `re.len()` must be a power of two.
fn fft(re: &mut [f32], im: &mut [f32]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = -2.0 * PI / len as f32;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (s, c) = (angle * k as f32).sin_cos();
                let (a, b) = (start + k, start + k + len / 2);
                let (tr, ti) = (re[b] * c - im[b] * s, re[b] * s + im[b] * c);
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, secs: f32, amplitude: f32) -> Vec<f32> {
        (0..(secs * SAMPLE_RATE) as usize).map(|n| amplitude * (2.0 * PI * hz * n as f32 / SAMPLE_RATE).sin()).collect()
    }

    #[test]
    fn fft_finds_a_pure_bin() {
        let mut re: Vec<f32> = (0..16).map(|n| (2.0 * PI * 3.0 * n as f32 / 16.0).cos()).collect();
        let mut im = vec![0.0; 16];
        fft(&mut re, &mut im);
        assert!((re[3] - 8.0).abs() < 1e-4 && (re[13] - 8.0).abs() < 1e-4);
        assert!(re.iter().enumerate().filter(|(k, _)| *k != 3 && *k != 13).all(|(_, v)| v.abs() < 1e-4));
    }

    #[test]
    fn yin_tracks_the_pitch_of_a_harmonic_tone() {
        // 150 Hz with two harmonics, like a voiced vowel.
        let audio: Vec<f32> = tone(150.0, 0.5, 0.3)
            .iter()
            .zip(tone(300.0, 0.5, 0.15))
            .zip(tone(450.0, 0.5, 0.1))
            .map(|((a, b), c)| a + b + c)
            .collect();
        let features = compute(&audio);
        assert_eq!(features.frames(), 50);
        let middle: Vec<f32> = features.f0_hz[5..45].iter().map(|f| f.expect("voiced")).collect();
        assert!(middle.iter().all(|f| (f - 150.0).abs() < 1.5), "{middle:?}");
        assert!(features.voicing[5..45].iter().all(|&v| v > 0.9));
    }

    #[test]
    fn silence_and_noise_are_unvoiced() {
        let silence = vec![0.0f32; 8000];
        let f = compute(&silence);
        assert!(f.f0_hz.iter().all(Option::is_none) && f.rms_db.iter().all(|&db| db < -100.0));
        // Deterministic white-ish noise from an LCG.
        let mut state = 12345u32;
        let noise: Vec<f32> = (0..8000)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let f = compute(&noise);
        let voiced = f.f0_hz.iter().filter(|x| x.is_some()).count();
        assert!(voiced * 10 < f.frames(), "{voiced} of {} noise frames voiced", f.frames());
    }

    #[test]
    fn louder_tone_has_higher_energy_and_mel_energy_peaks_at_its_band() {
        let quiet = compute(&tone(1000.0, 0.2, 0.05));
        let loud = compute(&tone(1000.0, 0.2, 0.5));
        assert!((loud.rms_db[10] - quiet.rms_db[10] - 20.0).abs() < 0.1);
        let peak = (0..N_MELS).max_by(|&a, &b| loud.log_mel[10][a].total_cmp(&loud.log_mel[10][b])).expect("bands");
        let bank = mel_bank();
        let centre_bin = bank[peak].iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|&(k, _)| k).expect("filter");
        assert!((centre_bin as f32 * SAMPLE_RATE / N_FFT as f32 - 1000.0).abs() < 100.0);
    }
}
