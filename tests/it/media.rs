//! The media engine on clips the tests generate: every frame carries its index in pixels and the
//! audio is a chirp whose frequency gives its time, so "the frame shown at t" and "the audio
//! heard with it" are checked against the content, not against the engine's own bookkeeping.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use univa::media::testclip::{
    CHIRP_PERIOD_SECS, TestClipSpec, chirp_difference_secs, chirp_time_secs, frame_index, generate_test_clip,
};
use univa::media::{
    AudioOutputMode, MediaError, Player, PlayerOpener, PlayerOptions, StreamKind, TimeSpan, WaveformCache,
    WaveformState, compute_waveform, grab_frame, probe,
};

const FPS: f64 = 25.0;
const WAIT: Duration = Duration::from_secs(10);

struct Clips {
    dir: PathBuf,
    /// 4 s, 320x240 H.264 + 48 kHz mono PCM chirp, Matroska.
    both: PathBuf,
    /// 2 s, H.264 only, MP4.
    video_only: PathBuf,
    /// 2 s chirp, WAV.
    audio_only: PathBuf,
    /// 2 s, H.264 + AAC, MP4.
    mp4: PathBuf,
    /// 4 s, H.264 with 3 B-frames between references (as most real encodes), video only, MP4.
    b_frames: PathBuf,
}

/// The clips, generated once per test run into the tests' temporary folder.
fn clips() -> &'static Clips {
    static CLIPS: OnceLock<Clips> = OnceLock::new();
    CLIPS.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_clip_dirs(root);
        let dir = root.join(format!("media-clips-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let make = |name: &str, spec: TestClipSpec| {
            let path = dir.join(name);
            generate_test_clip(&path, &spec).unwrap();
            path
        };
        let short = TestClipSpec { duration_secs: 2.0, ..TestClipSpec::default() };
        Clips {
            both: make("both.mkv", TestClipSpec { duration_secs: 4.0, ..TestClipSpec::default() }),
            video_only: make("video.mp4", TestClipSpec { audio: false, ..short.clone() }),
            audio_only: make("audio.wav", TestClipSpec { video: false, ..short.clone() }),
            mp4: make("both.mp4", short),
            b_frames: make(
                "bframes.mp4",
                TestClipSpec { duration_secs: 4.0, audio: false, b_frames: 3, ..TestClipSpec::default() },
            ),
            dir,
        }
    })
}

/// Clip folders of earlier test processes (one per process, so parallel runners never share
/// one), removed once they are an hour old.
fn remove_stale_clip_dirs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > Duration::from_secs(3600)));
        if stale && entry.file_name().to_string_lossy().starts_with("media-clips-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn silent() -> PlayerOptions {
    PlayerOptions { audio: AudioOutputMode::Off, ..PlayerOptions::default() }
}

fn external_audio() -> PlayerOptions {
    PlayerOptions { audio: AudioOutputMode::External, ..PlayerOptions::default() }
}

fn expected_index(secs: f64) -> u32 {
    (secs * FPS + 1e-6).floor() as u32
}

fn index_at(player: &mut Player, secs: f64) -> u32 {
    let frame = player.wait_frame_at(secs, WAIT).unwrap().expect("the clip has video");
    assert!(frame.covers(secs), "frame at {} does not cover {secs}", frame.pts_secs);
    frame_index(frame).expect("the index strip is readable")
}

#[test]
fn probe_reports_container_streams_and_duration() {
    let info = probe(&clips().both, TimeSpan::FULL).unwrap();
    assert!(info.container.contains("matroska"), "{}", info.container);
    let video = info.video.as_ref().unwrap();
    assert_eq!((video.width, video.height, video.codec.as_str()), (320, 240, "h264"));
    assert!((video.frame_rate - FPS).abs() < 1e-6);
    let audio = info.audio.as_ref().unwrap();
    assert_eq!((audio.sample_rate, audio.channels, audio.codec.as_str()), (48_000, 1, "pcm_s16le"));
    assert!((info.duration_secs().unwrap() - 4.0).abs() < 0.05);

    let mp4 = probe(&clips().mp4, TimeSpan::new(0.5, Some(1.5))).unwrap();
    assert_eq!(mp4.audio.as_ref().unwrap().codec, "aac");
    assert!((mp4.duration_secs().unwrap() - 1.0).abs() < 1e-9);
    assert!(probe(&clips().audio_only, TimeSpan::FULL).unwrap().video.is_none());
    assert!(probe(&clips().video_only, TimeSpan::FULL).unwrap().audio.is_none());
}

