//! LayerNorm over the last dimension in one pass each way.
//!
//! Forward keeps each row's mean and reciprocal standard deviation; backward recomputes
//! `x̂ = (x − μ)·r` from them and returns, per row,
//! `dx = r·(g − mean(g) − x̂·mean(g·x̂))` with `g = dy·γ`, and over all rows `dγ = Σ dy·x̂`,
//! `dβ = Σ dy`.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::{contiguous_f32, on_cpu_f32, output_buffer, pool_threads, run_parallel};

/// Rows per task: enough to amortise handing out the task.
const ROWS_PER_TASK: usize = 64;

/// `(x − mean) / sqrt(var + eps) · γ + β` over the last dimension of `xs`.
pub fn layer_norm(xs: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    if !(on_cpu_f32(xs) && on_cpu_f32(gamma) && on_cpu_f32(beta)) {
        return composed(xs, gamma, beta, eps);
    }
    let size = xs.dim(candle_core::D::Minus1)?;
    if gamma.dims1()? != size || beta.dims1()? != size {
        candle_core::bail!("layer norm: features of size {size}, but γ {:?} and β {:?}", gamma.dims(), beta.dims())
    }
    xs.contiguous()?.apply_op3(
        &gamma.contiguous()?,
        &beta.contiguous()?,
        LayerNormOp { eps: eps as f32, stats: OnceLock::new() },
    )
}

/// The same maths in candle's differentiable ops, for other devices and dtypes.
pub(crate) fn composed(xs: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = xs.mean_keepdim(candle_core::D::Minus1)?;
    let centred = xs.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(candle_core::D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(gamma)?.broadcast_add(beta)
}

struct LayerNormOp {
    eps: f32,
    /// `(mean, 1 / std)` of each row, from the forward pass.
    stats: OnceLock<Vec<(f32, f32)>>,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(s1, l1, self.name())?;
        let gamma = contiguous_f32(s2, l2, self.name())?;
        let beta = contiguous_f32(s3, l3, self.name())?;
        let size = gamma.len().max(1);
        let mut out = output_buffer(xs.len());
        let mut stats = vec![(0.0f32, 0.0f32); xs.len() / size];
        let chunk = ROWS_PER_TASK * size;
        let tasks: Vec<_> = xs.chunks(chunk).zip(out.chunks_mut(chunk)).zip(stats.chunks_mut(ROWS_PER_TASK)).collect();
        run_parallel(tasks, |((xs, out), stats)| {
            for ((x, y), stat) in xs.chunks_exact(size).zip(out.chunks_exact_mut(size)).zip(stats) {
                let mean = x.iter().sum::<f32>() / size as f32;
                let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / size as f32;
                let rstd = 1.0 / (var + self.eps).sqrt();
                for (((y, &x), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
                    *y = (x - mean) * rstd * g + b;
                }
                *stat = (mean, rstd);
            }
        });
        // A second forward through the same op would be a bug upstream; the first stats stay.
        let _ = self.stats.set(stats);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(stats) = self.stats.get() else { candle_core::bail!("layer norm: backward before forward") };
        let size = gamma.elem_count();
        let rows = xs.elem_count() / size.max(1);
        let backward = LayerNormBackward { stats: stats.clone() };
        // One buffer: rows of dx, then dγ, then dβ.
        let all = xs.apply_op3_no_bwd(gamma, &grad.contiguous()?, &backward)?;
        let grad_xs = all.narrow(0, 0, rows)?.reshape(xs.shape())?;
        let grad_gamma = all.get(rows)?;
        let grad_beta = all.get(rows + 1)?;
        Ok((Some(grad_xs), Some(grad_gamma), Some(grad_beta)))
    }
}

struct LayerNormBackward {
    stats: Vec<(f32, f32)>,
}

impl CustomOp3 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "layer-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(s1, l1, self.name())?;
        let gamma = contiguous_f32(s2, l2, self.name())?;
        let grad = contiguous_f32(s3, l3, self.name())?;
        let size = gamma.len().max(1);
        let rows = xs.len() / size;
        let mut out = output_buffer((rows + 2) * size);
        let (grad_xs, params) = out.split_at_mut(rows * size);
        let chunk = ROWS_PER_TASK.max(rows.div_ceil(4 * pool_threads())) * size;
        // Each task sums dγ and dβ over its rows into its own slot; the slots are added in task
        // order afterwards, so the result does not depend on which thread finished first.
        let mut partials = vec![0.0f32; rows.div_ceil(chunk / size).max(1) * 2 * size];
        let tasks: Vec<_> = xs
            .chunks(chunk)
            .zip(grad.chunks(chunk))
            .zip(grad_xs.chunks_mut(chunk))
            .zip(self.stats.chunks(chunk / size))
            .zip(partials.chunks_mut(2 * size))
            .collect();
        run_parallel(tasks, |((((xs, dys), dxs), stats), partial)| {
            let (dgamma, dbeta) = partial.split_at_mut(size);
            let mut normed = vec![0.0f32; size];
            for (((x, dy), dx), &(mean, rstd)) in
                xs.chunks_exact(size).zip(dys.chunks_exact(size)).zip(dxs.chunks_exact_mut(size)).zip(stats)
            {
                let (mut mean_g, mut mean_gx) = (0.0f32, 0.0f32);
                for ((n, &x), (&dy, &g)) in normed.iter_mut().zip(x).zip(dy.iter().zip(gamma)) {
                    *n = (x - mean) * rstd;
                    mean_g += dy * g;
                    mean_gx += dy * g * *n;
                }
                mean_g /= size as f32;
                mean_gx /= size as f32;
                for ((((d, &n), &dy), &g), (dg, db)) in
                    dx.iter_mut().zip(&normed).zip(dy).zip(gamma).zip(dgamma.iter_mut().zip(dbeta.iter_mut()))
                {
                    *d = rstd * (dy * g - mean_g - n * mean_gx);
                    *dg += dy * n;
                    *db += dy;
                }
            }
        });
        for partial in partials.chunks_exact(2 * size) {
            params.iter_mut().zip(partial).for_each(|(s, x)| *s += x);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 2, size))))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn values_and_gradients_match_the_composed_form() {
        let dev = Device::Cpu;
        let xs = Var::randn(0f32, 2.0, (3, 70, 24), &dev).unwrap();
        let gamma = Var::randn(1f32, 0.3, 24, &dev).unwrap();
        let beta = Var::randn(0f32, 0.3, 24, &dev).unwrap();
        let args = (xs.as_tensor(), gamma.as_tensor(), beta.as_tensor());
        let ours = layer_norm(args.0, args.1, args.2, 1e-12).unwrap();
        let theirs = composed(args.0, args.1, args.2, 1e-12).unwrap();
        let max_diff = |a: &Tensor, b: &Tensor| {
            (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
        };
        assert!(max_diff(&ours, &theirs) < 1e-5);
        let weights = Tensor::randn(0f32, 1.0, ours.shape(), &dev).unwrap();
        let grads = |y: Tensor| (y * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        let (g_ours, g_theirs) = (grads(ours), grads(theirs));
        for var in [&xs, &gamma, &beta] {
            let diff = max_diff(g_ours.get(var).unwrap(), g_theirs.get(var).unwrap());
            assert!(diff < 1e-4, "gradient differs by {diff}");
        }
    }
}
