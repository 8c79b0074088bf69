//! Training jobs as real `univa train` children: one that finishes and streams events, one that
//! is killed, one that exits with an error, cancel then resume, a δ sweep, queueing per device;
//! two job lists sharing one runs folder's history, and a job whose list has gone.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use univa::dataset::synth::{SynthConfig, write_synthetic};
use univa::jobs::sweep::{self, SweepAxis, SweepField};
use univa::jobs::{JobId, JobManager, JobSpec, JobStatus};
use univa::modality::PerModality;
use univa::model::Preset;
use univa::train::{RunConfig, RunInfo};

/// A 120-utterance synthetic dataset with short sequences, built once per test binary.
pub fn tiny_dataset() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jobs_fixture");
        let _ = std::fs::remove_dir_all(&data);
        let config = SynthConfig {
            utterances: 120,
            seed: 5,
            shapes: PerModality { text: (6, 8), vision: (4, 3), audio: (4, 5) },
            ..SynthConfig::default()
        };
        write_synthetic(&data, &config).unwrap();
        data
    })
}

/// A model small enough that an epoch takes a fraction of a second.
pub fn tiny_config(epochs: usize) -> RunConfig {
    let mut config = RunConfig::preset(Preset::Small);
    config.model.hidden = 16;
    config.model.heads = 2;
    config.model.intermediate = 32;
    config.train.batch_size = 16;
    config.train.epochs = epochs;
    config.train.log_every = 1;
    config
}

fn spec(runs: &Path, name: &str, config: RunConfig) -> JobSpec {
    JobSpec {
        name: name.to_owned(),
        sweep: None,
        dataset: tiny_dataset().to_path_buf(),
        run_dir: runs.join(name),
        config,
        device: "cpu".to_owned(),
        va_overlay: None,
        target: univa::jobs::Target::Local,
    }
}

fn manager(runs: &Path) -> JobManager {
    JobManager::open(runs, PathBuf::from(env!("CARGO_BIN_EXE_univa")))
}

/// Polls until `done` holds; fails after a minute.
fn wait_for(manager: &mut JobManager, what: &str, mut done: impl FnMut(&JobManager) -> bool) {
    let start = Instant::now();
    loop {
        manager.poll();
        if done(manager) {
            return;
        }
        let states: Vec<_> = manager.jobs().iter().map(|j| (&j.record.spec.name, &j.record.status)).collect();
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}: {states:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status(manager: &JobManager, id: JobId) -> JobStatus {
    manager.job(id).unwrap().record.status.clone()
}

#[test]
fn a_job_finishes_streams_its_events_and_is_kept_in_the_history() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let id = jobs.submit(spec(runs.path(), "run-1", tiny_config(2))).unwrap();
    wait_for(&mut jobs, "the job to end", |m| !m.job(id).unwrap().record.status.is_active());
    let job = jobs.job(id).unwrap();
    assert_eq!(job.record.status, JobStatus::Finished, "{:?}", job.record.stderr_tail);
    let curves = &job.curves;
    assert_eq!(curves.epochs.len(), 2);
    assert_eq!(curves.loss.len(), curves.total_steps);
    assert!(curves.contrastive.text.len() == curves.total_steps && !curves.kl.is_empty());
    assert!(curves.throughput.iter().all(|p| p[1] > 0.0));
    assert!(curves.best.is_some());
    assert!(job.record.stderr_tail.iter().any(|l| l.starts_with("training ")), "{:?}", job.record.stderr_tail);
    assert!(runs.path().join("run-1/model.safetensors").is_file());
    drop(jobs);

    // A new manager (the app started again) lists it, with the curves from the events file.
    let again = manager(runs.path());
    let job = again.job(id).unwrap();
    assert_eq!(job.record.status, JobStatus::Finished);
    assert_eq!(job.curves.epochs.len(), 2);
}

#[test]
fn a_killed_trainer_is_reported_dead_with_its_log() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let id = jobs.submit(spec(runs.path(), "killed", tiny_config(500))).unwrap();
    wait_for(&mut jobs, "the first step", |m| !m.job(id).unwrap().curves.loss.is_empty());
    let pid = jobs.job(id).unwrap().pid().unwrap();
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    wait_for(&mut jobs, "the death", |m| !m.job(id).unwrap().record.status.is_active());
    let record = &jobs.job(id).unwrap().record;
    let JobStatus::Died { message } = &record.status else { panic!("{:?}", record.status) };
    assert!(message.contains("signal 9"), "{message}");
    assert!(record.stderr_tail.iter().any(|l| l.starts_with("training ")), "{:?}", record.stderr_tail);
}

