//! The UniVA model: losses against values computed by hand, masks, shapes, gradients, every
//! ablation, presets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap: a failed setup should fail the test

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use univa::dataset::LabelSpec;
use univa::modality::{Modality, PerModality};
use univa::model::correlation_prior::CorrelationPrior;
use univa::model::kl::kl_loss;
use univa::model::va_contrastive::{contrastive_loss, label_positives, self_positives, va_positives};
use univa::model::{
    Batch, ContrastiveMode, EtaVariant, InputShape, KlTarget, LossConfig, ModalityInput, ModelConfig, Preset, UniVa,
    frozen_var_builder,
};

const E: f64 = std::f64::consts::E;

fn cpu() -> Device {
    Device::Cpu
}

fn t2(rows: &[&[f32]]) -> Tensor {
    let cols = rows[0].len();
    Tensor::from_iter(rows.iter().flat_map(|r| r.iter().copied()), &cpu()).unwrap().reshape((rows.len(), cols)).unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    f64::from(t.to_scalar::<f32>().unwrap())
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    f64::from((a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap())
}

// ---------------------------------------------------------------- VA-driven contrastive loss

#[test]
fn va_positives_by_delta() {
    let va = t2(&[&[0.0, 0.0], &[0.06, 0.0], &[0.0, 0.5]]);
    let positives = va_positives(&va, 0.1).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(positives, vec![vec![1.0, 1.0, 0.0], vec![1.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]]);
    // δ between the two distances (0.06 < δ < 0.5) decides; a larger δ joins everything.
    let all = va_positives(&va, 0.6).unwrap().to_vec2::<f32>().unwrap();
    assert!(all.iter().flatten().all(|&p| p == 1.0), "{all:?}");
}

#[test]
fn contrastive_two_orthogonal_samples_by_hand() {
    // h0 = (1, 0), h1 = (0, 1). Anchor 0 sees rows h1, h0' (twin), h1' with dot products 0, 1, 0.
    let h = t2(&[&[1.0, 0.0], &[0.0, 1.0]]);
    let far = va_positives(&t2(&[&[0.0, 0.0], &[1.0, 1.0]]), 0.1).unwrap();
    let near = va_positives(&t2(&[&[0.0, 0.0], &[0.05, 0.0]]), 0.1).unwrap();
    // τ = 0.5: logits 0, 2, 0. Far: the twin is the only positive.
    let lse = (2.0 + E * E).ln();
    assert_close(scalar(&contrastive_loss(&h, &far, 0.5, false).unwrap()), lse - 2.0, 1e-5, "far, τ 0.5");
    // Near: positives are h1, the twin and h1': −(0 + 2 + 0)/3 + lse.
    assert_close(scalar(&contrastive_loss(&h, &near, 0.5, false).unwrap()), lse - 2.0 / 3.0, 1e-5, "near, τ 0.5");
    // τ = 1: logits 0, 1, 0.
    assert_close(scalar(&contrastive_loss(&h, &far, 1.0, false).unwrap()), (2.0 + E).ln() - 1.0, 1e-5, "far, τ 1");
}

#[test]
fn contrastive_three_samples_by_hand() {
    // S = H·Hᵀ = [[1,0,1],[0,1,1],[1,1,2]], τ = 1; samples 0 and 1 are VA-close, 2 is far.
    let h = t2(&[&[1.0, 0.0], &[0.0, 1.0], &[1.0, 1.0]]);
    let va = t2(&[&[0.2, -0.3], &[0.25, -0.3], &[-1.0, 1.0]]);
    let positives = va_positives(&va, 0.1).unwrap();
    // Anchor 0: rows 1,2,0',1',2' → logits 0,1,1,0,1, denominator 2 + 3e; positives 1, 0', 1'
    // with logits 0, 1, 0. Anchor 1 is symmetric. Anchor 2: rows 0,1,0',1' (logit 1) and its
    // twin (logit 2), denominator 4e + e², positive the twin only.
    let z01 = (2.0 + 3.0 * E).ln();
    let z2 = (4.0 * E + E * E).ln();
    let want = (2.0 * (z01 - 1.0 / 3.0) + (z2 - 2.0)) / 3.0;
    assert_close(scalar(&contrastive_loss(&h, &positives, 1.0, false).unwrap()), want, 1e-5, "VA-driven");

    // Sup-CL: 0 and 1 share the label set {a}, 2 has {b}: the same positives as by VA.
    let labels = t2(&[&[1.0, 0.0], &[1.0, 0.0], &[0.0, 1.0]]);
    let by_labels = label_positives(&labels).unwrap();
    assert_eq!(by_labels.to_vec2::<f32>().unwrap(), positives.to_vec2::<f32>().unwrap());
    assert_close(scalar(&contrastive_loss(&h, &by_labels, 1.0, false).unwrap()), want, 1e-5, "Sup-CL");

    // Self-CL: the twin only, so anchors 0 and 1 score −(1 − ln(2 + 3e)).
    let twin_only = self_positives(3, &cpu()).unwrap();
    let want_self = (2.0 * (z01 - 1.0) + (z2 - 2.0)) / 3.0;
    assert_close(scalar(&contrastive_loss(&h, &twin_only, 1.0, false).unwrap()), want_self, 1e-5, "Self-CL");
}

#[test]
fn label_positives_need_identical_sets() {
    let labels = t2(&[&[1.0, 1.0, 0.0], &[1.0, 0.0, 0.0], &[1.0, 1.0, 0.0], &[0.0, 0.0, 0.0]]);
    let p = label_positives(&labels).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(
        p,
        vec![vec![1.0, 0.0, 1.0, 0.0], vec![0.0, 1.0, 0.0, 0.0], vec![1.0, 0.0, 1.0, 0.0], vec![0.0, 0.0, 0.0, 1.0]]
    );
}

#[test]
fn contrastive_normalize_switch() {
    // Orthogonal vectors of length 3: normalised they give the unit-vector value by hand;
    // unnormalised, the dot products are 9 times larger.
    let h = t2(&[&[3.0, 0.0], &[0.0, 3.0]]);
    let far = self_positives(2, &cpu()).unwrap();
    let lse = (2.0 + E * E).ln();
    assert_close(scalar(&contrastive_loss(&h, &far, 0.5, true).unwrap()), lse - 2.0, 1e-5, "normalised");
    let raw = (2.0 + (18.0f64).exp()).ln() - 18.0;
    assert_close(scalar(&contrastive_loss(&h, &far, 0.5, false).unwrap()), raw, 1e-5, "unnormalised");
}

// ---------------------------------------------------------------- η

#[test]
fn eta_by_hand_both_variants() {
    let m = 0.3f32;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &cpu());
    let prior = CorrelationPrior::new(vb, &[vec![1.0, m], vec![m, 1.0]], true).unwrap();
    let probs = t2(&[&[0.75, 0.25], &[0.5, 0.5]]);
    let log_probs = probs.log().unwrap();
    // Code: pairs (0,1) and (1,0) each ‖(ln 0.75 − ln 0.25, 0)‖ = ln 3, weighted by m, / B = 2.
    let code = prior.eta(&log_probs, EtaVariant::ReferenceCode).unwrap();
    assert_close(scalar(&code), f64::from(m) * 3f64.ln(), 1e-5, "η code");
    // Eq. 9: per sample squared probability differences: 0.5² and 0, both orders, / B = 2.
    let paper = prior.eta(&log_probs, EtaVariant::PaperEq9).unwrap();
    assert_close(scalar(&paper), f64::from(m) * 2.0 * 0.25 / 2.0, 1e-6, "η Eq. 9");
}

