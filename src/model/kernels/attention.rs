//! Multi-head scaled dot-product self-attention over segments of rows, forward and backward in
//! one op each.
//!
//! The input is the `[rows, 3d]` output of a fused query/key/value projection. A [`Segment`] is
//! one sequence: its queries are `queries` consecutive rows from `start`, and they attend to the
//! first `keys` of those rows. Packed real steps (every row of a segment real) and right-padded
//! batches (the padded rows still query, but are never keys) are both segments, so no padded
//! key is ever computed; BERT's additive mask gives such keys weight exactly 0 in f32 anyway.
//!
//! Per segment and head, with `P = softmax(s·QKᵀ)` and the dropout mask `M` (scaled keeps):
//! `O = (P∘M)·V`; backward `dV = (P∘M)ᵀ·dO`, `dP = (dO·Vᵀ)∘M`,
//! `dS = P∘(dP − rowsum(dP∘P))`, `dQ = s·dS·K`, `dK = s·dSᵀ·Q`. The softmax probabilities are
//! kept from the forward pass for the backward one.

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::activation::exp_f32;
use super::blas::{MatRef, sgemm};
use super::{contiguous_f32, on_cpu_f32, output_buffer, run_parallel};
use crate::model::dropout::Dropout;
use crate::model::norm::softmax_last_dim;

/// One sequence of rows; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: usize,
    pub queries: usize,
    pub keys: usize,
}

/// Attention of `qkv` (`[rows, 3d]`: queries, keys, values side by side, `heads` heads each)
/// within each segment. Returns the `[rows, d]` context, zero on rows outside every segment.
/// `dropout` acts on the attention probabilities when `train`.
pub fn self_attention(
    qkv: &Tensor,
    heads: usize,
    segments: &[Segment],
    dropout: &Dropout,
    train: bool,
) -> Result<Tensor> {
    let (rows, width) = qkv.dims2()?;
    if heads == 0 || !width.is_multiple_of(3 * heads) {
        candle_core::bail!("attention: {width} columns do not split into query, key and value of {heads} heads")
    }
    let mut end = 0;
    for s in segments {
        if s.start < end || s.start + s.queries > rows || s.keys > s.queries {
            candle_core::bail!("attention: segment {s:?} overlaps another or leaves the {rows} rows")
        }
        end = s.start + s.queries;
    }
    if !on_cpu_f32(qkv) {
        return composed(qkv, heads, segments, dropout, train);
    }
    let block_sizes: Vec<usize> = segments.iter().map(|s| heads * s.queries * s.keys).collect();
    let mask = if train { dropout.sample_mask(block_sizes.iter().sum()) } else { None };
    let plan = Arc::new(Plan { heads, segments: segments.to_vec(), block_sizes, mask, probs: OnceLock::new() });
    qkv.contiguous()?.apply_op1(Attention(plan))
}

/// What the forward pass and its backward share.
struct Plan {
    heads: usize,
    segments: Vec<Segment>,
    /// `heads · queries · keys` of each segment: its share of `probs` and `mask`.
    block_sizes: Vec<usize>,
    /// Dropout mask over every probability, segment by segment, head by head, row-major.
    mask: Option<Vec<f32>>,
    /// The softmax probabilities of the forward pass, laid out as `mask`.
    probs: OnceLock<Vec<f32>>,
}

/// The per-head operands of one segment in the `[rows, 3d]` layout.
struct HeadView<'a> {
    qkv: &'a [f32],
    segment: Segment,
    d: usize,
    head_dim: usize,
}

impl<'a> HeadView<'a> {
    /// `part` 0, 1, 2: queries, keys, values of head `h`; `rows` of them.
    fn part(&self, part: usize, h: usize, rows: usize) -> Result<MatRef<'a>> {
        let offset = self.segment.start * 3 * self.d + part * self.d + h * self.head_dim;
        self.qkv
            .get(offset..)
            .and_then(|data| MatRef::new(data, rows, self.head_dim, 3 * self.d, 1))
            .ok_or_else(|| candle_core::Error::Msg("attention: segment out of range".to_owned()))
    }
}

