//! Self-describing test clips, made with the `ffmpeg` CLI: every video frame carries its own
//! index in a strip of black/white blocks, and the audio is a chirp whose frequency says where in
//! its period it is. Tests and `univa bench-media` decode them back to check that the frame shown
//! at a time, and the audio heard with it, are the right ones.

use std::path::Path;
use std::process::Command;

use super::error::MediaError;
use super::video::VideoFrame;

/// Bits of the frame index in the top strip (65,536 frames: 43 minutes at 25 fps).
pub const INDEX_BITS: u32 = 16;
/// The strip is this fraction of the picture's height.
const STRIP_FRACTION: u32 = 12;
/// The chirp restarts every this many seconds.
pub const CHIRP_PERIOD_SECS: f64 = 4.0;
const CHIRP_BASE_HZ: f64 = 400.0;
const CHIRP_SLOPE_HZ_PER_SEC: f64 = 400.0;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct TestClipSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub duration_secs: f64,
    pub video: bool,
    pub audio: bool,
    pub sample_rate: u32,
    /// B-frames between reference frames; 0 encodes with x264's `ultrafast` preset (no
    /// B-frames, fastest to make), more with `veryfast`, like most real H.264 encodes.
    pub b_frames: u32,
}

impl Default for TestClipSpec {
    fn default() -> Self {
        Self {
            width: 320,
            height: 240,
            fps: 25,
            duration_secs: 3.0,
            video: true,
            audio: true,
            sample_rate: 48_000,
            b_frames: 0,
        }
    }
}

