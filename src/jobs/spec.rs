//! What one job trains: the arguments of its `univa train` child.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::shell::{quote, shell_path};
use super::target::Target;
use crate::train::RunConfig;

/// One training run: a dataset, a run folder, the whole configuration and a device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// What lists show: the run's name, or its sweep point (`delta=0.1`).
    pub name: String,
    /// The sweep the job is a point of.
    #[serde(default)]
    pub sweep: Option<String>,
    pub dataset: PathBuf,
    pub run_dir: PathBuf,
    pub config: RunConfig,
    /// `cpu` or `cuda:N`; jobs on one device run one at a time.
    pub device: String,
    /// Audited VA to train on instead of the dataset's (`univa audit export`), passed as
    /// `--va-overlay`.
    #[serde(default)]
    pub va_overlay: Option<PathBuf>,
    /// Where it trains: here, over SSH, or on Slurm. Paths above are this machine's.
    #[serde(default)]
    pub target: Target,
}

impl JobSpec {
    /// The configuration as the TOML file the child reads with `--config`: every field, so the
    /// child trains exactly what the spec says whatever the presets' defaults become.
    pub fn config_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(&self.config)
    }

    /// The arguments after the executable. Events go to standard output as JSON lines; the
    /// human-readable log goes to standard error.
    pub fn train_args(&self, config_file: &Path, stop_file: &Path, resume: bool) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "train".into(),
            "--dataset".into(),
            self.dataset.clone().into(),
            "--out".into(),
            self.run_dir.clone().into(),
            "--config".into(),
            config_file.into(),
            "--device".into(),
            self.device.clone().into(),
            "--events".into(),
            "-".into(),
            "--stop-file".into(),
            stop_file.into(),
        ];
        if let Some(overlay) = &self.va_overlay {
            args.push("--va-overlay".into());
            args.push(overlay.clone().into());
        }
        if resume {
            args.push("--resume".into());
        }
        args
    }

    /// The `univa train` command line for a shell on another machine, whose paths are given
    /// (already in that machine's terms; `~/` at their start is left for the shell to expand).
    pub fn remote_train_command(&self, univa: &str, at: &RemotePaths<'_>, resume: bool) -> String {
        let mut words = vec![
            shell_path(univa),
            "train".to_owned(),
            "--dataset".to_owned(),
            shell_path(at.dataset),
            "--out".to_owned(),
            shell_path(at.run),
            "--config".to_owned(),
            shell_path(at.config),
            "--device".to_owned(),
            quote(&self.device),
            "--events".to_owned(),
            "-".to_owned(),
        ];
        if let Some(stop) = at.stop {
            words.push("--stop-file".to_owned());
            words.push(shell_path(stop));
        }
        if let Some(overlay) = at.overlay {
            words.push("--va-overlay".to_owned());
            words.push(shell_path(overlay));
        }
        if resume {
            words.push("--resume".to_owned());
        }
        words.join(" ")
    }
}

/// A job's paths on the machine that trains it.
#[derive(Clone, Copy, Debug)]
pub struct RemotePaths<'a> {
    pub dataset: &'a str,
    pub run: &'a str,
    pub config: &'a str,
    /// The stop file the trainer watches; none where cancel is by other means (`scancel`).
    pub stop: Option<&'a str>,
    pub overlay: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;

    #[test]
    fn the_config_file_reads_back_to_the_same_config() {
        let mut config = RunConfig::preset(Preset::MoseiGlove);
        config.loss.delta = 0.15;
        config.train.learning_rate = 3e-4;
        config.model.modalities = vec![crate::modality::Modality::Text];
        let spec = JobSpec {
            name: "r".into(),
            sweep: None,
            dataset: "d".into(),
            run_dir: "r".into(),
            config: config.clone(),
            device: "cpu".into(),
            va_overlay: None,
            target: Target::Local,
        };
        let text = spec.config_toml().unwrap();
        // Whatever preset the CLI starts from, the file's own preset and fields win.
        assert_eq!(RunConfig::from_toml_over(Preset::Small, &text).unwrap(), config);
        let args = spec.train_args(Path::new("c.toml"), Path::new("stop"), true);
        assert_eq!(args.last().unwrap(), "--resume");
        assert!(args.windows(2).any(|w| w[0] == "--events" && w[1] == "-"));
    }
}
