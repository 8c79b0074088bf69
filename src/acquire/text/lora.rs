//! Low-rank adapters (LoRA) over the base's trained layers, merged into the weights before
//! the trained layers ([`super::layers`]) are built from them.
//!
//! Every linear map `W` of a trained layer gets `W + (alpha / rank) · B·A` with `A` `(rank, in)`
//! and `B` `(out, rank)`. Merging into plain tensors and loading the layers from those keeps
//! one layer implementation for training and inference; in training the merged tensors carry the gradient back to `A`
//! and `B`, since a var builder over tensors hands them out as they are. A model folder then
//! holds only the adapters and the head (about 2.6 MB for all six MiniLM layers at rank 16).

use std::collections::HashMap;

use candle_core::Tensor;

/// The linear maps of a BERT layer that get adapters (names inside `encoder.layer.{i}.`).
pub const TARGETS: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// Names of one adapter pair, e.g. `encoder.layer.0.attention.self.query.lora_a`.
pub fn adapter_names(layer: usize, target: &str) -> (String, String) {
    let stem = format!("encoder.layer.{layer}.{target}");
    (format!("{stem}.lora_a"), format!("{stem}.lora_b"))
}

/// The trained layers' tensors with every adapter pair found in `adapters` merged in:
/// `layers` holds the base's top layers renamed from `encoder.layer.0`; entries of `adapters`
/// that are not adapters (the head) are passed through.
pub fn merge(
    layers: &HashMap<String, Tensor>,
    adapters: &HashMap<String, Tensor>,
    scale: f64,
) -> candle_core::Result<HashMap<String, Tensor>> {
    let mut out = HashMap::with_capacity(layers.len() + adapters.len());
    for (name, weight) in layers {
        let stem = name.strip_suffix(".weight").unwrap_or(name);
        let pair = (adapters.get(&format!("{stem}.lora_a")), adapters.get(&format!("{stem}.lora_b")));
        let merged = match pair {
            (Some(a), Some(b)) => (weight + (b.matmul(a)? * scale)?)?,
            _ => weight.clone(),
        };
        out.insert(name.clone(), merged);
    }
    for (name, tensor) in adapters {
        if !name.ends_with(".lora_a") && !name.ends_with(".lora_b") {
            out.insert(name.clone(), tensor.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn merge_adds_the_scaled_low_rank_product_and_passes_the_rest_through() {
        let dev = Device::Cpu;
        let w = Tensor::zeros((2, 3), candle_core::DType::F32, &dev).unwrap();
        let layers: HashMap<String, Tensor> = [
            ("encoder.layer.0.intermediate.dense.weight".to_owned(), w.clone()),
            (
                "encoder.layer.0.intermediate.dense.bias".to_owned(),
                Tensor::ones(2, candle_core::DType::F32, &dev).unwrap(),
            ),
        ]
        .into();
        let (a_name, b_name) = adapter_names(0, "intermediate.dense");
        let adapters: HashMap<String, Tensor> = [
            (a_name, Tensor::new(&[[1f32, 2., 3.]], &dev).unwrap()),
            (b_name, Tensor::new(&[[1f32], [-1.]], &dev).unwrap()),
            ("head.bias".to_owned(), Tensor::new(&[0.5f32], &dev).unwrap()),
        ]
        .into();
        let merged = merge(&layers, &adapters, 2.0).unwrap();
        assert_eq!(merged.len(), 3);
        let weight: Vec<Vec<f32>> = merged["encoder.layer.0.intermediate.dense.weight"].to_vec2().unwrap();
        assert_eq!(weight, vec![vec![2., 4., 6.], vec![-2., -4., -6.]]);
        assert_eq!(merged["encoder.layer.0.intermediate.dense.bias"].to_vec1::<f32>().unwrap(), vec![1., 1.]);
        assert!(merged.contains_key("head.bias") && !merged.keys().any(|k| k.contains("lora")));
    }
}