/// Splits `buffer` into consecutive pieces of the given sizes.
fn split_sizes(mut buffer: &mut [f32], sizes: impl Iterator<Item = usize>) -> Vec<&mut [f32]> {
    sizes
        .map(|size| {
            let (piece, rest) = std::mem::take(&mut buffer).split_at_mut(size);
            buffer = rest;
            piece
        })
        .collect()
}

/// The rows of each segment in a row-major buffer of `width` columns.
fn segment_rows<'a>(buffer: &'a mut [f32], segments: &[Segment], width: usize) -> Vec<&'a mut [f32]> {
    let mut rest = buffer;
    let mut consumed = 0;
    let mut pieces = Vec::with_capacity(segments.len());
    for s in segments {
        let (_, tail) = std::mem::take(&mut rest).split_at_mut((s.start - consumed) * width);
        let (piece, tail) = tail.split_at_mut(s.queries * width);
        pieces.push(piece);
        rest = tail;
        consumed = s.start + s.queries;
    }
    pieces
}

fn softmax_rows(probs: &mut [f32], width: usize) {
    for row in probs.chunks_exact_mut(width.max(1)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for p in row.iter_mut() {
            *p = exp_f32(*p - max);
            sum += *p;
        }
        row.iter_mut().for_each(|p| *p /= sum);
    }
}

/// Collects the first error of parallel tasks.
#[derive(Default)]
struct FirstError(std::sync::Mutex<Option<candle_core::Error>>);

impl FirstError {
    fn keep(&self, result: Result<()>) {
        if let Err(e) = result {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(e);
        }
    }

    fn into_result(self) -> Result<()> {
        match self.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn blas(result: std::result::Result<(), super::blas::SgemmError>) -> Result<()> {
    result.map_err(candle_core::Error::wrap)
}

struct Attention(Arc<Plan>);

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "segment-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let plan = &self.0;
        let qkv = contiguous_f32(storage, layout, self.name())?;
        let (rows, width) = layout.shape().dims2()?;
        let d = width / 3;
        let head_dim = d / plan.heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let mut out = output_buffer(rows * d);
        let mut probs = output_buffer(plan.block_sizes.iter().sum());
        let tasks: Vec<_> = plan
            .segments
            .iter()
            .zip(segment_rows(&mut out, &plan.segments, d))
            .zip(split_sizes(&mut probs, plan.block_sizes.iter().copied()))
            .zip(mask_blocks(plan))
            .collect();
        let errors = FirstError::default();
        run_parallel(tasks, |(((&segment, out), probs), mask)| {
            errors.keep((|| {
                let view = HeadView { qkv, segment, d, head_dim };
                let (lq, lk) = (segment.queries, segment.keys);
                let mut dropped = vec![0.0f32; if mask.is_some() { lq * lk } else { 0 }];
                for (h, p) in probs.chunks_exact_mut((lq * lk).max(1)).enumerate().take(plan.heads) {
                    let (q, k, v) = (view.part(0, h, lq)?, view.part(1, h, lk)?, view.part(2, h, lk)?);
                    blas(sgemm(scale, q, k.t(), 0.0, p, lk))?;
                    softmax_rows(p, lk);
                    let weights = match mask {
                        Some(mask) => {
                            let m = &mask[h * lq * lk..(h + 1) * lq * lk];
                            dropped.iter_mut().zip(p.iter().zip(m)).for_each(|(x, (p, m))| *x = p * m);
                            &dropped[..]
                        }
                        None => &p[..],
                    };
                    let weights = MatRef::new(weights, lq, lk, lk, 1)
                        .ok_or_else(|| candle_core::Error::Msg("attention: probabilities too short".to_owned()))?;
                    blas(sgemm(1.0, weights, v, 0.0, &mut out[h * head_dim..], d))?;
                }
                Ok(())
            })());
        });
        errors.into_result()?;
        let _ = plan.probs.set(probs);
        Ok((CpuStorage::F32(out), Shape::from((rows, d))))
    }