#[test]
fn eta_gradient_is_finite_with_equal_columns() {
    // The diagonal (and here every pair) has zero distance, where a naive sqrt has no gradient.
    let prior =
        CorrelationPrior::new(VarBuilder::zeros(DType::F32, &cpu()), &[vec![1.0, 0.5], vec![0.5, 1.0]], false).unwrap();
    let log_probs = Var::from_tensor(&t2(&[&[-0.5, -1.0], &[-0.7, -0.7]])).unwrap();
    let eta = prior.eta(log_probs.as_tensor(), EtaVariant::ReferenceCode).unwrap();
    let grads = eta.backward().unwrap();
    let grad = grads.get(log_probs.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
}

#[test]
fn correlation_matrix_starts_at_the_va_prior() {
    let prior = mosei_prior();
    let model = tiny_model(&tiny_config(), &VarMap::new());
    assert_eq!(model.correlation_matrix().unwrap(), prior);
}

// ---------------------------------------------------------------- KL

#[test]
fn kl_by_hand_both_targets_and_scale() {
    let probs = [[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]];
    let log_probs = t2(&[&[0.5, 0.25, 0.25], &[0.2, 0.3, 0.5]]).log().unwrap();
    let labels = t2(&[&[1.0, 0.0, 0.0], &[0.0, 1.0, 1.0]]);
    // softmax([1,0,0]) = [e,1,1]/(e+2); softmax([0,1,1]) = [1,e,e]/(2e+1).
    let targets = [
        [E / (E + 2.0), 1.0 / (E + 2.0), 1.0 / (E + 2.0)],
        [1.0 / (2.0 * E + 1.0), E / (2.0 * E + 1.0), E / (2.0 * E + 1.0)],
    ];
    let mut sum = 0.0;
    for (t_row, p_row) in targets.iter().zip(&probs) {
        for (t, p) in t_row.iter().zip(p_row) {
            sum += t * (t.ln() - f64::ln(*p));
        }
    }
    let want = sum / 6.0;
    let got = kl_loss(&log_probs, &labels, KlTarget::SoftmaxMultiHot, 1.0).unwrap();
    assert_close(scalar(&got), want, 1e-6, "softmax target");
    let scaled = kl_loss(&log_probs, &labels, KlTarget::SoftmaxMultiHot, 1000.0).unwrap();
    assert_close(scalar(&scaled), 1000.0 * want, 1e-3, "scale 1000");
    // Multi-hot target: only the ones count, each −ln p: −ln 0.5 − ln 0.3 − ln 0.5.
    let want_hot = (2.0 * 2f64.ln() - 0.3f64.ln()) / 6.0;
    let hot = kl_loss(&log_probs, &labels, KlTarget::MultiHot, 1.0).unwrap();
    assert_close(scalar(&hot), want_hot, 1e-6, "multi-hot target");
}

// ---------------------------------------------------------------- the model

/// Text without a transformer (Eq. 1), vision with one layer, audio with two.
fn tiny_config() -> ModelConfig {
    ModelConfig {
        hidden: 8,
        heads: 2,
        layers: PerModality { text: 0, vision: 1, audio: 2 },
        intermediate: 16,
        dropout: 0.0,
        max_positions: 16,
        ..ModelConfig::default()
    }
}

const LENS: PerModality<usize> = PerModality { text: 5, vision: 4, audio: 6 };
const DIMS: PerModality<usize> = PerModality { text: 6, vision: 3, audio: 4 };

fn shapes() -> PerModality<Option<InputShape>> {
    PerModality::from_fn(|m| Some(InputShape { max_len: *LENS.get(m), dim: *DIMS.get(m) }))
}

fn tiny_model(cfg: &ModelConfig, varmap: &VarMap) -> UniVa {
    let vb = VarBuilder::from_varmap(varmap, DType::F32, &cpu());
    UniVa::new(vb, cfg, &shapes(), &mosei_prior()).unwrap()
}

/// Deterministic pseudo-random values in [-1, 1].
fn pattern(len: usize, seed: f32) -> Vec<f32> {
    (0..len).map(|i| ((i as f32 + 1.0) * 12.9898 + seed * 78.233).sin()).collect()
}

/// B = 4 utterances; utterance i has `max_len − i` real steps. Labels cover single, multiple
/// and repeated label sets; VA puts utterances 0 and 1 close together.
fn batch(extra_padding: usize) -> Batch {
    let b = 4;
    let inputs = PerModality::from_fn(|m| {
        let (len, dim) = (*LENS.get(m), *DIMS.get(m));
        let padded = len + extra_padding;
        let values = pattern(b * len * dim, m.index() as f32);
        let mut features = vec![0.0f32; b * padded * dim];
        let mut mask = vec![0.0f32; b * padded];
        for i in 0..b {
            for t in 0..len - i {
                mask[i * padded + t] = 1.0;
                for k in 0..dim {
                    features[(i * padded + t) * dim + k] = values[(i * len + t) * dim + k];
                }
            }
        }
        let va = [0.1, 0.2, 0.12, 0.2, -1.0, 0.5, 1.0, -0.7].map(|v: f32| v + m.index() as f32 * 0.01);
        Some(ModalityInput {
            features: Tensor::from_vec(features, (b, padded, dim), &cpu()).unwrap(),
            mask: Tensor::from_vec(mask, (b, padded), &cpu()).unwrap(),
            va: Tensor::from_slice(&va, (b, 2), &cpu()).unwrap(),
        })
    });
    let labels = t2(&[
        &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0],
        &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
    ]);
    Batch { inputs, labels }
}

