//! A job on a host reached over SSH: the dataset copied there with rsync (only what changed) or
//! a path that exists there, `univa train --events -` started over one `ssh` session whose
//! standard output brings the events back, cancel through a stop file there (then a kill of the
//! trainer's process there after the grace period), and the finished run folder copied back.
//!
//! ```text
//! <work dir>/datasets/<name>-<hash>/            the copied dataset (hash: of its path here)
//! <work dir>/runs/<runs folder>-<hash>/<run>/   the run folder, copied back when the job ends
//!   .univa-job/config.toml, stop, pid, overlay.csv
//! ```
//!
//! Everything here runs on the job's worker thread; the window only reads its messages.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};

use crate::jobs::JobsError;
use crate::jobs::layout::{EVENTS_FILE, PreparedJob};
use crate::jobs::process::{Exit, Message, REMOTE_PID_LINE, TrainerProcess, read_events, read_stderr, start_reader};
use crate::jobs::shell::{run, shell_path};
use crate::jobs::spec::{JobSpec, RemotePaths};
use crate::jobs::target::SshHost;

/// The job's own folder inside its run folder there (hidden: the run browser skips it).
pub const REMOTE_JOB_DIR: &str = ".univa-job";
/// What the copies back and forth leave out: the events (they come back over the session, into
/// the run folder here) and the job's own files.
const RUN_EXCLUDES: [&str; 2] = [EVENTS_FILE, REMOTE_JOB_DIR];
/// A dataset's audit store stays with its dataset here.
const DATASET_EXCLUDES: [&str; 1] = ["univa-store.sqlite*"];
/// How often the worker looks at the stop file and the ssh process.
const TICK: Duration = Duration::from_millis(100);

/// A short stable hash of a path, so that folders from different places do not collide there.
fn path_hash(path: &Path) -> String {
    // FNV-1a: stable across Rust versions, unlike the standard hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in path.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

fn folder_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Where a job's files lie on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Places {
    pub dataset: String,
    pub run: String,
    pub job_dir: String,
    /// Whether the dataset is copied there (else it is the host's own path).
    pub copy_dataset: bool,
}

impl Places {
    pub fn of(host: &SshHost, spec: &JobSpec, runs_dir: &Path) -> Self {
        let work = host.work_dir();
        let (dataset, copy_dataset) = match host.dataset.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(there) => (there.trim_end_matches('/').to_owned(), false),
            None => {
                let name = folder_name(&spec.dataset);
                (format!("{work}/datasets/{name}-{}", path_hash(&spec.dataset)), true)
            }
        };
        let relative = spec
            .run_dir
            .strip_prefix(runs_dir)
            .map_or_else(|_| PathBuf::from(folder_name(&spec.run_dir)), Path::to_path_buf);
        let runs = format!("{work}/runs/{}-{}", folder_name(runs_dir), path_hash(runs_dir));
        let run = format!("{runs}/{}", relative.to_string_lossy());
        let job_dir = format!("{run}/{REMOTE_JOB_DIR}");
        Self { dataset, run, job_dir, copy_dataset }
    }

    pub fn config(&self) -> String {
        format!("{}/config.toml", self.job_dir)
    }

    pub fn stop(&self) -> String {
        format!("{}/stop", self.job_dir)
    }

    pub fn pid(&self) -> String {
        format!("{}/pid", self.job_dir)
    }

    pub fn overlay(&self) -> String {
        format!("{}/overlay.csv", self.job_dir)
    }
}

/// Sends a state line; false once nobody listens.
fn state(tx: &SyncSender<Message>, id: Option<String>, text: &str) -> bool {
    tx.send(Message::Remote { id, state: text.to_owned() }).is_ok()
}

/// Puts what the job needs on the host: its folders and config, the dataset (unless it is
/// there already), the VA overlay, and for a resume the run folder as it is here.
/// Writes the job's config there and clears its stop and pid files: a script fragment, so the
/// job's own ssh session can do it without a connection of its own.
pub(super) fn write_config_script(job: &PreparedJob, places: &Places) -> String {
    // A here-document whose end marker no TOML line can be.
    format!(
        "mkdir -p {dir} && rm -f {stop} {pid} && cat > {config} <<'UNIVA_CONFIG_END'\n{toml}\nUNIVA_CONFIG_END\n",
        dir = shell_path(&places.job_dir),
        stop = shell_path(&places.stop()),
        pid = shell_path(&places.pid()),
        config = shell_path(&places.config()),
        toml = job.config_toml.trim_end(),
    )
}

