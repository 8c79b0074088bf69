//! Training jobs on other machines, against real servers on loopback (`servers`): a host over
//! SSH (dataset copied with rsync, events streamed back, run folder copied back, cancel reaching
//! the trainer there, resume), a one-node Slurm cluster (generated sbatch script, Slurm's states,
//! scancel, a sweep as a job array, a login node over SSH), `univa jobs`, and the Training room.
//! Each prints its time from submit to first event.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use serde_json::Value;
use univa::jobs::ssh::Places;
use univa::jobs::sweep::{self, SweepAxis, SweepField};
use univa::jobs::{JobId, JobManager, JobSpec, JobStatus, SlurmTarget, Target};
use univa::train::RunConfig;
use univa::ui::{
    Command as UiCommand, Layout, MetricsStatus, StudioApp, TargetKind, TrainingCommand, ViewSettings, Workspace,
};

use crate::jobs::{tiny_config, tiny_dataset};
use crate::servers::{slurm, sshd};

const LIMIT: Duration = Duration::from_secs(300);

fn demo() -> PathBuf {
    std::path::absolute(univa::bundle::path("assets/demo")).unwrap()
}

fn spec(target: Target, runs: &Path, name: &str, dataset: &Path, config: RunConfig) -> JobSpec {
    JobSpec {
        name: name.to_owned(),
        sweep: None,
        dataset: dataset.to_path_buf(),
        run_dir: runs.join(name),
        config,
        device: "cpu".to_owned(),
        va_overlay: None,
        target,
    }
}

fn manager(runs: &Path) -> JobManager {
    JobManager::open(runs, PathBuf::from(env!("CARGO_BIN_EXE_univa")))
}

