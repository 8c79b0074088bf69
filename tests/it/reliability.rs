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

/// `univa train` of the tiny model for 100,000 epochs into `run`, until `stop` exists.
fn long_trainer(dir: &Path, run: &Path, stop: &Path, extra: &[&str]) -> Child {
    let config = tiny_toml(dir);
    let mut args = vec!["train", "--dataset", s(tiny_dataset()), "--out", s(run), "--config", &config];
    args.extend(["--epochs", "100000", "--stop-file", s(stop), "--quiet"]);
    args.extend_from_slice(extra);
    univa_cmd(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
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
    let mut trainer = long_trainer(dir.path(), &run_dir, &stop, &[]);
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

// Item 4: training over a finished run is refused without --resume or --overwrite, and an
// overwrite that stops before its first checkpoint leaves the old run whole.
#[test]
fn training_over_a_finished_run_is_refused_and_an_overwrite_keeps_it_until_its_first_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_tiny(dir.path(), &run);
    // Every file but the lock, which only says who trains the folder now.
    let files = |run: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(run)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() != "train.lock")
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        files
    };
    let config = tiny_toml(dir.path());
    let two_epochs = |extra: &[&str]| {
        let mut args = vec!["train", "--dataset", s(tiny_dataset()), "--out", s(&run), "--config", &config];
        args.extend(["--epochs", "2", "--quiet"]);
        args.extend_from_slice(extra);
        univa_in(&args)
    };
    let before = files(&run);
    fails_saying(&two_epochs(&[]), &["already holds a run", "--resume", "--overwrite"]);
    assert_eq!(files(&run), before, "a refused run changed the folder");
    // Stopped before its first epoch ends: the old run is untouched and still evaluates.
    let stop = dir.path().join("stop");
    std::fs::write(&stop, "").unwrap();
    fails_saying(&two_epochs(&["--overwrite", "--stop-file", s(&stop)]), &["stopped"]);
    assert_eq!(files(&run), before, "an overwrite without a checkpoint changed the old run");
    let eval = univa_in(&["eval", "--run", s(&run), "--dataset", s(tiny_dataset())]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    std::fs::remove_file(&stop).unwrap();
    let overwrite = two_epochs(&["--overwrite"]);
    assert!(overwrite.status.success(), "{}", String::from_utf8_lossy(&overwrite.stderr));
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(info["config"]["train"]["epochs"], 2);
}

// Item 5: two trainers on one run folder: the second is refused, naming the first's pid.
#[test]
fn a_second_trainer_on_one_run_folder_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let stop = dir.path().join("stop");
    let events = dir.path().join("events.jsonl");
    let config = tiny_toml(dir.path());
    let mut first = long_trainer(dir.path(), &run, &stop, &["--events", s(&events)]);
    wait_until("the first trainer's first step", 120, || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.contains("\"event\":\"step\""))
    });
    for extra in [&["--overwrite"][..], &["--resume"][..]] {
        let mut args = vec!["train", "--dataset", s(tiny_dataset()), "--out", s(&run), "--config", &config, "--quiet"];
        args.extend_from_slice(extra);
        fails_saying(&univa_in(&args), &["is being trained", &format!("pid {}", first.id())]);
    }
    std::fs::write(&stop, "").unwrap();
    ends_within(&mut first, "the first trainer", 60);
}

// Item 6: a closed output pipe ends a printing command quietly, as Unix tools do.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo");
    let commands: [&[&str]; 3] =
        [&["validate", s(&demo)], &["va-prior", s(&demo)], &["eval", "--run", s(&run), "--dataset", s(&demo)]];
    for args in commands {
        let mut child = univa_cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // Closing the read end at once: the command finds the pipe closed when it prints.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(101), "univa {args:?} panicked: {err}");
        assert!(!err.contains("Broken pipe") && !err.contains("panicked"), "univa {args:?}: {err}");
    }
}