#[test]
fn a_trainer_that_does_not_stop_in_time_is_killed() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    jobs.set_grace(Duration::ZERO);
    let id = jobs.submit(spec(runs.path(), "stubborn", tiny_config(500))).unwrap();
    wait_for(&mut jobs, "the first step", |m| !m.job(id).unwrap().curves.loss.is_empty());
    jobs.cancel(id).unwrap();
    wait_for(&mut jobs, "the kill", |m| !m.job(id).unwrap().record.status.is_active());
    // Either it was killed, or it managed its step within the same poll; never still running.
    assert!(matches!(status(&jobs, id), JobStatus::Cancelled { .. }), "{:?}", status(&jobs, id));
}

#[test]
fn a_trainer_that_fails_shows_its_error() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let mut config = tiny_config(1);
    config.model.max_positions = 2;
    let id = jobs.submit(spec(runs.path(), "bad", config)).unwrap();
    wait_for(&mut jobs, "the failure", |m| !m.job(id).unwrap().record.status.is_active());
    let JobStatus::Failed { message } = status(&jobs, id) else { panic!("{:?}", status(&jobs, id)) };
    assert!(message.contains("max_positions"), "{message}");
}

#[test]
fn cancel_keeps_the_checkpoint_and_resume_continues_from_it() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let id = jobs.submit(spec(runs.path(), "long", tiny_config(500))).unwrap();
    wait_for(&mut jobs, "two epochs", |m| m.job(id).unwrap().curves.epochs.len() >= 2);
    assert!(!jobs.job(id).unwrap().can_resume(), "a running job is not resumable");
    jobs.cancel(id).unwrap();
    assert_eq!(status(&jobs, id), JobStatus::Stopping);
    wait_for(&mut jobs, "the stop", |m| !m.job(id).unwrap().record.status.is_active());
    assert_eq!(status(&jobs, id), JobStatus::Cancelled { forced: false });
    let job = jobs.job(id).unwrap();
    assert!(job.curves.stopped.is_some());
    assert!(job.can_resume());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.path().join("long/trainer_state.json")).unwrap()).unwrap();
    let checkpoint = state["epochs_done"].as_u64().unwrap() as usize;
    assert!(checkpoint >= 2);

    jobs.resume(id).unwrap();
    wait_for(&mut jobs, "an epoch after the resume", |m| m.job(id).unwrap().curves.epochs.len() > checkpoint);
    let job = jobs.job(id).unwrap();
    assert_eq!(job.record.status, JobStatus::Running { resume: true });
    // Epochs go on from the checkpoint: none is trained twice, none is missing.
    let numbers: Vec<usize> = job.curves.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(numbers, (1..=numbers.len()).collect::<Vec<_>>());
    assert_eq!(job.record.attempts, 2);
    jobs.cancel(id).unwrap();
    wait_for(&mut jobs, "the second stop", |m| !m.job(id).unwrap().record.status.is_active());
}

#[test]
fn a_delta_sweep_trains_one_run_folder_per_value_one_at_a_time() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let axis = SweepAxis::parse(SweepField::Delta, "0.05, 0.1, 0.3").unwrap();
    let base = spec(runs.path(), "base", tiny_config(1));
    let specs = sweep::expand(&base, "delta-sweep", &[axis], runs.path()).unwrap();
    let ids: Vec<JobId> = specs.into_iter().map(|s| jobs.submit(s).unwrap()).collect();
    let mut most_running = 0;
    wait_for(&mut jobs, "the sweep", |m| {
        let running = m.jobs().iter().filter(|j| matches!(j.record.status, JobStatus::Running { .. })).count();
        most_running = most_running.max(running);
        ids.iter().all(|&id| !m.job(id).unwrap().record.status.is_active())
    });
    assert_eq!(most_running, 1, "one device, one job at a time");
    for (id, delta) in ids.iter().zip([0.05f32, 0.1, 0.3]) {
        assert_eq!(status(&jobs, *id), JobStatus::Finished);
        let dir = runs.path().join(format!("delta-sweep/delta={delta}"));
        let info: RunInfo = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        assert!((info.config.loss.delta - delta).abs() < 1e-7);
        assert!(dir.join("model.safetensors").is_file());
    }
}