/// Polls until `done` holds, keeping each remote state seen; fails after `LIMIT`.
fn wait_for(
    manager: &mut JobManager,
    id: JobId,
    what: &str,
    seen: &mut Vec<String>,
    mut done: impl FnMut(&JobManager) -> bool,
) {
    let start = Instant::now();
    loop {
        manager.poll();
        let record = &manager.job(id).unwrap().record;
        if let Some(state) = &record.remote_state
            && seen.last() != Some(state)
        {
            seen.push(state.clone());
        }
        if done(manager) {
            return;
        }
        assert!(
            start.elapsed() < LIMIT,
            "timed out waiting for {what}: {:?} {seen:?} {:?}",
            record.status,
            record.stderr_tail
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ended(id: JobId) -> impl FnMut(&JobManager) -> bool {
    move |m| !m.job(id).unwrap().record.status.is_active()
}

fn status(manager: &JobManager, id: JobId) -> JobStatus {
    manager.job(id).unwrap().record.status.clone()
}

/// Submits and returns the time until the trainer's first event arrived here.
fn submit_and_time_first_event(manager: &mut JobManager, spec: JobSpec, seen: &mut Vec<String>) -> (JobId, Duration) {
    let submitted = Instant::now();
    let id = manager.submit(spec).unwrap();
    wait_for(manager, id, "the first event", seen, |m| {
        let job = m.job(id).unwrap();
        job.curves.device.is_some() || !job.record.status.is_active()
    });
    (id, submitted.elapsed())
}

fn eval_json(run: &Path, data: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_univa"))
        .args(["eval", "--run"])
        .arg(run)
        .arg("--dataset")
        .arg(data)
        .args(["--split", "test", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The run browser on `runs` lists `run` and shows `univa eval`'s metrics for it.
fn browser_shows_eval_metrics(runs: &Path, run: &Path, data: &Path) {
    let settings = ViewSettings {
        workspace: Workspace::at(Layout::Runs),
        runs_dir: runs.to_path_buf(),
        ..ViewSettings::default()
    };
    let mut harness = crate::gui::harness_of(StudioApp::new(settings), None);
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    let name = run.strip_prefix(runs).unwrap().display().to_string();
    assert!(harness.query_all_by_label(&name).count() >= 1, "the run browser does not list {name}");
    let app = harness.state();
    let Some(MetricsStatus::Done(metrics)) = app.runs.status(run) else {
        panic!("no metrics for {}: {:?}", run.display(), app.runs.status(run))
    };
    assert_eq!(
        serde_json::to_value(metrics).unwrap(),
        eval_json(run, data),
        "the browser's metrics are `univa eval`'s"
    );
}

fn recorded_dataset(run: &Path) -> PathBuf {
    let config: Value = serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    PathBuf::from(config["dataset_path"].as_str().unwrap())
}

/// Whether process `pid` runs (a zombie waiting for its parent does not).
fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
}

#[test]
fn an_ssh_job_on_the_demo_streams_events_comes_back_and_evaluates_like_univa_eval() {
    let host = sshd().host();
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let mut seen = Vec::new();
    let job = spec(Target::Ssh(host), runs.path(), "demo-ssh", &demo(), tiny_config(2));
    let (id, first) = submit_and_time_first_event(&mut jobs, job, &mut seen);
    eprintln!("ssh: submit → first event {:.2} s (dataset copied with rsync)", first.as_secs_f64());
    // Live: steps arrive while the trainer still runs there.
    wait_for(&mut jobs, id, "steps while running", &mut seen, |m| {
        let job = m.job(id).unwrap();
        !job.curves.loss.is_empty() || !job.record.status.is_active()
    });
    assert!(status(&jobs, id).is_active(), "{:?}", jobs.job(id).unwrap().record);
    wait_for(&mut jobs, id, "the end", &mut seen, ended(id));
    let record = &jobs.job(id).unwrap().record;
    assert_eq!(record.status, JobStatus::Finished, "{:?}", record.stderr_tail);
    for state in ["copying the dataset", "running", "copying the run folder back"] {
        assert!(seen.iter().any(|s| s == state), "{state} not among {seen:?}");
    }
    let curves = &jobs.job(id).unwrap().curves;
    assert_eq!(curves.epochs.len(), 2);
    assert_eq!(curves.loss.len(), curves.total_steps);
    let run = runs.path().join("demo-ssh");
    assert!(run.join("model.safetensors").is_file() && run.join("trainer_state.json").is_file());
    assert_eq!(recorded_dataset(&run), demo(), "the run copied back points at the dataset here");
    browser_shows_eval_metrics(runs.path(), &run, &demo());
}

#[test]
fn cancel_reaches_the_trainer_on_the_ssh_host_and_resume_continues_there() {
    let host = sshd().host();
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let job = spec(Target::Ssh(host.clone()), runs.path(), "long", tiny_dataset(), tiny_config(500));
    let places = Places::of(&host, &job, runs.path());
    let mut seen = Vec::new();
    let id = jobs.submit(job).unwrap();
    wait_for(&mut jobs, id, "two epochs", &mut seen, |m| m.job(id).unwrap().curves.epochs.len() >= 2);
    let pid = std::fs::read_to_string(places.pid()).unwrap().trim().to_owned();
    assert!(alive(&pid), "the trainer there (pid {pid}) runs");
    jobs.cancel(id).unwrap();
    wait_for(&mut jobs, id, "the stop", &mut seen, ended(id));
    assert_eq!(
        status(&jobs, id),
        JobStatus::Cancelled { forced: false },
        "{:?}",
        jobs.job(id).unwrap().record.stderr_tail
    );
    assert!(!alive(&pid), "the trainer there (pid {pid}) is gone");
    let run = runs.path().join("long");
    assert!(run.join("trainer_state.json").is_file(), "the checkpoint came back");
    let epochs = jobs.job(id).unwrap().curves.epochs.len();

    // Resume copies the run folder there again (a clean host would lack it) and continues.
    std::fs::remove_dir_all(&places.run).unwrap();
    jobs.resume(id).unwrap();
    wait_for(&mut jobs, id, "the resumed run's epochs", &mut seen, |m| {
        let job = m.job(id).unwrap();
        job.record.attempts == 2 && job.curves.epochs.len() > epochs
    });
    assert_eq!(status(&jobs, id), JobStatus::Running { resume: true });
    assert!(
        jobs.job(id).unwrap().record.stderr_tail.iter().any(|l| l.contains(&format!("epochs {}..", epochs + 1))),
        "{:?}",
        jobs.job(id).unwrap().record.stderr_tail
    );
    jobs.cancel(id).unwrap();
    wait_for(&mut jobs, id, "the second stop", &mut seen, ended(id));
    assert!(matches!(status(&jobs, id), JobStatus::Cancelled { .. }));
}

#[test]
fn a_lost_connection_stops_the_trainer_there() {
    let host = sshd().host();
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let job = spec(Target::Ssh(host.clone()), runs.path(), "cut", tiny_dataset(), tiny_config(500));
    let places = Places::of(&host, &job, runs.path());
    let mut seen = Vec::new();
    let id = jobs.submit(job).unwrap();
    wait_for(&mut jobs, id, "an epoch", &mut seen, |m| !m.job(id).unwrap().curves.epochs.is_empty());
    let pid = jobs.job(id).unwrap().record.remote_id.clone().expect("the trainer's pid there");
    assert_eq!(std::fs::read_to_string(places.pid()).unwrap().trim(), pid);
    // The ssh client dies as it would with this machine's power.
    let ssh = Command::new("pgrep").args(["-f", &format!("^ssh .*{}.*--events", places.run)]).output().unwrap();
    let ssh = String::from_utf8_lossy(&ssh.stdout).lines().next().expect("the job's ssh process").to_owned();
    assert!(Command::new("kill").args(["-KILL", &ssh]).status().unwrap().success());
    let start = Instant::now();
    while alive(&pid) {
        assert!(start.elapsed() < Duration::from_secs(30), "the trainer there (pid {pid}) outlived its session");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_for(&mut jobs, id, "the job's end", &mut seen, ended(id));
    let JobStatus::Died { message } = status(&jobs, id) else { panic!("{:?}", status(&jobs, id)) };
    assert!(message.contains("signal 9"), "{message}");
}

#[test]
fn an_unreachable_host_fails_with_ssh_s_message() {
    let mut host = sshd().host();
    host.port = Some(crate::servers::free_port());
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let id = jobs.submit(spec(Target::Ssh(host), runs.path(), "r", tiny_dataset(), tiny_config(1))).unwrap();
    wait_for(&mut jobs, id, "the failure", &mut Vec::new(), ended(id));
    let JobStatus::Failed { message } = status(&jobs, id) else { panic!("{:?}", status(&jobs, id)) };
    assert!(message.contains("copying the dataset") && message.contains("Connection refused"), "{message}");
}

fn slurm_target() -> Target {
    Target::Slurm(slurm().target())
}

#[test]
fn a_slurm_job_on_the_demo_shows_slurm_s_states_live_curves_and_evaluates_like_univa_eval() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let mut seen = Vec::new();
    let job = spec(slurm_target(), runs.path(), "demo-slurm", &demo(), tiny_config(2));
    let (id, first) = submit_and_time_first_event(&mut jobs, job, &mut seen);
    eprintln!("slurm: submit → first event {:.2} s", first.as_secs_f64());
    let slurm_id = jobs.job(id).unwrap().record.remote_id.clone().expect("a Slurm job id");
    wait_for(&mut jobs, id, "steps while RUNNING", &mut seen, |m| {
        let job = m.job(id).unwrap();
        !job.curves.loss.is_empty() || !job.record.status.is_active()
    });
    assert!(status(&jobs, id).is_active());
    wait_for(&mut jobs, id, "the end", &mut seen, ended(id));
    let record = &jobs.job(id).unwrap().record;
    assert_eq!(record.status, JobStatus::Finished, "{:?} {:?}", record.stderr_tail, seen);
    assert!(seen.iter().any(|s| s == "RUNNING"), "{seen:?}");
    assert_eq!(record.remote_state.as_deref(), Some("COMPLETED"));
    assert_eq!(jobs.job(id).unwrap().curves.epochs.len(), 2);
    let script = std::fs::read_to_string(runs.path().join(format!(".jobs/{id}/job.sbatch"))).unwrap();
    assert!(script.contains("#SBATCH --time=00:20:00") && script.contains("--events -"), "{script}");
    // The trainer's log is Slurm's output file, and its tail is the job's.
    assert!(runs.path().join(format!(".jobs/{id}/slurm-{slurm_id}.out")).is_file());
    assert!(record.stderr_tail.iter().any(|l| l.starts_with("training ")), "{:?}", record.stderr_tail);
    let run = runs.path().join("demo-slurm");
    browser_shows_eval_metrics(runs.path(), &run, &demo());
}

fn squeue_state(id: &str) -> String {
    let out = slurm().command("squeue").args(["-h", "-t", "all", "-j", id, "-o", "%T"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn cancel_of_a_running_slurm_job_is_scancel() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let mut seen = Vec::new();
    let id = jobs.submit(spec(slurm_target(), runs.path(), "long", tiny_dataset(), tiny_config(500))).unwrap();
    wait_for(&mut jobs, id, "an epoch", &mut seen, |m| !m.job(id).unwrap().curves.epochs.is_empty());
    let slurm_id = jobs.job(id).unwrap().record.remote_id.clone().unwrap();
    assert_eq!(squeue_state(&slurm_id), "RUNNING");
    jobs.cancel(id).unwrap();
    wait_for(&mut jobs, id, "the cancel", &mut seen, ended(id));
    assert_eq!(status(&jobs, id), JobStatus::Cancelled { forced: false });
    assert_eq!(jobs.job(id).unwrap().record.remote_state.as_deref(), Some("CANCELLED"));
    assert_eq!(squeue_state(&slurm_id), "CANCELLED");
    // The last finished epoch is kept: resume continues on Slurm.
    jobs.resume(id).unwrap();
    wait_for(&mut jobs, id, "the resumed job's steps", &mut seen, |m| {
        let job = m.job(id).unwrap();
        job.record.attempts == 2
            && job.record.remote_id.as_deref().is_some_and(|r| r != slurm_id)
            && job.curves.device.is_some()
    });
    jobs.cancel(id).unwrap();
    wait_for(&mut jobs, id, "the second cancel", &mut seen, ended(id));
}

#[test]
fn a_slurm_job_outlives_the_app_and_is_followed_again() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let mut seen = Vec::new();
    let id = jobs.submit(spec(slurm_target(), runs.path(), "long", tiny_dataset(), tiny_config(500))).unwrap();
    wait_for(&mut jobs, id, "an epoch", &mut seen, |m| !m.job(id).unwrap().curves.epochs.is_empty());
    let slurm_id = jobs.job(id).unwrap().record.remote_id.clone().unwrap();
    drop(jobs);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(squeue_state(&slurm_id), "RUNNING", "closing the app leaves the Slurm job running");

    let mut jobs = manager(runs.path());
    assert_eq!(status(&jobs, id), JobStatus::Running { resume: false });
    let steps = jobs.job(id).unwrap().curves.loss.len();
    wait_for(&mut jobs, id, "new steps", &mut seen, |m| m.job(id).unwrap().curves.loss.len() > steps + 5);
    jobs.cancel(id).unwrap();
    wait_for(&mut jobs, id, "the cancel", &mut seen, ended(id));
    assert_eq!(status(&jobs, id), JobStatus::Cancelled { forced: false });
    assert_eq!(squeue_state(&slurm_id), "CANCELLED");
}

#[test]
fn a_sweep_on_slurm_is_one_job_array() {
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let base = spec(slurm_target(), runs.path(), "base", tiny_dataset(), tiny_config(1));
    let axes = [SweepAxis::parse(SweepField::Delta, "0.1, 0.2").unwrap()];
    let points = sweep::expand(&base, "delta-sweep", &axes, runs.path()).unwrap();
    let ids: Vec<JobId> = points.into_iter().map(|p| jobs.submit(p).unwrap()).collect();
    let mut seen = Vec::new();
    for &id in &ids {
        wait_for(&mut jobs, id, "the array task's end", &mut seen, ended(id));
        assert_eq!(status(&jobs, id), JobStatus::Finished, "{:?}", jobs.job(id).unwrap().record.stderr_tail);
    }
    let remote: Vec<String> = ids.iter().map(|&id| jobs.job(id).unwrap().record.remote_id.clone().unwrap()).collect();
    let array = remote[0].split('_').next().unwrap().to_owned();
    assert_eq!(remote, [format!("{array}_0"), format!("{array}_1")]);
    let script = std::fs::read_to_string(runs.path().join(format!(".jobs/{}/job.sbatch", ids[0]))).unwrap();
    assert!(script.contains("#SBATCH --array=0-1"), "{script}");
    for point in ["delta=0.1", "delta=0.2"] {
        assert!(runs.path().join("delta-sweep").join(point).join("model.safetensors").is_file(), "{point}");
    }
}

#[test]
fn slurm_through_a_login_node_over_ssh_copies_the_run_back() {
    let mut host = sshd().host();
    host.work_dir = sshd().dir.join("login-work").display().to_string();
    let target = Target::Slurm(SlurmTarget { login: Some(host), ..slurm().target() });
    let runs = tempfile::tempdir().unwrap();
    let mut jobs = manager(runs.path());
    let mut seen = Vec::new();
    let (id, first) = submit_and_time_first_event(
        &mut jobs,
        spec(target, runs.path(), "login", tiny_dataset(), tiny_config(2)),
        &mut seen,
    );
    eprintln!("slurm+ssh: submit → first event {:.2} s", first.as_secs_f64());
    wait_for(&mut jobs, id, "the end", &mut seen, ended(id));
    let job = jobs.job(id).unwrap();
    assert_eq!(job.record.status, JobStatus::Finished, "{:?} {seen:?}", job.record.stderr_tail);
    assert_eq!(job.curves.epochs.len(), 2, "the events came back over ssh");
    let run = runs.path().join("login");
    assert!(run.join("model.safetensors").is_file());
    assert_eq!(recorded_dataset(&run), tiny_dataset());
}

// ---- univa jobs ----

fn univa() -> Command {
    Command::new(env!("CARGO_BIN_EXE_univa"))
}

/// `univa jobs submit` arguments for the test sshd.
fn ssh_args(host: &univa::jobs::SshHost) -> Vec<String> {
    vec![
        format!("--target=ssh://{}", host.address()),
        format!("--identity={}", host.identity.as_ref().unwrap().display()),
        format!("--ssh-config={}", host.ssh_config.as_ref().unwrap().display()),
        format!("--remote-univa={}", host.univa),
        format!("--remote-dir={}", host.work_dir),
    ]
}

fn first_event_line(stderr: &str) -> String {
    stderr.lines().find(|l| l.contains("first event")).unwrap_or("no first event").to_owned()
}

#[test]
fn univa_jobs_submits_to_each_target_lists_follows_and_cancels() {
    let runs = tempfile::tempdir().unwrap();
    let runs_arg = format!("--runs={}", runs.path().display());
    let data = format!("--dataset={}", tiny_dataset().display());
    let slurm_args = [
        "--target=slurm".to_owned(),
        format!("--slurm-conf={}", slurm().conf.display()),
        format!("--slurm-univa={}", env!("CARGO_BIN_EXE_univa")),
        "--time=00:20:00".to_owned(),
    ];
    let host = sshd().host();
    // The small preset on the demo, one epoch, on each target.
    let demo_arg = format!("--dataset={}", demo().display());
    for (name, target) in
        [("local", vec!["--target=local".to_owned()]), ("ssh", ssh_args(&host)), ("slurm", slurm_args.to_vec())]
    {
        let out = univa()
            .args(["jobs", "submit", &runs_arg, &demo_arg, "--preset=small", "--epochs=1", &format!("--name={name}")])
            .args(&target)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let events: Vec<Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(events.last().unwrap()["event"], "finished", "{name}");
        eprintln!("univa jobs submit --target {name}: {}", first_event_line(&stderr));
    }
    let list = univa().args(["jobs", "list", &runs_arg]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(list.contains("ssh://") && list.contains("slurm") && list.contains("finished · COMPLETED"), "{list}");

    let script = univa()
        .args(["jobs", "submit", &runs_arg, &data, "--name=x", "--print-script", "--gpus=2", "--partition=gpu"])
        .args(&slurm_args)
        .output()
        .unwrap();
    let script = String::from_utf8_lossy(&script.stdout).into_owned();
    assert!(script.contains("#SBATCH --gres=gpu:2") && script.contains("#SBATCH --partition=gpu"), "{script}");

    // A long Slurm job: followed from another process, cancelled from a third.
    let submit = univa()
        .args(["jobs", "submit", &runs_arg, &data, "--epochs=500", "--name=long"])
        .args(&slurm_args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let id = loop {
        let records = univa::jobs::read_history(runs.path()).unwrap_or_default();
        if let Some(r) = records.iter().find(|r| r.spec.name == "long" && r.remote_state.as_deref() == Some("RUNNING"))
        {
            break r.id;
        }
        assert!(start.elapsed() < LIMIT, "the long job never ran: {records:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let follow = univa().args(["jobs", "follow", &id.to_string(), &runs_arg]).stdout(Stdio::piped()).spawn().unwrap();
    let events = runs.path().join("long").join(univa::jobs::EVENTS_FILE);
    while std::fs::read_to_string(&events).unwrap_or_default().lines().filter(|l| l.contains("\"step\"")).count() < 3 {
        assert!(start.elapsed() < LIMIT, "no steps");
        std::thread::sleep(Duration::from_millis(100));
    }
    let cancel = univa().args(["jobs", "cancel", &id.to_string(), &runs_arg]).output().unwrap();
    assert!(cancel.status.success(), "{}", String::from_utf8_lossy(&cancel.stderr));
    assert!(String::from_utf8_lossy(&cancel.stderr).contains("scancel"));
    let submitted = submit.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&submitted.stderr);
    assert!(!submitted.status.success() && stderr.contains("cancelled"), "{stderr}");
    let followed = follow.wait_with_output().unwrap();
    assert!(followed.status.success());
    let steps = String::from_utf8_lossy(&followed.stdout).lines().filter(|l| l.contains("\"event\":\"step\"")).count();
    assert!(steps >= 3, "follow printed {steps} steps");
    let record = univa::jobs::read_history(runs.path()).unwrap().into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(squeue_state(record.remote_id.as_deref().unwrap()), "CANCELLED");
}

// ---- the Training room ----

fn step_until(harness: &mut Harness<'static, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let start = Instant::now();
    while !done(harness.state()) {
        let app = harness.state();
        let job = app.training.selected.and_then(|id| app.training.manager.as_ref()?.job(id));
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}: {job:?}");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn selected(app: &StudioApp) -> Option<&univa::jobs::Job> {
    app.training.selected.and_then(|id| app.training.manager.as_ref()?.job(id))
}

#[test]
fn the_training_room_sends_runs_to_slurm_with_its_script_shown_and_to_an_ssh_host() {
    let runs = tempfile::tempdir().unwrap();
    let settings = ViewSettings {
        runs_dir: runs.path().to_path_buf(),
        workspace: Workspace::at(Layout::Training),
        ..ViewSettings::default()
    };
    let mut app = StudioApp::new(settings);
    app.training.set_trainer(PathBuf::from(env!("CARGO_BIN_EXE_univa")));
    let mut harness = crate::gui::harness_of(app, Some((demo(), None)));
    harness.run_steps(2);
    let mut form = harness.state().training.form.clone();
    assert_eq!(PathBuf::from(&form.dataset), demo());
    form.config = tiny_config(500);
    form.target.kind = TargetKind::Slurm;
    form.target.slurm = slurm().target();
    harness.state_mut().handle(UiCommand::Training(TrainingCommand::SetForm(Box::new(form))));
    harness.run_steps(3);
    assert!(harness.state().training.problems.is_empty(), "{:?}", harness.state().training.problems);
    // The script is shown before anything is submitted.
    harness.get_by_label_contains("#SBATCH --time=00:20:00");
    harness.get_by_label("Partition");
    harness.get_by_label("Launch").click();
    harness.run_steps(2);
    step_until(&mut harness, "live curves on Slurm", |app| {
        selected(app).is_some_and(|j| j.record.remote_state.as_deref() == Some("RUNNING") && !j.curves.loss.is_empty())
    });
    assert!(harness.query_all_by_label_contains("running · RUNNING").count() >= 1);
    harness.get_by_label("Cancel").click();
    harness.run_steps(2);
    step_until(&mut harness, "scancel", |app| selected(app).is_some_and(|j| !j.record.status.is_active()));
    let record = &selected(harness.state()).unwrap().record;
    assert_eq!(record.status, JobStatus::Cancelled { forced: false });
    assert_eq!(record.remote_state.as_deref(), Some("CANCELLED"));

    let mut form = harness.state().training.form.clone();
    form.config = tiny_config(2);
    form.target.kind = TargetKind::Ssh;
    let host = sshd().host();
    form.target.host = host.address();
    form.target.identity = host.identity.unwrap().display().to_string();
    form.target.remote_univa = host.univa.clone();
    form.target.work_dir = host.work_dir.clone();
    // The test host's key is throwaway: trust it through the test's own ssh config.
    form.target.ssh_config = host.ssh_config.unwrap().display().to_string();
    harness.state_mut().handle(UiCommand::Training(TrainingCommand::SetForm(Box::new(form))));
    harness.run_steps(2);
    assert!(harness.state().training.problems.is_empty(), "{:?}", harness.state().training.problems);
    assert!(harness.state().training.script_preview.is_none());
    let name = harness.state().training.form.run_name.clone();
    harness.get_by_label("Launch").click();
    harness.run_steps(2);
    step_until(&mut harness, "live curves over ssh", |app| selected(app).is_some_and(|j| !j.curves.loss.is_empty()));
    step_until(&mut harness, "the run back", |app| selected(app).is_some_and(|j| !j.record.status.is_active()));
    assert_eq!(selected(harness.state()).unwrap().record.status, JobStatus::Finished);
    drop(harness);
    browser_shows_eval_metrics(runs.path(), &runs.path().join(name), &demo());
}
