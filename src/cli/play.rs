use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::media::{AudioOutputMode, Player, PlayerOptions, TimeSpan, decode_audio_span, probe};

/// How long `--headless` waits for one frame before calling the file stuck.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The clip: any file ffmpeg can demux (mp4, mkv, webm, avi, mov, wav, mp3, …).
    pub file: PathBuf,
    /// Start of the span to play, in seconds.
    #[arg(long)]
    pub start: Option<f64>,
    /// End of the span to play, in seconds.
    #[arg(long)]
    pub end: Option<f64>,
    /// No window: decode the whole span as fast as possible, print stream info and frame timing.
    #[arg(long)]
    pub headless: bool,
    /// Loop the span (window mode).
    #[arg(long = "loop")]
    pub looping: bool,
    /// Playback speed, 0.25–2 (window mode; audio is resampled, so pitch follows speed).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

impl Args {
    /// Plays all of `file` once in a window at normal speed.
    pub fn window(file: PathBuf) -> Self {
        Self { file, start: None, end: None, headless: false, looping: false, speed: 1.0 }
    }
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let span = TimeSpan::new(args.start.unwrap_or(0.0), args.end);
    if args.headless {
        return run_headless(args, span);
    }
    let options = PlayerOptions { frame_size: None, ..PlayerOptions::default() };
    let mut player = Player::open(&args.file, span, &options)?;
    player.set_looping(args.looping);
    player.set_speed(args.speed);
    let title = format!("univa play — {}", args.file.display());
    let native_options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title.clone())
            .with_inner_size([960.0, 680.0])
            .with_app_id(crate::ui::APP_ID),
        ..Default::default()
    };
    eframe::run_native(
        &title,
        native_options,
        Box::new(move |_creation| Ok(Box::new(crate::ui::play_window::PlayWindow::new(player)))),
    )
    .map_err(|e| anyhow::anyhow!("{}: cannot open a window: {e}", args.file.display()))
}

fn run_headless(args: &Args, span: TimeSpan) -> anyhow::Result<()> {
    let started = Instant::now();
    let info = probe(&args.file, span)?;
    println!("{}", info.summary());
    if info.video.is_some() {
        let options = PlayerOptions { audio: AudioOutputMode::Off, ..PlayerOptions::default() };
        let mut player = Player::open(&args.file, span, &options)?;
        player.play();
        let decode_started = Instant::now();
        let mut secs = info.span.start_secs;
        let mut frames = 0usize;
        let mut last_pts: Option<f64> = None;
        let (mut first_pts, mut worst_wait) = (None, Duration::ZERO);
        loop {
            let waited = Instant::now();
            let Some(frame) = player.wait_frame_at(secs, FRAME_TIMEOUT)? else {
                break;
            };
            if last_pts.is_some_and(|last| frame.pts_secs <= last) {
                break;
            }
            worst_wait = worst_wait.max(waited.elapsed());
            first_pts.get_or_insert(frame.pts_secs);
            last_pts = Some(frame.pts_secs);
            frames += 1;
            secs = frame.pts_secs + frame.duration_secs;
        }
        let elapsed = decode_started.elapsed().as_secs_f64();
        println!(
            "video: {frames} frames decoded to RGBA in {elapsed:.3}s ({:.1} frames/s); pts {:.3}s..{:.3}s; longest wait for a frame {:.1} ms",
            frames as f64 / elapsed.max(f64::EPSILON),
            first_pts.unwrap_or(0.0),
            last_pts.unwrap_or(0.0),
            worst_wait.as_secs_f64() * 1000.0
        );
        if frames == 0 {
            anyhow::bail!("{}: no video frame in the span", args.file.display());
        }
    }
    if info.audio.is_some() {
        let audio_started = Instant::now();
        let summary = decode_audio_span(&args.file, span)?;
        println!(
            "audio: {:.3}s decoded ({} frames at {} Hz, {} channel(s), peak {:.3}) in {:.3}s",
            summary.frames as f64 / f64::from(summary.sample_rate.max(1)),
            summary.frames,
            summary.sample_rate,
            summary.channels,
            summary.peak,
            audio_started.elapsed().as_secs_f64()
        );
    }
    println!("total {:.3}s", started.elapsed().as_secs_f64());
    Ok(())
}
