//! State of the Training room, apart from the panel that draws it (`training.rs`): the launch
//! form, the jobs of the runs folder, and what the form is checked against (the dataset's
//! splits and modalities, the devices). No egui; the app owns one for the whole session, so
//! jobs outlive a change of dataset in the workbench.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError};

use crate::dataset::Dataset;
use crate::fsutil::write_atomic;
use crate::jobs::sweep::{self, SweepAxis, SweepField};
use crate::jobs::{self, DatasetFacts, GpuInfo, JobId, JobManager, JobSpec, SlurmTarget, SshHost, Target};
use crate::model::Preset;
use crate::store::{self, OverlaySource, Store};
use crate::train::RunConfig;

use super::notice::Notice;
use super::session::Session;

/// A grid over one or two fields.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepForm {
    pub enabled: bool,
    /// The sweep's folder under the runs folder.
    pub name: String,
    pub first: SweepField,
    /// Comma-separated values of the first field.
    pub first_values: String,
    pub second: Option<SweepField>,
    pub second_values: String,
}

impl Default for SweepForm {
    fn default() -> Self {
        Self {
            enabled: false,
            name: "delta-sweep".to_owned(),
            first: SweepField::Delta,
            first_values: "0.05, 0.1, 0.15".to_owned(),
            second: None,
            second_values: String::new(),
        }
    }
}

/// Which VA values a run trains on.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum VaSource {
    /// The dataset's own (`utterances.csv`).
    #[default]
    Dataset,
    /// The corrected VA of the dataset's audit store, one annotator's or the consensus of all,
    /// exported as an overlay when the job is launched (a snapshot: later edits do not change
    /// what the run trained on).
    Audit(OverlaySource),
    /// An overlay CSV written earlier by `univa audit export` (the form's `va_overlay`).
    File,
}

/// Where a launch's audited VA snapshot is written: `RUNS/.audited/<run or sweep name>.csv`.
pub const AUDITED_DIR: &str = ".audited";

/// What the launch form holds.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingForm {
    /// Dataset folder to train on.
    pub dataset: String,
    /// Whether `dataset` follows the dataset open in the workbench.
    pub follows_session: bool,
    /// The run folder's name under the runs folder.
    pub run_name: String,
    /// Every field; `config.preset` is the preset it started from.
    pub config: RunConfig,
    /// Any other field, as TOML over `config` (e.g. `[model] dropout = 0.2`).
    pub extra_toml: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    pub va_source: VaSource,
    /// The overlay file of [`VaSource::File`].
    pub va_overlay: String,
    pub sweep: SweepForm,
    /// Where the jobs train.
    pub target: TargetForm,
}

/// Which kind of machine the jobs go to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetKind {
    #[default]
    Local,
    Ssh,
    Slurm,
}

/// The target part of the form: the host (an SSH host, or Slurm's login node) and Slurm's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetForm {
    pub kind: TargetKind,
    /// `user@host[:port]`.
    pub host: String,
    /// An identity file (`ssh -i`); empty: the agent or the default keys.
    pub identity: String,
    /// An ssh config file (`ssh -F`: known hosts, jump hosts); empty: the user's.
    pub ssh_config: String,
    /// The `univa` executable there.
    pub remote_univa: String,
    /// The folder there for copied datasets and run folders.
    pub work_dir: String,
    /// A dataset folder that exists there; empty: copy this one there.
    pub remote_dataset: String,
    /// Slurm through a login node over SSH (the host above), not on this machine.
    pub slurm_over_ssh: bool,
    pub slurm: SlurmTarget,
}

impl Default for TargetForm {
    fn default() -> Self {
        Self {
            kind: TargetKind::Local,
            host: String::new(),
            identity: String::new(),
            ssh_config: String::new(),
            remote_univa: "univa".to_owned(),
            work_dir: "univa-jobs".to_owned(),
            remote_dataset: String::new(),
            slurm_over_ssh: false,
            slurm: SlurmTarget::default(),
        }
    }
}