#[test]
fn forward_shapes() {
    let cfg = tiny_config();
    let model = tiny_model(&cfg, &VarMap::new());
    let out = model.forward(&batch(0), false).unwrap();
    assert_eq!(out.log_probs.dims(), &[4, 6]);
    for m in Modality::ALL {
        assert_eq!(out.unimodal.get(m).as_ref().unwrap().dims(), &[4, 8], "{m}");
    }
    let sums = out.log_probs.exp().unwrap().sum(1).unwrap().to_vec1::<f32>().unwrap();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
}

#[test]
fn padded_steps_do_not_change_the_output() {
    let cfg = tiny_config();
    let model = tiny_model(&cfg, &VarMap::new());
    let clean = batch(0);
    let reference = model.forward(&clean, false).unwrap();

    // Garbage in every padded step.
    let mut noisy = clean.clone();
    for m in Modality::ALL {
        let input = noisy.inputs.get_mut(m).as_mut().unwrap();
        let noise = Tensor::randn(0f32, 10.0, input.features.shape(), &cpu()).unwrap();
        let padding = (1.0 - &input.mask).unwrap().unsqueeze(2).unwrap();
        input.features = (&input.features + noise.broadcast_mul(&padding).unwrap()).unwrap();
    }
    let out = model.forward(&noisy, false).unwrap();
    assert!(max_abs_diff(&out.log_probs, &reference.log_probs) < 1e-5);
    for m in Modality::ALL {
        let (a, b) = (out.unimodal.get(m).as_ref().unwrap(), reference.unimodal.get(m).as_ref().unwrap());
        assert!(max_abs_diff(a, b) < 1e-5, "{m}");
    }

    // Three more padded steps at the end of every sequence.
    let longer = model.forward(&batch(3), false).unwrap();
    assert!(max_abs_diff(&longer.log_probs, &reference.log_probs) < 1e-5);

    // Sanity: a change in a real step does change the output.
    let mut changed = clean;
    let audio = changed.inputs.audio.as_mut().unwrap();
    audio.features = (&audio.features + 1.0).unwrap();
    let moved = model.forward(&changed, false).unwrap();
    assert!(max_abs_diff(&moved.log_probs, &reference.log_probs) > 1e-4);
}