/// Puts what the job needs on the host, with rsync (only what changed travels): the dataset
/// (unless it is there already), the VA overlay, and for a resume the run folder as it is here.
pub(super) fn upload_inputs(
    host: &SshHost,
    job: &PreparedJob,
    places: &Places,
    resume: bool,
    tx: &SyncSender<Message>,
) -> Result<(), String> {
    let spec = &job.record.spec;
    let folder = |path: &Path| {
        let mut text = path.as_os_str().to_owned();
        text.push("/");
        PathBuf::from(text)
    };
    if places.copy_dataset {
        state(tx, None, "copying the dataset");
        let upload =
            host.upload(&folder(&spec.dataset), &places.dataset, &format!("{}/", places.dataset), &DATASET_EXCLUDES);
        run(upload, None)
            .map_err(|e| format!("copying the dataset {} to {}: {e}", spec.dataset.display(), host.address()))?;
    }
    if let Some(overlay) = &spec.va_overlay {
        run(host.upload(overlay, &places.job_dir, &places.overlay(), &[]), None)
            .map_err(|e| format!("copying the VA overlay {} to {}: {e}", overlay.display(), host.address()))?;
    }
    if resume {
        state(tx, None, "copying the run folder there");
        let upload = host.upload(&folder(&spec.run_dir), &places.run, &format!("{}/", places.run), &RUN_EXCLUDES);
        run(upload, None)
            .map_err(|e| format!("copying {} to {} to resume it: {e}", spec.run_dir.display(), host.address()))?;
    }
    Ok(())
}

/// Copies the run folder back from the host and points its config at the dataset here.
pub(super) fn download_run(host: &SshHost, places: &Places, spec: &JobSpec) -> Result<(), String> {
    let mut into = spec.run_dir.clone().into_os_string();
    into.push("/");
    run(host.download(&format!("{}/", places.run), Path::new(&into), &RUN_EXCLUDES), None)
        .map_err(|e| format!("copying the run folder back from {}: {e}", host.address()))?;
    point_at_local_dataset(&spec.run_dir, &spec.dataset)
}

/// A run trained elsewhere records that machine's dataset path; the run browser and `univa
/// eval` here need the dataset here (the one that was copied there, or the same data).
pub fn point_at_local_dataset(run_dir: &Path, dataset: &Path) -> Result<(), String> {
    let path = run_dir.join(crate::train::run::CONFIG_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        // No config: the trainer failed before writing one, which its own message says.
        return Ok(());
    };
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a run's config ({e})", path.display()))?;
    let absolute = std::path::absolute(dataset).unwrap_or_else(|_| dataset.to_path_buf());
    if let Some(object) = value.as_object_mut() {
        object.insert("dataset_path".to_owned(), serde_json::Value::String(absolute.display().to_string()));
    }
    let text = serde_json::to_string_pretty(&value).map_err(|e| format!("{}: {e}", path.display()))?;
    crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Starts the job's worker thread; its messages come through the returned trainer.
pub(in crate::jobs) fn start(
    host: SshHost,
    job: PreparedJob,
    runs_dir: &Path,
    resume: bool,
    grace: Duration,
) -> Result<TrainerProcess, JobsError> {
    let (tx, messages) = sync_channel(256);
    let process = TrainerProcess::remote(messages, job.stop_file.clone());
    let places = Places::of(&host, &job.record.spec, runs_dir);
    let name = format!("univa-job-{}-ssh", job.record.id);
    start_reader(name, move || {
        let exit = work(&host, &job, &places, resume, grace, &tx);
        let _ = tx.send(Message::Ended(exit));
    })?;
    Ok(process)
}

fn problem(text: String) -> Exit {
    Exit { remote_problem: Some(text), ..Exit::default() }
}

/// The whole job: copy there, train, copy back.
fn work(
    host: &SshHost,
    job: &PreparedJob,
    places: &Places,
    resume: bool,
    grace: Duration,
    tx: &SyncSender<Message>,
) -> Exit {
    let spec = &job.record.spec;
    if let Err(e) = upload_inputs(host, job, places, resume, tx) {
        return problem(e);
    }
    let overlay = spec.va_overlay.as_ref().map(|_| places.overlay());
    let (config, stop) = (places.config(), places.stop());
    let at = RemotePaths {
        dataset: &places.dataset,
        run: &places.run,
        config: &config,
        stop: Some(&stop),
        overlay: overlay.as_deref(),
    };
    // The trainer runs in the background with its pid written down, so a forced cancel can kill
    // it there; `wait` passes its exit code on (128 + the signal when one killed it), and ssh
    // passes that on. A watchdog reads the session's input, which this side never writes: when
    // this side goes (the window closed, Ctrl-C), the input ends and the trainer is stopped.
    let remote = format!(
        "{}exec 3<&0; {} & pid=$!; echo $pid > {}; echo \"{REMOTE_PID_LINE}$pid\" >&2; (cat <&3 >/dev/null 2>&1; kill -TERM $pid 2>/dev/null) >/dev/null 2>&1 & wait $pid",
        write_config_script(job, places),
        spec.remote_train_command(&host.univa, &at, resume),
        shell_path(&places.pid())
    );
    let mut command = host.command(&remote);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return problem(format!("could not start `ssh`: {e}")),
    };
    state(tx, None, "running");
    let events_log = spec.run_dir.join(EVENTS_FILE);
    let readers = match start_streams(&mut child, &events_log, job.record.id, tx) {
        Ok(readers) => readers,
        Err(e) => {
            let _ = child.kill();
            return problem(e);
        }
    };
    let (status, stop_requested, forced) = supervise(host, places, &job.stop_file, &mut child, grace, tx);
    for reader in readers {
        let _ = reader.join();
    }
    let Some(status) = status else {
        return problem(format!("lost the ssh process of the job on {}", host.address()));
    };
    let mut exit = Exit { stop_requested, forced, ..Exit::of_status(status) };
    match exit.code {
        // ssh's own failure (connection lost, authentication): its message is the last line of
        // the log, which the job's failure shows; there is nothing to copy back.
        Some(255) => {
            state(tx, None, "ssh failed");
            return exit;
        }
        // The remote shell reports a signal as 128 + its number.
        Some(code @ 129..=192) => {
            exit.signal = Some(code - 128);
            exit.code = None;
        }
        _ => {}
    }
    state(tx, None, "copying the run folder back");
    if let Err(e) = download_run(host, places, spec) {
        exit.remote_problem.get_or_insert(e);
    }
    state(tx, None, if exit.success() { "copied back" } else { "ended" });
    exit
}