impl TargetForm {
    fn host(&self) -> Result<SshHost, String> {
        if self.host.trim().is_empty() {
            return Err("Type the host as user@host or user@host:port.".to_owned());
        }
        let mut host = SshHost::parse(&self.host).map_err(|e| e.to_string())?;
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        host.identity = text(&self.identity).map(PathBuf::from);
        host.ssh_config = text(&self.ssh_config).map(PathBuf::from);
        host.univa = text(&self.remote_univa).unwrap_or_else(|| "univa".to_owned());
        host.work_dir = text(&self.work_dir).unwrap_or_else(|| "univa-jobs".to_owned());
        host.dataset = text(&self.remote_dataset);
        Ok(host)
    }

    /// The target the form describes, or why it describes none.
    pub fn target(&self) -> Result<Target, String> {
        Ok(match self.kind {
            TargetKind::Local => Target::Local,
            TargetKind::Ssh => Target::Ssh(self.host()?),
            TargetKind::Slurm => Target::Slurm(SlurmTarget {
                login: if self.slurm_over_ssh { Some(self.host()?) } else { None },
                ..self.slurm.clone()
            }),
        })
    }
}

/// A preset's configuration with a step event every step, for live curves.
fn form_config(preset: Preset) -> RunConfig {
    let mut config = RunConfig::preset(preset);
    config.train.log_every = 1;
    config
}

impl Default for TrainingForm {
    fn default() -> Self {
        Self {
            dataset: String::new(),
            follows_session: true,
            run_name: "run-1".to_owned(),
            config: form_config(Preset::Small),
            extra_toml: String::new(),
            device: "cpu".to_owned(),
            va_source: VaSource::Dataset,
            va_overlay: String::new(),
            sweep: SweepForm::default(),
            target: TargetForm::default(),
        }
    }
}

/// What the Training room's panel asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainingCommand {
    SetForm(Box<TrainingForm>),
    /// Start over from a preset's configuration.
    SetPreset(Preset),
    /// Make the form follow the workbench's open dataset again.
    UseOpenDataset,
    Launch,
    Cancel(JobId),
    Resume(JobId),
    /// Drop a finished job from the list (its run folder stays).
    Forget(JobId),
    Select(JobId),
    /// Write runs (and the job history) into this folder from now on.
    SetRunsDir(PathBuf),
    /// Train on this dataset folder.
    SetDataset(PathBuf),
    /// Train on this VA overlay CSV.
    SetOverlay(PathBuf),
}

/// What the Training pane asks the app to choose with a file dialog; the answer comes back as
/// the [`TrainingCommand`] that sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainingPick {
    RunsDir,
    Dataset,
    Overlay,
}

/// The dataset facts the form was last checked against, and for which folder.
#[derive(Debug)]
struct FactsCache {
    root: PathBuf,
    facts: Result<DatasetFacts, String>,
}

pub struct TrainingState {
    pub form: TrainingForm,
    /// The jobs of the runs folder, opened when the room is first shown.
    pub manager: Option<JobManager>,
    /// The `univa` executable jobs run (tests point it at the built binary).
    trainer: PathBuf,
    facts: Option<FactsCache>,
    /// Why the form cannot be launched; empty when it can.
    pub problems: Vec<String>,
    /// Runs the form would launch (1, or the sweep's grid points).
    pub planned: usize,
    pub gpus: Vec<GpuInfo>,
    gpu_probe: Option<Receiver<Vec<GpuInfo>>>,
    pub selected: Option<JobId>,
    /// The annotators of the form's dataset's audit store, or why there are none to train on;
    /// reread when the room is shown and when the VA source changes.
    pub annotators: Result<Vec<String>, String>,
    /// Whether the room was visible last frame.
    shown: bool,
    /// The sbatch script a Slurm launch would submit, shown before it is.
    pub script_preview: Option<String>,
}