/// A library training request on the tiny dataset.
fn request<'a>(
    dataset: &'a univa::dataset::Dataset,
    epochs: usize,
    run: &Path,
    resume: bool,
) -> univa::train::TrainRequest<'a> {
    let mut config = super::jobs::tiny_config(epochs);
    config.train.log_every = 100;
    super::train::request(dataset, config, run, resume)
}

fn tiny() -> univa::dataset::Dataset {
    univa::dataset::Dataset::open(tiny_dataset()).unwrap()
}

/// Asks the run to stop once its first epoch has finished.
struct StopAfterFirstEpoch<'a>(&'a std::sync::atomic::AtomicBool);

impl univa::train::EventSink for StopAfterFirstEpoch<'_> {
    fn emit(&mut self, event: &univa::train::TrainEvent) {
        if matches!(event, univa::train::TrainEvent::Epoch { .. }) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

// Item 7: killed between the end-of-epoch files, the checkpoint is not resumed as if whole.
#[test]
fn a_checkpoint_cut_between_its_files_is_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = tiny();
    let (run, ahead) = (dir.path().join("run"), dir.path().join("ahead"));
    univa::train::train(request(&dataset, 1, &run, false), &mut univa::train::NoEvents).unwrap();
    univa::train::train(request(&dataset, 2, &ahead, false), &mut univa::train::NoEvents).unwrap();
    // The next epoch's weights were written, its optimizer state and trainer state not yet.
    std::fs::copy(ahead.join("last.safetensors"), run.join("last.safetensors")).unwrap();
    let err = univa::train::train(request(&dataset, 3, &run, true), &mut univa::train::NoEvents).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("last.safetensors") && message.contains("checkpoint"), "{message}");
}

// Item 8: stopped and resumed, a run ends with the weights it would have had straight through.
#[test]
fn stop_and_resume_trains_the_same_weights_as_straight_through() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = tiny();
    let (straight, resumed) = (dir.path().join("straight"), dir.path().join("resumed"));
    univa::train::train(request(&dataset, 2, &straight, false), &mut univa::train::NoEvents).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut first = request(&dataset, 2, &resumed, false);
    first.stop = Some(&stop);
    univa::train::train(first, &mut StopAfterFirstEpoch(&stop)).unwrap_err();
    univa::train::train(request(&dataset, 2, &resumed, true), &mut univa::train::NoEvents).unwrap();
    for file in ["last.safetensors", "optimizer.safetensors"] {
        let same = std::fs::read(straight.join(file)).unwrap() == std::fs::read(resumed.join(file)).unwrap();
        assert!(same, "{file} differs between straight-through and stop-and-resume");
    }
}

// Item 9: nothing to resume (killed in the first epoch, or a full disk) starts from the beginning.
#[test]
fn resume_with_nothing_to_resume_starts_from_the_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("events.jsonl"), "").unwrap();
    let out = univa_in(&[
        "train",
        "--dataset",
        s(tiny_dataset()),
        "--out",
        s(&run),
        "--config",
        &tiny_toml(dir.path()),
        "--epochs",
        "1",
        "--resume",
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("from the beginning"), "{err}");
    assert!(run.join("trainer_state.json").is_file());
}

// Item 10: temporary files of an atomic write whose process has gone are removed by the next
// run or resume of the folder; one of a process that still runs is left.
#[test]
fn leftover_temporary_files_of_dead_writers_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = tiny();
    let run = dir.path().join("run");
    univa::train::train(request(&dataset, 1, &run, false), &mut univa::train::NoEvents).unwrap();
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    // Another process that still runs (this one's own temporary files are its training's).
    let mut writer = Command::new("sleep").arg("120").spawn().unwrap();
    let live = writer.id();
    let dead_files: Vec<_> = ["model.safetensors", "last.safetensors", "optimizer.safetensors", "config.json"]
        .iter()
        .map(|f| run.join(format!(".{f}.tmp-{dead}")))
        .collect();
    for file in &dead_files {
        std::fs::write(file, "half").unwrap();
    }
    let live_file = run.join(format!(".last.safetensors.tmp-{live}"));
    std::fs::write(&live_file, "being written").unwrap();
    univa::train::train(request(&dataset, 2, &run, true), &mut univa::train::NoEvents).unwrap();
    for file in &dead_files {
        assert!(!file.exists(), "{} was left", file.display());
    }
    assert!(live_file.exists(), "a live writer's temporary file was removed");
    writer.kill().unwrap();
    writer.wait().unwrap();
}