    fn bwd(&self, qkv: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(qkv.apply_op2_no_bwd(&grad.contiguous()?, &AttentionBackward(self.0.clone()))?))
    }
}

/// Each segment's share of the dropout mask, or `None`s without dropout.
fn mask_blocks(plan: &Plan) -> Vec<Option<&[f32]>> {
    match &plan.mask {
        Some(mask) => {
            let mut rest = &mask[..];
            plan.block_sizes
                .iter()
                .map(|&size| {
                    let (block, tail) = rest.split_at(size);
                    rest = tail;
                    Some(block)
                })
                .collect()
        }
        None => vec![None; plan.segments.len()],
    }
}

/// `(qkv, dO)` → `dqkv`, from the probabilities the forward pass kept.
struct AttentionBackward(Arc<Plan>);

impl CustomOp2 for AttentionBackward {
    fn name(&self) -> &'static str {
        "segment-attention-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let plan = &self.0;
        let Some(all_probs) = plan.probs.get() else { candle_core::bail!("attention: backward before forward") };
        let qkv = contiguous_f32(s1, l1, self.name())?;
        let grad = contiguous_f32(s2, l2, self.name())?;
        let (rows, width) = l1.shape().dims2()?;
        let d = width / 3;
        let head_dim = d / plan.heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let mut dqkv = output_buffer(rows * width);
        let mut rest = &all_probs[..];
        let probs: Vec<&[f32]> = plan
            .block_sizes
            .iter()
            .map(|&size| {
                let (block, tail) = rest.split_at(size);
                rest = tail;
                block
            })
            .collect();
        let tasks: Vec<_> = plan
            .segments
            .iter()
            .zip(segment_rows(&mut dqkv, &plan.segments, width))
            .zip(probs)
            .zip(mask_blocks(plan))
            .collect();
        let errors = FirstError::default();
        run_parallel(tasks, |(((&segment, dqkv), probs), mask)| {
            errors.keep((|| {
                let view = HeadView { qkv, segment, d, head_dim };
                let (lq, lk) = (segment.queries, segment.keys);
                let mut dropped = vec![0.0f32; if mask.is_some() { lq * lk } else { 0 }];
                let mut dp = vec![0.0f32; lq * lk];
                let too_short = || candle_core::Error::Msg("attention: buffers too short".to_owned());
                for h in 0..plan.heads {
                    let (q, k, v) = (view.part(0, h, lq)?, view.part(1, h, lk)?, view.part(2, h, lk)?);
                    let p = &probs[h * lq * lk..(h + 1) * lq * lk];
                    let head_mask = mask.map(|m| &m[h * lq * lk..(h + 1) * lq * lk]);
                    let weights = match head_mask {
                        Some(m) => {
                            dropped.iter_mut().zip(p.iter().zip(m)).for_each(|(x, (p, m))| *x = p * m);
                            &dropped[..]
                        }
                        None => p,
                    };
                    let grad_out = grad
                        .get((segment.start * d + h * head_dim)..)
                        .and_then(|g| MatRef::new(g, lq, head_dim, d, 1))
                        .ok_or_else(too_short)?;
                    let weights = MatRef::new(weights, lq, lk, lk, 1).ok_or_else(too_short)?;
                    // dV = (P∘M)ᵀ·dO
                    blas(sgemm(1.0, weights.t(), grad_out, 0.0, &mut dqkv[2 * d + h * head_dim..], width))?;
                    // dP = (dO·Vᵀ)∘M, then dS = P∘(dP − rowsum(dP∘P)) in place.
                    blas(sgemm(1.0, grad_out, v.t(), 0.0, &mut dp, lk))?;
                    if let Some(m) = head_mask {
                        dp.iter_mut().zip(m).for_each(|(g, m)| *g *= m);
                    }
                    for (g, p) in dp.chunks_exact_mut(lk.max(1)).zip(p.chunks_exact(lk.max(1))) {
                        let dot: f32 = g.iter().zip(p).map(|(g, p)| g * p).sum();
                        g.iter_mut().zip(p).for_each(|(g, p)| *g = p * (*g - dot));
                    }
                    let ds = MatRef::new(&dp, lq, lk, lk, 1).ok_or_else(too_short)?;
                    blas(sgemm(scale, ds, k, 0.0, &mut dqkv[h * head_dim..], width))?;
                    blas(sgemm(scale, ds.t(), q, 0.0, &mut dqkv[d + h * head_dim..], width))?;
                }
                Ok(())
            })());
        });
        errors.into_result()?;
        Ok((CpuStorage::F32(dqkv), l1.shape().clone()))
    }
}

