//! Jobs on a Slurm cluster, through `sbatch`, `squeue`, `sacct`/`scontrol` and `scancel` — on
//! this machine, or over SSH on a login node (whose file system the compute nodes share).
//!
//! A job is an `sbatch` script that we generate ([`script`], shown before submitting): the
//! resources asked for as `#SBATCH` lines, then `univa train --events -` with its events
//! appended to `RUN/events.jsonl`, which the worker follows. The states are Slurm's own
//! (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, …); cancel is `scancel`;
//! a sweep is one job array, task `i` training grid point `i`. Over SSH the dataset and, for a
//! resume, the run folder are copied there first and the run folder is copied back at the end.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};

use super::ssh::{Places, download_run, upload_inputs, write_config_script};
use crate::jobs::JobsError;
use crate::jobs::layout::{EVENTS_FILE, PreparedJob};
use crate::jobs::process::{Exit, Message, STDERR_TAIL, TrainerProcess, read_events, start_reader};
use crate::jobs::shell::{quote, run, shell_path};
use crate::jobs::spec::{JobSpec, RemotePaths};
use crate::jobs::target::SlurmTarget;
use crate::train::TrainEvent;

/// The states after which a job does not run again.
const FINAL_STATES: [&str; 9] =
    ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"];

/// Whether Slurm is done with a job in `state`.
pub fn is_final(state: &str) -> bool {
    FINAL_STATES.contains(&state)
}

/// One task's paths on the machine that trains it.
#[derive(Clone, Debug)]
struct TaskPlace {
    dataset: String,
    run: String,
    config: String,
    overlay: Option<String>,
    /// The folder of the job's own files (script, log) there.
    job_dir: String,
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

fn place_of(
    target: &SlurmTarget,
    job_dir: &Path,
    config_file: &Path,
    spec: &JobSpec,
    runs_dir: &Path,
) -> (TaskPlace, Option<Places>) {
    match &target.login {
        None => (
            TaskPlace {
                dataset: absolute(&spec.dataset),
                run: absolute(&spec.run_dir),
                config: absolute(config_file),
                overlay: spec.va_overlay.as_deref().map(absolute),
                job_dir: absolute(job_dir),
            },
            None,
        ),
        Some(host) => {
            let places = Places::of(host, spec, runs_dir);
            let place = TaskPlace {
                dataset: places.dataset.clone(),
                run: places.run.clone(),
                config: places.config(),
                overlay: spec.va_overlay.as_ref().map(|_| places.overlay()),
                job_dir: places.job_dir.clone(),
            };
            (place, Some(places))
        }
    }
}

/// The `univa` the compute nodes run: the target's, else the login host's, else this one.
fn univa_of(target: &SlurmTarget, trainer: &Path) -> String {
    if !target.univa.trim().is_empty() {
        return target.univa.trim().to_owned();
    }
    match &target.login {
        Some(host) => host.univa.clone(),
        None => absolute(trainer),
    }
}

/// The sbatch script of `jobs` (one job, or a sweep's points as an array).
fn script_of(target: &SlurmTarget, specs: &[&JobSpec], places: &[TaskPlace], univa: &str, resume: bool) -> String {
    let Some((first, first_place)) = specs.first().zip(places.first()) else { return String::new() };
    let name = first.sweep.as_deref().unwrap_or(&first.name);
    let array = specs.len() > 1;
    let log = if array { "slurm-%A_%a.out" } else { "slurm-%j.out" };
    let mut lines = vec![
        "#!/bin/sh".to_owned(),
        format!("#SBATCH --job-name={}", quote(&format!("univa-{name}"))),
        format!("#SBATCH --output={}/{log}", first_place.job_dir),
    ];
    let mut option = |flag: &str, value: &str| {
        if !value.trim().is_empty() {
            lines.push(format!("#SBATCH --{flag}={}", value.trim()));
        }
    };
    option("partition", &target.partition);
    option("account", &target.account);
    option("time", &target.time);
    option("mem", &target.mem);
    if target.cpus > 0 {
        option("cpus-per-task", &target.cpus.to_string());
    }
    if target.gpus > 0 {
        option("gres", &format!("gpu:{}", target.gpus));
    }
    if array {
        option("array", &format!("0-{}", specs.len() - 1));
    }
    lines.push(format!("# UniVA Studio: {} run(s); events are appended to <run>/{EVENTS_FILE}.", specs.len()));
    let command = |spec: &JobSpec, place: &TaskPlace| {
        let at = RemotePaths {
            dataset: &place.dataset,
            run: &place.run,
            config: &place.config,
            stop: None,
            overlay: place.overlay.as_deref(),
        };
        let run = shell_path(&place.run);
        format!("mkdir -p {run} && exec {} >> {run}/{EVENTS_FILE}", spec.remote_train_command(univa, &at, resume))
    };
    if array {
        lines.push("case \"$SLURM_ARRAY_TASK_ID\" in".to_owned());
        for (index, (spec, place)) in specs.iter().zip(places).enumerate() {
            lines.push(format!("  {index}) {} ;;", command(spec, place)));
        }
        lines.push("  *) echo \"univa: no grid point for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;".to_owned());
        lines.push("esac".to_owned());
    } else {
        lines.push(command(first, first_place));
    }
    lines.join("\n") + "\n"
}

/// The script a launch of `specs` would submit, for showing before it is submitted.
pub fn script(target: &SlurmTarget, specs: &[JobSpec], runs_dir: &Path, trainer: &Path, first_id: u64) -> String {
    let places: Vec<TaskPlace> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let job_dir = runs_dir.join(crate::jobs::layout::JOBS_DIR).join((first_id + i as u64).to_string());
            place_of(target, &job_dir, &job_dir.join("config.toml"), spec, runs_dir).0
        })
        .collect();
    let refs: Vec<&JobSpec> = specs.iter().collect();
    script_of(target, &refs, &places, &univa_of(target, trainer), false)
}