#[test]
fn the_frame_shown_at_t_is_the_right_one_forwards_backwards_and_after_seeks() {
    let mut player = Player::open(&clips().both, TimeSpan::FULL, &silent()).unwrap();
    for secs in [0.0, 0.02, 0.04, 0.5, 1.99, 2.0, 3.96, 1.0, 0.3, 2.71, 0.0] {
        assert_eq!(index_at(&mut player, secs), expected_index(secs), "at {secs}s");
    }
    for secs in [3.5, 0.12, 2.48] {
        player.seek(secs);
        assert_eq!(index_at(&mut player, secs), expected_index(secs), "after seeking to {secs}s");
    }
}

#[test]
fn frames_are_rgba_at_the_requested_size() {
    let options = PlayerOptions { frame_size: Some((160, 120)), ..silent() };
    let mut player = Player::open(&clips().both, TimeSpan::FULL, &options).unwrap();
    let frame = player.wait_frame_at(1.0, WAIT).unwrap().unwrap();
    assert_eq!((frame.width, frame.height, frame.rgba.len()), (160, 120, 160 * 120 * 4));
    assert_eq!(frame_index(frame), Some(25));
    player.set_frame_size(Some((64, 48)));
    player.seek(2.0);
    let frame = player.wait_frame_at(2.0, WAIT).unwrap().unwrap();
    assert_eq!((frame.width, frame.height), (64, 48));
}

#[test]
fn playing_advances_on_the_monotonic_clock_and_frames_follow() {
    let mut player = Player::open(&clips().both, TimeSpan::FULL, &silent()).unwrap();
    player.play();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let position = player.update();
    let elapsed = started.elapsed().as_secs_f64();
    assert!((position - elapsed).abs() < 0.1, "position {position} after {elapsed}s");
    let shown = index_at(&mut player, position);
    assert!(shown.abs_diff(expected_index(position)) <= 1);
    player.pause();
    let paused_at = player.update();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(player.update(), paused_at);
}

/// Updates a playing player every 10 ms for `duration`, asserting that each position is
/// `allowed`; whether playback jumped back (looped) meanwhile.
fn watch_playback(player: &mut Player, duration: Duration, allowed: impl Fn(f64) -> bool) -> bool {
    let mut wrapped = false;
    let mut last = player.update();
    let until = Instant::now() + duration;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
        let now = player.update();
        assert!(allowed(now), "position {now} is outside the span");
        wrapped |= now < last;
        last = now;
    }
    wrapped
}

#[test]
fn a_span_bounds_playback_and_loops() {
    let span = TimeSpan::new(1.0, Some(1.4));
    let mut player = Player::open(&clips().both, span, &silent()).unwrap();
    let start = player.span().start_secs;
    assert_eq!(index_at(&mut player, start), 25);
    player.seek(0.2);
    assert_eq!(player.update(), 1.0, "seeks are clamped to the span");
    player.set_speed(2.0);
    player.set_looping(true);
    player.play();
    let wrapped = watch_playback(&mut player, Duration::from_millis(600), |now| span.contains(now) || now == 1.4);
    assert!(wrapped, "the span looped");
    player.set_looping(false);
    std::thread::sleep(Duration::from_millis(450));
    player.update();
    assert!(!player.is_playing(), "playback stops at the end of the span");
    assert!((player.update() - 1.4).abs() < 1e-9);
}

