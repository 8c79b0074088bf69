//! AdamW with global-norm gradient clipping and a linear warm-up/decay schedule, with state
//! that can be saved and restored (candle's own AdamW keeps its moments private, so a resumed
//! run could not continue exactly). The update itself is `model::kernels::adamw`'s, in place.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor, Var, backprop::GradStore};

use crate::model::kernels::adamw::{AdamWUpdate, adamw_step, sum_of_squares};

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
    /// `[2, n]`: the first moment of the n elements, then the second.
    moments: Var,
    /// This variable's learning rate relative to the one [`AdamW::step`] is given.
    lr_scale: f64,
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
                let moments = Var::zeros((2, var.elem_count()), DType::F32, var.device())?;
                Ok(Slot { moments, name, var, lr_scale: 1.0 })
            })
            .collect::<Result<_>>()?;
        Ok(Self { slots, params, step: 0 })
    }

    /// Gives each variable its own learning rate: `scale(name)` times the one each step is given
    /// (e.g. smaller rates for a network's lower layers).
    pub fn scale_learning_rates(&mut self, scale: impl Fn(&str) -> f64) {
        for slot in &mut self.slots {
            slot.lr_scale = scale(&slot.name);
        }
    }

    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The factor that scales the gradients to a global L2 norm of at most `max_norm` (1 when
    /// they are within it), for [`Self::step`].
    pub fn clip_scale(&self, grads: &GradStore, max_norm: f64) -> Result<f64> {
        let mut sum_sq = 0.0f64;
        for slot in &self.slots {
            if let Some(g) = grads.get(slot.var.as_tensor()) {
                sum_sq += sum_of_squares(g)?;
            }
        }
        let norm = sum_sq.sqrt();
        Ok(if norm.is_finite() && norm > max_norm { max_norm / (norm + 1e-6) } else { 1.0 })
    }

    /// One AdamW update with learning rate `lr` (decoupled weight decay, bias-corrected moments)
    /// from the gradients times `grad_scale`.
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let p = self.params;
        let t = self.step as i32;
        let base = AdamWUpdate {
            lr,
            beta1: p.beta1,
            beta2: p.beta2,
            eps: p.eps,
            weight_decay: p.weight_decay,
            correction1: 1.0 - p.beta1.powi(t),
            correction2: 1.0 - p.beta2.powi(t),
            grad_scale,
        };
        for slot in &self.slots {
            if let Some(g) = grads.get(slot.var.as_tensor()) {
                let update = AdamWUpdate { lr: lr * slot.lr_scale, ..base };
                adamw_step(&slot.var, &slot.moments, g, &update)?;
            }
        }
        Ok(())
    }

    /// Moments as named tensors (`m.<name>`, `v.<name>`, each in the parameter's shape), for a
    /// resumable checkpoint.
    pub fn state_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut map = HashMap::new();
        for slot in &self.slots {
            for (row, prefix) in ["m", "v"].into_iter().enumerate() {
                map.insert(format!("{prefix}.{}", slot.name), slot.moments.get(row)?.reshape(slot.var.shape())?);
            }
        }
        Ok(map)
    }

    /// Restores moments saved by [`Self::state_tensors`] and the step count.
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>, step: usize) -> Result<()> {
        for slot in &self.slots {
            let moment = |prefix: &str| {
                let name = format!("{prefix}.{}", slot.name);
                let saved = tensors
                    .get(&name)
                    .ok_or_else(|| candle_core::Error::Msg(format!("optimizer state has no tensor {name:?}")))?;
                if saved.shape() != slot.var.shape() {
                    candle_core::bail!(
                        "optimizer state tensor {name:?} is {:?}, the parameter {:?}",
                        saved.dims(),
                        slot.var.dims()
                    )
                }
                saved.to_device(slot.var.device())?.to_dtype(DType::F32)?.flatten_all()
            };
            slot.moments.set(&Tensor::stack(&[moment("m")?, moment("v")?], 0)?)?;
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

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn a_scaled_variable_moves_by_its_share_of_the_rate() {
        let device = Device::Cpu;
        let near = Var::zeros(4, DType::F32, &device).unwrap();
        let far = Var::zeros(4, DType::F32, &device).unwrap();
        let params = AdamWParams { weight_decay: 0.0, ..AdamWParams::default() };
        let mut opt = AdamW::new(vec![("near".into(), near.clone()), ("far".into(), far.clone())], params).unwrap();
        opt.scale_learning_rates(|name| if name == "far" { 0.25 } else { 1.0 });
        let target = Tensor::new(&[1f32, -2.0, 3.0, -4.0], &device).unwrap();
        let loss = ((near.as_tensor() - &target).unwrap().sqr().unwrap().sum_all().unwrap()
            + (far.as_tensor() - &target).unwrap().sqr().unwrap().sum_all().unwrap())
        .unwrap();
        opt.step(&loss.backward().unwrap(), 0.1, 1.0).unwrap();
        let near = near.as_tensor().to_vec1::<f32>().unwrap();
        let far = far.as_tensor().to_vec1::<f32>().unwrap();
        // Adam's first step moves every element by about the rate, towards the target.
        for (n, f) in near.iter().zip(&far) {
            assert!((n.abs() - 0.1).abs() < 1e-4 && (f.abs() - 0.025).abs() < 1e-4, "{n} {f}");
            assert_eq!(n.signum(), f.signum());
        }
    }
}