/// A Slurm command here or on the login node, with `SLURM_CONF` when one is set.
fn slurm_command(target: &SlurmTarget, words: &[&str]) -> Command {
    let conf = target.slurm_conf.trim();
    match &target.login {
        None => {
            let mut command = Command::new(words[0]);
            command.args(&words[1..]);
            if !conf.is_empty() {
                command.env("SLURM_CONF", conf);
            }
            command
        }
        Some(host) => {
            let mut line: Vec<String> = words.iter().map(|w| quote(w)).collect();
            if !conf.is_empty() {
                line.insert(0, format!("SLURM_CONF={}", shell_path(conf)));
            }
            host.command(&line.join(" "))
        }
    }
}

/// `scancel id`, here or on the login node.
pub fn cancel(target: &SlurmTarget, id: &str) -> Result<(), String> {
    run(slurm_command(target, &["scancel", id]), None).map(drop)
}

/// How a task's events are followed.
enum Follow {
    /// The run folder is here: read what was appended since `offset`.
    Local { path: PathBuf, offset: u64, partial: Vec<u8> },
    /// `tail -F` over ssh, its lines appended to the run folder's events here.
    Remote { child: Child, reader: Option<std::thread::JoinHandle<()>> },
    /// Not started yet (the job is pending) or already ended.
    Idle { offset: u64 },
}

struct Task {
    job: PreparedJob,
    tx: SyncSender<Message>,
    place: TaskPlace,
    places: Option<Places>,
    /// Slurm's id: `123`, or `123_4` for an array task.
    id: String,
    state: String,
    follow: Follow,
    cancel_asked: bool,
    done: bool,
}

