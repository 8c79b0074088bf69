//! AdamW with global-norm gradient clipping and a linear warm-up/decay schedule, with state
//! that can be saved and restored (candle's own AdamW keeps its moments private, so a resumed
//! run could not continue exactly).

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor, Var, backprop::GradStore};

/// AdamW hyper-parameters (PyTorch defaults but for the learning rate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

struct Slot {
    name: String,
    var: Var,
    first_moment: Var,
    second_moment: Var,
}

pub struct AdamW {
    slots: Vec<Slot>,
    params: AdamWParams,
    step: usize,
}

impl std::fmt::Debug for AdamW {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdamW").field("vars", &self.slots.len()).field("step", &self.step).finish()
    }
}

impl AdamW {
    /// Optimises the named variables (sorted by name, so state files are stable).
    pub fn new(mut vars: Vec<(String, Var)>, params: AdamWParams) -> Result<Self> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let zeros = || Var::zeros(var.shape(), DType::F32, var.device());
                Ok(Slot { first_moment: zeros()?, second_moment: zeros()?, name, var })
            })
            .collect::<Result<_>>()?;
        Ok(Self { slots, params, step: 0 })
    }

    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before.
    pub fn clip_grad_norm(&self, grads: &mut GradStore, max_norm: f64) -> Result<f64> {
        let mut sum_sq = 0.0f64;
        for slot in &self.slots {
            if let Some(g) = grads.get(slot.var.as_tensor()) {
                sum_sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
            }
        }
        let norm = sum_sq.sqrt();
        if norm.is_finite() && norm > max_norm {
            let scale = max_norm / (norm + 1e-6);
            for slot in &self.slots {
                if let Some(g) = grads.remove(slot.var.as_tensor()) {
                    grads.insert(slot.var.as_tensor(), (g * scale)?);
                }
            }
        }
        Ok(norm)
    }

    /// One AdamW update with learning rate `lr` (decoupled weight decay, bias-corrected moments).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let p = self.params;
        let t = self.step as i32;
        let correction1 = 1.0 - p.beta1.powi(t);
        let correction2 = 1.0 - p.beta2.powi(t);
        for slot in &self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else { continue };
            let m = ((slot.first_moment.as_tensor() * p.beta1)? + (g * (1.0 - p.beta1))?)?;
            let v = ((slot.second_moment.as_tensor() * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
            let update = ((&m / correction1)? / ((&v / correction2)?.sqrt()? + p.eps)?)?;
            let theta = slot.var.as_tensor();
            let decayed = (theta * (1.0 - lr * p.weight_decay))?;
            slot.var.set(&(decayed - (update * lr)?)?)?;
            slot.first_moment.set(&m)?;
            slot.second_moment.set(&v)?;
        }
        Ok(())
    }

    /// Moments as named tensors, for a resumable checkpoint.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut map = HashMap::new();
        for slot in &self.slots {
            map.insert(format!("m.{}", slot.name), slot.first_moment.as_tensor().clone());
            map.insert(format!("v.{}", slot.name), slot.second_moment.as_tensor().clone());
        }
        map
    }

    /// Restores moments saved by [`Self::state_tensors`] and the step count.
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>, step: usize) -> Result<()> {
        for slot in &self.slots {
            for (prefix, var) in [("m", &slot.first_moment), ("v", &slot.second_moment)] {
                let name = format!("{prefix}.{}", slot.name);
                let saved = tensors
                    .get(&name)
                    .ok_or_else(|| candle_core::Error::Msg(format!("optimizer state has no tensor {name:?}")))?;
                var.set(&saved.to_device(var.device())?)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Learning rate at `step` (0-based) of `total`: linear warm-up over `warmup` steps from 0 to
/// `peak`, then linear decay to 0 (transformers' `get_linear_schedule_with_warmup`).
pub fn linear_schedule(peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        let remaining = total.saturating_sub(step) as f64;
        let span = total.saturating_sub(warmup).max(1) as f64;
        peak * (remaining / span).max(0.0)
    }
}