impl std::fmt::Debug for TrainingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingState")
            .field("form", &self.form)
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl Default for TrainingState {
    fn default() -> Self {
        Self {
            form: TrainingForm::default(),
            manager: None,
            trainer: JobManager::default_trainer(),
            facts: None,
            problems: Vec::new(),
            planned: 1,
            gpus: Vec::new(),
            gpu_probe: None,
            selected: None,
            annotators: Err("no dataset chosen".to_owned()),
            shown: false,
            script_preview: None,
        }
    }
}

impl TrainingState {
    /// Runs `trainer` as the `univa` executable of new jobs.
    pub fn set_trainer(&mut self, trainer: PathBuf) {
        self.trainer = trainer;
    }

    /// The facts of the form's dataset, or why it could not be read.
    pub fn facts(&self) -> Option<&Result<DatasetFacts, String>> {
        self.facts.as_ref().map(|c| &c.facts)
    }

    /// Per-frame work: opens the jobs when the room is `visible`, follows the open dataset,
    /// takes the GPU list, polls the trainers. Returns whether jobs are active (repaint).
    pub fn tick(&mut self, session: Option<&Session>, runs_dir: &Path, visible: bool) -> bool {
        let mut dirty = false;
        if visible && self.manager.is_none() {
            let manager = JobManager::open(runs_dir, self.trainer.clone());
            self.selected = manager.jobs().last().map(jobs::Job::id);
            self.manager = Some(manager);
            self.skip_taken_names(runs_dir);
            dirty = true;
        }
        if visible && self.gpu_probe.is_none() && self.gpus.is_empty() {
            self.gpu_probe = jobs::devices::probe().ok();
        }
        if let Some(probe) = &self.gpu_probe {
            match probe.try_recv() {
                Ok(gpus) => {
                    self.gpus = gpus;
                    self.gpu_probe = None;
                    dirty = true;
                }
                Err(TryRecvError::Disconnected) => self.gpu_probe = None,
                Err(TryRecvError::Empty) => {}
            }
        }
        if self.form.follows_session
            && let Some(session) = session
        {
            let root = session.dataset.root.display().to_string();
            if self.form.dataset != root {
                self.form.dataset = root;
                dirty = true;
            }
        }
        if visible && !self.shown {
            self.refresh_annotators(session);
            dirty = true;
        }
        self.shown = visible;
        let active = self.manager.as_mut().is_some_and(|m| {
            dirty |= m.poll();
            m.is_active()
        });
        if dirty && self.manager.is_some() {
            self.revalidate(session, runs_dir);
        }
        active
    }

    /// Applies one command; returns a notice for the status bar, if any.
    pub fn apply(
        &mut self,
        command: TrainingCommand,
        session: Option<&Session>,
        runs_dir: &mut PathBuf,
    ) -> Option<Notice> {
        let notice = match command {
            TrainingCommand::SetForm(form) => {
                let mut form = *form;
                if form.dataset != self.form.dataset {
                    form.follows_session = false;
                }
                let source_changed = form.va_source != self.form.va_source;
                self.form = form;
                if source_changed {
                    self.refresh_annotators(session);
                }
                None
            }
            TrainingCommand::SetPreset(preset) => {
                self.form.config = form_config(preset);
                None
            }
            TrainingCommand::UseOpenDataset => {
                self.form.follows_session = true;
                if let Some(session) = session {
                    self.form.dataset = session.dataset.root.display().to_string();
                }
                None
            }
            TrainingCommand::Launch => Some(self.launch(session, runs_dir)),
            TrainingCommand::Cancel(id) => self.with_manager(|m| m.cancel(id)),
            TrainingCommand::Resume(id) => {
                self.selected = Some(id);
                self.with_manager(|m| m.resume(id))
            }
            TrainingCommand::Forget(id) => {
                if self.selected == Some(id) {
                    self.selected = None;
                }
                self.with_manager(|m| m.forget(id))
            }
            TrainingCommand::Select(id) => {
                self.selected = Some(id);
                None
            }
            TrainingCommand::SetRunsDir(chosen) => self.set_runs_dir(chosen, runs_dir),
            TrainingCommand::SetDataset(dataset) => {
                self.form.dataset = dataset.display().to_string();
                self.form.follows_session = false;
                None
            }
            TrainingCommand::SetOverlay(overlay) => {
                self.form.va_overlay = overlay.display().to_string();
                None
            }
        };
        self.revalidate(session, runs_dir);
        notice
    }