#[test]
fn jobs_queue_per_device_and_a_missing_device_fails_alone() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let first = jobs.submit(spec(runs.path(), "first", tiny_config(1))).unwrap();
    let second = jobs.submit(spec(runs.path(), "second", tiny_config(1))).unwrap();
    let gpu = jobs.submit(JobSpec { device: "CUDA".to_owned(), ..spec(runs.path(), "gpu", tiny_config(1)) }).unwrap();
    jobs.poll();
    assert_eq!(status(&jobs, first), JobStatus::Running { resume: false });
    assert_eq!(status(&jobs, second), JobStatus::Queued { resume: false });
    // Another device does not wait for the CPU.
    assert!(matches!(status(&jobs, gpu), JobStatus::Running { .. } | JobStatus::Failed { .. }));
    assert_eq!(jobs.job(gpu).unwrap().record.spec.device, "cuda:0");
    wait_for(&mut jobs, "all three", |m| !m.is_active());
    assert_eq!(status(&jobs, first), JobStatus::Finished);
    assert_eq!(status(&jobs, second), JobStatus::Finished);
    if !univa::jobs::devices::cuda_built() {
        let JobStatus::Failed { message } = status(&jobs, gpu) else { panic!("{:?}", status(&jobs, gpu)) };
        assert!(message.contains("--features cuda"), "{message}");
    }
    // A queued job cancels at once.
    let queued = jobs.submit(spec(runs.path(), "third", tiny_config(50))).unwrap();
    let fourth = jobs.submit(spec(runs.path(), "fourth", tiny_config(1))).unwrap();
    jobs.poll();
    jobs.cancel(fourth).unwrap();
    assert_eq!(status(&jobs, fourth), JobStatus::Cancelled { forced: false });
    jobs.cancel(queued).unwrap();
    wait_for(&mut jobs, "the cancel", |m| !m.is_active());
}

#[test]
fn two_processes_share_the_history_without_losing_jobs_or_sharing_ids() {
    // Two job lists on one runs folder, as the window and `univa jobs submit` are.
    let runs = tempfile::tempdir().unwrap();
    let mut window = manager(runs.path());
    let mut cli = manager(runs.path());
    let long = window.submit(spec(runs.path(), "long", tiny_config(500))).unwrap();
    let queued = cli.submit(spec(runs.path(), "queued", tiny_config(1))).unwrap();
    assert_ne!(long, queued, "ids are taken under the history's lock");
    wait_for(&mut window, "the window's job to run", |m| !m.job(long).unwrap().curves.loss.is_empty());
    // The window lists the other list's job, queued there behind the window's job on the same
    // device, and does not start it itself.
    let theirs = window.job(queued).expect("the other process's job is listed");
    assert!(!window.owns(theirs) && window.run_elsewhere(theirs).is_some());
    assert_eq!(theirs.record.status, JobStatus::Queued { resume: false });
    // Each list saving again keeps the other's job in the file.
    cli.poll();
    window.poll();
    let ids: Vec<JobId> = univa::jobs::read_history(runs.path()).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![long, queued]);
    // The other list sees the window's running job, live curves included, and cancels it
    // through its stop file; the window records the outcome.
    wait_for(&mut cli, "the window's job, running, with curves", |m| {
        let job = m.job(long).unwrap();
        matches!(job.record.status, JobStatus::Running { .. }) && !job.curves.loss.is_empty()
    });
    let refused = window.cancel(queued).unwrap_err().to_string();
    assert!(refused.contains("queued by another univa process"), "{refused}");
    cli.cancel(long).unwrap();
    wait_for(&mut window, "the stop", |m| !m.job(long).unwrap().record.status.is_active());
    assert_eq!(status(&window, long), JobStatus::Cancelled { forced: false });
    // Its device free, the other list starts its own job and finishes it.
    wait_for(&mut cli, "the queued job to finish", |m| !m.job(queued).unwrap().record.status.is_active());
    assert_eq!(status(&cli, queued), JobStatus::Finished);
    wait_for(&mut window, "the window to see both ends", |m| {
        m.job(queued).is_some_and(|j| j.record.status == JobStatus::Finished)
    });
    assert_eq!(status(&cli, long), JobStatus::Cancelled { forced: false });
    // Forgetting in one list removes the job from the other's too.
    window.forget(queued).unwrap();
    wait_for(&mut cli, "the forgotten job to go", |m| m.job(queued).is_none());
    assert_eq!(univa::jobs::read_history(runs.path()).unwrap().len(), 1);
}

#[test]
fn a_job_whose_process_has_gone_is_taken_over_as_interrupted() {
    let runs = tempfile::tempdir().unwrap();
    let mut first = manager(runs.path());
    let id = first.submit(spec(runs.path(), "cut-off", tiny_config(500))).unwrap();
    let mut other = manager(runs.path());
    other.poll();
    assert!(other.run_elsewhere(other.job(id).unwrap()).is_some());
    // The first list goes (its process closed) while its job is still queued: the other list
    // takes the job over within a second, and a list opened later finds it so.
    drop(first);
    wait_for(&mut other, "the take-over", |m| m.owns(m.job(id).unwrap()));
    assert_eq!(status(&other, id), JobStatus::Interrupted);
    let on_disk = univa::jobs::read_history(runs.path()).unwrap();
    assert_eq!(on_disk[0].status, JobStatus::Interrupted, "the take-over is written");
    let reopened = manager(runs.path());
    assert_eq!(status(&reopened, id), JobStatus::Interrupted);
}
