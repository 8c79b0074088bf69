//! Invalid launches explained before they start: each problem is a sentence that says what is
//! wrong and what to change.

use std::path::{Path, PathBuf};

use super::devices::{GpuInfo, cuda_built};
use super::spec::JobSpec;
use crate::dataset::{Dataset, DatasetError, Split};
use crate::modality::{Modality, PerModality};

/// What a launch needs to know about its dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetFacts {
    pub root: PathBuf,
    pub name: String,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    /// Sequence length of each modality that has features.
    pub feature_steps: PerModality<Option<usize>>,
}

impl DatasetFacts {
    pub fn of(dataset: &Dataset) -> Self {
        let count = |split| dataset.utterances.iter().filter(|u| u.split == split).count();
        Self {
            root: dataset.root.clone(),
            name: dataset.manifest.name.clone(),
            train: count(Split::Train),
            valid: count(Split::Valid),
            test: count(Split::Test),
            feature_steps: PerModality::from_fn(|m| dataset.manifest.feature_spec(m).map(|s| s.max_len)),
        }
    }

    /// Reads the manifest, the table and the feature headers (not the feature values).
    pub fn read(root: &Path) -> Result<Self, DatasetError> {
        Ok(Self::of(&Dataset::open_lazy(root)?))
    }
}

/// Whether a device spec names a device this build and machine have; `None` if it does.
pub fn device_problem(device: &str, gpus: &[GpuInfo]) -> Option<String> {
    let spec = device.trim().to_ascii_lowercase();
    if spec == "cpu" {
        return None;
    }
    let ordinal = match spec.strip_prefix("cuda") {
        Some("") => Some(0),
        Some(rest) => rest.strip_prefix(':').and_then(|n| n.parse::<usize>().ok()),
        None => None,
    };
    let Some(ordinal) = ordinal else {
        return Some(format!("Device {device:?} is not cpu or cuda:N."));
    };
    if !cuda_built() {
        return Some(format!(
            "Device cuda:{ordinal} needs a build with CUDA support; this one was built without `--features cuda` \
             (packaging/cuda-setup.sh sets up a toolkit). Train on the CPU, or rebuild with CUDA."
        ));
    }
    if !gpus.iter().any(|g| g.index == ordinal) {
        let found = if gpus.is_empty() {
            "nvidia-smi lists none".to_owned()
        } else {
            format!("found {}", gpus.iter().map(|g| format!("cuda:{}", g.index)).collect::<Vec<_>>().join(", "))
        };
        return Some(format!("There is no GPU cuda:{ordinal} on this machine ({found})."));
    }
    None
}

/// Every reason `spec` cannot be launched (empty: it can). `resume` launches continue the run
/// already in the run folder; others must not overwrite one.
pub fn check(spec: &JobSpec, facts: Option<&DatasetFacts>, gpus: &[GpuInfo], resume: bool) -> Vec<String> {
    let mut problems: Vec<String> = super::name_problem(spec).into_iter().collect();
    let (model, loss, train) = (&spec.config.model, &spec.config.loss, &spec.config.train);
    if spec.target.is_local() {
        problems.extend(device_problem(&spec.device, gpus));
    } else {
        // Another machine's GPUs are not listed here: only the form is checked.
        problems.extend(device_problem(&spec.device, &[]).filter(|_| !remote_device_spec(&spec.device)));
    }
    if model.modalities.is_empty() {
        problems.push("Choose at least one modality (text, vision, audio).".to_owned());
    }
    if let Some(overlay) = &spec.va_overlay
        && let Err(error) = crate::dataset::VaOverlay::read(overlay)
    {
        problems.push(format!("Audited VA: {error}"));
    }
    match facts {
        None => problems.push(format!("The dataset {} could not be read.", spec.dataset.display())),
        Some(facts) => {
            for m in model.active() {
                match *facts.feature_steps.get(m) {
                    None => problems.push(format!("The dataset {} has no {m} features; untick {m}.", facts.name)),
                    Some(steps) if *model.layers.get(m) > 0 && steps > model.max_positions => {
                        problems.push(format!(
                            "{m} sequences have {steps} steps but the model's position table holds {}; raise \
                             max_positions.",
                            model.max_positions
                        ));
                    }
                    Some(_) => {}
                }
            }
            if facts.train == 0 {
                problems.push(format!("The dataset {} has no train split to train on.", facts.name));
            } else if train.batch_size > facts.train {
                problems.push(format!(
                    "Batch size {} is larger than the train split ({} utterances); use at most {}.",
                    train.batch_size, facts.train, facts.train
                ));
            }
            if facts.valid == 0 {
                problems.push(format!(
                    "The dataset {} has no valid split; the best checkpoint is chosen on it.",
                    facts.name
                ));
            }
        }
    }
    if train.batch_size == 0 {
        problems.push("Batch size must be at least 1.".to_owned());
    }
    if train.epochs == 0 {
        problems.push("Train for at least one epoch.".to_owned());
    }
    if !(train.learning_rate.is_finite() && train.learning_rate > 0.0) {
        problems.push("The learning rate must be above 0.".to_owned());
    }
    if model.heads == 0 || model.hidden == 0 || !model.hidden.is_multiple_of(model.heads) {
        problems.push(format!("{} attention heads do not divide the hidden size {}.", model.heads, model.hidden));
    }
    if !(model.dropout.is_finite() && (0.0..1.0).contains(&model.dropout)) {
        problems.push(format!("Dropout is {}; it is a probability below 1.", model.dropout));
    }
    if !(train.warmup_fraction.is_finite() && (0.0..=1.0).contains(&train.warmup_fraction)) {
        problems.push(format!("The warm-up fraction is {}; it lies in [0, 1].", train.warmup_fraction));
    }
    if !(train.weight_decay.is_finite() && train.weight_decay >= 0.0) {
        problems.push("The weight decay must be 0 or above.".to_owned());
    }
    if !(train.grad_clip.is_finite() && train.grad_clip >= 0.0) {
        problems.push("The gradient clip must be 0 (off) or above.".to_owned());
    }
    if train.log_every == 0 {
        problems.push("Log every N steps: N must be at least 1.".to_owned());
    }
    if !(0.0..=1.0).contains(&loss.lambda) {
        problems.push(format!("λ is {}; it weighs two terms and lies in [0, 1].", loss.lambda));
    }
    if !positive(loss.temperature) {
        problems.push("The temperature τ must be above 0.".to_owned());
    }
    if !positive(loss.delta) {
        problems.push("The VA distance δ must be above 0 (only twins would be positives).".to_owned());
    }
    if !(positive(train.threshold) && train.threshold < 1.0) {
        problems.push("The decision threshold ζ lies strictly between 0 and 1.".to_owned());
    }
    let has_run = spec.run_dir.join("config.json").is_file();
    let has_checkpoint = spec.run_dir.join("trainer_state.json").is_file();
    if resume && !has_checkpoint {
        problems.push(format!("{} has no finished epoch to resume from; launch it afresh.", spec.run_dir.display()));
    }
    if !resume && has_run {
        problems.push(format!(
            "{} already holds a run; choose another run name, or resume it from the job list.",
            spec.run_dir.display()
        ));
    }
    problems
}