    fn with_manager(&mut self, f: impl FnOnce(&mut JobManager) -> Result<(), jobs::JobsError>) -> Option<Notice> {
        let manager = self.manager.as_mut()?;
        let result = f(manager);
        manager.poll();
        result.err().map(|e| Notice::error(e.to_string()))
    }

    fn set_runs_dir(&mut self, chosen: PathBuf, runs_dir: &mut PathBuf) -> Option<Notice> {
        if self.manager.as_ref().is_some_and(JobManager::is_active) {
            return Some(Notice::error("Jobs are queued or running in this runs folder; wait or cancel them first."));
        }
        self.manager = Some(JobManager::open(&chosen, self.trainer.clone()));
        self.selected = None;
        *runs_dir = chosen;
        self.skip_taken_names(runs_dir);
        Some(Notice::info(format!("Runs go to {}", runs_dir.display())))
    }

    /// Moves the form's run and sweep names past folders the runs folder already has, so a
    /// fresh form can be launched as it is.
    fn skip_taken_names(&mut self, runs_dir: &Path) {
        if runs_dir.join(&self.form.run_name).exists() {
            self.form.run_name = next_free_name(runs_dir, &self.form.run_name);
        }
        if runs_dir.join(&self.form.sweep.name).exists() {
            self.form.sweep.name = next_free_name(runs_dir, &self.form.sweep.name);
        }
    }

    /// The jobs the form describes: one, or one per sweep grid point.
    fn plan(&self, runs_dir: &Path) -> Result<Vec<JobSpec>, String> {
        let form = &self.form;
        if form.dataset.trim().is_empty() {
            return Err("Choose a dataset folder (File → Open dataset…, or type its path).".to_owned());
        }
        let config = if form.extra_toml.trim().is_empty() {
            form.config.clone()
        } else {
            form.config.with_toml(&form.extra_toml).map_err(|e| format!("Other fields (TOML): {e}"))?
        };
        if !sweep::valid_name(&form.run_name) {
            return Err(format!(
                "Run name {:?}: use letters, digits, '-', '_' or '.', so it can name a folder.",
                form.run_name
            ));
        }
        let base = JobSpec {
            name: form.run_name.clone(),
            sweep: None,
            dataset: PathBuf::from(form.dataset.trim()),
            run_dir: runs_dir.join(&form.run_name),
            config,
            device: form.device.clone(),
            va_overlay: match form.va_source {
                VaSource::File if form.va_overlay.trim().is_empty() => {
                    return Err("Audited VA: type the path of an overlay CSV (`univa audit export`).".to_owned());
                }
                VaSource::File => Some(PathBuf::from(form.va_overlay.trim())),
                // Exported at launch (see `launch`); the dataset's VA until then.
                VaSource::Dataset | VaSource::Audit(_) => None,
            },
            target: form.target.target().map_err(|e| format!("Target: {e}"))?,
        };
        if !form.sweep.enabled {
            return Ok(vec![base]);
        }
        let mut axes = vec![SweepAxis::parse(form.sweep.first, &form.sweep.first_values).map_err(|e| e.to_string())?];
        if let Some(second) = form.sweep.second {
            axes.push(SweepAxis::parse(second, &form.sweep.second_values).map_err(|e| e.to_string())?);
        }
        sweep::expand(&base, &form.sweep.name, &axes, runs_dir).map_err(|e| e.to_string())
    }

