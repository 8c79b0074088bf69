//! Softmax-weighted sums over segments of rows, the last step of additive attention pooling:
//! per segment, `α = softmax(s)` over its rows and `out = Σ_t α_t·h_t`.
//!
//! Backward: `dh_t = α_t·dout`, and with `g_t = h_t·dout`, `ds_t = α_t·(g_t − Σ_u α_u·g_u)`.

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::activation::exp_f32;
use super::attention::Segment;
use super::{contiguous_f32, on_cpu_f32, output_buffer, run_parallel};

/// Pools `values` (`[N, d]`) with weights `softmax(scores)` (`[N]`) within each segment's rows
/// (`start..start + queries`). Returns `[segments, d]`; a segment without rows pools to zeros.
pub fn segment_softmax_pool(scores: &Tensor, values: &Tensor, segments: &[Segment]) -> Result<Tensor> {
    pool(scores, values, segments, false).map(|(pooled, _)| pooled)
}

/// [`segment_softmax_pool`] that also hands back the weight α of each of the N rows: the very
/// numbers the pooling summed with (0 for a row outside every segment).
pub fn segment_softmax_pool_weights(
    scores: &Tensor,
    values: &Tensor,
    segments: &[Segment],
) -> Result<(Tensor, Vec<f32>)> {
    let (pooled, weights) = pool(scores, values, segments, true)?;
    let Some(weights) = weights else { candle_core::bail!("pooling: the weights were not kept") };
    Ok((pooled, weights))
}

fn pool(scores: &Tensor, values: &Tensor, segments: &[Segment], keep: bool) -> Result<(Tensor, Option<Vec<f32>>)> {
    let (rows, _) = values.dims2()?;
    if scores.dims1()? != rows {
        candle_core::bail!("pooling: {} scores for {rows} rows", scores.elem_count())
    }
    let mut end = 0;
    for s in segments {
        if s.start < end || s.start + s.queries > rows {
            candle_core::bail!("pooling: segment {s:?} overlaps another or leaves the {rows} rows")
        }
        end = s.start + s.queries;
    }
    if !(on_cpu_f32(scores) && on_cpu_f32(values)) {
        let (pooled, padded) = composed_with_weights(scores, values, segments)?;
        if !keep {
            return Ok((pooled, None));
        }
        let padded = padded.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
        return Ok((pooled, Some(unpad(&padded, segments, rows))));
    }
    let shared = Arc::new(Shared { segments: segments.to_vec(), weights: OnceLock::new() });
    let pooled = scores.contiguous()?.apply_op2(&values.contiguous()?, Pool(shared.clone()))?;
    Ok((pooled, if keep { shared.weights.get().cloned() } else { None }))
}

struct Shared {
    segments: Vec<Segment>,
    /// The softmax weights of every row, from the forward pass (0 outside the segments).
    weights: OnceLock<Vec<f32>>,
}

struct Pool(Arc<Shared>);

impl CustomOp2 for Pool {
    fn name(&self) -> &'static str {
        "segment-softmax-pool"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let scores = contiguous_f32(s1, l1, self.name())?;
        let values = contiguous_f32(s2, l2, self.name())?;
        let (_, d) = l2.shape().dims2()?;
        let segments = &self.0.segments;
        let mut out = output_buffer(segments.len() * d);
        let mut weights = output_buffer(scores.len());
        let mut rest = &mut weights[..];
        let mut consumed = 0;
        let mut tasks = Vec::with_capacity(segments.len());
        for (segment, pooled) in segments.iter().zip(out.chunks_mut(d.max(1))) {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(segment.start - consumed);
            let (alpha, tail) = tail.split_at_mut(segment.queries);
            rest = tail;
            consumed = segment.start + segment.queries;
            tasks.push((segment, pooled, alpha));
        }
        run_parallel(tasks, |(segment, pooled, alpha)| {
            let rows = segment.start..segment.start + segment.queries;
            let s = &scores[rows.clone()];
            let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            alpha.iter_mut().zip(s).for_each(|(a, s)| *a = exp_f32(s - max));
            let sum: f32 = alpha.iter().sum();
            alpha.iter_mut().for_each(|a| *a /= sum);
            for (a, h) in alpha.iter().zip(values[rows.start * d..rows.end * d].chunks_exact(d)) {
                pooled.iter_mut().zip(h).for_each(|(o, h)| *o += a * h);
            }
        });
        let _ = self.0.weights.set(weights);
        Ok((CpuStorage::F32(out), Shape::from((segments.len(), d))))
    }

    fn bwd(
        &self,
        scores: &Tensor,
        values: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, d) = values.dims2()?;
        // One buffer: dvalues (rows·d), then dscores (rows).
        let all = values.apply_op3_no_bwd(&grad.contiguous()?, scores, &PoolBackward(self.0.clone()))?;
        let grad_values = all.narrow(0, 0, rows * d)?.reshape((rows, d))?;
        let grad_scores = all.narrow(0, rows * d, rows)?;
        Ok((Some(grad_scores), Some(grad_values)))
    }
}