/// `cpu`, `cuda` or `cuda:N`.
fn remote_device_spec(device: &str) -> bool {
    let spec = device.trim().to_ascii_lowercase();
    spec == "cpu" || spec == "cuda" || spec.strip_prefix("cuda:").is_some_and(|n| n.parse::<usize>().is_ok())
}

fn positive(x: f32) -> bool {
    x.is_finite() && x > 0.0
}

/// The modalities of a dataset, for a selector: those with features.
pub fn available_modalities(facts: &DatasetFacts) -> Vec<Modality> {
    Modality::ALL.into_iter().filter(|&m| facts.feature_steps.get(m).is_some()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;
    use crate::train::RunConfig;

    fn facts() -> DatasetFacts {
        DatasetFacts {
            root: "d".into(),
            name: "demo".into(),
            train: 40,
            valid: 10,
            test: 10,
            feature_steps: PerModality { text: Some(8), vision: Some(6), audio: None },
        }
    }

    fn spec() -> JobSpec {
        let mut config = RunConfig::preset(Preset::Small);
        config.model.modalities = vec![Modality::Text, Modality::Vision];
        config.train.batch_size = 16;
        JobSpec {
            name: "r".into(),
            sweep: None,
            dataset: "d".into(),
            run_dir: "/nonexistent/run".into(),
            config,
            device: "cpu".into(),
            va_overlay: None,
            target: Default::default(),
        }
    }

    #[test]
    fn a_good_spec_has_no_problems() {
        assert_eq!(check(&spec(), Some(&facts()), &[], false), Vec::<String>::new());
    }

    #[test]
    fn invalid_combinations_are_each_explained() {
        let mut bad = spec();
        bad.config.model.modalities.clear();
        bad.config.train.batch_size = 64;
        bad.device = "cuda:0".into();
        let problems = check(&bad, Some(&facts()), &[], false);
        assert!(problems.iter().any(|p| p.contains("at least one modality")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("larger than the train split (40")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("cuda:0")), "{problems:?}");

        let mut audio = spec();
        audio.config.model.modalities = vec![Modality::Audio];
        let problems = check(&audio, Some(&facts()), &[], false);
        assert!(problems.iter().any(|p| p.contains("no audio features")), "{problems:?}");
        assert!(check(&spec(), Some(&facts()), &[], true).iter().any(|p| p.contains("no finished epoch")));
    }

    #[test]
    fn an_unreadable_va_overlay_is_explained_before_launch() {
        let mut overlay = spec();
        overlay.va_overlay = Some("/nonexistent/audited.csv".into());
        let problems = check(&overlay, Some(&facts()), &[], false);
        assert!(problems.iter().any(|p| p.starts_with("Audited VA: /nonexistent/audited.csv")), "{problems:?}");
        let args = overlay.train_args(Path::new("c.toml"), Path::new("stop"), false);
        let at = args.iter().position(|a| a == "--va-overlay").expect("the flag is passed");
        assert_eq!(args[at + 1], "/nonexistent/audited.csv");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_cpu_build_refuses_cuda_even_with_a_gpu() {
        let gpu = GpuInfo { index: 0, name: "GPU".into(), memory_mib: 1024 };
        let problem = device_problem("cuda:0", &[gpu]).unwrap();
        assert!(problem.contains("--features cuda"), "{problem}");
        assert_eq!(device_problem("CPU", &[]), None);
    }
}
