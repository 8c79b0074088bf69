//! UniVA speed at MOSEI-GloVe shapes (text 50×300, audio 50×74, vision 50×35, 6 labels), B = 32.
//!
//! Baselines: the authors' PyTorch code on the same kind of 2-core machine (DESIGN.md §4.9):
//! small step 136 ms, paper step 8.8 s, VA-CL of one modality 11 ms. These machines are shared
//! and their speed drifts by up to 2× between days, so quote each figure as a ratio against
//! `python3 benches/torch_step.py [--preset paper]` (the same steps in PyTorch, all 50 steps
//! computed as the reference does) run in the same minutes.
//! Targets: small step ≤ 90 ms, paper step ≤ 8.8 s, VA-CL ≤ 0.2 ms, eval of 4,659 utterances < 5 s.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

use std::hint::black_box;
use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{Criterion, criterion_group, criterion_main};
use univa::dataset::LabelSpec;
use univa::modality::PerModality;
use univa::model::va_contrastive::{contrastive_loss, va_positives};
use univa::model::{Batch, InputShape, LossConfig, ModalityInput, Preset, UniVa, frozen_var_builder};
/// Inference batches the size `univa eval` uses.
use univa::train::EVAL_BATCH;
use univa::train::{AdamW, AdamWParams};

const BATCH: usize = 32;
const MAX_LEN: usize = 50;
const DIMS: PerModality<usize> = PerModality { text: 300, vision: 35, audio: 74 };
/// The MOSEI test split.
const EVAL_UTTERANCES: usize = 4_659;

fn shapes() -> PerModality<Option<InputShape>> {
    PerModality::from_fn(|m| Some(InputShape { max_len: MAX_LEN, dim: *DIMS.get(m) }))
}

/// How many of the 50 steps of each utterance are real.
#[derive(Clone, Copy, Debug)]
enum Lengths {
    /// Utterance i has `10 + 7i mod 41` real steps: 10 to 50, about 60 % of all steps.
    Mixed,
    /// Every step is real (the worst case; the reference code computes all steps always).
    Full,
}

/// Random features, VA and labels.
fn batch(size: usize, lengths: Lengths, device: &Device) -> Batch {
    let inputs = PerModality::from_fn(|m| {
        let mask: Vec<f32> = (0..size)
            .flat_map(|i| {
                let len = match lengths {
                    Lengths::Mixed => 10 + (i * 7) % (MAX_LEN - 10 + 1),
                    Lengths::Full => MAX_LEN,
                };
                (0..MAX_LEN).map(move |t| if t < len { 1.0 } else { 0.0 })
            })
            .collect();
        Some(ModalityInput {
            features: Tensor::randn(0f32, 1.0, (size, MAX_LEN, *DIMS.get(m)), device).unwrap(),
            mask: Tensor::from_vec(mask, (size, MAX_LEN), device).unwrap(),
            va: Tensor::randn(0f32, 1.0, (size, 2), device).unwrap(),
        })
    });
    let labels = Tensor::rand(0f32, 1.0, (size, 6), device).unwrap().ge(0.7).unwrap().to_dtype(DType::F32).unwrap();
    Batch { inputs, labels }
}

fn prior() -> Vec<Vec<f32>> {
    univa::va::prior_matrix(&LabelSpec::mosei(), univa::va::PriorRule::default()).unwrap()
}

/// Benchmarks forward + loss + backward + clipping + AdamW step of `preset` on one batch.
fn train_step(c: &mut Criterion, group: &str, preset: Preset, lengths: Lengths, samples: usize, seconds: u64) {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let model = UniVa::new(vb, &preset.model_config(), &shapes(), &prior()).unwrap();
    let loss_cfg = preset.loss_config();
    let vars = varmap.data().lock().unwrap().iter().map(|(name, var)| (name.clone(), var.clone())).collect();
    let mut opt = AdamW::new(vars, AdamWParams::default()).unwrap();
    let batch = batch(BATCH, lengths, &device);
    let mut group = c.benchmark_group(group);
    group.sample_size(samples).measurement_time(Duration::from_secs(seconds));
    group.bench_function(format!("train step, {preset:?} preset, B=32, {lengths:?} lengths"), |b| {
        b.iter(|| {
            // What `univa train` does per step: forward, loss, backward, clip, AdamW.
            let out = model.forward(&batch, true).unwrap();
            let parts = model.loss(&out, &batch, &loss_cfg).unwrap();
            let grads = parts.total.backward().unwrap();
            let grad_scale = opt.clip_scale(&grads, 1.0).unwrap();
            opt.step(&grads, 7e-5, grad_scale).unwrap();
            black_box(parts.kl)
        });
    });
    group.finish();
}

fn small_step(c: &mut Criterion) {
    univa::runtime::tune_allocator_for_tensors();
    train_step(c, "small", Preset::Small, Lengths::Mixed, 20, 10);
    train_step(c, "small", Preset::Small, Lengths::Full, 20, 10);
}

fn paper_step(c: &mut Criterion) {
    train_step(c, "paper", Preset::MoseiGlove, Lengths::Mixed, 10, 60);
}

fn va_contrastive(c: &mut Criterion) {
    let device = Device::Cpu;
    let features = Tensor::randn(0f32, 1.0, (BATCH, 128), &device).unwrap();
    let va = Tensor::randn(0f32, 1.0, (BATCH, 2), &device).unwrap();
    let cfg = LossConfig::default();
    c.bench_function("VA-CL loss, one modality, B=32, d=128", |b| {
        b.iter(|| {
            let positives = va_positives(&va, cfg.delta).unwrap();
            black_box(contrastive_loss(&features, &positives, cfg.temperature, cfg.normalize).unwrap())
        });
    });
}

fn eval(c: &mut Criterion) {
    let mut group = c.benchmark_group("eval");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let cfg = Preset::Small.model_config();
    UniVa::new(vb, &cfg, &shapes(), &prior()).unwrap();
    // Inference reads plain tensors (as from a checkpoint), which takes the fused kernels.
    let model = UniVa::new(frozen_var_builder(&varmap, &device).unwrap(), &cfg, &shapes(), &prior()).unwrap();
    let full = batch(EVAL_BATCH, Lengths::Mixed, &device);
    let last = batch(EVAL_UTTERANCES % EVAL_BATCH, Lengths::Mixed, &device);
    group.bench_function(format!("inference, small preset, 4659 utterances in batches of {EVAL_BATCH}"), |b| {
        b.iter(|| {
            for _ in 0..EVAL_UTTERANCES / EVAL_BATCH {
                black_box(model.forward(&full, false).unwrap());
            }
            black_box(model.forward(&last, false).unwrap())
        });
    });
    group.finish();
}

criterion_group!(benches, small_step, va_contrastive, eval, paper_step);
criterion_main!(benches);
