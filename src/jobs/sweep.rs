//! Sweeps: one launch over a grid of one or two fields (the δ sensitivity of the paper's Fig. 5,
//! the ablations of Tables 3–5). Every grid point is a normal job with its own run folder,
//! `RUNS/<sweep>/<field>=<value>[_<field>=<value>]/`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::JobSpec;
use crate::modality::Modality;
use crate::model::ContrastiveMode;
use crate::train::RunConfig;

/// Why a sweep could not be expanded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    #[error("sweep over {field}: {value:?} is not {expected}")]
    Value { field: &'static str, value: String, expected: &'static str },
    #[error("sweep over {0}: list at least one value, separated by commas")]
    NoValues(&'static str),
    #[error("sweep over {0}: a value appears twice")]
    Duplicate(&'static str),
    #[error("a sweep has one or two fields, and the two must differ")]
    Axes,
    #[error("sweep name {0:?}: use letters, digits, '-', '_' or '.', so it can name a folder")]
    Name(String),
}

/// The ablations of the paper's Tables 3 and 4, each a setting of the loss switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ablation {
    /// UniVA: VA-driven contrastive learning and the VA emotion-correlation prior.
    Full,
    NoVaCl,
    NoVaEcp,
    NoBoth,
    SupCl,
    SelfCl,
}

impl Ablation {
    pub const ALL: [Self; 6] = [Self::Full, Self::NoVaCl, Self::NoVaEcp, Self::NoBoth, Self::SupCl, Self::SelfCl];

    /// The name in folder names and sweep lists.
    pub fn key(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::NoVaCl => "no-va-cl",
            Self::NoVaEcp => "no-va-ecp",
            Self::NoBoth => "no-both",
            Self::SupCl => "sup-cl",
            Self::SelfCl => "self-cl",
        }
    }

    /// As the paper's tables name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Full => "UniVA (full)",
            Self::NoVaCl => "w/o VA-CL",
            Self::NoVaEcp => "w/o VA-ECP",
            Self::NoBoth => "w/o VA-CL and VA-ECP",
            Self::SupCl => "Sup-CL",
            Self::SelfCl => "Self-CL",
        }
    }

    pub fn apply(self, config: &mut RunConfig) {
        let (contrastive, prior) = match self {
            Self::Full => (ContrastiveMode::VaDriven, true),
            Self::NoVaCl => (ContrastiveMode::Off, true),
            Self::NoVaEcp => (ContrastiveMode::VaDriven, false),
            Self::NoBoth => (ContrastiveMode::Off, false),
            Self::SupCl => (ContrastiveMode::SupervisedLabels, true),
            Self::SelfCl => (ContrastiveMode::SelfOnly, true),
        };
        config.loss.contrastive = contrastive;
        config.loss.prior = prior;
    }

    /// The ablation a configuration's switches make. Sup-CL and Self-CL are named with the
    /// prior on, as the paper runs them; with it off they read as their contrastive mode.
    pub fn of(config: &RunConfig) -> Self {
        match (config.loss.contrastive, config.loss.prior) {
            (ContrastiveMode::VaDriven, true) => Self::Full,
            (ContrastiveMode::Off, true) => Self::NoVaCl,
            (ContrastiveMode::VaDriven, false) => Self::NoVaEcp,
            (ContrastiveMode::Off, false) => Self::NoBoth,
            (ContrastiveMode::SupervisedLabels, _) => Self::SupCl,
            (ContrastiveMode::SelfOnly, _) => Self::SelfCl,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key() == text)
    }
}

/// A field a sweep can vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SweepField {
    Delta,
    Lambda,
    Temperature,
    Threshold,
    LearningRate,
    Epochs,
    BatchSize,
    Seed,
    Ablation,
    Modalities,
}

impl SweepField {
    pub const ALL: [Self; 10] = [
        Self::Delta,
        Self::Lambda,
        Self::Temperature,
        Self::Threshold,
        Self::LearningRate,
        Self::Epochs,
        Self::BatchSize,
        Self::Seed,
        Self::Ablation,
        Self::Modalities,
    ];