/// The same attention in candle's ops on a padded `[segments, longest, …]` layout, for other
/// devices (and as the reference the kernel is tested against).
pub(crate) fn composed(
    qkv: &Tensor,
    heads: usize,
    segments: &[Segment],
    dropout: &Dropout,
    train: bool,
) -> Result<Tensor> {
    let (rows, width) = qkv.dims2()?;
    let (d, batch) = (width / 3, segments.len());
    let head_dim = d / heads;
    let longest = segments.iter().map(|s| s.queries).max().unwrap_or(0);
    if batch == 0 || longest == 0 {
        return Tensor::zeros((rows, d), qkv.dtype(), qkv.device());
    }
    // Gather each segment's rows into [batch, longest] slots; empty slots read an appended zero row.
    let mut gather = vec![rows as u32; batch * longest];
    let mut key_mask = vec![0f32; batch * longest];
    let mut scatter = vec![(batch * longest) as u32; rows];
    for (b, s) in segments.iter().enumerate() {
        for t in 0..s.queries {
            gather[b * longest + t] = (s.start + t) as u32;
            scatter[s.start + t] = (b * longest + t) as u32;
            key_mask[b * longest + t] = if t < s.keys { 1.0 } else { 0.0 };
        }
    }
    let device = qkv.device();
    let gather = Tensor::from_vec(gather, batch * longest, device)?;
    let scatter = Tensor::from_vec(scatter, rows, device)?;
    let key_mask = Tensor::from_vec(key_mask, (batch, 1, 1, longest), device)?.to_dtype(qkv.dtype())?;
    let zero = Tensor::zeros((1, width), qkv.dtype(), device)?;
    let padded = Tensor::cat(&[qkv, &zero], 0)?.index_select(&gather, 0)?;
    let parts = padded.reshape((batch, longest, 3, heads, head_dim))?.permute((2, 0, 3, 1, 4))?.contiguous()?;
    let (q, k, v) = (parts.get(0)?, parts.get(1)?, parts.get(2)?);
    let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?;
    // Keys outside the segment: −∞ by adding f32::MIN (BERT's mask), weight exactly 0.
    let scores = scores.broadcast_add(&key_mask.affine(-f64::from(f32::MIN), f64::from(f32::MIN))?)?;
    let probs = dropout.forward(&softmax_last_dim(&scores)?, train)?;
    let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch * longest, d))?;
    let zero = Tensor::zeros((1, d), context.dtype(), device)?;
    Tensor::cat(&[&context, &zero], 0)?.index_select(&scatter, 0)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;
    use crate::model::dropout::MaskSource;

    fn segments() -> Vec<Segment> {
        // Packed steps, a right-padded sequence (keys < queries), a gap of rows, a single row.
        vec![
            Segment { start: 0, queries: 5, keys: 5 },
            Segment { start: 5, queries: 7, keys: 4 },
            Segment { start: 14, queries: 3, keys: 3 },
            Segment { start: 17, queries: 1, keys: 1 },
        ]
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn kernel_matches_the_composed_ops_with_gradients() {
        let qkv = Var::randn(0f32, 1.0, (19, 3 * 8), &Device::Cpu).unwrap();
        let off = Dropout::disabled();
        let ours = self_attention(qkv.as_tensor(), 2, &segments(), &off, true).unwrap();
        let theirs = composed(qkv.as_tensor(), 2, &segments(), &off, true).unwrap();
        assert!(max_diff(&ours, &theirs) < 1e-5, "values differ by {}", max_diff(&ours, &theirs));
        // Rows 12 and 13 belong to no segment.
        assert_eq!(ours.narrow(0, 12, 2).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
        let weights = Tensor::randn(0f32, 1.0, ours.shape(), &Device::Cpu).unwrap();
        let grad = |y: Tensor| (y * &weights).unwrap().sum_all().unwrap().backward().unwrap().remove(&qkv).unwrap();
        let diff = max_diff(&grad(ours), &grad(theirs));
        assert!(diff < 1e-4, "gradients differ by {diff}");
    }

    #[test]
    fn dropout_masks_the_probabilities_reproducibly() {
        let qkv = Var::randn(0f32, 1.0, (19, 3 * 8), &Device::Cpu).unwrap();
        let run = |seed| {
            let dropout = Dropout::new(0.5, &MaskSource::seeded(seed));
            self_attention(qkv.as_tensor(), 2, &segments(), &dropout, true).unwrap()
        };
        let (a, b, c) = (run(3), run(3), run(4));
        assert_eq!(max_diff(&a, &b), 0.0);
        assert!(max_diff(&a, &c) > 1e-3);
        let dropout = Dropout::new(0.5, &MaskSource::seeded(3));
        let eval = self_attention(qkv.as_tensor(), 2, &segments(), &dropout, false).unwrap();
        let plain = self_attention(qkv.as_tensor(), 2, &segments(), &Dropout::disabled(), true).unwrap();
        assert_eq!(max_diff(&eval, &plain), 0.0, "dropout acts only in training");
        // The gradient through dropped probabilities matches a finite difference.
        let x = qkv.as_tensor().to_vec2::<f32>().unwrap();
        let loss = |values: &[Vec<f32>]| {
            let t = Tensor::new(values.to_vec(), &Device::Cpu).unwrap();
            let dropout = Dropout::new(0.5, &MaskSource::seeded(3));
            self_attention(&t, 2, &segments(), &dropout, true).unwrap().sqr().unwrap().sum_all().unwrap()
        };
        let dropout = Dropout::new(0.5, &MaskSource::seeded(3));
        let y = self_attention(qkv.as_tensor(), 2, &segments(), &dropout, true).unwrap();
        let grads =
            y.sqr().unwrap().sum_all().unwrap().backward().unwrap().remove(&qkv).unwrap().to_vec2::<f32>().unwrap();
        for (row, col) in [(1, 0), (6, 9), (7, 20), (15, 3)] {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[row][col] += 1e-2;
            down[row][col] -= 1e-2;
            let numeric = (loss(&up).to_scalar::<f32>().unwrap() - loss(&down).to_scalar::<f32>().unwrap()) / 2e-2;
            assert!(
                (numeric - grads[row][col]).abs() < 2e-2 * numeric.abs().max(1.0),
                "({row}, {col}): {numeric} vs {}",
                grads[row][col]
            );
        }
    }

    #[test]
    fn overlapping_segments_are_refused() {
        let qkv = Tensor::zeros((6, 6), DType::F32, &Device::Cpu).unwrap();
        let segments = [Segment { start: 0, queries: 4, keys: 4 }, Segment { start: 3, queries: 2, keys: 2 }];
        let err = self_attention(&qkv, 1, &segments, &Dropout::disabled(), false).unwrap_err();
        assert!(err.to_string().contains("overlaps"), "{err}");
    }
}
