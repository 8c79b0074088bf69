//! The bad-input campaign's cases (issue 32): damaged files, killed processes and names that
//! would escape their folder, each ending in a clear error or a sound state.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::jobs::tiny_dataset;

fn univa_in(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Fails unless the command failed with one line on standard error containing each of `words`.
fn fails_saying(output: &Output, words: &[&str]) -> String {
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "succeeded; stderr: {err}");
    assert_ne!(output.status.code(), Some(101), "panicked: {err}");
    for word in words {
        assert!(err.contains(word), "{word:?} not in: {err}");
    }
    err
}

// Item 1: a job name is one folder name under the runs folder.
#[test]
fn a_job_name_cannot_escape_the_runs_folder() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("a").join("runs");
    for name in ["../../escape", "/tmp/univa-escape-abs", ".hidden", ".."] {
        let out = univa_in(&[
            "jobs",
            "submit",
            "--runs",
            s(&runs),
            "--name",
            name,
            "--dataset",
            s(tiny_dataset()),
            "--epochs",
            "1",
        ]);
        fails_saying(&out, &["run name", "one folder name"]);
    }
    assert!(!dir.path().join("escape").exists(), "trained outside the runs folder");
    assert!(!Path::new("/tmp/univa-escape-abs").exists());
}

const TINY_TOML: &str = "[model]\nhidden = 16\nheads = 2\nintermediate = 32\n[train]\nbatch_size = 16\nlog_every = 1\n";

/// `dir/tiny.toml`: the tiny model of the jobs tests.
fn tiny_toml(dir: &Path) -> String {
    let path = dir.join("tiny.toml");
    std::fs::write(&path, TINY_TOML).unwrap();
    s(&path).to_owned()
}

