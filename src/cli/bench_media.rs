//! `univa bench-media`: the media engine's targets measured in one run on a generated 720p H.264
//! clip — decode speed against `ffmpeg -i clip -f null -`, seek latency and exactness, A/V
//! offset during long playback and after random seeks, and memory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::{Rng as _, SeedableRng as _};

use crate::media::testclip::{TestClipSpec, chirp_difference_secs, chirp_time_secs, frame_index, generate_test_clip};
use crate::media::{AudioFeed, AudioOutputMode, Player, PlayerOptions, TimeSpan, decode_all_video_frames};

/// Samples of the output kept for measuring where the audio is (25 ms at 48 kHz).
const AUDIO_WINDOW: usize = 1200;
/// A simulated UI's frame interval.
const UI_FRAME: Duration = Duration::from_millis(16);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Length of the generated clip and of the playback run, in minutes.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Seconds of the clip decoded for the speed comparison.
    #[arg(long, default_value_t = 30.0)]
    pub decode_secs: f64,
    /// Decode-speed runs per variant (alternating with ffmpeg); the best of each is kept.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Random seeks to time (each target twice: decoding every frame, then with fast seek).
    #[arg(long, default_value_t = 100)]
    pub seeks: usize,
    /// B-frames in the generated clip (0: x264 `ultrafast`, no B-frames; most real encodes have 2–3).
    #[arg(long, default_value_t = 3)]
    pub b_frames: u32,
    /// Seconds of real-time playback for the A/V offset and memory measurement (default: the clip).
    #[arg(long)]
    pub play_secs: Option<f64>,
    /// Use this clip (made by an earlier run) instead of generating one.
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Folder for the generated clip (default: the system's temporary folder; the clip is
    /// removed afterwards unless --keep-clip).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Keep the generated clip (to reuse it with --clip).
    #[arg(long)]
    pub keep_clip: bool,
}

const FPS: u32 = 25;

pub fn run(args: &Args) -> anyhow::Result<()> {
    let dir = args.workdir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let clip = match &args.clip {
        Some(clip) => clip.clone(),
        None => {
            let clip = dir.join(format!("univa-bench-720p-{}.mkv", std::process::id()));
            let spec = TestClipSpec {
                width: 1280,
                height: 720,
                fps: FPS,
                duration_secs: args.minutes * 60.0,
                b_frames: args.b_frames,
                ..TestClipSpec::default()
            };
            let started = Instant::now();
            generate_test_clip(&clip, &spec)?;
            println!(
                "generated {} ({:.0} s of 1280x720 H.264 + PCM) in {:.1} s",
                clip.display(),
                spec.duration_secs,
                started.elapsed().as_secs_f64()
            );
            clip
        }
    };
    let result = measure(&clip, args);
    if args.clip.is_none() && !args.keep_clip {
        let _ = std::fs::remove_file(&clip);
    }
    result
}

fn measure(clip: &Path, args: &Args) -> anyhow::Result<()> {
    let info = crate::media::probe(clip, TimeSpan::FULL)?;
    println!("{}", info.summary());
    let duration = info.duration_secs().unwrap_or(args.minutes * 60.0);
    decode_speed(clip, args.decode_secs.min(duration), args.repeats.max(1))?;
    seeks(clip, duration, args.seeks)?;
    playback(clip, args.play_secs.unwrap_or(duration).min(duration - 1.0))?;
    Ok(())
}

