//! Model and loss configuration: every hyper-parameter and every ablation of the paper's
//! Tables 3–5 is one field here, and the paper's settings (DESIGN.md §4.7–4.8) are presets.
//!
//! All structs are `#[serde(default)]`, so a TOML file may override a single field.

use serde::{Deserialize, Serialize};

use crate::modality::{Modality, PerModality};
use crate::va::PriorRule;

/// Size of the model and which modalities it reads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ModelConfig {
    /// Hidden size d of every encoder and of each unimodal representation H_m.
    pub hidden: usize,
    /// Attention heads per transformer layer; must divide `hidden`.
    pub heads: usize,
    /// Transformer layers per modality. 0 means FC + additive attention only (paper Eq. 1).
    pub layers: PerModality<usize>,
    /// Width of the feed-forward block inside each transformer layer.
    pub intermediate: usize,
    /// Dropout probability of embeddings, attention probabilities and residual branches.
    pub dropout: f32,
    /// Size of the learned position table; every input sequence must fit in it.
    pub max_positions: usize,
    /// LayerNorm epsilon (BERT: 1e-12).
    pub layer_norm_eps: f64,
    /// The modalities the model reads, any non-empty subset (the ablation of Table 5).
    /// Their representations are concatenated in the canonical order text, vision, audio.
    pub modalities: Vec<Modality>,
    /// Whether the correlation matrix M of Eq. 8 is trained (as the reference code does) or
    /// stays fixed at its VA prior.
    pub train_prior: bool,
    /// How label VA is scaled for M's initial value (and its fixed value without
    /// `train_prior`). A run folder written before this field existed used the centred rule,
    /// so that is what a missing field means; presets and TOML overrides always set it.
    #[serde(default = "legacy_prior_rule")]
    pub prior_rule: PriorRule,
}

fn legacy_prior_rule() -> PriorRule {
    PriorRule::Centred
}

impl Default for ModelConfig {
    fn default() -> Self {
        Preset::Small.model_config()
    }
}

impl ModelConfig {
    /// Whether `modality` is among the active modalities.
    pub fn is_active(&self, modality: Modality) -> bool {
        self.modalities.contains(&modality)
    }

    /// The active modalities in canonical order, each once.
    pub fn active(&self) -> impl Iterator<Item = Modality> + '_ {
        Modality::ALL.into_iter().filter(|m| self.is_active(*m))
    }

    /// Number of trainable scalars of the model for the given input dimensions and labels,
    /// computed from the architecture (the GUI and the CLI show it before building anything).
    pub fn parameter_count(&self, input_dims: &PerModality<Option<usize>>, num_labels: usize) -> usize {
        let d = self.hidden;
        let linear = |i: usize, o: usize| i * o + o;
        let norm = 2 * d;
        let layer = 4 * linear(d, d) + norm + linear(d, self.intermediate) + linear(self.intermediate, d) + norm;
        // P (with bias), Q (no bias), v (no bias) and the learned query q.
        let pool = linear(d, d) + d * d + d + d;
        let encoders: usize = self
            .active()
            .map(|m| {
                let Some(input) = *input_dims.get(m) else { return 0 };
                let layers = *self.layers.get(m);
                let transformer = if layers == 0 { 0 } else { self.max_positions * d + norm + layers * layer };
                linear(input, d) + transformer + pool
            })
            .sum();
        let prior = if self.train_prior { num_labels * num_labels } else { 0 };
        encoders + linear(self.active().count() * d, num_labels) + prior
    }
}

/// Which pairs count as positives in the contrastive loss of each modality.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ContrastiveMode {
    /// UniVA: the twin view and every sample whose VA lies closer than δ (Eqs. 3–5).
    #[default]
    VaDriven,
    /// Sup-CL ablation: the twin view and every sample with the identical label set.
    SupervisedLabels,
    /// Self-CL ablation: the twin view only.
    SelfOnly,
    /// w/o VA-CL ablation: no contrastive term.
    Off,
}

/// How η of the emotion-correlation prior is computed (DESIGN.md §4.8).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum EtaVariant {
    /// The authors' code: on log-probabilities, `Σ_{j,l} M_jl · ‖ŷ_·j − ŷ_·l‖₂ / B`, the L2 norm
    /// taken over the batch.
    #[default]
    ReferenceCode,
    /// Paper Eq. 9: on probabilities, `Σ_i Σ_{j,l} M_jl · (ŷ_ij − ŷ_il)² / B`.
    PaperEq9,
}