/// Polls `done` every 50 ms; fails after `secs` seconds.
fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The processes whose command line holds `arg` as one of its words.
fn processes_with_arg(arg: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie && cmdline.split(|&b| b == 0).any(|word| word == arg.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits for a child for up to `secs` seconds; kills it and fails if it is still running.
fn ends_within(child: &mut Child, what: &str, secs: u64) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            child.kill().ok();
            child.wait().ok();
            panic!("{what} did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn univa_cmd(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_univa"));
    command.args(args).env("UNIVA_AUDIO", "off");
    command
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

// Item 2: the submitting process is killed; the job does not stay "running" forever.
#[test]
fn a_job_whose_submitter_was_killed_is_interrupted_and_follow_ends() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let config = tiny_toml(dir.path());
    let mut submit = univa_cmd(&[
        "jobs",
        "submit",
        "--runs",
        s(&runs),
        "--name",
        "cut",
        "--dataset",
        s(tiny_dataset()),
        "--config",
        &config,
        "--epochs",
        "100000",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let events = runs.join("cut").join("events.jsonl");
    wait_until("the first epoch", 120, || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.contains("\"event\":\"epoch\""))
    });
    submit.kill().unwrap();
    submit.wait().unwrap();
    let run_dir = runs.join("cut");
    // Its trainer may outlive it for a moment; once it has gone too, the job is interrupted.
    wait_until("the trainer to go", 120, || processes_with_arg(s(&run_dir)).is_empty());
    let mut follow = univa_cmd(&["jobs", "follow", "1", "--runs", s(&runs)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ends_within(&mut follow, "jobs follow", 30);
    let list = univa_in(&["jobs", "list", "--runs", s(&runs)]);
    let listed = stdout_of(&list);
    assert!(listed.contains("interrupted") && !listed.contains("running"), "{listed}");
    fails_saying(&univa_in(&["jobs", "cancel", "1", "--runs", s(&runs)]), &["interrupted"]);
}

// Item 2: the owner has gone but its trainer still runs: the job is running, cancel reaches the
// trainer, and once it has stopped the job is no longer running.
#[test]
fn cancel_reaches_a_trainer_whose_owner_has_gone() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let run_dir = runs.join("orphan");
    let stop = runs.join(".jobs").join("1").join("stop");
    std::fs::create_dir_all(stop.parent().unwrap()).unwrap();
    let mut trainer = univa_cmd(&[
        "train",
        "--dataset",
        s(tiny_dataset()),
        "--out",
        s(&run_dir),
        "--config",
        &tiny_toml(dir.path()),
        "--epochs",
        "100000",
        "--stop-file",
        s(&stop),
        "--quiet",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // A dead owner: a process that has exited.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let spec = univa::jobs::JobSpec {
        name: "orphan".into(),
        sweep: None,
        dataset: tiny_dataset().to_path_buf(),
        run_dir: run_dir.clone(),
        config: super::jobs::tiny_config(100000),
        device: "cpu".into(),
        va_overlay: None,
        target: univa::jobs::Target::Local,
    };
    let mut record = serde_json::json!({
        "id": 1, "spec": spec, "status": {"state": "running", "resume": false}, "created_unix": 1,
        "attempts": 1, "owner": {"pid": dead_pid, "token": 7},
    });
    record["trainer_pid"] = trainer.id().into();
    std::fs::write(runs.join("jobs.json"), serde_json::to_string(&vec![record]).unwrap()).unwrap();
    let listed = stdout_of(&univa_in(&["jobs", "list", "--runs", s(&runs)]));
    assert!(listed.contains("running"), "{listed}");
    let cancel = univa_in(&["jobs", "cancel", "1", "--runs", s(&runs)]);
    assert!(cancel.status.success(), "{}", String::from_utf8_lossy(&cancel.stderr));
    ends_within(&mut trainer, "the orphaned trainer", 60);
    let listed = stdout_of(&univa_in(&["jobs", "list", "--runs", s(&runs)]));
    assert!(listed.contains("cancelled") && !listed.contains("running"), "{listed}");
    let mut follow = univa_cmd(&["jobs", "follow", "1", "--runs", s(&runs)]).stdout(Stdio::null()).spawn().unwrap();
    ends_within(&mut follow, "jobs follow", 30);
}

/// Trains `run` for one epoch of the tiny model from the command line.
fn train_tiny(dir: &Path, run: &Path) {
    let out = univa_in(&[
        "train",
        "--dataset",
        s(tiny_dataset()),
        "--out",
        s(run),
        "--config",
        &tiny_toml(dir),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

// Item 3: a damaged history is kept, each one, said once, and rebuilt from the run folders.
#[test]
fn a_damaged_history_is_kept_and_rebuilt_from_the_run_folders() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    train_tiny(dir.path(), &runs.join("old"));
    std::fs::write(runs.join("old").join("events.jsonl"), "").unwrap();
    let history = runs.join("jobs.json");
    let damaged = |runs: &Path| -> Vec<String> {
        let mut kept: Vec<String> = std::fs::read_dir(runs)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("jobs.json.damaged-"))
            .collect();
        kept.sort();
        kept
    };
    for (round, garbage) in ["{ not json", "[{\"id\": \"two\"}]"].into_iter().enumerate() {
        std::fs::write(&history, garbage).unwrap();
        let manager = univa::jobs::JobManager::open(&runs, PathBuf::from(env!("CARGO_BIN_EXE_univa")));
        let problem = manager.load_problem.clone().expect("the damage is reported");
        assert!(problem.contains("damaged"), "{problem}");
        let kept = damaged(&runs);
        assert_eq!(kept.len(), round + 1, "each damaged history is kept: {kept:?}");
        assert!(
            problem.contains(kept.last().unwrap().as_str()) || kept.iter().any(|k| problem.contains(k)),
            "{problem}"
        );
        assert!(kept.iter().any(|k| std::fs::read_to_string(runs.join(k)).unwrap() == garbage));
        let rebuilt: Vec<_> =
            manager.jobs().iter().map(|j| (j.record.spec.name.clone(), j.record.status.clone())).collect();
        assert_eq!(rebuilt, vec![("old".to_owned(), univa::jobs::JobStatus::Finished)]);
        drop(manager);
        // A list opened afterwards reads the rebuilt history without a word.
        let again = univa::jobs::JobManager::open(&runs, PathBuf::from(env!("CARGO_BIN_EXE_univa")));
        assert_eq!(again.load_problem, None);
        assert_eq!(again.jobs().len(), 1);
        std::thread::sleep(Duration::from_millis(1100));
    }
}