#[test]
fn an_utterance_without_real_steps_pools_to_zeros() {
    let model = tiny_model(&tiny_config(), &VarMap::new());
    let mut b = batch(0);
    let vision = b.inputs.vision.as_mut().unwrap();
    let keep = t2(&[&[1.0], &[1.0], &[1.0], &[0.0]]);
    vision.mask = vision.mask.broadcast_mul(&keep).unwrap();
    let out = model.forward(&b, true).unwrap();
    let h = out.unimodal.vision.as_ref().unwrap().to_vec2::<f32>().unwrap();
    assert!(h[3].iter().all(|&x| x == 0.0), "{:?}", h[3]);
    assert!(h[0].iter().any(|&x| x != 0.0));
    let parts = model.loss(&out, &b, &LossConfig::default()).unwrap();
    assert!(scalar(&parts.total).is_finite());
}

#[test]
fn fused_inference_matches_the_differentiable_path() {
    let cfg = tiny_config();
    let varmap = VarMap::new();
    let trained = tiny_model(&cfg, &varmap);
    // Plain (non-variable) copies of the weights take the fused LayerNorm/softmax kernels.
    let vb = frozen_var_builder(&varmap, &cpu()).unwrap();
    let frozen = UniVa::new(vb, &cfg, &shapes(), &mosei_prior()).unwrap();
    let b = batch(0);
    let a = trained.forward(&b, false).unwrap();
    let f = frozen.forward(&b, false).unwrap();
    assert!(max_abs_diff(&a.log_probs, &f.log_probs) < 1e-5);
}

