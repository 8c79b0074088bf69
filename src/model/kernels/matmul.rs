//! Differentiable matrix products and the biased linear map, multiplied by OpenBLAS.
//!
//! The backward passes are products of the same kind, read through transposed views so no
//! operand is copied: for `C = A·B`, `dA = dC·Bᵀ` and `dB = Aᵀ·dC`; the bias of a linear map
//! gets the column sums of `dC`.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use std::sync::OnceLock;

use super::activation::{self, Activation, apply_in_place};
use super::blas::{MatRef, blas_layout, sgemm};
use super::{contiguous_f32, f32_from, on_cpu_f32, output_buffer, pool_threads, run_parallel};

/// Below this many multiply-adds a product runs on the calling thread alone.
const PARALLEL_MIN_MACS: usize = 1 << 16;

/// `a·b` over the last two dimensions, batched over the leading ones (which must agree), like
/// `Tensor::matmul`.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let compatible = a.rank() >= 2
        && a.rank() == b.rank()
        && a.dims()[..a.rank() - 2] == b.dims()[..b.rank() - 2]
        && a.dims()[a.rank() - 1] == b.dims()[b.rank() - 2];
    if !(on_cpu_f32(a) && on_cpu_f32(b) && compatible) || a.dims()[a.rank() - 1] == 0 {
        // Other devices, shape errors worded as candle words them, and empty inner dimensions
        // (whose strides BLAS may refuse).
        return a.matmul(b);
    }
    blas_readable(a)?.apply_op2(&blas_readable(b)?, MatMul)
}

/// `f(xs·Wᵀ + b)` for `xs` `[rows, in]`, `weight` `[out, in]`, `bias` `[out]` and an optional
/// activation `f`.
pub fn linear(xs: &Tensor, weight: &Tensor, bias: Option<&Tensor>, activation: Option<Activation>) -> Result<Tensor> {
    let Some(bias) = bias else {
        let ys = matmul(xs, &weight.t()?)?;
        return activation.map_or(Ok(ys.clone()), |f| f.forward(&ys));
    };
    if !(on_cpu_f32(xs) && on_cpu_f32(weight) && on_cpu_f32(bias)) {
        let ys = xs.matmul(&weight.t()?)?.broadcast_add(bias)?;
        return activation.map_or(Ok(ys.clone()), |f| f.forward(&ys));
    }
    let (_, in_dim) = xs.dims2()?;
    let (out_dim, weight_in) = weight.dims2()?;
    if weight_in != in_dim || bias.dims1()? != out_dim {
        candle_core::bail!(
            "linear: input [.., {in_dim}], weight {:?} and bias {:?} disagree",
            weight.dims(),
            bias.dims()
        )
    }
    let op = BiasedLinear { activation, pre_activation: OnceLock::new() };
    xs.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}

/// `xs` itself if BLAS can read its last two dimensions, else a contiguous copy.
fn blas_readable(xs: &Tensor) -> Result<Tensor> {
    let (dims, stride) = (xs.dims(), xs.stride());
    let r = dims.len();
    match blas_layout(dims[r - 2], dims[r - 1], stride[r - 2], stride[r - 1]) {
        Some(_) => Ok(xs.clone()),
        None => xs.contiguous(),
    }
}

/// Offsets (from the layout's start) of each matrix of a batched layout, in row-major batch order.
fn batch_offsets(layout: &Layout) -> Vec<usize> {
    let (dims, stride) = (layout.dims(), layout.stride());
    let batch_dims = &dims[..dims.len() - 2];
    let count: usize = batch_dims.iter().product();
    (0..count)
        .map(|mut index| {
            let mut offset = 0;
            for (dim, step) in batch_dims.iter().zip(stride).rev() {
                offset += (index % dim) * step;
                index /= dim;
            }
            offset
        })
        .collect()
}

/// One product of a batch, or a band of its rows: `a` times `b` into `c` (rows `n` apart).
struct Product<'a> {
    a: MatRef<'a>,
    b: MatRef<'a>,
    c: &'a mut [f32],
}

/// Splits `batches` products of `m × k` by `k × n` into tasks for the pool: whole products when
/// there are enough of them, else bands of rows.
fn rows_per_task(batches: usize, m: usize, n: usize, k: usize) -> usize {
    let threads = pool_threads();
    if batches * m * n * k < PARALLEL_MIN_MACS || threads == 1 || batches >= 2 * threads {
        return m.max(1);
    }
    let parts = (2 * threads).div_ceil(batches);
    m.div_ceil(parts).max(8)
}