    /// The name in folder names.
    pub fn key(self) -> &'static str {
        match self {
            Self::Delta => "delta",
            Self::Lambda => "lambda",
            Self::Temperature => "tau",
            Self::Threshold => "zeta",
            Self::LearningRate => "lr",
            Self::Epochs => "epochs",
            Self::BatchSize => "batch",
            Self::Seed => "seed",
            Self::Ablation => "ablation",
            Self::Modalities => "modalities",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Delta => "δ (VA positive distance)",
            Self::Lambda => "λ (contrastive weight)",
            Self::Temperature => "τ (temperature)",
            Self::Threshold => "ζ (decision threshold)",
            Self::LearningRate => "learning rate",
            Self::Epochs => "epochs",
            Self::BatchSize => "batch size",
            Self::Seed => "seed",
            Self::Ablation => "ablation",
            Self::Modalities => "modalities",
        }
    }

    /// What a value list looks like, for hints.
    pub fn example(self) -> &'static str {
        match self {
            Self::Delta => "0.05, 0.1, 0.15, 0.3, 0.5",
            Self::Lambda => "0.1, 0.2, 0.45",
            Self::Temperature => "0.2, 0.4, 0.7",
            Self::Threshold => "0.14, 0.18, 0.22",
            Self::LearningRate => "1e-4, 5e-4, 1e-3",
            Self::Epochs => "5, 10, 15",
            Self::BatchSize => "16, 32, 64",
            Self::Seed => "1111, 1112, 1113",
            Self::Ablation => "full, no-va-cl, no-va-ecp, no-both, sup-cl, self-cl",
            Self::Modalities => "t, v, a, t+v, t+a, v+a, t+v+a",
        }
    }

    /// Sets the field of `config` to `value` (one item of a value list).
    pub fn apply(self, config: &mut RunConfig, value: &str) -> Result<(), SweepError> {
        let bad = |expected| SweepError::Value { field: self.key(), value: value.to_owned(), expected };
        let real = || value.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad("a number"));
        let count = || value.parse::<usize>().ok().filter(|&v| v > 0).ok_or_else(|| bad("a whole number above 0"));
        match self {
            Self::Delta => config.loss.delta = real()? as f32,
            Self::Lambda => config.loss.lambda = real()? as f32,
            Self::Temperature => config.loss.temperature = real()? as f32,
            Self::Threshold => config.train.threshold = real()? as f32,
            Self::LearningRate => config.train.learning_rate = real()?,
            Self::Epochs => config.train.epochs = count()?,
            Self::BatchSize => config.train.batch_size = count()?,
            Self::Seed => config.train.seed = value.parse().map_err(|_| bad("a whole number"))?,
            Self::Ablation => {
                Ablation::parse(value)
                    .ok_or_else(|| bad("full, no-va-cl, no-va-ecp, no-both, sup-cl or self-cl"))?
                    .apply(config);
            }
            Self::Modalities => config.model.modalities = parse_modalities(value).ok_or_else(|| bad("like t+v+a"))?,
        }
        Ok(())
    }
}

/// `t+v`, `text+audio`, … → the modalities in canonical order.
fn parse_modalities(text: &str) -> Option<Vec<Modality>> {
    let mut chosen = Vec::new();
    for part in text.split('+').map(str::trim) {
        let modality = Modality::ALL.into_iter().find(|m| m.name() == part || m.name().get(..1) == Some(part))?;
        chosen.push(modality);
    }
    let chosen: Vec<Modality> = Modality::ALL.into_iter().filter(|m| chosen.contains(m)).collect();
    (!chosen.is_empty()).then_some(chosen)
}

/// One field and the values it takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepAxis {
    pub field: SweepField,
    pub values: Vec<String>,
}

impl SweepAxis {
    /// An axis from a comma-separated value list.
    pub fn parse(field: SweepField, list: &str) -> Result<Self, SweepError> {
        let values: Vec<String> = list.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect();
        if values.is_empty() {
            return Err(SweepError::NoValues(field.key()));
        }
        let mut probe = RunConfig::preset(crate::model::Preset::Small);
        for value in &values {
            field.apply(&mut probe, value)?;
        }
        let mut seen = values.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != values.len() {
            return Err(SweepError::Duplicate(field.key()));
        }
        Ok(Self { field, values })
    }
}