/// Pulls `secs` of audio from the feed as a device would (in 10 ms blocks, giving the decoder
/// thread a moment between blocks) and returns it.
fn pull(feed: &mut univa::media::AudioFeed, secs: f64) -> Vec<f32> {
    let channels = usize::from(feed.channel_count());
    let total = (secs * f64::from(feed.sample_rate())) as usize * channels;
    let block = (feed.sample_rate() as usize / 100).max(1) * channels;
    let mut samples = vec![0.0; total];
    for part in samples.chunks_mut(block) {
        feed.fill(part);
        std::thread::sleep(Duration::from_micros(500));
    }
    samples
}

fn wait_for_audio(feed: &mut univa::media::AudioFeed) {
    let until = Instant::now() + WAIT;
    while feed.position_secs().is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
        pull(feed, 0.001);
    }
}

#[test]
fn audio_is_the_master_clock_and_agrees_with_video_after_seeks() {
    let mut player = Player::open(&clips().both, TimeSpan::FULL, &external_audio()).unwrap();
    let mut feed = player.take_audio_feed().unwrap();
    assert_eq!((feed.sample_rate(), feed.channel_count()), (48_000, 1));
    player.play();
    for target in [0.0, 2.3, 0.7, 3.1] {
        player.seek(target);
        // Let the decoder refill, then play 300 ms of audio like a device pulling 10 ms blocks,
        // with a UI updating after each block.
        std::thread::sleep(Duration::from_millis(60));
        wait_for_audio(&mut feed);
        let mut window = Vec::new();
        for _ in 0..30 {
            window.extend(pull(&mut feed, 0.01));
            std::thread::sleep(Duration::from_millis(10));
            player.update();
        }
        let window = &window[window.len() - 1440..];
        let position = player.update();
        let audio_secs = feed.position_secs().unwrap();
        assert!((position - audio_secs).abs() < 0.02, "the clock follows the audio ({position} vs {audio_secs})");
        let heard = chirp_time_secs(window, 48_000).unwrap();
        assert!(
            chirp_difference_secs(heard, audio_secs).abs() < 0.005,
            "the audio content is at {heard}s mod {CHIRP_PERIOD_SECS}, the clock at {audio_secs}s"
        );
        assert!((audio_secs - (target + 0.3)).abs() < 0.1, "{audio_secs} after seeking to {target}");
        let shown = index_at(&mut player, position);
        let video_secs = (f64::from(shown) + 0.5) / FPS;
        assert!(
            chirp_difference_secs(heard, video_secs).abs() < 0.04,
            "A/V offset at {target}: {heard} vs {video_secs}"
        );
    }
}

#[test]
fn speed_resamples_audio_and_pause_mute_and_volume_shape_the_output() {
    let mut player = Player::open(&clips().both, TimeSpan::FULL, &external_audio()).unwrap();
    let mut feed = player.take_audio_feed().unwrap();
    player.play();
    wait_for_audio(&mut feed);
    let start = feed.position_secs().unwrap();
    player.set_speed(2.0);
    pull(&mut feed, 0.5);
    let advanced = feed.position_secs().unwrap() - start;
    assert!((advanced - 1.0).abs() < 0.02, "0.5 s of output at 2x covers 1 s of clip, got {advanced}");
    player.set_speed(10.0);
    assert_eq!(player.speed(), 2.0, "speed is clamped to 0.25–2");
    player.set_speed(1.0);

    let loud = pull(&mut feed, 0.1).iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!((loud - 0.5).abs() < 0.02, "the chirp's amplitude is 0.5, got {loud}");
    player.set_volume(0.5);
    let half = pull(&mut feed, 0.1).iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!((half - 0.25).abs() < 0.02, "{half}");
    player.set_muted(true);
    assert!(pull(&mut feed, 0.05).iter().all(|s| *s == 0.0));
    player.set_muted(false);
    player.pause();
    let paused_at = feed.position_secs();
    assert!(pull(&mut feed, 0.05).iter().all(|s| *s == 0.0));
    assert_eq!(paused_at, None, "a paused feed is not the clock");
}

