//! Activations that are fast on the CPU: GELU in its exact (erf) form, `x · Φ(x)`, and tanh.
//!
//! candle evaluates libm's scalar `erff` and `tanhf` element by element (an `exp` each), and
//! its GELU backward pass composes ten tensor ops, one of them another `erf`: together over a
//! tenth of an inference profile. Here `erf` and `tanh` are rational approximations that the
//! compiler vectorises (the minimax odd/even polynomial pairs that Eigen and XLA use for f32;
//! absolute error below 5e-7 on all of ℝ, see the tests), and the GELU backward pass is one fused
//! pass for `Φ(x) + x·φ(x)` and one product, both split over candle's CPU pool. Other devices
//! and dtypes take candle's ops. [`super::matmul::linear`] applies the same functions to its
//! output in place.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Result, Shape, Tensor};

use super::{contiguous_f32, output_buffer, run_parallel};

/// Elements per task of the parallel maps.
const CHUNK: usize = 1 << 14;

/// The element-wise nonlinearities with fast CPU forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x · Φ(x)`, GELU in its exact (erf) form.
    GeluErf,
    Tanh,
}

impl Activation {
    #[inline(always)]
    pub(super) fn apply(self, x: f32) -> f32 {
        match self {
            Self::GeluErf => x * normal_cdf(x),
            Self::Tanh => tanh_f32(x),
        }
    }

    /// The derivative at input `x` whose output was `y`.
    #[inline(always)]
    pub(super) fn slope(self, x: f32, y: f32) -> f32 {
        // 1/√(2π)
        const NORMAL_PDF_SCALE: f32 = 0.398_942_3;
        match self {
            // Φ(x) + x·φ(x)
            Self::GeluErf => normal_cdf(x) + x * NORMAL_PDF_SCALE * exp_f32(-0.5 * x * x),
            // 1 − tanh²(x)
            Self::Tanh => 1.0 - y * y,
        }
    }

    /// Whether [`Self::slope`] reads the input (else only the output).
    pub(super) fn slope_needs_input(self) -> bool {
        self == Self::GeluErf
    }

    /// The same function in candle's ops.
    fn composed(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::GeluErf => xs.gelu_erf(),
            Self::Tanh => xs.tanh(),
        }
    }

    /// `xs` through the activation, differentiable.
    pub fn forward(self, xs: &Tensor) -> Result<Tensor> {
        if !xs.device().is_cpu() || xs.dtype() != DType::F32 {
            return self.composed(xs);
        }
        xs.contiguous()?.apply_op1(Forward(self))
    }
}

/// `x · Φ(x)` with `Φ(x) = (1 + erf(x / √2)) / 2`, differentiable.
pub fn gelu_erf(xs: &Tensor) -> Result<Tensor> {
    Activation::GeluErf.forward(xs)
}

/// `tanh(x)`, differentiable.
pub fn tanh(xs: &Tensor) -> Result<Tensor> {
    Activation::Tanh.forward(xs)
}

/// tanh(x) for f32, from a rational function of x on [-c, c], where c is the point past which
/// f32 tanh is ±1.
#[inline(always)]
fn tanh_f32(x: f32) -> f32 {
    const NUMERATOR: [f32; 7] =
        [4.893_524_6e-3, 6.372_619_3e-4, 1.485_722_4e-5, 5.122_297e-8, -8.604_672e-11, 2.000_188e-13, -2.760_768_5e-16];
    const DENOMINATOR: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    const SATURATION: f32 = 7.905_311;
    odd_rational(x.clamp(-SATURATION, SATURATION), &NUMERATOR, &DENOMINATOR)
}

/// erf(x) for f32, from a rational function of x on [-4, 4] (±1 outside, as in f32 anyway).
#[inline(always)]
fn erf(x: f32) -> f32 {
    const NUMERATOR: [f32; 7] = [
        -1.609_603_3e-2,
        -2.954_6e-3,
        -7.349_906_3e-4,
        -5.692_506_4e-5,
        -2.101_024e-6,
        2.770_681_4e-8,
        -2.726_142_3e-10,
    ];
    const DENOMINATOR: [f32; 5] = [-1.426_473_9e-2, -7.373_329e-3, -1.682_827e-3, -2.133_740_6e-4, -1.456_607_2e-5];
    odd_rational(x.clamp(-4.0, 4.0), &NUMERATOR, &DENOMINATOR)
}

/// `x · P(x²) / Q(x²)`, the coefficients in increasing powers of x².
#[inline(always)]
fn odd_rational(x: f32, numerator: &[f32], denominator: &[f32]) -> f32 {
    let x2 = x * x;
    let horner = |coefficients: &[f32]| coefficients.iter().rev().fold(0.0f32, |acc, &c| acc * x2 + c);
    x * horner(numerator) / horner(denominator)
}

/// eˣ for f32 within 2 ulp (Cephes' `expf`: reduction by ln 2, a degree-5 polynomial, the
/// exponent set through the bits) in operations the compiler vectorises, where libm's `expf` is
/// one call per element. Below −87.3 (where eˣ leaves the normal range) it returns e^−87.3.
#[inline(always)]
pub(super) fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    const P: [f32; 6] = [1.987_569_2e-4, 1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];
    let x = x.clamp(-87.336_54, 88.376_26);
    let k = (x * LOG2_E + ROUND) - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = P.iter().fold(0.0f32, |acc, &c| acc * r + c);
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