// Item 11: a trainer state with absurd values is refused, naming the field.
#[test]
fn an_absurd_trainer_state_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = tiny();
    let run = dir.path().join("run");
    univa::train::train(request(&dataset, 1, &run, false), &mut univa::train::NoEvents).unwrap();
    let path = run.join("trainer_state.json");
    let good = std::fs::read_to_string(&path).unwrap();
    let state: serde_json::Value = serde_json::from_str(&good).unwrap();
    for (field, value) in [("epochs_done", serde_json::json!(900)), ("global_step", serde_json::json!(123_456))] {
        let mut bad = state.clone();
        bad[field] = value;
        std::fs::write(&path, serde_json::to_string(&bad).unwrap()).unwrap();
        let err = univa::train::train(request(&dataset, 2, &run, true), &mut univa::train::NoEvents).unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

/// A copy of the demo run whose weights `change` edits (tensor name → tensor).
fn edited_demo_run(
    dir: &Path,
    change: impl FnOnce(&mut std::collections::HashMap<String, candle_core::Tensor>),
) -> PathBuf {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo");
    std::fs::copy(shipped.join("config.json"), run.join("config.json")).unwrap();
    let mut tensors =
        candle_core::safetensors::load(shipped.join("model.safetensors"), &candle_core::Device::Cpu).unwrap();
    change(&mut tensors);
    candle_core::safetensors::save(&tensors, run.join("model.safetensors")).unwrap();
    run
}

// Item 12: weights holding NaN are refused at load, naming the tensor.
#[test]
fn weights_holding_nan_are_refused_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let mut poisoned = String::new();
    let run = edited_demo_run(dir.path(), |tensors| {
        let mut names: Vec<String> = tensors.keys().cloned().collect();
        names.sort();
        poisoned = names[names.len() / 2].clone();
        let t = &tensors[&poisoned];
        let nan = (t.ones_like().unwrap() * f64::NAN).unwrap();
        tensors.insert(poisoned.clone(), nan);
    });
    let eval = univa_in(&["eval", "--run", s(&run), "--dataset", s(&demo())]);
    fails_saying(&eval, &[&poisoned, "NaN"]);
    let out = dir.path().join("p.csv");
    let predict = univa_in(&["predict", "--run", s(&run), "--dataset", s(&demo()), "--out", s(&out)]);
    fails_saying(&predict, &[&poisoned, "NaN"]);
    assert!(!out.exists(), "predictions were written from NaN weights");
}

