//! One serialisable configuration for a run: model, losses (with every ablation) and training.

use serde::{Deserialize, Serialize};

use crate::model::{LossConfig, ModelConfig, Preset};

/// Optimisation and evaluation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub learning_rate: f64,
    pub batch_size: usize,
    /// Fraction of all steps spent warming the learning rate up from 0.
    pub warmup_fraction: f64,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
    pub weight_decay: f64,
    /// AdamW's ε.
    pub adam_eps: f64,
    /// Seed of parameter initialisation and batch shuffling.
    pub seed: u64,
    /// Decision threshold ζ on softmax probabilities.
    pub threshold: f32,
    /// Emit a step event every this many steps.
    pub log_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::for_preset(Preset::Small)
    }
}

impl TrainConfig {
    /// Epochs, learning rate and batch of DESIGN.md §4.7; the CPU-sized `small` preset trains
    /// longer with a larger rate, as small models do. The paper presets take the reference
    /// code's optimiser: `transformers.AdamW` with its defaults (ε = 1e-6) and no weight decay.
    pub fn for_preset(preset: Preset) -> Self {
        let (epochs, learning_rate, batch_size) = match preset {
            Preset::Small => (15, 1e-3, 32),
            Preset::MoseiRoberta => (5, 5e-5, 12),
            Preset::MoseiGlove => (15, 7e-5, 32),
            Preset::M3edRoberta => (10, 5e-5, 22),
            Preset::M3edGlove => (15, 5e-5, 32),
        };
        let (weight_decay, adam_eps) = match preset {
            Preset::Small => (0.01, 1e-8),
            _ => (0.0, 1e-6),
        };
        Self {
            epochs,
            learning_rate,
            batch_size,
            warmup_fraction: 0.1,
            grad_clip: 1.0,
            weight_decay,
            adam_eps,
            seed: 1111,
            threshold: 0.18,
            log_every: 10,
        }
    }
}

/// Everything that defines a run. A TOML file may set any subset of fields over a preset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub preset: Preset,
    pub model: ModelConfig,
    pub loss: LossConfig,
    pub train: TrainConfig,
}

impl RunConfig {
    pub fn preset(preset: Preset) -> Self {
        Self {
            preset,
            model: preset.model_config(),
            loss: preset.loss_config(),
            train: TrainConfig::for_preset(preset),
        }
    }

    /// The preset, overridden field by field by the TOML text (which may name its own preset).
    /// Tables merge recursively, so `[model] dropout = 0.2` changes only the dropout.
    pub fn from_toml_over(preset: Preset, text: &str) -> Result<Self, ConfigError> {
        let overrides: toml::Table = toml::from_str(text)?;
        let preset = match overrides.get("preset") {
            Some(value) => value.clone().try_into()?,
            None => preset,
        };
        let toml::Value::Table(mut merged) = toml::Value::try_from(Self::preset(preset))? else {
            return Err(ConfigError::NotATable);
        };
        merge_tables(&mut merged, overrides);
        Ok(toml::Value::Table(merged).try_into()?)
    }
}

impl RunConfig {
    /// This configuration, overridden field by field by the TOML text (the GUI's "any other
    /// field" box); a `preset` key there is ignored, since the fields are already set.
    pub fn with_toml(&self, text: &str) -> Result<Self, ConfigError> {
        let mut overrides: toml::Table = toml::from_str(text)?;
        overrides.remove("preset");
        let toml::Value::Table(mut merged) = toml::Value::try_from(self)? else {
            return Err(ConfigError::NotATable);
        };
        merge_tables(&mut merged, overrides);
        Ok(toml::Value::Table(merged).try_into()?)
    }
}

/// Why a run configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Parse(#[from] toml::de::Error),
    #[error(transparent)]
    Serialize(#[from] toml::ser::Error),
    #[error("the configuration is not a table of settings")]
    NotATable,
}

fn merge_tables(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(over_table)) => {
                merge_tables(base_table, over_table);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::va::PriorRule;

    #[test]
    fn prior_rule_is_the_reference_unless_a_config_names_the_centred_one() {
        assert_eq!(RunConfig::preset(Preset::Small).model.prior_rule, PriorRule::LabelSetMinMax);
        let over = RunConfig::from_toml_over(Preset::Small, "[model]\ndropout = 0.2\n").unwrap();
        assert_eq!(over.model.prior_rule, PriorRule::LabelSetMinMax);
        let centred = RunConfig::from_toml_over(Preset::Small, "[model]\nprior_rule = \"centred\"\n").unwrap();
        assert_eq!(centred.model.prior_rule, PriorRule::Centred);
        assert!(RunConfig::from_toml_over(Preset::Small, "[model]\nprior_rule = \"cosine\"\n").is_err());
    }

    #[test]
    fn a_run_saved_before_the_rule_existed_keeps_the_centred_rule() {
        let mut json = serde_json::to_value(RunConfig::preset(Preset::MoseiGlove)).unwrap();
        json["model"].as_object_mut().unwrap().remove("prior_rule");
        let old: RunConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.model.prior_rule, PriorRule::Centred);
    }

    #[test]
    fn paper_presets_use_the_reference_optimiser() {
        let glove = TrainConfig::for_preset(Preset::MoseiGlove);
        assert_eq!((glove.weight_decay, glove.adam_eps), (0.0, 1e-6));
        let small = TrainConfig::for_preset(Preset::Small);
        assert_eq!((small.weight_decay, small.adam_eps), (0.01, 1e-8));
    }
}
