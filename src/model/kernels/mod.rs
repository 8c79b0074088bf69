//! CPU kernels with hand-written backward passes for the model's hot paths.
//!
//! candle composes LayerNorm, attention and a biased linear map out of many small tensor ops,
//! each of which allocates its result, walks memory once, and in the backward pass adds a
//! zero-filled gradient buffer of its own. On two cores that bookkeeping costs more than the
//! arithmetic. These ops do the same maths in one pass each way on f32 CPU tensors, multiply
//! through OpenBLAS ([`blas`]), and split their work over candle's CPU worker pool. Every
//! public function falls back to candle's composed ops on other devices and dtypes, so the
//! `cuda` build runs the same model.

pub mod activation;
pub mod adamw;
pub mod attention;
pub mod blas;
pub mod layer_norm;
pub mod matmul;
pub mod pooling;

use std::sync::{Mutex, PoisonError};

use candle_core::{CpuStorage, DType, Layout, Result, Tensor};

/// Whether `xs` can take the CPU kernels.
fn on_cpu_f32(xs: &Tensor) -> bool {
    xs.device().is_cpu() && xs.dtype() == DType::F32
}

/// Threads candle's CPU pool runs work on, the calling thread included.
fn pool_threads() -> usize {
    candle_core::utils::barrier_pool().n_workers() + 1
}

/// Runs `work` on every task, spread over candle's CPU pool (the caller's thread takes part);
/// tasks are handed out in order, one at a time.
pub(crate) fn run_parallel<T: Send>(tasks: Vec<T>, work: impl Fn(T) + Sync) {
    if tasks.len() <= 1 || pool_threads() == 1 {
        tasks.into_iter().for_each(work);
        return;
    }
    let queue = Mutex::new(tasks.into_iter());
    candle_core::utils::barrier_pool().execute(|_| {
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some(task) = next else { break };
            work(task);
        }
    });
}

/// The f32 elements of a CPU storage from the layout's start offset on.
fn f32_from<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else { candle_core::bail!("{op}: expected an f32 tensor") };
    values.get(layout.start_offset()..).ok_or_else(|| candle_core::Error::Msg(format!("{op}: layout out of range")))
}

/// The elements of a contiguous f32 CPU tensor.
fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else { candle_core::bail!("{op}: expected an f32 tensor") };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op}: expected a contiguous tensor")
    };
    Ok(&values[start..end])
}

/// A `Vec` of `len` elements for a kernel to fill completely.
fn output_buffer(len: usize) -> Vec<f32> {
    // Zero-filling is a pass over memory the kernels overwrite anyway (about 1 % of a training
    // step), but it hands out the buffer without unsafe code.
    vec![0.0; len]
}