fn seconds(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

fn ffmpeg_null_decode(clip: &Path, secs: f64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-threads", "1", "-i"])
        .arg(clip)
        .args(["-t", &format!("{secs:.3}"), "-map", "0:v:0", "-f", "null", "-"])
        .status()
        .context("running ffmpeg")?;
    anyhow::ensure!(status.success(), "ffmpeg failed on {}", clip.display());
    Ok(seconds(started))
}

/// Best of `repeats` runs each, alternating, so that both sides see the same machine load.
fn decode_speed(clip: &Path, secs: f64, repeats: usize) -> anyhow::Result<()> {
    println!(
        "\n## decode speed: first {secs:.0} s, one decoder thread each (ratio = ffmpeg time / ours; target ≥ 0.5)"
    );
    let variants: [(&str, Option<(u32, u32)>); 3] = [
        ("decode only", None),
        ("decode + RGBA 640x360", Some((640, 360))),
        ("decode + RGBA 1280x720", Some((1280, 720))),
    ];
    let mut ffmpeg_best = f64::INFINITY;
    let mut ours_best = [f64::INFINITY; 3];
    let mut frames = 0;
    for _ in 0..repeats {
        ffmpeg_best = ffmpeg_best.min(ffmpeg_null_decode(clip, secs)?);
        for (i, (_, size)) in variants.iter().enumerate() {
            let started = Instant::now();
            frames = decode_all_video_frames(clip, 1, Some(secs), *size)?;
            ours_best[i] = ours_best[i].min(seconds(started));
        }
    }
    println!("ffmpeg -threads 1 -i clip -f null -: {ffmpeg_best:.2} s ({:.0} frames/s)", frames as f64 / ffmpeg_best);
    for (i, (name, _)) in variants.iter().enumerate() {
        println!(
            "univa {name}: {:.2} s ({:.0} frames/s), ratio {:.2}",
            ours_best[i],
            frames as f64 / ours_best[i],
            ffmpeg_best / ours_best[i]
        );
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

/// Drives a player's audio like a sound card would: pulls 10 ms blocks on a real-time schedule
/// and keeps the last [`AUDIO_WINDOW`] samples (first channel) for measurement.
struct SimulatedOutput {
    window: Arc<Mutex<Vec<f32>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    sample_rate: u32,
}

impl SimulatedOutput {
    fn start(mut feed: AudioFeed) -> anyhow::Result<Self> {
        let sample_rate = feed.sample_rate();
        let channels = usize::from(feed.channel_count());
        let window = Arc::new(Mutex::new(Vec::with_capacity(AUDIO_WINDOW * 2)));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_window, thread_stop) = (Arc::clone(&window), Arc::clone(&stop));
        let block_frames = sample_rate as usize / 100;
        let thread = std::thread::Builder::new().name("univa-bench-audio-out".into()).spawn(move || {
            let mut block = vec![0.0f32; block_frames * channels];
            let started = Instant::now();
            let mut blocks = 0u32;
            while !thread_stop.load(Ordering::Relaxed) {
                feed.fill(&mut block);
                if let Ok(mut window) = thread_window.lock() {
                    window.extend(block.iter().step_by(channels));
                    let excess = window.len().saturating_sub(AUDIO_WINDOW);
                    window.drain(..excess);
                }
                blocks += 1;
                let due = started + Duration::from_millis(10) * blocks;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        })?;
        Ok(Self { window, stop, thread: Some(thread), sample_rate })
    }

    /// Time (mod the chirp period) of the newest sample handed to the "device".
    fn audio_time(&self) -> Option<f64> {
        let window = self.window.lock().ok()?.clone();
        chirp_time_secs(&window, self.sample_rate)
    }
}

impl Drop for SimulatedOutput {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Audio time minus the centre of the displayed frame's interval (from its burned-in index), in
/// seconds; `None` when either cannot be read (e.g. a window across the chirp's wrap).
fn av_offset(player: &mut Player, output: &SimulatedOutput) -> Option<f64> {
    let secs = player.update();
    let frame = player.frame_at(secs)?;
    let video = (f64::from(frame_index(frame)?) + 0.5) / f64::from(FPS);
    let audio = output.audio_time()?;
    Some(chirp_difference_secs(audio, video))
}

fn run_ui_for(player: &mut Player, duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        let secs = player.update();
        let _ = player.frame_at(secs);
        std::thread::sleep(UI_FRAME);
    }
}

fn open_bench_player(clip: &Path, fast_seek: bool) -> anyhow::Result<(Player, SimulatedOutput)> {
    let options = PlayerOptions {
        frame_size: Some((640, 360)),
        audio: AudioOutputMode::External,
        fast_seek,
        ..PlayerOptions::default()
    };
    let mut player = Player::open(clip, TimeSpan::FULL, &options)?;
    let feed = player.take_audio_feed().context("the clip has no audio stream")?;
    let output = SimulatedOutput::start(feed)?;
    Ok((player, output))
}

fn seeks(clip: &Path, duration: f64, count: usize) -> anyhow::Result<()> {
    println!("\n## {count} random seeks while playing (display size 640x360; key frame every 2 s)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1111);
    let targets: Vec<f64> = (0..count).map(|_| rng.random_range(0.0..(duration - 1.0).max(0.1))).collect();
    // The same targets both ways, one after the other, so the machine's load is alike for both.
    for (name, fast_seek) in [("every frame decoded", false), ("fast seek (non-reference frames skipped)", true)] {
        let (mut player, output) = open_bench_player(clip, fast_seek)?;
        player.play();
        run_ui_for(&mut player, Duration::from_millis(500));
        let mut latencies = Vec::with_capacity(count);
        let (mut exact, mut offsets) = (0usize, Vec::new());
        for &target in &targets {
            let started = Instant::now();
            player.seek(target);
            let frame = player.wait_frame_at(target, Duration::from_secs(5))?;
            latencies.push(seconds(started) * 1000.0);
            let expected = (target * f64::from(FPS) + 1e-6).floor() as u32;
            if frame.and_then(frame_index) == Some(expected) {
                exact += 1;
            }
            run_ui_for(&mut player, Duration::from_millis(300));
            if let Some(offset) = av_offset(&mut player, &output) {
                offsets.push(offset * 1000.0);
            }
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "{name}: seek → frame ready: median {:.1} ms, p90 {:.1} ms, max {:.1} ms (target < 100 ms); \
             exact frame {exact}/{count}",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.9),
            latencies.last().copied().unwrap_or(f64::NAN)
        );
        report_offsets(&format!("{name}: A/V offset 300 ms after each seek"), &offsets);
    }
    Ok(())
}

fn report_offsets(what: &str, offsets_ms: &[f64]) {
    if offsets_ms.is_empty() {
        println!("{what}: no readable measurement");
        return;
    }
    let mean = offsets_ms.iter().sum::<f64>() / offsets_ms.len() as f64;
    let mut magnitudes: Vec<f64> = offsets_ms.iter().map(|o| o.abs()).collect();
    magnitudes.sort_by(f64::total_cmp);
    let over = magnitudes.iter().filter(|m| **m >= 40.0).count();
    println!(
        "{what}: {} measurements, mean {mean:+.1} ms, |offset| p99 {:.1} ms, max {:.1} ms, {over} at or over 40 ms \
         (target < 40 ms; ±20 ms is one frame's quantisation at 25 fps)",
        offsets_ms.len(),
        percentile(&magnitudes, 0.99),
        magnitudes.last().copied().unwrap_or(f64::NAN),
    );
}

fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn playback(clip: &Path, secs: f64) -> anyhow::Result<()> {
    println!("\n## {secs:.0} s of real-time playback, audio pulled by a simulated 10 ms-block output");
    let (mut player, output) = open_bench_player(clip, true)?;
    player.play();
    let started = Instant::now();
    let mut offsets: Vec<(f64, f64)> = Vec::new();
    let mut rss: Vec<(f64, f64)> = Vec::new();
    let mut next_measure = 0.0;
    let mut next_rss = 0.0;
    while seconds(started) < secs {
        let elapsed = seconds(started);
        if elapsed >= next_measure {
            next_measure += 0.5;
            if let Some(offset) = av_offset(&mut player, &output) {
                offsets.push((elapsed, offset * 1000.0));
            }
        } else {
            let position = player.update();
            let _ = player.frame_at(position);
        }
        if elapsed >= next_rss {
            next_rss += 10.0;
            if let Some(mib) = rss_mib() {
                rss.push((elapsed, mib));
            }
        }
        std::thread::sleep(UI_FRAME);
    }
    let position = player.update();
    println!("position after {:.1} s of wall time: {position:.3} s (clip time)", seconds(started));
    let window =
        |from: f64, to: f64| offsets.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, o)| *o).collect::<Vec<_>>();
    report_offsets("A/V offset, whole run", &offsets.iter().map(|(_, o)| *o).collect::<Vec<_>>());
    report_offsets("A/V offset, first 30 s", &window(0.0, 30.0));
    report_offsets("A/V offset, last 30 s", &window(secs - 30.0, secs + 1.0));
    if let (Some(first), Some(last)) = (rss.iter().find(|(t, _)| *t >= 30.0).or(rss.first()), rss.last()) {
        let peak = rss.iter().fold(0.0f64, |p, (_, m)| p.max(*m));
        println!(
            "memory (RSS): {:.1} MiB at {:.0} s, {:.1} MiB at {:.0} s, peak {peak:.1} MiB; frame queue capped at 8 + 2 frames of 640x360",
            first.1, first.0, last.1, last.0
        );
    }
    Ok(())
}