// Item 13: a threshold that is not in (0, 1) is refused; an empty split is named.
#[test]
fn eval_refuses_a_threshold_outside_0_1_and_names_an_empty_split() {
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo");
    for threshold in ["NaN", "1.5", "0", "-0.2"] {
        let threshold = format!("--threshold={threshold}");
        let eval = univa_in(&["eval", "--run", s(&run), "--dataset", s(&demo()), &threshold]);
        fails_saying(&eval, &["threshold"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let synth =
        univa_in(&["synth", "--out", s(&small), "-n", "3", "--text", "6x8", "--vision", "4x3", "--audio", "4x5"]);
    assert!(synth.status.success());
    let train_dir = dir.path().join("run");
    train_tiny(dir.path(), &train_dir);
    let eval = univa_in(&["eval", "--run", s(&train_dir), "--dataset", s(&small), "--split", "test"]);
    fails_saying(&eval, &["test", "no utterances"]);
}

// Item 13: validate says what training will refuse: no valid split, no VA for the VA-driven loss.
#[test]
fn validate_says_what_training_will_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let synth =
        univa_in(&["synth", "--out", s(&small), "-n", "3", "--text", "6x8", "--vision", "4x3", "--audio", "4x5"]);
    assert!(synth.status.success());
    fails_saying(&univa_in(&["validate", s(&small)]), &["training", "valid"]);
    // The demo without its VA columns.
    let copy = dir.path().join("demo");
    std::fs::create_dir_all(copy.join("features")).unwrap();
    for file in
        ["manifest.toml", "features/train.safetensors", "features/valid.safetensors", "features/test.safetensors"]
    {
        std::fs::copy(demo().join(file), copy.join(file)).unwrap();
    }
    let table = std::fs::read_to_string(demo().join("utterances.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(table.as_bytes());
    let header = reader.headers().unwrap().clone();
    let keep: Vec<usize> =
        (0..header.len()).filter(|&i| !header[i].ends_with("_v") && !header[i].ends_with("_a")).collect();
    let mut writer = csv::Writer::from_path(copy.join("utterances.csv")).unwrap();
    writer.write_record(keep.iter().map(|&i| &header[i])).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        writer.write_record(keep.iter().map(|&i| &record[i])).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    fails_saying(&univa_in(&["validate", s(&copy)]), &["training", "VA"]);
}

/// A copy of the demo dataset in `dir/name`.
fn demo_copy(dir: &Path, name: &str) -> PathBuf {
    let copy = dir.join(name);
    for entry in walk(&demo()) {
        let to = copy.join(entry.strip_prefix(demo()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    copy
}

/// Every file under `dir` but the media.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "media" && entry.file_name() != "sources" {
                files.extend(walk(&path));
            }
        } else {
            files.push(path);
        }
    }
    files
}

// Item 14: a run whose weights have other shapes than its config names the tensor, both shapes
// and the likely cause, not candle's words.
#[test]
fn weights_of_other_shapes_name_the_tensor_both_shapes_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let run = edited_demo_run(dir.path(), |_| {});
    let config = run.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap().replace("\"hidden\": 128", "\"hidden\": 64");
    std::fs::write(&config, text).unwrap();
    let err = fails_saying(&univa_in(&["eval", "--run", s(&run), "--dataset", s(&demo())]), &["[", "expects"]);
    assert!(!err.contains("error setting") && !err.contains("shape mismatch"), "{err}");
    assert!(err.contains("another dataset or config"), "{err}");
}

// Item 15: one sentence each for a damaged safetensors header, a non-UTF-8 table and a features
// path that is a folder.
#[test]
fn damaged_files_are_one_sentence_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = edited_demo_run(dir.path(), |_| {});
    let weights = run.join("model.safetensors");
    let mut header = 1_000_000_000_000u64.to_le_bytes().to_vec();
    header.extend_from_slice(b"{}");
    std::fs::write(&weights, header).unwrap();
    let err = fails_saying(&univa_in(&["eval", "--run", s(&run), "--dataset", s(&demo())]), &["model.safetensors"]);
    assert_eq!(err.matches("model.safetensors").count(), 1, "the path is repeated: {err}");
    assert!(err.contains("not a safetensors file"), "{err}");

    let table = demo_copy(dir.path(), "utf8");
    let csv_path = table.join("utterances.csv");
    let mut bytes = std::fs::read(&csv_path).unwrap();
    let at = bytes.windows(6).position(|w| w == b"Please").unwrap();
    bytes[at] = 0xff;
    std::fs::write(&csv_path, bytes).unwrap();
    let err = fails_saying(&univa_in(&["validate", s(&table)]), &["utterances.csv", "row 2", "UTF-8"]);
    assert!(!err.contains("Position") && !err.contains("Utf8Error"), "{err}");

    let features = demo_copy(dir.path(), "folder");
    let test = features.join("features/test.safetensors");
    std::fs::remove_file(&test).unwrap();
    std::fs::create_dir(&test).unwrap();
    let err = fails_saying(&univa_in(&["validate", s(&features)]), &["test.safetensors", "folder"]);
    assert!(!err.contains("os error"), "{err}");
}

// Item 16: a statistic undefined on a file does not hide the others.
#[test]
fn agreement_prints_every_defined_statistic_and_the_reason_for_each_undefined_one() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = dir.path().join("ratings.csv");
    // Rater y rates every unit 2 above rater x and the units do not differ: ICC(C,1), ICC(1,k)
    // and Pearson r are undefined, alpha, ICC(1,1), ICC(A,1) and CCC are not.
    std::fs::write(&ratings, "id,who,V\na,x,1\na,y,3\nb,x,1\nb,y,3\n").unwrap();
    let args = ["agreement", "--ratings", s(&ratings), "--unit", "id", "--value", "V", "--rater", "who"];
    let table = univa_in(&args);
    let text = stdout_of(&table);
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    let line =
        |name: &str| text.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name}: {text}")).to_owned();
    assert!(line("ICC(C,1)").contains("undefined (MSR"), "{text}");
    assert!(line("Krippendorff").trim_end().ends_with(char::is_numeric), "{text}");
    let json = univa_in(&[&args[..], &["--json"]].concat());
    assert!(json.status.success());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(value["icc_c1"].is_null(), "{value}");
    assert!(value["icc_c1_undefined"].as_str().unwrap().contains("MSR"), "{value}");
    assert!(value["alpha_interval"].is_f64(), "{value}");
    assert!(value["icc_a1"].is_f64(), "{value}");
    assert!(value["pearson_pairwise"].is_null() && value["pearson_pairwise_undefined"].is_string(), "{value}");
}