#[test]
fn loss_mixes_its_parts_as_configured() {
    let cfg = tiny_config();
    let model = tiny_model(&cfg, &VarMap::new());
    let b = batch(0);
    let out = model.forward(&b, false).unwrap();
    let loss_cfg = LossConfig {
        lambda: 0.3,
        modality_weights: PerModality { text: 3.0, vision: 1.0, audio: 1.0 },
        ..LossConfig::default()
    };
    let parts = model.loss(&out, &b, &loss_cfg).unwrap();
    let per = parts.contrastive_per_modality.map(|_, l| f64::from(l.unwrap()));
    let mix = (3.0 * per.text + per.vision + per.audio) / 3.0;
    assert_close(f64::from(parts.contrastive), mix, 1e-4, "MOSEI modality mix");
    let want = 0.7 * (f64::from(parts.kl) + f64::from(parts.eta)) + 0.3 * mix;
    assert_close(scalar(&parts.total), want, 1e-3, "total");
    assert!(parts.eta != 0.0 && parts.kl > 0.0);

    // Each part equals its standalone function.
    let kl = kl_loss(&out.log_probs, &b.labels, KlTarget::SoftmaxMultiHot, 1000.0).unwrap();
    assert_close(f64::from(parts.kl), scalar(&kl), 1e-3, "kl");
    let text = b.inputs.text.as_ref().unwrap();
    let positives = va_positives(&text.va, 0.1).unwrap();
    let cl = contrastive_loss(out.unimodal.text.as_ref().unwrap(), &positives, 0.4, false).unwrap();
    assert_close(per.text, scalar(&cl), 1e-5, "text VA-CL");
}

#[test]
fn one_adamw_step_reduces_the_loss_and_reaches_every_parameter() {
    let cfg = tiny_config();
    let varmap = VarMap::new();
    let model = tiny_model(&cfg, &varmap);
    let b = batch(0);
    let loss_cfg = LossConfig::default();
    let before = model.loss(&model.forward(&b, true).unwrap(), &b, &loss_cfg).unwrap();

    let grads = before.total.backward().unwrap();
    let data = varmap.data().lock().unwrap().clone();
    for (name, var) in &data {
        let grad = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient reaches {name}"));
        let norm = grad.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0 && norm.is_finite(), "{name}: gradient norm {norm}");
    }

    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW { lr: 1e-3, ..ParamsAdamW::default() }).unwrap();
    opt.step(&grads).unwrap();
    let after = model.loss(&model.forward(&b, true).unwrap(), &b, &loss_cfg).unwrap();
    assert!(scalar(&after.total) < scalar(&before.total), "{} -> {}", scalar(&before.total), scalar(&after.total));
    // M is trained with the model.
    assert_ne!(model.correlation_matrix().unwrap(), mosei_prior());
}