/// The target distribution of the KL loss.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KlTarget {
    /// The authors' code: softmax of the multi-hot label vector.
    #[default]
    SoftmaxMultiHot,
    /// Paper Eq. 10: the multi-hot label vector itself.
    MultiHot,
}

/// Weights and switches of the training objective
/// `L = (1−λ)·(L_KL + η) + λ·L_CL` (the reference code's mix, DESIGN.md §4.8).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LossConfig {
    /// Temperature τ of the contrastive loss.
    pub temperature: f32,
    /// Trade-off λ between the contrastive and the prediction terms.
    pub lambda: f32,
    /// VA distance δ below which two samples are positives.
    pub delta: f32,
    /// L2-normalise H before the contrastive dot products (SupCon does; the reference does not).
    pub normalize: bool,
    pub contrastive: ContrastiveMode,
    /// The VA emotion-correlation prior η (off: the w/o VA-ECP ablation).
    pub prior: bool,
    pub eta: EtaVariant,
    pub kl_target: KlTarget,
    /// Factor on the KL loss (reference: 1000).
    pub kl_scale: f32,
    /// Weights of the per-modality contrastive losses; the mix is `Σ w_m·L_m / (number of
    /// modalities)`, so text weight 3 gives MOSEI's `(3·L_t + L_v + L_a)/3` and all ones a mean.
    pub modality_weights: PerModality<f32>,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            temperature: 0.4,
            lambda: 0.2,
            delta: 0.1,
            normalize: false,
            contrastive: ContrastiveMode::VaDriven,
            prior: true,
            eta: EtaVariant::ReferenceCode,
            kl_target: KlTarget::SoftmaxMultiHot,
            kl_scale: 1000.0,
            modality_weights: PerModality { text: 1.0, vision: 1.0, audio: 1.0 },
        }
    }
}

/// Named configurations: the four paper settings of DESIGN.md §4.7 and a CPU-sized one.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, Hash, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// d = 128, 4 heads, one layer per modality: what the CPU trains in minutes.
    #[default]
    Small,
    MoseiRoberta,
    MoseiGlove,
    M3edRoberta,
    M3edGlove,
}

impl Preset {
    pub fn model_config(self) -> ModelConfig {
        let paper = |text: usize, vision: usize, audio: usize| ModelConfig {
            hidden: 768,
            heads: 12,
            layers: PerModality { text, vision, audio },
            intermediate: 3072,
            dropout: 0.1,
            max_positions: 512,
            layer_norm_eps: 1e-12,
            modalities: Modality::ALL.to_vec(),
            train_prior: true,
            prior_rule: PriorRule::LabelSetMinMax,
        };
        match self {
            Self::Small => ModelConfig {
                hidden: 128,
                heads: 4,
                layers: PerModality { text: 1, vision: 1, audio: 1 },
                intermediate: 512,
                ..paper(1, 1, 1)
            },
            // Contextual text features arrive precomputed, so the text path is FC + pooling (Eq. 1);
            // vision and audio keep the reference defaults (3 and 4 layers).
            Self::MoseiRoberta | Self::M3edRoberta => paper(0, 3, 4),
            // The MOSEI-GloVe run of the reference code: text 7, audio 3, vision 5.
            Self::MoseiGlove => paper(7, 5, 3),
            // The reference defaults: text 4, audio 4, vision 3.
            Self::M3edGlove => paper(4, 3, 4),
        }
    }

    pub fn loss_config(self) -> LossConfig {
        let mosei_weights = PerModality { text: 3.0, vision: 1.0, audio: 1.0 };
        let base = LossConfig::default();
        match self {
            Self::Small => base,
            Self::MoseiRoberta => {
                LossConfig { temperature: 0.7, lambda: 0.45, prior: true, modality_weights: mosei_weights, ..base }
            }
            Self::MoseiGlove => {
                LossConfig { temperature: 0.4, lambda: 0.2, prior: false, modality_weights: mosei_weights, ..base }
            }
            Self::M3edRoberta => LossConfig { temperature: 0.4, lambda: 0.2, prior: true, ..base },
            Self::M3edGlove => LossConfig { temperature: 0.4, lambda: 0.1, prior: true, ..base },
        }
    }
}