/// Submits the jobs (an array when several) and starts the worker that follows them.
pub(in crate::jobs) fn start(
    target: &SlurmTarget,
    jobs: Vec<PreparedJob>,
    runs_dir: &Path,
    trainer: &Path,
    resume: bool,
) -> Result<Vec<TrainerProcess>, JobsError> {
    let mut processes = Vec::with_capacity(jobs.len());
    let mut tasks = Vec::with_capacity(jobs.len());
    for job in jobs {
        let (tx, messages) = sync_channel(256);
        processes.push(TrainerProcess::remote(messages, job.stop_file.clone()));
        let (place, places) = place_of(target, &job.job_dir, &job.config_file, &job.record.spec, runs_dir);
        tasks.push(Task {
            job,
            tx,
            place,
            places,
            id: String::new(),
            state: String::new(),
            follow: Follow::Idle { offset: 0 },
            cancel_asked: false,
            done: false,
        });
    }
    let abandoned = Arc::new(AtomicBool::new(false));
    let processes = processes.into_iter().map(|p| p.outliving(Arc::clone(&abandoned))).collect();
    let target = target.clone();
    let univa = univa_of(&target, trainer);
    let name = format!("univa-job-{}-slurm", tasks.first().map_or(0, |t| t.job.record.id));
    start_reader(name, move || {
        if let Err(problem) = prepare(&target, &mut tasks, &univa, resume) {
            end_all(&tasks, &problem);
            return;
        }
        watch(&target, tasks, &abandoned);
    })?;
    Ok(processes)
}

/// Follows a job that Slurm already has (`id`), submitted before the app last closed; its
/// events continue after what the run folder here holds.
pub(in crate::jobs) fn reattach(
    target: &SlurmTarget,
    job: PreparedJob,
    id: &str,
    runs_dir: &Path,
) -> Result<TrainerProcess, JobsError> {
    let (tx, messages) = sync_channel(256);
    let abandoned = Arc::new(AtomicBool::new(false));
    let process = TrainerProcess::remote(messages, job.stop_file.clone()).outliving(Arc::clone(&abandoned));
    let (place, places) = place_of(target, &job.job_dir, &job.config_file, &job.record.spec, runs_dir);
    let offset = std::fs::metadata(job.record.spec.run_dir.join(EVENTS_FILE)).map_or(0, |m| m.len());
    let name = format!("univa-job-{}-slurm", job.record.id);
    let task = Task {
        job,
        tx,
        place,
        places,
        id: id.to_owned(),
        state: String::new(),
        follow: Follow::Idle { offset },
        cancel_asked: false,
        done: false,
    };
    let target = target.clone();
    start_reader(name, move || watch(&target, vec![task], &abandoned))?;
    Ok(process)
}

fn end_all(tasks: &[Task], problem: &str) {
    for task in tasks {
        let exit = Exit { remote_problem: Some(problem.to_owned()), ..Exit::default() };
        let _ = task.tx.send(Message::Ended(exit));
    }
}