#[test]
fn fixed_prior_is_not_a_parameter() {
    let cfg = ModelConfig { train_prior: false, ..tiny_config() };
    let varmap = VarMap::new();
    let model = tiny_model(&cfg, &varmap);
    assert!(!varmap.data().lock().unwrap().keys().any(|k| k.starts_with("correlation")));
    assert_eq!(model.correlation_matrix().unwrap(), mosei_prior());
}

#[test]
fn every_ablation_runs() {
    let subsets: Vec<Vec<Modality>> =
        (1u8..8).map(|bits| Modality::ALL.into_iter().filter(|m| bits & (1 << m.index()) != 0).collect()).collect();
    let modes =
        [ContrastiveMode::VaDriven, ContrastiveMode::SupervisedLabels, ContrastiveMode::SelfOnly, ContrastiveMode::Off];
    for modalities in subsets {
        let cfg = ModelConfig { modalities: modalities.clone(), ..tiny_config() };
        let model = tiny_model(&cfg, &VarMap::new());
        // The batch carries only the modalities the model reads.
        let mut b = batch(0);
        for m in Modality::ALL {
            if !modalities.contains(&m) {
                *b.inputs.get_mut(m) = None;
            }
        }
        let out = model.forward(&b, true).unwrap();
        for m in Modality::ALL {
            assert_eq!(out.unimodal.get(m).is_some(), modalities.contains(&m), "{modalities:?}");
        }
        for contrastive in modes {
            for prior in [true, false] {
                for eta in [EtaVariant::ReferenceCode, EtaVariant::PaperEq9] {
                    for kl_target in [KlTarget::SoftmaxMultiHot, KlTarget::MultiHot] {
                        let loss_cfg = LossConfig { contrastive, prior, eta, kl_target, ..LossConfig::default() };
                        let what = format!("{modalities:?} {loss_cfg:?}");
                        let parts = model.loss(&out, &b, &loss_cfg).unwrap();
                        assert!(scalar(&parts.total).is_finite(), "{what}");
                        assert_eq!(parts.eta == 0.0, !prior, "{what}");
                        let reported = parts.contrastive_per_modality.iter().filter(|(_, l)| l.is_some()).count();
                        let want = if contrastive == ContrastiveMode::Off { 0 } else { modalities.len() };
                        assert_eq!(reported, want, "{what}");
                    }
                }
            }
        }
    }
}

#[test]
fn configuration_errors_name_the_problem() {
    let prior = mosei_prior();
    let vb = || VarBuilder::zeros(DType::F32, &cpu());

    let none = ModelConfig { modalities: vec![], ..tiny_config() };
    let err = UniVa::new(vb(), &none, &shapes(), &prior).unwrap_err().to_string();
    assert!(err.contains("no modality is active"), "{err}");

    let mut no_audio = shapes();
    no_audio.audio = None;
    let err = UniVa::new(vb(), &tiny_config(), &no_audio, &prior).unwrap_err().to_string();
    assert!(err.contains("audio is active but the dataset has no audio features"), "{err}");

    let short = ModelConfig { max_positions: 4, ..tiny_config() };
    let err = UniVa::new(vb(), &short, &shapes(), &prior).unwrap_err().to_string();
    assert!(err.contains("audio sequences have 6 steps but max_positions is 4"), "{err}");

    let odd = ModelConfig { heads: 3, ..tiny_config() };
    let err = UniVa::new(vb(), &odd, &shapes(), &prior).unwrap_err().to_string();
    assert!(err.contains("not divisible by 3 heads"), "{err}");

    let model = tiny_model(&tiny_config(), &VarMap::new());
    let mut b = batch(0);
    b.inputs.vision = None;
    let err = model.forward(&b, false).unwrap_err().to_string();
    assert!(err.contains("the batch has no vision input"), "{err}");
}

