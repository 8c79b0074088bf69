//! A `VarMap` whose new variables are drawn from a seeded generator, in the order the model
//! creates them, so initial weights are reproducible on every device (candle's CPU backend has
//! no seed). Draws the same distributions as candle's `Init`.

use std::sync::{Mutex, PoisonError};

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarMap, init::NormalOrUniform};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};

pub struct SeededInit {
    varmap: VarMap,
    rng: Mutex<StdRng>,
}

impl SeededInit {
    /// New variables go into `varmap`, which keeps them for training and saving.
    pub fn new(varmap: &VarMap, seed: u64) -> Self {
        Self { varmap: varmap.clone(), rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }

    fn sample(&self, shape: &Shape, init: Init) -> Result<Vec<f32>> {
        let n = shape.elem_count();
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let normal = |mean: f64, std: f64, rng: &mut StdRng| -> Result<Vec<f32>> {
            let d = Normal::new(mean, std).map_err(|e| candle_core::Error::Msg(format!("init: {e}")))?;
            Ok((0..n).map(|_| d.sample(rng) as f32).collect())
        };
        let uniform = |lo: f64, up: f64, rng: &mut StdRng| -> Result<Vec<f32>> {
            let d = Uniform::new(lo, up).map_err(|e| candle_core::Error::Msg(format!("init: {e}")))?;
            Ok((0..n).map(|_| d.sample(rng) as f32).collect())
        };
        match init {
            Init::Const(value) => Ok(vec![value as f32; n]),
            Init::Randn { mean, stdev } => normal(mean, stdev, &mut rng),
            Init::Uniform { lo, up } => uniform(lo, up, &mut rng),
            Init::Kaiming { dist, fan, non_linearity } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => normal(0.0, std, &mut rng),
                    NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        uniform(-bound, bound, &mut rng)
                    }
                }
            }
        }
    }
}

impl SimpleBackend for SeededInit {
    fn get(&self, shape: Shape, name: &str, init: Init, dtype: DType, device: &Device) -> Result<Tensor> {
        if let Some(existing) = self.varmap.data().lock().unwrap_or_else(PoisonError::into_inner).get(name) {
            let tensor = existing.as_tensor();
            if tensor.shape() != &shape {
                candle_core::bail!("variable {name}: shape {:?}, asked for {shape:?}", tensor.shape())
            }
            return Ok(tensor.clone());
        }
        let values = Tensor::from_vec(self.sample(&shape, init)?, shape, device)?.to_dtype(dtype)?;
        let var = Var::from_tensor(&values)?;
        let tensor = var.as_tensor().clone();
        self.varmap.data().lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned(), var);
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _device: &Device) -> Result<Tensor> {
        candle_core::bail!("variable {name}: a seeded initialiser needs its shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().unwrap_or_else(PoisonError::into_inner).contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use candle_nn::VarBuilder;

    use super::*;

    fn weights(seed: u64) -> Vec<f32> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_backend(Box::new(SeededInit::new(&varmap, seed)), DType::F32, Device::Cpu);
        let w = vb.get_with_hints((4, 8), "w", candle_nn::init::DEFAULT_KAIMING_NORMAL).unwrap();
        let b = vb.get_with_hints(4, "b", Init::Const(0.5)).unwrap();
        assert_eq!(varmap.all_vars().len(), 2, "variables are kept for training");
        assert_eq!(b.to_vec1::<f32>().unwrap(), [0.5; 4]);
        w.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn same_seed_same_weights() {
        assert_eq!(weights(3), weights(3));
        assert_ne!(weights(3), weights(4));
        // Kaiming normal over fan-in 8 with ReLU gain: std = sqrt(2) / sqrt(8) = 0.5.
        let w = weights(5);
        let std = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
        assert!((0.25..0.75).contains(&std), "std {std}");
    }
}
