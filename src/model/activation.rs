//! Activations that are fast on the CPU: GELU in its exact (erf) form, `x · Φ(x)`, and tanh.
//!
//! candle evaluates libm's scalar `erff` and `tanhf` element by element (an `exp` each), and
//! its GELU backward pass composes ten tensor ops, one of them another `erf`: together over a
//! tenth of an inference profile. Here `erf` and `tanh` are rational approximations that the
//! compiler vectorises (the minimax odd/even polynomial pairs that Eigen and XLA use for f32;
//! absolute error below 5e-7 on all of ℝ, see the tests), and the GELU backward pass is one fused
//! pass for `Φ(x) + x·φ(x)` and one product. Other devices and dtypes take candle's ops.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

/// `x · Φ(x)` with `Φ(x) = (1 + erf(x / √2)) / 2`, differentiable.
pub fn gelu_erf(xs: &Tensor) -> Result<Tensor> {
    if !xs.device().is_cpu() || xs.dtype() != DType::F32 {
        return xs.gelu_erf();
    }
    xs.contiguous()?.apply_op1(GeluErf)
}

/// `tanh(x)`, differentiable.
pub fn tanh(xs: &Tensor) -> Result<Tensor> {
    if !xs.device().is_cpu() || xs.dtype() != DType::F32 {
        return xs.tanh();
    }
    xs.contiguous()?.apply_op1(Tanh)
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

/// Φ(x), the standard normal CDF.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Applies `f` to a contiguous f32 tensor's elements.
fn map_f32(storage: &CpuStorage, layout: &Layout, name: &str, f: impl Fn(f32) -> f32) -> Result<(CpuStorage, Shape)> {
    let CpuStorage::F32(values) = storage else { candle_core::bail!("{name}: expected an f32 tensor") };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{name}: expected a contiguous tensor")
    };
    let out: Vec<f32> = values[start..end].iter().map(|&x| f(x)).collect();
    Ok((CpuStorage::F32(out), layout.shape().clone()))
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-fast"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        map_f32(storage, layout, self.name(), |x| x * normal_cdf(x))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some((grad_res * arg.apply_op1_no_bwd(&GeluErfSlope)?)?))
    }
}

struct Tanh;

impl CustomOp1 for Tanh {
    fn name(&self) -> &'static str {
        "tanh-fast"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        map_f32(storage, layout, self.name(), tanh_f32)
    }

    /// d/dx tanh(x) = 1 − tanh²(x).
    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some((grad_res * res.sqr()?.affine(-1.0, 1.0)?)?))
    }
}

/// d/dx x·Φ(x) = Φ(x) + x·φ(x).
struct GeluErfSlope;

impl CustomOp1 for GeluErfSlope {
    fn name(&self) -> &'static str {
        "gelu-erf-slope"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        // 1/√(2π)
        const NORMAL_PDF_SCALE: f32 = 0.398_942_3;
        map_f32(storage, layout, self.name(), |x| normal_cdf(x) + x * NORMAL_PDF_SCALE * (-0.5 * x * x).exp())
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