/// Runs the products, `beta` scaling what `c` already holds.
fn run_products(products: Vec<Product<'_>>, n: usize, beta: f32) -> Result<()> {
    let failure = std::sync::Mutex::new(None);
    run_parallel(products, |p| {
        if let Err(e) = sgemm(1.0, p.a, p.b, beta, p.c, n) {
            failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(e);
        }
    });
    match failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        Some(e) => Err(candle_core::Error::wrap(e)),
        None => Ok(()),
    }
}

/// Cuts `out` (`batches` row-major `m × n` blocks) into products of `a` and `b`.
fn plan<'a>(
    out: &'a mut [f32],
    (a, a_layout): (&'a [f32], &Layout),
    (b, b_layout): (&'a [f32], &Layout),
    (m, n, k): (usize, usize, usize),
) -> Result<Vec<Product<'a>>> {
    let (a_stride, b_stride) = (a_layout.stride(), b_layout.stride());
    let r = a_stride.len();
    let (a_offsets, b_offsets) = (batch_offsets(a_layout), batch_offsets(b_layout));
    let band = rows_per_task(a_offsets.len(), m, n, k);
    let mut products = Vec::new();
    let blocks = out.chunks_mut((m * n).max(1));
    for ((block, a_offset), b_offset) in blocks.zip(a_offsets).zip(b_offsets) {
        let matrix = |data: &'a [f32], offset: usize, rows, cols, stride: &[usize]| {
            data.get(offset..)
                .and_then(|data| MatRef::new(data, rows, cols, stride[r - 2], stride[r - 1]))
                .ok_or_else(|| candle_core::Error::Msg("matmul: operand layout out of range".to_owned()))
        };
        let a = matrix(a, a_offset, m, k, a_stride)?;
        let b = matrix(b, b_offset, k, n, b_stride)?;
        for (i, c) in block.chunks_mut(band * n).enumerate() {
            products.push(Product { a: a.row_range(i * band, (i + 1) * band), b, c });
        }
    }
    Ok(products)
}

struct MatMul;

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        "blas-matmul"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (f32_from(s1, l1, self.name())?, f32_from(s2, l2, self.name())?);
        let (a_dims, b_dims) = (l1.dims(), l2.dims());
        let r = a_dims.len();
        let (m, k, n) = (a_dims[r - 2], a_dims[r - 1], b_dims[r - 1]);
        let mut out_dims = a_dims.to_vec();
        out_dims[r - 1] = n;
        let mut out = output_buffer(out_dims.iter().product());
        run_products(plan(&mut out, (a, l1), (b, l2), (m, n, k))?, n, 0.0)?;
        Ok((CpuStorage::F32(out), Shape::from(out_dims)))
    }

    fn bwd(&self, a: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_a = if a.track_op() { Some(matmul(grad, &b.t()?)?) } else { None };
        let grad_b = if b.track_op() { Some(matmul(&a.t()?, grad)?) } else { None };
        Ok((grad_a, grad_b))
    }
}

/// `f(xs·Wᵀ + b)`: the bias is written into the output first, the product added onto it, and
/// the activation applied in place.
struct BiasedLinear {
    activation: Option<Activation>,
    /// `xs·Wᵀ + b` before an activation whose slope needs it (GELU).
    pre_activation: OnceLock<Tensor>,
}

impl CustomOp3 for BiasedLinear {
    fn name(&self) -> &'static str {
        "blas-linear"
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
        let weight = contiguous_f32(s2, l2, self.name())?;
        let bias = contiguous_f32(s3, l3, self.name())?;
        let (rows, in_dim) = l1.shape().dims2()?;
        let out_dim = bias.len();
        let mut out = output_buffer(rows * out_dim);
        for row in out.chunks_mut(out_dim.max(1)) {
            row.copy_from_slice(bias);
        }
        let a = MatRef::new(xs, rows, in_dim, in_dim, 1);
        // Wᵀ read in place: element (p, j) of Wᵀ is weight[j·in + p].
        let b = MatRef::new(weight, in_dim, out_dim, 1, in_dim);
        let (Some(a), Some(b)) = (a, b) else {
            candle_core::bail!("{}: operands shorter than their shapes", self.name())
        };
        let band = rows_per_task(1, rows, out_dim, in_dim);
        let products = out.chunks_mut((band * out_dim).max(1)).enumerate().map(|(i, c)| Product {
            a: a.row_range(i * band, (i + 1) * band),
            b,
            c,
        });
        run_products(products.collect(), out_dim, 1.0)?;
        if let Some(activation) = self.activation {
            if activation.slope_needs_input() {
                let pre = Tensor::from_vec(out.clone(), (rows, out_dim), &candle_core::Device::Cpu)?;
                let _ = self.pre_activation.set(pre);
            }
            apply_in_place(&mut out, activation);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, out_dim))))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The gradient at the pre-activation.
        let grad = match self.activation {
            Some(activation) => {
                let input = self.pre_activation.get().unwrap_or(res);
                grad.contiguous()?.apply_op3_no_bwd(input, &res.contiguous()?, &activation::Backward(activation))?
            }
            None => grad.clone(),
        };
        let grad = &grad;
        let grad_xs = if xs.track_op() { Some(matmul(grad, weight)?) } else { None };
        let grad_weight = if weight.track_op() { Some(matmul(&grad.t()?, xs)?) } else { None };
        let grad_bias = if bias.track_op() { Some(grad.contiguous()?.apply_op1_no_bwd(&ColumnSums)?) } else { None };
        Ok((grad_xs, grad_weight, grad_bias))
    }
}