/// Follows the submitted tasks until Slurm is done with each, or nobody here follows them any more.
fn watch(target: &SlurmTarget, mut tasks: Vec<Task>, abandoned: &AtomicBool) {
    // Through a login node each look is an ssh call, cheap on the shared connection.
    let tick = if target.login.is_some() { Duration::from_millis(500) } else { Duration::from_millis(250) };
    while tasks.iter().any(|t| !t.done) {
        if abandoned.load(Ordering::Relaxed) {
            for task in &mut tasks {
                if let Follow::Remote { child, .. } = &mut task.follow {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            return;
        }
        let started = Instant::now();
        for task in tasks.iter_mut().filter(|t| !t.done && !t.cancel_asked && t.job.stop_file.exists()) {
            task.cancel_asked = true;
            if let Err(e) = cancel(target, &task.id) {
                let _ = task.tx.send(Message::Stderr(format!("scancel {}: {e}", task.id)));
            }
        }
        let states = match queue_states(target, &tasks) {
            Ok(states) => states,
            Err(e) => {
                for task in &tasks {
                    let _ = task.tx.send(Message::Stderr(format!("squeue: {e}")));
                }
                HashMap::new()
            }
        };
        for task in tasks.iter_mut().filter(|t| !t.done) {
            let state = match states.get(&task.id) {
                Some(state) => state.clone(),
                // squeue forgets a job some minutes after it ends: ask the accounting.
                None => final_state(target, &task.id).map_or_else(|| "UNKNOWN".to_owned(), |(s, _)| s),
            };
            if state != task.state {
                task.state.clone_from(&state);
                let _ = task.tx.send(Message::Remote { id: Some(task.id.clone()), state: state.clone() });
            }
            if state != "PENDING" && matches!(task.follow, Follow::Idle { .. }) {
                start_follow(target, task);
            }
            follow(task);
            if is_final(&state) || state == "UNKNOWN" {
                finish(target, task);
            }
        }
        std::thread::sleep(tick.saturating_sub(started.elapsed()));
    }
}

/// Copies what the jobs need (over SSH), writes the script and submits it.
fn prepare(target: &SlurmTarget, tasks: &mut [Task], univa: &str, resume: bool) -> Result<(), String> {
    for task in tasks.iter() {
        let _ = task.tx.send(Message::Remote { id: None, state: "submitting".to_owned() });
    }
    let mut offsets = Vec::with_capacity(tasks.len());
    for task in tasks.iter() {
        let offset = match (&target.login, &task.places) {
            (Some(host), Some(places)) => {
                upload_inputs(host, &task.job, places, resume, &task.tx)?;
                // The config, and how much of the events file earlier attempts wrote.
                let events = format!("{}/{EVENTS_FILE}", places.run);
                let command = format!(
                    "{}wc -c < {} 2>/dev/null || echo 0",
                    write_config_script(&task.job, places),
                    shell_path(&events)
                );
                let output =
                    run(host.command(&command), None).map_err(|e| format!("preparing {}: {e}", host.address()))?;
                output.stdout.trim().parse().unwrap_or(0)
            }
            _ => std::fs::metadata(task.job.record.spec.run_dir.join(EVENTS_FILE)).map_or(0, |m| m.len()),
        };
        offsets.push(offset);
    }
    let specs: Vec<&JobSpec> = tasks.iter().map(|t| &t.job.record.spec).collect();
    let places: Vec<TaskPlace> = tasks.iter().map(|t| t.place.clone()).collect();
    let text = script_of(target, &specs, &places, univa, resume);
    let Some(first) = tasks.first() else { return Ok(()) };
    let script = format!("{}/job.sbatch", first.place.job_dir);
    match &target.login {
        None => {
            crate::fsutil::write_atomic(Path::new(&script), text.as_bytes()).map_err(|e| format!("{script}: {e}"))?;
        }
        Some(host) => {
            run(host.command(&format!("cat > {}", shell_path(&script))), Some(&text))
                .map_err(|e| format!("writing the sbatch script on {}: {e}", host.address()))?;
        }
    }
    let output = run(slurm_command(target, &["sbatch", "--parsable", &script]), None)?;
    // `--parsable` prints `id` or `id;cluster`.
    let id = output.stdout.trim().split(';').next().unwrap_or_default().to_owned();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("sbatch printed {:?}, not a job id", output.stdout.trim()));
    }
    let array = tasks.len() > 1;
    for (index, (task, offset)) in tasks.iter_mut().zip(offsets).enumerate() {
        task.id = if array { format!("{id}_{index}") } else { id.clone() };
        task.follow = Follow::Idle { offset };
        let _ = task.tx.send(Message::Remote { id: Some(task.id.clone()), state: "submitted".to_owned() });
    }
    Ok(())
}

/// Each task's state as squeue lists it (array tasks one by one).
fn queue_states(target: &SlurmTarget, tasks: &[Task]) -> Result<HashMap<String, String>, String> {
    let mut ids: Vec<&str> =
        tasks.iter().filter(|t| !t.done).map(|t| t.id.split('_').next().unwrap_or_default()).collect();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = ids.join(",");
    let output = run(slurm_command(target, &["squeue", "-h", "-r", "-t", "all", "-j", &list, "-o", "%i|%T"]), None);
    // squeue exits with an error for a job id it no longer knows.
    let Ok(output) = output else { return Ok(HashMap::new()) };
    Ok(output
        .stdout
        .lines()
        .filter_map(|line| line.trim().split_once('|'))
        .map(|(id, state)| (id.to_owned(), state.to_owned()))
        .collect())
}

