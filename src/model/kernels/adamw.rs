//! The AdamW update in place: two passes over memory per parameter (moments, then weights)
//! where candle's tensor ops take a dozen, each with a fresh result buffer; and the squared
//! norm of a gradient in one pass, for clipping.

use candle_core::{CpuStorage, CustomOp1, InplaceOp2, Layout, Result, Shape, Tensor, Var};

use super::{contiguous_f32, on_cpu_f32, run_parallel};

/// Elements per task of the parallel passes.
const CHUNK: usize = 1 << 15;

/// One AdamW update's numbers (PyTorch's `AdamW`: decoupled weight decay, bias-corrected
/// moments).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWUpdate {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// `1 − β₁ᵗ` and `1 − β₂ᵗ` at this step.
    pub correction1: f64,
    pub correction2: f64,
    /// Factor on the gradient (global-norm clipping).
    pub grad_scale: f64,
}

/// `Σ x²` over the elements of `xs`.
pub fn sum_of_squares(xs: &Tensor) -> Result<f64> {
    if !on_cpu_f32(xs) {
        return Ok(f64::from(xs.sqr()?.sum_all()?.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?));
    }
    xs.contiguous()?.apply_op1_no_bwd(&SumOfSquares)?.to_scalar::<f64>()
}

/// Updates `moments` (`[2, n]`: the first moment, then the second, of `param`'s n elements) and
/// then `param` from `grad`.
pub fn adamw_step(param: &Var, moments: &Var, grad: &Tensor, update: &AdamWUpdate) -> Result<()> {
    let n = param.elem_count();
    if moments.dims() != [2, n] || grad.elem_count() != n {
        candle_core::bail!(
            "adamw: parameter {:?}, moments {:?} and gradient {:?} disagree",
            param.dims(),
            moments.dims(),
            grad.dims()
        )
    }
    if on_cpu_f32(param) && on_cpu_f32(moments) && on_cpu_f32(grad) {
        moments.inplace_op2(&grad.contiguous()?, &UpdateMoments(*update))?;
        return param.inplace_op2(moments.as_tensor(), &ApplyUpdate(*update));
    }
    let u = update;
    let grad = (grad.flatten_all()? * u.grad_scale)?;
    let m = ((moments.get(0)? * u.beta1)? + (&grad * (1.0 - u.beta1))?)?;
    let v = ((moments.get(1)? * u.beta2)? + (grad.sqr()? * (1.0 - u.beta2))?)?;
    let step = ((&m / u.correction1)? / ((&v / u.correction2)?.sqrt()? + u.eps)?)?;
    let decayed = (param.as_tensor() * (1.0 - u.lr * u.weight_decay))?;
    param.set(&(decayed - (step.reshape(param.shape())? * u.lr)?)?)?;
    moments.set(&Tensor::stack(&[&m, &v], 0)?)
}

struct SumOfSquares;

impl CustomOp1 for SumOfSquares {
    fn name(&self) -> &'static str {
        "sum-of-squares"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(storage, layout, self.name())?;
        // f64 partial sums per chunk, added in order: the same result on any thread count.
        let sum: f64 = xs.chunks(CHUNK).map(|c| c.iter().map(|&x| f64::from(x * x)).sum::<f64>()).sum();
        Ok((CpuStorage::F64(vec![sum]), Shape::from(())))
    }
}

/// `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²` with `g = grad_scale · grad`.
struct UpdateMoments(AdamWUpdate);

impl InplaceOp2 for UpdateMoments {
    fn name(&self) -> &'static str {
        "adamw-moments"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let u = &self.0;
        let grad = contiguous_f32(s2, l2, self.name())?;
        let CpuStorage::F32(moments) = s1 else { candle_core::bail!("{}: expected f32 moments", self.name()) };
        let Some((start, end)) = l1.contiguous_offsets() else {
            candle_core::bail!("{}: moments not contiguous", self.name())
        };
        let (m, v) = moments[start..end].split_at_mut(grad.len());
        let (b1, b2, scale) = (u.beta1 as f32, u.beta2 as f32, u.grad_scale as f32);
        let tasks: Vec<_> = m.chunks_mut(CHUNK).zip(v.chunks_mut(CHUNK)).zip(grad.chunks(CHUNK)).collect();
        run_parallel(tasks, |((m, v), grad)| {
            for ((m, v), &g) in m.iter_mut().zip(v.iter_mut()).zip(grad) {
                let g = g * scale;
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
            }
        });
        Ok(())
    }
}

/// `θ ← θ·(1 − lr·wd) − lr · (m / c₁) / (√(v / c₂) + ε)`.
struct ApplyUpdate(AdamWUpdate);

impl InplaceOp2 for ApplyUpdate {
    fn name(&self) -> &'static str {
        "adamw-apply"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let u = &self.0;
        let moments = contiguous_f32(s2, l2, self.name())?;
        let CpuStorage::F32(params) = s1 else { candle_core::bail!("{}: expected an f32 parameter", self.name()) };
        let Some((start, end)) = l1.contiguous_offsets() else {
            candle_core::bail!("{}: parameter not contiguous", self.name())
        };
        let params = &mut params[start..end];
        let (m, v) = moments.split_at(params.len());
        let decay = (1.0 - u.lr * u.weight_decay) as f32;
        let (lr, eps) = (u.lr as f32, u.eps as f32);
        let (c1, c2) = (1.0 / u.correction1 as f32, 1.0 / u.correction2 as f32);
        let tasks: Vec<_> = params.chunks_mut(CHUNK).zip(m.chunks(CHUNK)).zip(v.chunks(CHUNK)).collect();
        run_parallel(tasks, |((params, m), v)| {
            for ((p, &m), &v) in params.iter_mut().zip(m).zip(v) {
                *p = *p * decay - lr * (m * c1) / ((v * c2).sqrt() + eps);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn in_place_update_matches_the_tensor_formula() {
        let dev = Device::Cpu;
        let update = AdamWUpdate {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            correction1: 1.0 - 0.9f64.powi(3),
            correction2: 1.0 - 0.999f64.powi(3),
            grad_scale: 0.5,
        };
        let param = Tensor::randn(0f32, 1.0, (300, 200), &dev).unwrap();
        let moments = Tensor::rand(0f32, 1.0, (2, 60_000), &dev).unwrap();
        let grad = Tensor::randn(0f32, 1.0, (300, 200), &dev).unwrap();
        let (p1, m1) = (Var::from_tensor(&param).unwrap(), Var::from_tensor(&moments).unwrap());
        adamw_step(&p1, &m1, &grad, &update).unwrap();
        // The composed path, forced by a dtype the kernels do not take.
        let as_f64 = |t: &Tensor| Var::from_tensor(&t.to_dtype(candle_core::DType::F64).unwrap()).unwrap();
        let (p2, m2) = (as_f64(&param), as_f64(&moments));
        adamw_step(&p2, &m2, &grad.to_dtype(candle_core::DType::F64).unwrap(), &update).unwrap();
        let diff = |a: &Var, b: &Var| {
            let b = b.as_tensor().to_dtype(candle_core::DType::F32).unwrap();
            (a.as_tensor() - b)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(diff(&p1, &p2) < 1e-5, "parameters differ by {}", diff(&p1, &p2));
        assert!(diff(&m1, &m2) < 1e-6, "moments differ by {}", diff(&m1, &m2));
    }

    #[test]
    fn sum_of_squares_is_exact_enough() {
        let xs = Tensor::arange(0f32, 1000.0, &Device::Cpu).unwrap();
        assert_eq!(sum_of_squares(&xs).unwrap(), 332_833_500.0);
    }
}