/// Whether `name` can be a folder name of its own.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '='))
}

/// One job per grid point: `base` with the point's values, in `runs_dir/<name>/<point>/`.
pub fn expand(base: &JobSpec, name: &str, axes: &[SweepAxis], runs_dir: &Path) -> Result<Vec<JobSpec>, SweepError> {
    if !valid_name(name) {
        return Err(SweepError::Name(name.to_owned()));
    }
    let (first, second) = match axes {
        [first] => (first, None),
        [first, second] if first.field != second.field => (first, Some(second)),
        _ => return Err(SweepError::Axes),
    };
    let second_values: Vec<Option<&String>> = match second {
        Some(axis) => axis.values.iter().map(Some).collect(),
        None => vec![None],
    };
    let mut jobs = Vec::new();
    for a in &first.values {
        for b in &second_values {
            let mut config = base.config.clone();
            first.field.apply(&mut config, a)?;
            let mut point = format!("{}={a}", first.field.key());
            if let (Some(axis), Some(b)) = (second, b) {
                axis.field.apply(&mut config, b)?;
                point += &format!("_{}={b}", axis.field.key());
            }
            jobs.push(JobSpec {
                name: point.clone(),
                sweep: Some(name.to_owned()),
                run_dir: runs_dir.join(name).join(&point),
                config,
                ..base.clone()
            });
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;

    fn base() -> JobSpec {
        JobSpec {
            name: "base".into(),
            sweep: None,
            dataset: "data".into(),
            run_dir: "x".into(),
            config: RunConfig::preset(Preset::Small),
            device: "cpu".into(),
            va_overlay: None,
            target: Default::default(),
        }
    }

    #[test]
    fn a_two_field_grid_has_one_folder_per_point() {
        let delta = SweepAxis::parse(SweepField::Delta, "0.05, 0.1,0.5").unwrap();
        let ablation = SweepAxis::parse(SweepField::Ablation, "full, no-va-cl").unwrap();
        let jobs = expand(&base(), "fig5", &[delta, ablation], Path::new("runs")).unwrap();
        assert_eq!(jobs.len(), 6);
        assert_eq!(jobs[1].run_dir, Path::new("runs/fig5/delta=0.05_ablation=no-va-cl"));
        assert_eq!(jobs[1].config.loss.contrastive, ContrastiveMode::Off);
        assert!((jobs[5].config.loss.delta - 0.5).abs() < 1e-7);
        assert_eq!(jobs[5].sweep.as_deref(), Some("fig5"));
    }

    #[test]
    fn bad_values_and_names_are_explained() {
        assert!(matches!(SweepAxis::parse(SweepField::Delta, "0.1, x"), Err(SweepError::Value { .. })));
        assert_eq!(SweepAxis::parse(SweepField::Epochs, " , "), Err(SweepError::NoValues("epochs")));
        assert_eq!(SweepAxis::parse(SweepField::Seed, "1, 1"), Err(SweepError::Duplicate("seed")));
        let axis = SweepAxis::parse(SweepField::Modalities, "t, v+a").unwrap();
        let jobs = expand(&base(), "m", std::slice::from_ref(&axis), Path::new("r")).unwrap();
        assert_eq!(jobs[1].config.model.modalities, vec![Modality::Vision, Modality::Audio]);
        assert_eq!(
            expand(&base(), "../up", std::slice::from_ref(&axis), Path::new("r")),
            Err(SweepError::Name("../up".into()))
        );
        assert_eq!(expand(&base(), "s", &[axis.clone(), axis], Path::new("r")), Err(SweepError::Axes));
    }

    #[test]
    fn ablations_round_trip_through_the_switches() {
        for ablation in Ablation::ALL {
            let mut config = RunConfig::preset(Preset::Small);
            ablation.apply(&mut config);
            assert_eq!(Ablation::of(&config), ablation);
        }
    }
}