fn start_streams(
    child: &mut Child,
    events_log: &Path,
    id: u64,
    tx: &SyncSender<Message>,
) -> Result<Vec<std::thread::JoinHandle<()>>, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(events_log)
        .map_err(|e| format!("{}: {e}", events_log.display()))?;
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let tx = tx.clone();
        readers.push(
            start_reader(format!("univa-job-{id}-events"), move || read_events(stdout, log, &tx))
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(stderr) = child.stderr.take() {
        let tx = tx.clone();
        readers.push(
            start_reader(format!("univa-job-{id}-stderr"), move || read_stderr(stderr, &tx))
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(readers)
}

/// Waits for the ssh process; a stop file here becomes one there, and a trainer that has not
/// stopped `grace` later is killed there. Returns the exit status and whether a stop was asked
/// for and had to be forced.
fn supervise(
    host: &SshHost,
    places: &Places,
    stop_file: &Path,
    child: &mut Child,
    grace: Duration,
    tx: &SyncSender<Message>,
) -> (Option<std::process::ExitStatus>, bool, bool) {
    let mut asked: Option<Instant> = None;
    let mut forced = false;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), asked.is_some(), forced),
            Ok(None) => {}
            Err(_) => return (None, asked.is_some(), forced),
        }
        if asked.is_none() && stop_file.exists() {
            asked = Some(Instant::now());
            if let Err(e) = run(host.command(&format!("touch {}", shell_path(&places.stop()))), None) {
                let _ =
                    tx.send(Message::Stderr(format!("could not ask the trainer on {} to stop: {e}", host.address())));
            }
        }
        if !forced && asked.is_some_and(|at| at.elapsed() >= grace) {
            forced = true;
            let kill = format!("kill -KILL $(cat {}) 2>/dev/null; true", shell_path(&places.pid()));
            if let Err(e) = run(host.command(&kill), None) {
                let _ = tx.send(Message::Stderr(format!("could not kill the trainer on {}: {e}", host.address())));
            }
        }
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::target::Target;

    #[test]
    fn places_keep_runs_folders_and_datasets_apart() {
        let Target::Ssh(host) = Target::parse("ssh://ana@gpu1").unwrap() else { panic!() };
        let spec = JobSpec {
            name: "delta=0.1".into(),
            sweep: Some("sweep".into()),
            dataset: "/data/demo".into(),
            run_dir: "/home/ana/RUNS/sweep/delta=0.1".into(),
            config: crate::train::RunConfig::preset(crate::model::Preset::Small),
            device: "cpu".into(),
            va_overlay: None,
            target: Target::Ssh(host.clone()),
        };
        let places = Places::of(&host, &spec, Path::new("/home/ana/RUNS"));
        assert!(places.dataset.starts_with("univa-jobs/datasets/demo-"), "{}", places.dataset);
        assert!(
            places.run.starts_with("univa-jobs/runs/RUNS-") && places.run.ends_with("/sweep/delta=0.1"),
            "{}",
            places.run
        );
        let other = Places::of(&host, &spec, Path::new("/elsewhere/RUNS"));
        assert_ne!(places.run, other.run);
        assert!(places.copy_dataset);
        let host = SshHost { dataset: Some("/scratch/demo/".into()), ..host };
        let places = Places::of(&host, &spec, Path::new("/home/ana/RUNS"));
        assert_eq!((places.dataset.as_str(), places.copy_dataset), ("/scratch/demo", false));
    }
}