#[test]
fn without_a_sound_card_or_with_audio_off_playback_goes_on_silently() {
    // Auto: either a real output opened, or the engine said once why not and plays silently.
    let mut player = Player::open(&clips().both, TimeSpan::FULL, &PlayerOptions::default()).unwrap();
    let notices = player.take_notices();
    if player.has_audio_output() {
        assert!(notices.is_empty());
    } else if AudioOutputMode::Auto.resolve() == AudioOutputMode::Auto {
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].starts_with("audio output unavailable: "), "{}", notices[0]);
    }
    assert!(player.take_notices().is_empty(), "the notice is given once");
    player.play();
    std::thread::sleep(Duration::from_millis(200));
    assert!(player.update() > 0.1);

    let mut off = Player::open(&clips().both, TimeSpan::FULL, &silent()).unwrap();
    assert!(!off.has_audio_output());
    assert!(off.take_notices().is_empty());
    assert!(off.take_audio_feed().is_none());
}

#[test]
fn audio_only_and_video_only_clips_play() {
    let mut audio = Player::open(&clips().audio_only, TimeSpan::FULL, &silent()).unwrap();
    assert!(audio.frame_at(0.5).is_none());
    audio.play();
    std::thread::sleep(Duration::from_millis(100));
    assert!(audio.update() > 0.05);

    let mut video = Player::open(&clips().video_only, TimeSpan::FULL, &external_audio()).unwrap();
    assert!(video.take_audio_feed().is_none());
    assert_eq!(index_at(&mut video, 1.5), expected_index(1.5));
    let mut mp4 = Player::open(&clips().mp4, TimeSpan::FULL, &silent()).unwrap();
    assert_eq!(index_at(&mut mp4, 1.2), expected_index(1.2));
}

#[test]
fn waveform_envelopes_are_computed_off_thread_and_cached() {
    let span = TimeSpan::new(0.5, Some(2.5));
    let direct = compute_waveform(&clips().both, span, 50).unwrap();
    assert_eq!(direct.bins(), 50);
    assert!((direct.start_secs, direct.end_secs) == (0.5, 2.5));
    for (min, max) in direct.min.iter().zip(&direct.max) {
        assert!((max - 0.5).abs() < 0.02 && (min + 0.5).abs() < 0.02, "bin {min}..{max}");
    }
    let mut cache = WaveformCache::new().unwrap();
    let WaveformState::Ready(cached) = cache.wait(&clips().both, span, 50, WAIT) else {
        panic!("the waveform was not computed");
    };
    assert_eq!(*cached, direct);
    assert!(
        matches!(cache.get(&clips().both, span, 50), WaveformState::Ready(again) if std::sync::Arc::ptr_eq(&again, &cached))
    );
    let WaveformState::Failed(error) = cache.wait(&clips().video_only, TimeSpan::FULL, 10, WAIT) else {
        panic!("a clip without audio has no waveform");
    };
    assert!(matches!(*error, MediaError::MissingStream { kind: StreamKind::Audio, .. }), "{error}");
}

#[test]
fn frame_grabs_pick_the_frame_at_a_time_and_fit_the_size() {
    let frame = grab_frame(&clips().both, 1.52, Some((100, 100))).unwrap();
    assert_eq!((frame.width, frame.height), (100, 75));
    assert_eq!(frame_index(&frame), Some(expected_index(1.52)));
    let full = grab_frame(&clips().mp4, 0.0, None).unwrap();
    assert_eq!((full.width, full.height, frame_index(&full)), (320, 240, Some(0)));
}

fn assert_names_file(error: &MediaError, path: &Path) {
    let message = error.to_string();
    assert!(message.starts_with(&path.display().to_string()), "{message}");
    assert_eq!(error.path(), path);
}