/// `(values, dout, scores)` → `[dvalues…, dscores…]`.
struct PoolBackward(Arc<Shared>);

impl CustomOp3 for PoolBackward {
    fn name(&self) -> &'static str {
        "segment-softmax-pool-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        _s3: &CpuStorage,
        _l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let Some(weights) = self.0.weights.get() else { candle_core::bail!("pooling: backward before forward") };
        let values = contiguous_f32(s1, l1, self.name())?;
        let grad = contiguous_f32(s2, l2, self.name())?;
        let (rows, d) = l1.shape().dims2()?;
        let mut out = output_buffer(rows * d + rows);
        let (grad_values, grad_scores) = out.split_at_mut(rows * d);
        let segments = &self.0.segments;
        let mut tasks = Vec::with_capacity(segments.len());
        let (mut values_rest, mut scores_rest, mut consumed) = (&mut grad_values[..], &mut grad_scores[..], 0);
        for (segment, dout) in segments.iter().zip(grad.chunks(d.max(1))) {
            let skip = segment.start - consumed;
            let (_, tail) = std::mem::take(&mut values_rest).split_at_mut(skip * d);
            let (dv, tail) = tail.split_at_mut(segment.queries * d);
            values_rest = tail;
            let (_, tail) = std::mem::take(&mut scores_rest).split_at_mut(skip);
            let (ds, tail) = tail.split_at_mut(segment.queries);
            scores_rest = tail;
            consumed = segment.start + segment.queries;
            tasks.push((segment, dout, dv, ds));
        }
        run_parallel(tasks, |(segment, dout, dv, ds)| {
            let rows = segment.start..segment.start + segment.queries;
            let alpha = &weights[rows.clone()];
            let h = &values[rows.start * d..rows.end * d];
            for ((a, dv), (g, h)) in alpha.iter().zip(dv.chunks_exact_mut(d)).zip(ds.iter_mut().zip(h.chunks_exact(d)))
            {
                dv.iter_mut().zip(dout).for_each(|(dv, o)| *dv = a * o);
                *g = h.iter().zip(dout).map(|(h, o)| h * o).sum();
            }
            let mean: f32 = alpha.iter().zip(ds.iter()).map(|(a, g)| a * g).sum();
            ds.iter_mut().zip(alpha).for_each(|(g, a)| *g = a * (*g - mean));
        });
        Ok((CpuStorage::F32(out), Shape::from(rows * d + rows)))
    }
}

/// The same pooling in candle's ops on a padded `[segments, longest]` layout, for other devices
/// (and as the reference the kernel is tested against).
#[cfg(test)]
pub(crate) fn composed(scores: &Tensor, values: &Tensor, segments: &[Segment]) -> Result<Tensor> {
    composed_with_weights(scores, values, segments).map(|(pooled, _)| pooled)
}

/// Per-segment rows of weights (`[segments, longest]`) back onto the `rows` packed rows.
fn unpad(padded: &[Vec<f32>], segments: &[Segment], rows: usize) -> Vec<f32> {
    let mut weights = vec![0.0f32; rows];
    for (s, row) in segments.iter().zip(padded) {
        weights[s.start..s.start + s.queries].copy_from_slice(&row[..s.queries]);
    }
    weights
}