/// Φ(x), the standard normal CDF.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Applies `activation` to every element of `values` in place, over the CPU pool.
pub(super) fn apply_in_place(values: &mut [f32], activation: Activation) {
    fn map(values: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
        run_parallel(values.chunks_mut(CHUNK).collect(), |chunk| chunk.iter_mut().for_each(|x| *x = f(*x)));
    }
    // One loop per activation, so each compiles to straight vector code.
    match activation {
        Activation::GeluErf => map(values, |x| Activation::GeluErf.apply(x)),
        Activation::Tanh => map(values, |x| Activation::Tanh.apply(x)),
    }
}

/// `grad · activation′` element by element: `inputs` are the activation's inputs (ignored
/// when the slope needs only the outputs), `outputs` its outputs.
fn backward(grad: &[f32], inputs: &[f32], outputs: &[f32], activation: Activation) -> Vec<f32> {
    let mut out = output_buffer(grad.len());
    let tasks: Vec<_> =
        out.chunks_mut(CHUNK).zip(grad.chunks(CHUNK)).zip(inputs.chunks(CHUNK)).zip(outputs.chunks(CHUNK)).collect();
    // One loop per activation, so each compiles to straight vector code.
    match activation {
        Activation::GeluErf => run_parallel(tasks, |(((out, grad), inputs), _)| {
            for ((o, &g), &x) in out.iter_mut().zip(grad).zip(inputs) {
                *o = g * Activation::GeluErf.slope(x, 0.0);
            }
        }),
        Activation::Tanh => run_parallel(tasks, |(((out, grad), _), outputs)| {
            for ((o, &g), &y) in out.iter_mut().zip(grad).zip(outputs) {
                *o = g * Activation::Tanh.slope(0.0, y);
            }
        }),
    }
    out
}

struct Forward(Activation);

impl CustomOp1 for Forward {
    fn name(&self) -> &'static str {
        match self.0 {
            Activation::GeluErf => "gelu-erf-fast",
            Activation::Tanh => "tanh-fast",
        }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut out = contiguous_f32(storage, layout, self.name())?.to_vec();
        apply_in_place(&mut out, self.0);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad_res.contiguous()?.apply_op3_no_bwd(&arg.contiguous()?, &res.contiguous()?, &Backward(self.0))?))
    }
}

/// `(grad, input, output)` → `grad · activation′`.
pub(super) struct Backward(pub(super) Activation);

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "activation-backward"
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
        let grad = contiguous_f32(s1, l1, self.name())?;
        let (inputs, outputs) = (contiguous_f32(s2, l2, self.name())?, contiguous_f32(s3, l3, self.name())?);
        Ok((CpuStorage::F32(backward(grad, inputs, outputs, self.0)), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn grid() -> Vec<f32> {
        (-12_000..=12_000).map(|i| i as f32 / 1000.0).collect()
    }

    #[test]
    fn erf_is_within_5e7_of_the_exact_value() {
        let xs = grid();
        let exact: Vec<f64> =
            Tensor::new(xs.iter().map(|&x| f64::from(x)).collect::<Vec<_>>().as_slice(), &Device::Cpu)
                .and_then(|t| t.erf())
                .and_then(|t| t.to_vec1())
                .unwrap();
        let worst = xs.iter().zip(&exact).map(|(&x, &e)| (f64::from(erf(x)) - e).abs()).fold(0.0, f64::max);
        assert!(worst < 5e-7, "max |erf error| = {worst}");
    }

    /// Largest differences (values, gradients) between `ours` and candle's `theirs` over the grid.
    fn differences(ours: impl Fn(&Tensor) -> Result<Tensor>, theirs: impl Fn(&Tensor) -> Result<Tensor>) -> (f32, f32) {
        let xs = Var::from_vec(grid(), 24_001, &Device::Cpu).unwrap();
        let (ours, theirs) = (ours(xs.as_tensor()).unwrap(), theirs(xs.as_tensor()).unwrap());
        let max_diff =
            |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let grad = |y: &Tensor| y.sum_all().unwrap().backward().unwrap().remove(&xs).unwrap();
        (max_diff(&ours, &theirs), max_diff(&grad(&ours), &grad(&theirs)))
    }

    #[test]
    fn exp_is_within_2_ulp_of_libm() {
        for x in grid().into_iter().map(|x| x * 7.0) {
            let (ours, exact) = (exp_f32(x), f64::from(x).exp());
            assert!((f64::from(ours) - exact).abs() <= 2.5e-7 * exact, "exp({x}) = {ours}, not {exact}");
        }
    }

    #[test]
    fn tanh_matches_candle_and_its_gradient() {
        let (values, gradients) = differences(tanh, Tensor::tanh);
        assert!(values < 5e-7 && gradients < 1e-6, "values differ by {values}, gradients by {gradients}");
    }

    #[test]
    fn gelu_erf_matches_candle_and_its_gradient() {
        let (values, gradients) = differences(gelu_erf, Tensor::gelu_erf);
        // candle's backward rounds 1/√(2π) to 0.398942.
        assert!(values < 5e-6 && gradients < 2e-5, "values differ by {values}, gradients by {gradients}");
    }
}