// ---------------------------------------------------------------- configuration

#[test]
fn presets_follow_the_paper() {
    let glove = Preset::MoseiGlove.model_config();
    assert_eq!((glove.hidden, glove.heads, glove.intermediate), (768, 12, 3072));
    assert_eq!(glove.layers, PerModality { text: 7, vision: 5, audio: 3 });
    let loss = Preset::MoseiGlove.loss_config();
    assert_eq!((loss.temperature, loss.lambda, loss.delta, loss.prior), (0.4, 0.2, 0.1, false));
    assert_eq!(loss.modality_weights.text, 3.0);
    assert_eq!(
        (loss.kl_target, loss.kl_scale, loss.eta),
        (KlTarget::SoftmaxMultiHot, 1000.0, EtaVariant::ReferenceCode)
    );
    assert!(!loss.normalize);
    let roberta = Preset::MoseiRoberta.loss_config();
    assert_eq!((roberta.temperature, roberta.lambda, roberta.prior), (0.7, 0.45, true));
    let m3ed = Preset::M3edGlove.loss_config();
    assert_eq!((m3ed.lambda, m3ed.modality_weights.text), (0.1, 1.0));
    let small = Preset::Small.model_config();
    assert_eq!((small.hidden, small.heads, small.intermediate), (128, 4, 512));
    assert_eq!(small.layers, PerModality { text: 1, vision: 1, audio: 1 });
    assert_eq!(ModelConfig::default(), small);
}

#[test]
fn configs_read_single_fields_from_toml() {
    let loss: LossConfig = toml::from_str("lambda = 0.5\ncontrastive = \"self-only\"").unwrap();
    assert_eq!(loss, LossConfig { lambda: 0.5, contrastive: ContrastiveMode::SelfOnly, ..LossConfig::default() });
    let model: ModelConfig = toml::from_str("modalities = [\"text\", \"audio\"]").unwrap();
    assert_eq!(model.active().collect::<Vec<_>>(), vec![Modality::Text, Modality::Audio]);
    assert_eq!(model.hidden, 128);
    let preset: Preset = serde_json::from_str("\"mosei-glove\"").unwrap();
    assert_eq!(preset, Preset::MoseiGlove);
    let round_trip: ModelConfig = toml::from_str(&toml::to_string(&Preset::M3edGlove.model_config()).unwrap()).unwrap();
    assert_eq!(round_trip, Preset::M3edGlove.model_config());
}

#[test]
fn parameter_count_matches_the_built_model() {
    let dims = PerModality::from_fn(|m| Some(*DIMS.get(m)));
    for cfg in [tiny_config(), ModelConfig { train_prior: false, modalities: vec![Modality::Vision], ..tiny_config() }]
    {
        let varmap = VarMap::new();
        tiny_model(&cfg, &varmap);
        let built: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        assert_eq!(cfg.parameter_count(&dims, 6), built, "{cfg:?}");
    }
    // The paper configuration at MOSEI-GloVe shapes is the ≈110 M parameter model.
    let glove = PerModality { text: Some(300), vision: Some(35), audio: Some(74) };
    let paper = Preset::MoseiGlove.model_config().parameter_count(&glove, 6);
    assert!((105_000_000..115_000_000).contains(&paper), "{paper}");
}

/// The MOSEI labels' prior M by the reference rule, what every preset builds.
fn mosei_prior() -> Vec<Vec<f32>> {
    univa::va::prior_matrix(&LabelSpec::mosei(), univa::va::PriorRule::default()).unwrap()
}