/// [`composed`] and its `[segments, longest]` weights.
fn composed_with_weights(scores: &Tensor, values: &Tensor, segments: &[Segment]) -> Result<(Tensor, Tensor)> {
    let (rows, d) = values.dims2()?;
    let batch = segments.len();
    let longest = segments.iter().map(|s| s.queries).max().unwrap_or(0).max(1);
    let mut gather = vec![rows as u32; batch * longest];
    let mut mask = vec![0f32; batch * longest];
    for (b, s) in segments.iter().enumerate() {
        for t in 0..s.queries {
            gather[b * longest + t] = (s.start + t) as u32;
            mask[b * longest + t] = 1.0;
        }
    }
    let device = values.device();
    let gather = Tensor::from_vec(gather, batch * longest, device)?;
    let mask = Tensor::from_vec(mask, (batch, longest), device)?.to_dtype(scores.dtype())?;
    let zero_score = Tensor::zeros(1, scores.dtype(), device)?;
    let padded_scores = Tensor::cat(&[scores, &zero_score], 0)?.index_select(&gather, 0)?.reshape((batch, longest))?;
    // m·s + (1 − m)·(−1e9): padded slots get weight exactly 0.
    let masked = ((padded_scores * &mask)? + mask.affine(1e9, -1e9)?)?;
    let weights = candle_nn::ops::softmax(&masked, candle_core::D::Minus1)?;
    let zero_row = Tensor::zeros((1, d), values.dtype(), device)?;
    let padded_values = Tensor::cat(&[values, &zero_row], 0)?.index_select(&gather, 0)?.reshape((batch, longest, d))?;
    let pooled = weights.unsqueeze(1)?.matmul(&padded_values)?.squeeze(1)?;
    Ok((pooled, weights))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn kernel_matches_the_composed_ops_with_gradients() {
        let segments = [
            Segment { start: 0, queries: 4, keys: 4 },
            Segment { start: 4, queries: 0, keys: 0 },
            Segment { start: 6, queries: 3, keys: 3 },
        ];
        let scores = Var::randn(0f32, 2.0, 9, &Device::Cpu).unwrap();
        let values = Var::randn(0f32, 1.0, (9, 5), &Device::Cpu).unwrap();
        let ours = segment_softmax_pool(scores.as_tensor(), values.as_tensor(), &segments).unwrap();
        let theirs = composed(scores.as_tensor(), values.as_tensor(), &segments).unwrap();
        let max_diff = |a: &Tensor, b: &Tensor| {
            (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
        };
        assert!(max_diff(&ours, &theirs) < 1e-6);
        let (pooled, alpha) = segment_softmax_pool_weights(scores.as_tensor(), values.as_tensor(), &segments).unwrap();
        assert_eq!(max_diff(&pooled, &ours), 0.0);
        let (_, padded) = composed_with_weights(scores.as_tensor(), values.as_tensor(), &segments).unwrap();
        let theirs_alpha = unpad(&padded.to_vec2::<f32>().unwrap(), &segments, 9);
        for (a, b) in alpha.iter().zip(&theirs_alpha) {
            assert!((a - b).abs() < 1e-6, "kernel weight {a}, composed {b}");
        }
        for s in &segments {
            let sum: f32 = alpha[s.start..s.start + s.queries].iter().sum();
            assert!(s.queries == 0 || (sum - 1.0).abs() < 1e-6, "segment {s:?} weights sum to {sum}");
        }
        assert_eq!(&alpha[4..6], &[0.0, 0.0], "rows outside every segment get no weight");
        assert_eq!(ours.get(1).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
        let weights = Tensor::randn(0f32, 1.0, (3, 5), &Device::Cpu).unwrap();
        let grads = |y: Tensor| (y * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        let (g_ours, g_theirs) = (grads(ours), grads(theirs));
        for var in [&scores, &values] {
            let diff = max_diff(g_ours.get(var).unwrap(), g_theirs.get(var).unwrap());
            assert!(diff < 1e-5, "gradient differs by {diff}");
        }
    }
}