/// `[rows, cols]` → `[cols]`, the sum of each column.
struct ColumnSums;

impl CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "column-sums"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let values = contiguous_f32(storage, layout, self.name())?;
        let (_, cols) = layout.shape().dims2()?;
        let mut sums = vec![0.0f32; cols];
        for row in values.chunks_exact(cols.max(1)) {
            sums.iter_mut().zip(row).for_each(|(s, x)| *s += x);
        }
        Ok((CpuStorage::F32(sums), Shape::from(cols)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn products_and_gradients_match_candle_in_every_layout() {
        let dev = Device::Cpu;
        // (batch dims, m, k, n): a single matrix large enough to be split into bands, and a
        // batch of small ones (attention-shaped).
        for (batch, m, k, n) in [(vec![], 300, 70, 90), (vec![3, 4], 9, 5, 7)] {
            let shape = |rows, cols| [batch.clone(), vec![rows, cols]].concat();
            let a = Var::randn(0f32, 1.0, shape(m, k), &dev).unwrap();
            let b = Var::randn(0f32, 1.0, shape(k, n), &dev).unwrap();
            let bt = Var::randn(0f32, 1.0, shape(n, k), &dev).unwrap();
            // b as stored, and b read through a transposed view.
            for rhs in [b.as_tensor().clone(), bt.as_tensor().t().unwrap()] {
                let ours = matmul(a.as_tensor(), &rhs).unwrap();
                let theirs = a.as_tensor().matmul(&rhs).unwrap();
                assert!(max_diff(&ours, &theirs) < 1e-4, "{batch:?} {m}×{k}×{n}");
                let weights = Tensor::randn(0f32, 1.0, ours.shape(), &dev).unwrap();
                let grads = |y: Tensor| (y * &weights).unwrap().sum_all().unwrap().backward().unwrap();
                let (g_ours, g_theirs) = (grads(ours), grads(theirs));
                for var in [&a, &b, &bt] {
                    if let Some(g) = g_theirs.get(var) {
                        assert!(max_diff(g_ours.get(var).unwrap(), g) < 1e-3, "gradient of {batch:?} {m}×{k}×{n}");
                    }
                }
            }
        }
    }

    #[test]
    fn biased_linear_and_its_gradients_match_candle() {
        let dev = Device::Cpu;
        let xs = Var::randn(0f32, 1.0, (200, 30), &dev).unwrap();
        let weight = Var::randn(0f32, 1.0, (40, 30), &dev).unwrap();
        let bias = Var::randn(0f32, 1.0, 40, &dev).unwrap();
        let weights = Tensor::randn(0f32, 1.0, (200, 40), &dev).unwrap();
        let grads = |y: Tensor| (y * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        for activation in [None, Some(Activation::GeluErf), Some(Activation::Tanh)] {
            let ours = linear(xs.as_tensor(), weight.as_tensor(), Some(bias.as_tensor()), activation).unwrap();
            let theirs = xs.as_tensor().matmul(&weight.as_tensor().t().unwrap()).unwrap();
            let theirs = theirs.broadcast_add(bias.as_tensor()).unwrap();
            let theirs = match activation {
                Some(Activation::GeluErf) => theirs.gelu_erf().unwrap(),
                Some(Activation::Tanh) => theirs.tanh().unwrap(),
                None => theirs,
            };
            assert!(max_diff(&ours, &theirs) < 1e-4, "{activation:?}");
            let (g_ours, g_theirs) = (grads(ours), grads(theirs));
            for var in [&xs, &weight, &bias] {
                let diff = max_diff(g_ours.get(var).unwrap(), g_theirs.get(var).unwrap());
                assert!(diff < 2e-3, "{activation:?}: gradient differs by {diff}");
            }
        }
    }

    #[test]
    fn shape_errors_are_candles() {
        let a = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let err = matmul(&a, &a).unwrap_err();
        assert!(err.to_string().contains("shape mismatch"), "{err}");
    }
}