/// The state and exit code (`code:signal`) of an ended job, from `sacct`, else `scontrol`.
fn final_state(target: &SlurmTarget, id: &str) -> Option<(String, String)> {
    if let Ok(output) = run(slurm_command(target, &["sacct", "-n", "-X", "-P", "-j", id, "-o", "State,ExitCode"]), None)
        && let Some((state, code)) = output.stdout.lines().next().and_then(|l| l.trim().split_once('|'))
    {
        // `CANCELLED by 1000`: the state is the first word.
        let state = state.split_whitespace().next().unwrap_or_default().to_owned();
        return Some((state, code.to_owned()));
    }
    let output = run(slurm_command(target, &["scontrol", "show", "job", "-o", id]), None).ok()?;
    let field = |name: &str| output.stdout.split_whitespace().find_map(|w| w.strip_prefix(name).map(str::to_owned));
    Some((field("JobState=")?, field("ExitCode=").unwrap_or_default()))
}

fn start_follow(target: &SlurmTarget, task: &mut Task) {
    let Follow::Idle { offset } = task.follow else { return };
    let events_here = task.job.record.spec.run_dir.join(EVENTS_FILE);
    match &target.login {
        None => task.follow = Follow::Local { path: events_here, offset, partial: Vec::new() },
        Some(host) => {
            let path = format!("{}/{EVENTS_FILE}", task.place.run);
            let mut command = host.command(&format!("tail -c +{} -F {} 2>/dev/null", offset + 1, shell_path(&path)));
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
            let log = std::fs::OpenOptions::new().create(true).append(true).open(&events_here);
            match (command.spawn(), log) {
                (Ok(mut child), Ok(log)) => {
                    let reader = child.stdout.take().and_then(|stdout| {
                        let tx = task.tx.clone();
                        let name = format!("univa-job-{}-events", task.job.record.id);
                        start_reader(name, move || read_events(stdout, log, &tx)).ok()
                    });
                    task.follow = Follow::Remote { child, reader };
                }
                (Err(e), _) => {
                    let _ = task.tx.send(Message::Stderr(format!("could not follow the events over ssh: {e}")));
                    task.follow = Follow::Idle { offset };
                }
                (_, Err(e)) => {
                    let _ = task.tx.send(Message::Stderr(format!("{}: {e}", events_here.display())));
                }
            }
        }
    }
}

/// Sends the events appended to a local events file since the last look.
fn follow(task: &mut Task) {
    let Follow::Local { path, offset, partial } = &mut task.follow else { return };
    let Ok(mut file) = std::fs::File::open(&*path) else { return };
    if file.seek(SeekFrom::Start(*offset)).is_err() {
        return;
    }
    let mut bytes = Vec::new();
    let Ok(read) = file.read_to_end(&mut bytes) else { return };
    *offset += read as u64;
    partial.extend_from_slice(&bytes);
    // Only whole lines: the trainer may be halfway through writing one.
    let Some(end) = partial.iter().rposition(|&b| b == b'\n') else { return };
    let whole: Vec<u8> = partial.drain(..=end).collect();
    for line in String::from_utf8_lossy(&whole).lines() {
        let message = match serde_json::from_str::<TrainEvent>(line) {
            Ok(event) => Message::Event(event, Instant::now()),
            Err(_) => Message::Stderr(format!("({EVENTS_FILE}) {line}")),
        };
        let _ = task.tx.send(message);
    }
}