#[test]
fn bad_media_gives_typed_errors_naming_the_file() {
    let dir = &clips().dir;
    let empty = dir.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let error = Player::open(&empty, TimeSpan::FULL, &silent()).unwrap_err();
    assert!(matches!(error, MediaError::Empty { .. }), "{error}");
    assert_names_file(&error, &empty);

    let text = dir.join("notes.mp4");
    std::fs::write(&text, "these are not the frames you are looking for\n".repeat(200)).unwrap();
    let error = probe(&text, TimeSpan::FULL).unwrap_err();
    assert!(matches!(error, MediaError::Unreadable { .. }), "{error}");
    assert_names_file(&error, &text);

    // An MP4 cut in half loses its index (written at the end).
    let bytes = std::fs::read(&clips().mp4).unwrap();
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = Player::open(&truncated, TimeSpan::FULL, &silent()).unwrap_err();
    assert_names_file(&error, &truncated);

    let mut garbage = bytes.clone();
    for (i, byte) in garbage.iter_mut().enumerate().take(4096) {
        *byte = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    let corrupt = dir.join("corrupt.mp4");
    std::fs::write(&corrupt, &garbage).unwrap();
    let error = Player::open(&corrupt, TimeSpan::FULL, &silent()).unwrap_err();
    assert_names_file(&error, &corrupt);

    // A codec this ffmpeg cannot decode: the Matroska codec ID of the video track renamed.
    let both = std::fs::read(&clips().both).unwrap();
    let at = both.windows(15).position(|w| w == b"V_MPEG4/ISO/AVC").expect("an H.264 track");
    let mut unknown = both.clone();
    unknown[at..at + 15].copy_from_slice(b"V_MPEG4/ISO/XYZ");
    let unsupported = dir.join("unsupported.mkv");
    std::fs::write(&unsupported, &unknown).unwrap();
    let error = Player::open(&unsupported, TimeSpan::FULL, &silent()).unwrap_err();
    assert!(matches!(error, MediaError::UnsupportedCodec { kind: StreamKind::Video, .. }), "{error}");
    assert_names_file(&error, &unsupported);

    let error = grab_frame(&clips().audio_only, 0.5, None).unwrap_err();
    assert!(matches!(error, MediaError::MissingStream { kind: StreamKind::Video, .. }), "{error}");
    assert_names_file(&error, &clips().audio_only);

    let missing = dir.join("no-such-clip.mkv");
    let error = probe(&missing, TimeSpan::FULL).unwrap_err();
    assert!(matches!(error, MediaError::Io { .. }), "{error}");
    assert_names_file(&error, &missing);

    let error = probe(&clips().both, TimeSpan::new(10.0, None)).unwrap_err();
    assert!(matches!(error, MediaError::InvalidSpan { .. }), "{error}");
    let error = probe(&clips().both, TimeSpan::new(2.0, Some(1.0))).unwrap_err();
    assert!(matches!(error, MediaError::InvalidSpan { .. }), "{error}");

    // A broken clip does not disturb one that is playing.
    let mut player = Player::open(&clips().both, TimeSpan::FULL, &silent()).unwrap();
    let _ = Player::open(&corrupt, TimeSpan::FULL, &silent());
    assert_eq!(index_at(&mut player, 1.0), 25);
}

#[test]
fn play_headless_decodes_the_span_and_fails_with_one_line_naming_the_file() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_univa"))
        .args(["play", "--headless", "--start", "1", "--end", "2"])
        .arg(&clips().both)
        .env("UNIVA_AUDIO", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("video: 25 frames"), "{stdout}");
    assert!(stdout.contains("pts 1.000s..1.960s"), "{stdout}");
    assert!(stdout.contains("audio: 1.000s decoded"), "{stdout}");

    let bad = clips().dir.join("bad-for-cli.mp4");
    std::fs::write(&bad, "not a video").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_univa"))
        .args(["play", "--headless"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("univa:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains(&bad.display().to_string()), "{stderr}");
}

/// Needs a sound output (e.g. a PulseAudio null sink); run with `--ignored` where one exists.
#[test]
#[ignore = "needs a sound output"]
fn a_real_sound_output_drives_the_clock() {
    let mut player = Player::open(&clips().both, TimeSpan::FULL, &PlayerOptions::default()).unwrap();
    assert!(player.has_audio_output(), "no output opened: {:?}", player.take_notices());
    player.play();
    let started = Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    while started.elapsed() < Duration::from_millis(3500) {
        std::thread::sleep(Duration::from_millis(50));
        samples.push((started.elapsed().as_secs_f64(), player.update()));
    }
    // A sound server may take a second or two to start consuming (the clock waits for it);
    // after that the clock advances at the rate the device plays, and never backwards.
    assert!(samples.windows(2).all(|w| w[1].1 >= w[0].1), "{samples:?}");
    let (t0, p0) = samples[samples.len() - 11];
    let (t1, p1) = samples[samples.len() - 1];
    let rate = (p1 - p0) / (t1 - t0);
    assert!((rate - 1.0).abs() < 0.15, "clock rate {rate} over the last 0.5 s: {samples:?}");
}

#[test]
fn fast_seek_skips_only_frames_before_the_target_with_b_frames() {
    // Targets all over the 2 s key frame interval, forwards and backwards, including B-frames.
    let targets = [3.9, 0.05, 1.97, 2.03, 0.51, 3.27, 1.0, 2.6, 0.0, 3.5];
    for fast_seek in [true, false] {
        let options = PlayerOptions { fast_seek, ..silent() };
        let mut player = Player::open(&clips().b_frames, TimeSpan::FULL, &options).unwrap();
        for secs in targets {
            player.seek(secs);
            assert_eq!(index_at(&mut player, secs), expected_index(secs), "fast_seek {fast_seek}, seek to {secs}s");
        }
        // Playing on after a fast seek shows every frame in order (references were kept).
        player.seek(1.3);
        index_at(&mut player, 1.3);
        for step in 0..30 {
            let secs = 1.3 + f64::from(step) / FPS;
            assert_eq!(index_at(&mut player, secs), expected_index(secs), "fast_seek {fast_seek}, playing at {secs}s");
        }
    }
}

#[test]
fn a_loop_span_inside_the_played_span_repeats_only_itself() {
    let mut player = Player::open(&clips().both, TimeSpan::new(0.5, Some(3.0)), &silent()).unwrap();
    player.set_loop_span(Some(TimeSpan::new(1.0, Some(1.3))));
    player.set_looping(true);
    player.seek(1.0);
    player.play();
    let wrapped = watch_playback(&mut player, Duration::from_millis(700), |now| (1.0..=1.35).contains(&now));
    assert!(wrapped, "the loop span repeated");
    // Looping off: playback runs on past the loop span to the end of the played span.
    player.set_looping(false);
    std::thread::sleep(Duration::from_millis(400));
    assert!(player.update() > 1.35);
}

#[test]
fn the_opener_opens_clips_off_thread_and_answers_only_the_newest() {
    let mut opener = PlayerOpener::start().unwrap();
    let first = opener.open(clips().both.clone(), TimeSpan::FULL, silent()).unwrap();
    let newest = opener.open(clips().video_only.clone(), TimeSpan::new(0.5, None), silent()).unwrap();
    assert!(newest > first);
    let opened = opener.wait().expect("an answer");
    assert_eq!(opened.ticket, newest, "older requests are skipped or dropped");
    let player = opened.result.unwrap();
    assert_eq!(player.info().path, clips().video_only);
    assert_eq!(player.span().start_secs, 0.5);
    opener.retire(player);

    let missing = clips().dir.join("missing.mkv");
    opener.open(missing.clone(), TimeSpan::FULL, silent()).unwrap();
    let error = opener.wait().unwrap().result.unwrap_err();
    assert_eq!(error.path(), missing.as_path());
}

#[test]
fn audio_turned_off_is_reported_for_clips_with_sound_only() {
    let player = Player::open(&clips().both, TimeSpan::FULL, &silent()).unwrap();
    let reason = player.audio_unavailable().expect("the clip has audio that is not played");
    assert!(reason.starts_with("audio output unavailable: turned off"), "{reason}");
    let video_only = Player::open(&clips().video_only, TimeSpan::FULL, &silent()).unwrap();
    assert_eq!(video_only.audio_unavailable(), None);
    let mut external = Player::open(&clips().both, TimeSpan::FULL, &external_audio()).unwrap();
    assert_eq!(external.audio_unavailable(), None);
    assert!(external.take_audio_feed().is_some());
}
