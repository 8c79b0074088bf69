//! The trained BERT encoder layers of a text VA model, written so that training reaches them.
//!
//! candle-transformers' `BertEncoder` normalises with candle-nn's fused LayerNorm kernel, which
//! records no backward op: a loss above it sends no gradient into the layers (or into adapters
//! merged into them), and fine-tuning silently trains the head alone. These layers take the
//! same weights under the same names (`encoder.layer.{i}.attention.self.query`, …) and use the
//! crate's differentiable kernels ([`crate::model::kernels`]): the query, key and value maps run
//! as one product over their stacked weights, and attention runs per sentence on its real
//! tokens as keys (what BERT's additive mask computes). In training, dropout follows BERT's: on
//! the attention weights and on each sublayer's output before the residual sum.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config as BertConfig, HiddenAct};

use crate::model::dropout::Dropout;
use crate::model::kernels::activation::Activation;
use crate::model::kernels::attention::{Segment, self_attention};
use crate::model::linear::Linear;
use crate::model::norm::LayerNorm;

/// A stack of post-LayerNorm BERT layers.
#[derive(Clone, Debug)]
pub struct BertLayers {
    layers: Vec<BertLayer>,
}

impl BertLayers {
    /// Loads `config.num_hidden_layers` layers from `vb` (`layer.{i}.…` below it); `dropout`
    /// applies when `forward` is told it is training. The stacked query, key and value weights
    /// are a copy taken now: after an optimiser updates the variables, load again.
    pub fn load(vb: VarBuilder, config: &BertConfig, dropout: &Dropout) -> Result<Self> {
        let layers = (0..config.num_hidden_layers)
            .map(|i| BertLayer::load(vb.pp(format!("layer.{i}")), config, dropout.clone()))
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    /// `xs`: `(batch, tokens, hidden)`; `mask`: `(batch, tokens)`, 1 for the real tokens, which
    /// come first in each row (tokenizers pad on the right).
    pub fn forward(&self, xs: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let (batch, tokens, hidden) = xs.dims3()?;
        let segments = sentence_segments(mask)?;
        let rows = xs.reshape((batch * tokens, hidden))?;
        let rows = self.layers.iter().try_fold(rows, |rows, layer| layer.forward(&rows, &segments, train))?;
        rows.reshape((batch, tokens, hidden))
    }
}

/// Each sentence's rows of the flattened `(batch · tokens)` layout: all of them query, the real
/// ones are keys.
fn sentence_segments(mask: &Tensor) -> Result<Vec<Segment>> {
    let tokens = mask.dim(1)?;
    let values = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    values
        .iter()
        .enumerate()
        .map(|(b, row)| {
            let real = row.iter().take_while(|&&m| m > 0.5).count();
            if row[real..].iter().any(|&m| m > 0.5) {
                candle_core::bail!("attention mask: sentence {b} has padding before a real token; pad on the right")
            }
            Ok(Segment { start: b * tokens, queries: tokens, keys: real })
        })
        .collect()
}

#[derive(Clone, Debug)]
struct BertLayer {
    /// The query, key and value maps stacked: `[3·hidden, hidden]`.
    qkv: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    activation: HiddenAct,
    heads: usize,
    dropout: Dropout,
}

impl BertLayer {
    fn load(vb: VarBuilder, config: &BertConfig, dropout: Dropout) -> Result<Self> {
        let (hidden, inner, eps) = (config.hidden_size, config.intermediate_size, config.layer_norm_eps);
        let attention = vb.pp("attention");
        let maps = ["self.query", "self.key", "self.value"]
            .map(|name| Linear::new(attention.pp(name), hidden, hidden))
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            qkv: Linear::stack(&maps)?,
            attention_output: Linear::new(attention.pp("output.dense"), hidden, hidden)?,
            attention_norm: LayerNorm::new(attention.pp("output.LayerNorm"), hidden, eps)?,
            intermediate: Linear::new(vb.pp("intermediate.dense"), hidden, inner)?,
            output: Linear::new(vb.pp("output.dense"), inner, hidden)?,
            output_norm: LayerNorm::new(vb.pp("output.LayerNorm"), hidden, eps)?,
            activation: config.hidden_act,
            heads: config.num_attention_heads,
            dropout,
        })
    }

    /// `xs`: `(rows, hidden)`.
    fn forward(&self, xs: &Tensor, segments: &[Segment], train: bool) -> Result<Tensor> {
        let context = self_attention(&self.qkv.forward(xs)?, self.heads, segments, &self.dropout, train)?;
        let attended = self.attention_output.forward(&context)?;
        let attended = self.dropout.forward(&attended, train)?;
        let xs = self.attention_norm.forward(&(xs + attended)?)?;
        let inner = match self.activation {
            HiddenAct::Gelu => self.intermediate.forward_activated(&xs, Some(Activation::GeluErf))?,
            HiddenAct::GeluApproximate => self.intermediate.forward(&xs)?.gelu()?,
            HiddenAct::Relu => self.intermediate.forward(&xs)?.relu()?,
        };
        let output = self.dropout.forward(&self.output.forward(&inner)?, train)?;
        self.output_norm.forward(&(xs + output)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};
    use candle_nn::VarMap;
    use candle_transformers::models::bert::BertEncoder;

    use super::*;
    use crate::model::dropout::MaskSource;

    /// A two-layer encoder with random weights under Hugging Face BERT names, and a batch of two
    /// sentences, the second with two padded tokens.
    struct Fixture {
        config: BertConfig,
        varmap: VarMap,
        xs: Tensor,
        mask: Tensor,
    }

    impl Fixture {
        fn new() -> Self {
            let config = BertConfig {
                hidden_size: 8,
                num_hidden_layers: 2,
                num_attention_heads: 2,
                intermediate_size: 16,
                ..BertConfig::default()
            };
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            BertLayers::load(vb.pp("encoder"), &config, &Dropout::disabled()).unwrap();
            // LayerNorms start at γ = 1, β = 0; give them values so a mix-up of the two shows.
            for (name, var) in varmap.data().lock().unwrap().iter() {
                if name.contains("LayerNorm") {
                    var.set(&Tensor::rand(0.5f32, 1.5, var.shape(), &Device::Cpu).unwrap()).unwrap();
                }
            }
            let xs = Tensor::randn(0f32, 1.0, (2, 5, 8), &Device::Cpu).unwrap();
            let mask = Tensor::new(&[[1f32, 1., 1., 1., 1.], [1., 1., 1., 0., 0.]], &Device::Cpu).unwrap();
            Self { config, varmap, xs, mask }
        }

        fn vb(&self) -> VarBuilder<'static> {
            VarBuilder::from_varmap(&self.varmap, DType::F32, &Device::Cpu).pp("encoder")
        }

        fn layers(&self, dropout: &Dropout) -> BertLayers {
            BertLayers::load(self.vb(), &self.config, dropout).unwrap()
        }
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn matches_candle_transformers_bert_on_the_same_weights() {
        let f = Fixture::new();
        let ours = f.layers(&Dropout::disabled()).forward(&f.xs, &f.mask, false).unwrap();
        // BERT's extended attention mask: f32::MIN added to the scores of padded keys.
        let bias = (f.mask.ones_like().unwrap() - &f.mask).unwrap().affine(f64::from(f32::MIN), 0.0).unwrap();
        let bias = bias.unsqueeze(1).unwrap().unsqueeze(1).unwrap();
        let theirs = BertEncoder::load(f.vb(), &f.config).unwrap().forward(&f.xs, &bias).unwrap();
        let diff = max_diff(&ours, &theirs);
        assert!(diff < 1e-5, "outputs differ by {diff}");
    }

    /// The defect these layers fix: with candle-transformers' encoder the bottom layer's
    /// gradient is missing, so fine-tuning never moved it.
    #[test]
    fn a_loss_on_the_output_reaches_the_bottom_layer() {
        let f = Fixture::new();
        let out = f.layers(&Dropout::disabled()).forward(&f.xs, &f.mask, false).unwrap();
        let target = Tensor::randn(0f32, 1.0, out.shape(), &Device::Cpu).unwrap();
        let grads = (out - target).unwrap().sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let vars = f.varmap.data().lock().unwrap();
        let bottom: &Var = &vars["encoder.layer.0.attention.self.query.weight"];
        let grad = grads.get(bottom).expect("no gradient for the bottom layer's query weight");
        let norm = grad.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0, "the bottom layer's gradient is zero");
    }

    #[test]
    fn dropout_acts_in_training_passes_only() {
        let f = Fixture::new();
        let layers = f.layers(&Dropout::new(0.5, &MaskSource::seeded(1)));
        let inference = layers.forward(&f.xs, &f.mask, false).unwrap();
        let plain = f.layers(&Dropout::disabled()).forward(&f.xs, &f.mask, false).unwrap();
        assert_eq!(max_diff(&inference, &plain), 0.0);
        assert!(max_diff(&inference, &layers.forward(&f.xs, &f.mask, true).unwrap()) > 1e-3);
    }

    #[test]
    fn left_padding_is_refused() {
        let f = Fixture::new();
        let mask = Tensor::new(&[[1f32, 1., 1., 1., 1.], [0., 1., 1., 1., 1.]], &Device::Cpu).unwrap();
        let err = f.layers(&Dropout::disabled()).forward(&f.xs, &mask, false).unwrap_err();
        assert!(err.to_string().contains("sentence 1 has padding before a real token"), "{err}");
    }
}