    /// Rechecks the form against the dataset, the devices and the jobs already queued.
    pub fn revalidate(&mut self, session: Option<&Session>, runs_dir: &Path) {
        let root = PathBuf::from(self.form.dataset.trim());
        if self.facts.as_ref().is_none_or(|c| c.root != root) {
            let facts = match session.filter(|s| s.dataset.root == root) {
                Some(session) => Ok(DatasetFacts::of(&session.dataset)),
                None if root.as_os_str().is_empty() => Err("no dataset chosen".to_owned()),
                None => DatasetFacts::read(&root).map_err(|e| e.to_string()),
            };
            self.facts = Some(FactsCache { root, facts });
            self.refresh_annotators(session);
        }
        let specs = match self.plan(runs_dir) {
            Ok(specs) => specs,
            Err(problem) => {
                self.problems = vec![problem];
                self.planned = 0;
                self.script_preview = None;
                return;
            }
        };
        self.script_preview = match specs.first().map(|s| &s.target) {
            Some(Target::Slurm(slurm)) => {
                let next = self.manager.as_ref().map_or(1, JobManager::next_id);
                Some(jobs::slurm::script(slurm, &specs, runs_dir, &self.trainer, next))
            }
            _ => None,
        };
        let facts = self.facts.as_ref().and_then(|c| c.facts.as_ref().ok());
        let mut problems: Vec<String> = Vec::new();
        for spec in &specs {
            let taken = self.manager.as_ref().is_some_and(|m| {
                m.jobs().iter().any(|j| j.record.status.is_active() && j.record.spec.run_dir == spec.run_dir)
            });
            if taken {
                problems.push(format!("A queued or running job already writes {}.", spec.run_dir.display()));
            }
            for problem in jobs::check(spec, facts, &self.gpus, false) {
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
        if let Some(problem) = self.audit_problem() {
            problems.push(problem);
        }
        self.planned = specs.len();
        self.problems = problems;
    }

    /// Rereads the annotators of the form's dataset's audit store.
    fn refresh_annotators(&mut self, session: Option<&Session>) {
        let root = PathBuf::from(self.form.dataset.trim());
        self.annotators = if root.as_os_str().is_empty() {
            Err("no dataset chosen".to_owned())
        } else {
            self.open_store(session, &root).and_then(|(_, store)| {
                Ok(store.annotators().map_err(|e| e.to_string())?.into_iter().map(|a| a.name).collect())
            })
        };
    }

    /// The dataset at `root` (the session's when it is that one) and its existing audit store.
    fn open_store(&self, session: Option<&Session>, root: &Path) -> Result<(Option<Dataset>, Store), String> {
        match session.filter(|s| s.dataset.root == root) {
            Some(session) => Ok((None, Store::open_existing(&session.dataset, None).map_err(|e| e.to_string())?)),
            None => {
                let dataset = Dataset::open_lazy(root).map_err(|e| e.to_string())?;
                let store = Store::open_existing(&dataset, None).map_err(|e| e.to_string())?;
                Ok((Some(dataset), store))
            }
        }
    }

    /// Why the form's audited VA source cannot be trained on, if it cannot.
    fn audit_problem(&self) -> Option<String> {
        let VaSource::Audit(source) = &self.form.va_source else { return None };
        match (&self.annotators, source) {
            (Err(e), _) => Some(format!("Audited VA: {e}")),
            (Ok(names), OverlaySource::Annotator(name)) if !names.contains(name) => {
                Some(format!("Audited VA: the audit store has no annotator named {name:?}."))
            }
            (Ok(names), OverlaySource::Consensus(_)) if names.is_empty() => {
                Some("Audited VA: the audit store has no annotators yet.".to_owned())
            }
            _ => None,
        }
    }

    /// Writes the store's overlay of `source` to `out`; returns how many VA points it holds.
    fn export_audited(&self, session: Option<&Session>, source: &OverlaySource, out: &Path) -> Result<usize, String> {
        let root = PathBuf::from(self.form.dataset.trim());
        let (opened, store) = self.open_store(session, &root)?;
        let dataset = match (&opened, session) {
            (Some(dataset), _) => dataset,
            (None, Some(session)) => &session.dataset,
            (None, None) => return Err("no dataset chosen".to_owned()),
        };
        let overlay = store::overlay_of(&store, dataset, source, out).map_err(|e| e.to_string())?;
        let points: usize = overlay.rows.iter().map(|r| r.va.iter().filter(|(_, v)| v.is_some()).count()).sum();
        if points == 0 {
            return Err(format!("{}: no corrected or accepted VA to train on yet", store.path().display()));
        }
        let csv = overlay.to_csv().map_err(|e| e.to_string())?;
        out.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| write_atomic(out, &csv))
            .map_err(|e| format!("{}: {e}", out.display()))?;
        Ok(points)
    }

    fn launch(&mut self, session: Option<&Session>, runs_dir: &Path) -> Notice {
        self.revalidate(session, runs_dir);
        if let Some(first) = self.problems.first() {
            return Notice::error(format!("Cannot launch: {first}"));
        }
        let mut specs = match self.plan(runs_dir) {
            Ok(specs) => specs,
            Err(problem) => return Notice::error(format!("Cannot launch: {problem}")),
        };
        let mut audited = String::new();
        if let VaSource::Audit(source) = &self.form.va_source {
            let name = if self.form.sweep.enabled { &self.form.sweep.name } else { &self.form.run_name };
            let out = runs_dir.join(AUDITED_DIR).join(format!("{name}.csv"));
            match self.export_audited(session, source, &out) {
                Ok(points) => {
                    let plural = if points == 1 { "" } else { "s" };
                    audited = format!(" on audited VA ({points} point{plural}, {})", out.display());
                }
                Err(e) => return Notice::error(format!("Cannot launch: Audited VA: {e}")),
            }
            for spec in &mut specs {
                spec.va_overlay = Some(out.clone());
            }
        }
        let manager = self.manager.get_or_insert_with(|| JobManager::open(runs_dir, self.trainer.clone()));
        let mut first = None;
        for spec in specs {
            match manager.submit(spec) {
                Ok(id) => {
                    first.get_or_insert(id);
                }
                Err(e) => return Notice::error(format!("Cannot launch: {e}")),
            }
        }
        manager.poll();
        self.selected = first.or(self.selected);
        let count = self.planned;
        if self.form.sweep.enabled {
            self.form.sweep.name = next_free_name(runs_dir, &self.form.sweep.name);
        } else {
            self.form.run_name = next_free_name(runs_dir, &self.form.run_name);
        }
        Notice::info(if count == 1 {
            format!("Queued 1 training job{audited}")
        } else {
            format!("Queued {count} training jobs{audited}")
        })
    }
}

/// `name` with its trailing number raised until no folder of that name exists (`run-1` →
/// `run-2`, `delta-sweep` → `delta-sweep-2`).
fn next_free_name(runs_dir: &Path, name: &str) -> String {
    let (stem, mut n) = match name.rsplit_once('-') {
        Some((stem, number)) if number.parse::<u32>().is_ok() => (stem.to_owned(), number.parse::<u32>().unwrap_or(1)),
        _ => (name.to_owned(), 1),
    };
    loop {
        n += 1;
        let candidate = format!("{stem}-{n}");
        if !runs_dir.join(&candidate).exists() {
            return candidate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_names_count_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("run-2")).unwrap();
        assert_eq!(next_free_name(dir.path(), "run-1"), "run-3");
        assert_eq!(next_free_name(dir.path(), "delta-sweep"), "delta-sweep-2");
    }

    #[test]
    fn a_fresh_form_skips_the_names_the_runs_folder_has() {
        let dir = tempfile::tempdir().unwrap();
        for taken in ["run-1", "delta-sweep"] {
            std::fs::create_dir(dir.path().join(taken)).unwrap();
        }
        let mut state = TrainingState::default();
        state.tick(None, dir.path(), true);
        assert_eq!(state.form.run_name, "run-2");
        assert_eq!(state.form.sweep.name, "delta-sweep-2");
        assert!(!state.problems.iter().any(|p| p.contains("already holds")), "{:?}", state.problems);
    }
}