// Item 17: a huge header or cell is not repeated whole in an error.
#[test]
fn agreement_errors_cut_huge_quoted_input() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = dir.path().join("ratings.csv");
    let huge = "h".repeat(1 << 20);
    let columns: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    std::fs::write(&ratings, format!("id,{huge},{}\na,1,2\n", columns.join(","))).unwrap();
    let args = ["agreement", "--ratings", s(&ratings), "--unit", "id", "--value", "V"];
    let err = fails_saying(&univa_in(&args), &["no column \"V\""]);
    assert!(err.len() < 2000, "{} bytes of error", err.len());
    std::fs::write(&ratings, format!("id,V\na,1\nb,{huge}\n")).unwrap();
    let err = fails_saying(&univa_in(&args), &["row 2", "is not a number"]);
    assert!(err.len() < 2000, "{} bytes of error", err.len());
}

// Item 19: a store path that is a folder, an empty store file and out-of-range VA in a store
// are each named for what they are.
#[test]
fn store_paths_that_are_folders_empty_or_hold_out_of_range_va_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = super::audit::audited_dataset(dir.path());
    let csv = dir.path().join("events.csv");
    let events =
        |store: &Path| univa_in(&["audit", "events", "--dataset", &data, "--store", s(store), "--csv", s(&csv)]);
    let folder = dir.path().join("a-folder.sqlite");
    std::fs::create_dir(&folder).unwrap();
    let err = fails_saying(&events(&folder), &["a-folder.sqlite", "is a folder"]);
    assert!(!err.contains("no audit store here yet"), "{err}");
    let empty = dir.path().join("empty.sqlite");
    std::fs::write(&empty, "").unwrap();
    fails_saying(&events(&empty), &["empty.sqlite", "empty"]);
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "the empty file was made a store");
    // Another tool wrote a valence of 7.
    let store = Path::new(&data).join("univa-store.sqlite");
    let conn = rusqlite::Connection::open(&store).unwrap();
    let event: i64 =
        conn.query_row("SELECT event_id FROM judgments ORDER BY event_id LIMIT 1", [], |r| r.get(0)).unwrap();
    conn.execute("UPDATE judgments SET valence = 7 WHERE event_id = ?1", [event]).unwrap();
    drop(conn);
    let out = dir.path().join("overlay.csv");
    let export = univa_in(&["audit", "export", "--dataset", &data, "--annotator", "alice", "--out", s(&out)]);
    fails_saying(&export, &[&format!("event {event}"), "7", "[-1, 1]"]);
    assert!(!out.exists(), "an overlay training would refuse was written");
}
