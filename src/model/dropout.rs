//! Dropout whose masks come from one seeded generator shared by the whole model, so a training
//! run on the CPU is reproducible from its seed: candle's CPU backend draws `rand_like` from an
//! unseedable thread RNG.

use std::sync::{Arc, Mutex, PoisonError};

use candle_core::{Result, Tensor};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::kernels::run_parallel;

/// The generator every [`Dropout`] of one model draws its masks from.
#[derive(Clone, Debug)]
pub struct MaskSource(Arc<Mutex<SmallRng>>);

impl MaskSource {
    pub fn seeded(seed: u64) -> Self {
        Self(Arc::new(Mutex::new(SmallRng::seed_from_u64(seed))))
    }

    /// Restarts the sequence of masks from `seed`.
    pub fn reseed(&self, seed: u64) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = SmallRng::seed_from_u64(seed);
    }

    /// `n` mask values: 0 with probability `p`, else `1 / (1 − p)` (inverted dropout). One seed
    /// is drawn from the shared generator and each block of values gets a generator of its own
    /// from it, so the blocks fill in parallel and the mask depends only on the seed.
    fn mask(&self, n: usize, p: f32) -> Vec<f32> {
        const BLOCK: usize = 1 << 14;
        let keep_scale = 1.0 / (1.0 - p);
        let seed: u64 = self.0.lock().unwrap_or_else(PoisonError::into_inner).random();
        let mut mask = vec![0.0f32; n];
        let blocks: Vec<_> = mask.chunks_mut(BLOCK).enumerate().collect();
        run_parallel(blocks, |(i, block)| {
            let mut rng = SmallRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            block.iter_mut().for_each(|m| *m = if rng.random::<f32>() < p { 0.0 } else { keep_scale });
        });
        mask
    }
}

#[derive(Clone, Debug)]
pub struct Dropout {
    p: f32,
    masks: MaskSource,
}

impl Dropout {
    pub fn new(p: f32, masks: &MaskSource) -> Self {
        Self { p, masks: masks.clone() }
    }

    /// A dropout that never drops, for models that only run inference.
    pub fn disabled() -> Self {
        Self::new(0.0, &MaskSource::seeded(0))
    }

    /// The values a training pass multiplies `n` elements by, or `None` when it keeps all.
    pub fn sample_mask(&self, n: usize) -> Option<Vec<f32>> {
        if self.p <= 0.0 {
            None
        } else if self.p >= 1.0 {
            Some(vec![0.0; n])
        } else {
            Some(self.masks.mask(n, self.p))
        }
    }

    pub fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if !train || self.p <= 0.0 {
            return Ok(xs.clone());
        }
        if self.p >= 1.0 {
            return xs.zeros_like();
        }
        let mask = Tensor::from_vec(self.masks.mask(xs.elem_count(), self.p), xs.shape(), xs.device())?;
        xs * mask.to_dtype(xs.dtype())?
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn same_seed_same_masks_and_expected_rate() {
        let xs = Tensor::ones((100, 100), candle_core::DType::F32, &Device::Cpu).unwrap();
        let run = |seed| Dropout::new(0.25, &MaskSource::seeded(seed)).forward(&xs, true).unwrap();
        let (a, b, c) = (run(7), run(7), run(8));
        let diff =
            |x: &Tensor, y: &Tensor| (x - y).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff(&a, &b), 0.0);
        assert!(diff(&a, &c) > 0.0);
        let values = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let dropped = values.iter().filter(|&&v| v == 0.0).count() as f32 / values.len() as f32;
        assert!((dropped - 0.25).abs() < 0.02, "dropped {dropped}");
        assert!(values.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        // Off outside training.
        let eval = Dropout::new(0.25, &MaskSource::seeded(7)).forward(&xs, false).unwrap();
        assert_eq!(diff(&eval, &xs), 0.0);
    }
}