/// A task Slurm is done with: its last events, its run folder back, its log tail, its end.
fn finish(target: &SlurmTarget, task: &mut Task) {
    task.done = true;
    follow(task);
    if let Follow::Remote { child, reader } = &mut task.follow {
        // tail -F looks again within a second; give it that to pass on the last lines.
        std::thread::sleep(Duration::from_millis(1500));
        let _ = child.kill();
        let _ = child.wait();
        if let Some(reader) = reader.take() {
            let _ = reader.join();
        }
    }
    task.follow = Follow::Idle { offset: 0 };
    let (state, code) = final_state(target, &task.id).unwrap_or_else(|| (task.state.clone(), String::new()));
    let mut parts = code.split(':').map(|n| n.parse::<i32>().ok());
    let (code, signal) = (parts.next().flatten(), parts.next().flatten().filter(|&s| s != 0));
    let mut exit = Exit {
        code,
        signal,
        slurm_state: Some(state.clone()),
        stop_requested: task.cancel_asked || task.job.stop_file.exists(),
        ..Exit::default()
    };
    if state == "UNKNOWN" {
        exit.remote_problem =
            Some(format!("Slurm no longer knows job {} (neither squeue, sacct nor scontrol)", task.id));
    }
    let log = format!("{}/slurm-{}.out", task.place.job_dir, task.id);
    let tail = match &target.login {
        None => std::fs::read_to_string(&log).unwrap_or_default(),
        Some(host) => run(host.command(&format!("tail -n {STDERR_TAIL} {} 2>/dev/null; true", shell_path(&log))), None)
            .map(|o| o.stdout)
            .unwrap_or_default(),
    };
    let lines: Vec<&str> = tail.lines().collect();
    for line in &lines[lines.len().saturating_sub(STDERR_TAIL)..] {
        let _ = task.tx.send(Message::Stderr((*line).to_owned()));
    }
    if let (Some(host), Some(places)) = (&target.login, &task.places) {
        let _ = task.tx.send(Message::Remote { id: Some(task.id.clone()), state: format!("{state}, copying back") });
        if let Err(e) = download_run(host, places, &task.job.record.spec) {
            exit.remote_problem.get_or_insert(e);
        }
        let _ = task.tx.send(Message::Remote { id: Some(task.id.clone()), state: state.clone() });
    }
    let _ = task.tx.send(Message::Ended(exit));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::target::Target;

    fn spec(name: &str, sweep: Option<&str>) -> JobSpec {
        JobSpec {
            name: name.into(),
            sweep: sweep.map(Into::into),
            dataset: "/data/demo".into(),
            run_dir: format!("/runs/{name}").into(),
            config: crate::train::RunConfig::preset(crate::model::Preset::Small),
            device: "cuda:0".into(),
            va_overlay: None,
            target: Target::Slurm(SlurmTarget::default()),
        }
    }

    #[test]
    fn the_script_asks_for_what_the_form_says() {
        let target = SlurmTarget {
            partition: "gpu".into(),
            gpus: 2,
            time: "02:00:00".into(),
            mem: "16G".into(),
            account: "lab".into(),
            ..SlurmTarget::default()
        };
        let text = script(&target, &[spec("run-1", None)], Path::new("/runs"), Path::new("/usr/bin/univa"), 7);
        for line in [
            "#SBATCH --partition=gpu",
            "#SBATCH --gres=gpu:2",
            "#SBATCH --time=02:00:00",
            "#SBATCH --mem=16G",
            "#SBATCH --account=lab",
            "#SBATCH --output=/runs/.jobs/7/slurm-%j.out",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        assert!(text.contains("exec /usr/bin/univa train --dataset /data/demo --out /runs/run-1 --config /runs/.jobs/7/config.toml --device cuda:0 --events - >> /runs/run-1/events.jsonl"), "{text}");
        assert!(!text.contains("--array"));
        let bare = script(
            &SlurmTarget { time: String::new(), ..SlurmTarget::default() },
            &[spec("r", None)],
            Path::new("/runs"),
            Path::new("univa"),
            1,
        );
        assert_eq!(bare.lines().filter(|l| l.starts_with("#SBATCH")).count(), 2, "{bare}");
    }

    #[test]
    fn a_sweep_is_one_job_array() {
        let specs = [spec("delta=0.1", Some("d")), spec("delta=0.2", Some("d")), spec("delta=0.3", Some("d"))];
        let text = script(&SlurmTarget::default(), &specs, Path::new("/runs"), Path::new("/u"), 3);
        assert!(text.contains("#SBATCH --array=0-2\n") && text.contains("#SBATCH --job-name=univa-d\n"), "{text}");
        assert!(text.contains("  2) mkdir -p /runs/delta=0.3 && exec /u train"), "{text}");
        assert!(text.contains("--config /runs/.jobs/5/config.toml"), "{text}");
        assert!(is_final("TIMEOUT") && !is_final("PENDING") && !is_final("COMPLETING"));
    }
}