/// Writes a clip to `path`; the container follows the extension. Video is H.264 (`libx264`, a
/// key frame every 2 s); audio is 16-bit PCM in `.mkv`/`.mov`/`.wav` (lossless, for exact
/// chirp timing) and the container's usual codec otherwise (AAC in `.mp4`, MP3 in `.mp3`).
pub fn generate_test_clip(path: &Path, spec: &TestClipSpec) -> Result<(), MediaError> {
    let strip_height = (spec.height / STRIP_FRACTION).max(2);
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error", "-y"]);
    if spec.video {
        let graph = format!(
            "nullsrc=s={bits}x1:r={fps},format=gray,geq=lum='255*mod(floor(N/pow(2\\,X))\\,2)',\
             scale={w}:{strip_height}:flags=neighbor,format=yuv420p[bits];\
             testsrc2=s={w}x{h}:r={fps}[bg];[bg][bits]overlay=0:0:shortest=1",
            bits = INDEX_BITS,
            fps = spec.fps,
            w = spec.width,
            h = spec.height,
        );
        command.args(["-f", "lavfi", "-i", &graph]);
    }
    if spec.audio {
        let period = CHIRP_PERIOD_SECS;
        let expr = format!(
            "0.5*sin(2*PI*({CHIRP_BASE_HZ}*mod(t\\,{period})+{half_slope}*mod(t\\,{period})*mod(t\\,{period})))",
            half_slope = CHIRP_SLOPE_HZ_PER_SEC / 2.0
        );
        command.args(["-f", "lavfi", "-i", &format!("aevalsrc='{expr}':s={}:c=mono", spec.sample_rate)]);
    }
    command.args(["-t", &format!("{:.3}", spec.duration_secs)]);
    if spec.video {
        if spec.b_frames == 0 {
            command.args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]);
        } else {
            command.args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]);
            command.args(["-bf", &spec.b_frames.to_string()]);
        }
        command.args(["-g", &(spec.fps * 2).to_string()]);
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    if spec.audio && matches!(extension.as_str(), "mkv" | "mov" | "wav" | "avi") {
        command.args(["-c:a", "pcm_s16le"]);
    }
    command.arg(path);
    let output = command.output().map_err(|e| MediaError::Tool {
        path: path.to_path_buf(),
        what: "generate a test clip",
        detail: format!("cannot run `ffmpeg` ({e}); install the ffmpeg CLI"),
    })?;
    if !output.status.success() {
        return Err(MediaError::Tool {
            path: path.to_path_buf(),
            what: "generate a test clip",
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// The frame index written into a test clip's frame, read from its top strip (works at any
/// output size). `None` if the strip is not readable.
pub fn frame_index(frame: &VideoFrame) -> Option<u32> {
    let y = frame.height / STRIP_FRACTION / 2;
    let mut index = 0;
    for bit in 0..INDEX_BITS {
        let x = ((f64::from(bit) + 0.5) * f64::from(frame.width) / f64::from(INDEX_BITS)) as u32;
        let [r, g, b, _] = frame.pixel(x, y)?;
        let luma = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
        if !(48..=208).contains(&luma) {
            index |= u32::from(luma > 128) << bit;
        } else {
            return None;
        }
    }
    Some(index)
}

/// The time (modulo [`CHIRP_PERIOD_SECS`]) of the last sample of `mono`, a window of a test
/// clip's chirp at `sample_rate`, from the frequency its zero crossings give. Windows of 10–30 ms
/// work best; `None` when there are too few crossings (silence, or a window across the wrap).
pub fn chirp_time_secs(mono: &[f32], sample_rate: u32) -> Option<f64> {
    // A window across the chirp's restart mixes two frequencies and gives a wrong time; its two
    // halves then disagree, so require that they agree.
    let whole = chirp_estimate(mono, sample_rate)?;
    let tail = chirp_estimate(mono.get(mono.len() / 2..)?, sample_rate)?;
    (chirp_difference_secs(whole, tail).abs() < 0.003).then_some(whole)
}

fn chirp_estimate(mono: &[f32], sample_rate: u32) -> Option<f64> {
    let rate = f64::from(sample_rate);
    let mut crossings = Vec::new();
    for (i, pair) in mono.windows(2).enumerate() {
        let (a, b) = (f64::from(pair[0]), f64::from(pair[1]));
        if (a < 0.0 && b >= 0.0) || (a >= 0.0 && b < 0.0) {
            let frac = if a == b { 0.0 } else { a / (a - b) };
            crossings.push((i as f64 + frac) / rate);
        }
    }
    let (&first, &last) = (crossings.first()?, crossings.last()?);
    if crossings.len() < 4 || last <= first {
        return None;
    }
    let half_periods = (crossings.len() - 1) as f64;
    let frequency = half_periods / (2.0 * (last - first));
    let tau_at_middle = (frequency - CHIRP_BASE_HZ) / CHIRP_SLOPE_HZ_PER_SEC;
    let window_end = (mono.len().saturating_sub(1)) as f64 / rate;
    let tau = tau_at_middle + (window_end - (first + last) / 2.0);
    Some(tau.rem_euclid(CHIRP_PERIOD_SECS))
}

/// `a - b` for two times modulo [`CHIRP_PERIOD_SECS`], in (-period/2, period/2].
pub fn chirp_difference_secs(a: f64, b: f64) -> f64 {
    let half = CHIRP_PERIOD_SECS / 2.0;
    let d = (a - b).rem_euclid(CHIRP_PERIOD_SECS);
    if d > half { d - CHIRP_PERIOD_SECS } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chirp_time_is_recovered_from_a_synthetic_window() {
        let rate = 48_000;
        for &t_end in &[0.3, 1.7, 3.2] {
            let window: Vec<f32> = (0..1200)
                .map(|i| {
                    let t = t_end - f64::from(1199 - i) / f64::from(rate);
                    let phase = CHIRP_BASE_HZ * t + CHIRP_SLOPE_HZ_PER_SEC / 2.0 * t * t;
                    (0.5 * (2.0 * std::f64::consts::PI * phase).sin()) as f32
                })
                .collect();
            let estimate = chirp_time_secs(&window, rate).unwrap();
            assert!((estimate - t_end).abs() < 0.002, "{estimate} vs {t_end}");
        }
        let across_restart: Vec<f32> = (0..1200)
            .map(|i| {
                let t = (CHIRP_PERIOD_SECS + 0.0125 - f64::from(1199 - i) / f64::from(rate)) % CHIRP_PERIOD_SECS;
                let phase = CHIRP_BASE_HZ * t + CHIRP_SLOPE_HZ_PER_SEC / 2.0 * t * t;
                (0.5 * (2.0 * std::f64::consts::PI * phase).sin()) as f32
            })
            .collect();
        assert_eq!(chirp_time_secs(&across_restart, rate), None);
        assert!((chirp_difference_secs(0.1, 3.9) - 0.2).abs() < 1e-9);
        assert!((chirp_difference_secs(3.95, 0.05) + 0.1).abs() < 1e-9);
    }
}
