//! One running `univa train` child: its standard output read as JSON-line events on one named
//! thread, its standard error kept as lines on another, both over one bounded channel.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

use super::JobsError;
use crate::train::TrainEvent;

/// The line a remote shell writes to standard error with the trainer's process id there (read
/// back here as the job's remote id).
pub const REMOTE_PID_LINE: &str = "(remote pid) ";

/// How many lines of standard error a job keeps.
pub const STDERR_TAIL: usize = 40;

/// What the reader threads report.
#[derive(Debug)]
pub enum Message {
    Event(TrainEvent, Instant),
    Stderr(String),
    /// One of the two streams reached its end.
    Closed,
    /// A remote job's id (a Slurm job id, the trainer's process id there) and its state as the
    /// remote side reports it (`PENDING`, `RUNNING`, …, or what is being copied).
    Remote {
        id: Option<String>,
        state: String,
    },
    /// A remote job's worker is done: its streams are drained and its run folder is back.
    Ended(Exit),
}

/// How a trainer ended.
#[derive(Debug, Default)]
pub struct Exit {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// The state Slurm reports at the end (`COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, …).
    pub slurm_state: Option<String>,
    /// Why a remote job could not be started or its run folder not copied back (ssh, rsync, sbatch).
    pub remote_problem: Option<String>,
    /// The trainer's own error line (`univa: …`) or panic line, however much followed it.
    pub error_line: Option<String>,
    /// Whether a graceful stop was asked for, and whether it had to be forced.
    pub stop_requested: bool,
    pub forced: bool,
}

impl Exit {
    pub fn of_status(status: ExitStatus) -> Self {
        Self { code: status.code(), signal: signal_of(status), ..Self::default() }
    }

    /// Exit code 0, and nothing else went wrong.
    pub fn success(&self) -> bool {
        self.code == Some(0)
            && self.signal.is_none()
            && self.remote_problem.is_none()
            && self.slurm_state.as_deref().is_none_or(|s| s == "COMPLETED")
    }
}

#[cfg(unix)]
fn signal_of(status: ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(not(unix))]
fn signal_of(_status: ExitStatus) -> Option<i32> {
    None
}

/// A trainer: a local child process, or a worker thread that runs one elsewhere (over SSH, on
/// Slurm) and reports through the same messages.
pub struct TrainerProcess {
    /// The local child; `None` for a remote job, whose worker sends [`Message::Ended`].
    child: Option<Child>,
    messages: Receiver<Message>,
    open_streams: usize,
    stop_file: PathBuf,
    stop_requested_at: Option<Instant>,
    forced: bool,
    pub stderr_tail: VecDeque<String>,
    error_line: Option<String>,
    pub remote_id: Option<String>,
    pub remote_state: Option<String>,
    ended: Option<Exit>,
    /// The exit was handed out: nothing runs any more.
    exited: bool,
    /// Set when this goes away while a job that runs on without it (on Slurm) still runs: its
    /// worker stops following it, and the next manager follows it again.
    abandoned: Option<Arc<AtomicBool>>,
}

impl TrainerProcess {
    /// Starts `exe args…` with piped output; events are also appended to `events_log`.
    pub fn spawn(exe: &Path, args: &[OsString], stop_file: PathBuf, events_log: &Path) -> Result<Self, JobsError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JobsError::Io { path, source }
        };
        if stop_file.exists() {
            std::fs::remove_file(&stop_file).map_err(io_err(&stop_file))?;
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(events_log).map_err(io_err(events_log))?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| JobsError::Spawn { exe: exe.to_path_buf(), source })?;
        let (tx, messages) = sync_channel(256);
        let pid = child.id();
        let mut open_streams = 0;
        if let Some(stdout) = child.stdout.take() {
            let tx = tx.clone();
            start_reader(format!("univa-job-{pid}-events"), move || read_events(stdout, log, &tx))?;
            open_streams += 1;
        }
        if let Some(stderr) = child.stderr.take() {
            start_reader(format!("univa-job-{pid}-stderr"), move || read_stderr(stderr, &tx))?;
            open_streams += 1;
        }
        let mut process = Self::remote(messages, stop_file);
        process.child = Some(child);
        process.open_streams = open_streams;
        Ok(process)
    }

    /// A trainer run by a worker that reports on `messages` and watches `stop_file` itself.
    pub fn remote(messages: Receiver<Message>, stop_file: PathBuf) -> Self {
        Self {
            child: None,
            messages,
            open_streams: 0,
            stop_file,
            stop_requested_at: None,
            forced: false,
            stderr_tail: VecDeque::with_capacity(STDERR_TAIL),
            error_line: None,
            remote_id: None,
            remote_state: None,
            ended: None,
            exited: false,
            abandoned: None,
        }
    }

    /// A remote trainer that outlives the app: dropping it sets `abandoned` instead of asking
    /// the job to stop.
    pub fn outliving(mut self, abandoned: Arc<AtomicBool>) -> Self {
        self.abandoned = Some(abandoned);
        self
    }

    /// The local child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Asks the trainer to stop after its current step (it watches the stop file).
    pub fn request_stop(&mut self) -> Result<(), JobsError> {
        if self.stop_requested_at.is_none() {
            crate::fsutil::write_atomic(&self.stop_file, b"stop\n")
                .map_err(|source| JobsError::Io { path: self.stop_file.clone(), source })?;
            self.stop_requested_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Events received since the last call (stderr lines go to the tail); the exit once the
    /// child has ended and both streams are drained. Kills the child when a stop asked for
    /// more than `grace` ago has not taken effect.
    pub fn poll(&mut self, grace: Duration, events: &mut Vec<(TrainEvent, Instant)>) -> Option<Exit> {
        loop {
            match self.messages.try_recv() {
                Ok(Message::Event(event, at)) => events.push((event, at)),
                Ok(Message::Stderr(line)) => {
                    if let Some(pid) = line.strip_prefix(REMOTE_PID_LINE) {
                        self.remote_id = Some(pid.trim().to_owned());
                    }
                    // A backtrace after the error (RUST_BACKTRACE) can push it out of the tail.
                    if let Some(error) = line.strip_prefix("univa: ") {
                        self.error_line = Some(error.to_owned());
                    } else if line.contains("panicked at") {
                        self.error_line = Some(line.clone());
                    }
                    if self.stderr_tail.len() == STDERR_TAIL {
                        self.stderr_tail.pop_front();
                    }
                    self.stderr_tail.push_back(line);
                }
                Ok(Message::Closed) => self.open_streams = self.open_streams.saturating_sub(1),
                Ok(Message::Remote { id, state }) => {
                    if id.is_some() {
                        self.remote_id = id;
                    }
                    self.remote_state = Some(state);
                }
                Ok(Message::Ended(exit)) => {
                    self.ended = Some(exit);
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.open_streams = 0;
                    if self.child.is_none() && self.ended.is_none() {
                        self.ended = Some(Exit {
                            remote_problem: Some("the job's worker thread ended without a word".to_owned()),
                            ..Exit::default()
                        });
                    }
                    break;
                }
            }
        }
        let Some(child) = &mut self.child else {
            // A remote worker kills by itself after the grace period it was given.
            let mut exit = self.ended.take()?;
            exit.error_line = exit.error_line.or_else(|| self.error_line.clone());
            exit.stop_requested |= self.stop_requested_at.is_some() || self.stop_file.exists();
            std::fs::remove_file(&self.stop_file).ok();
            self.exited = true;
            return Some(exit);
        };
        if !self.forced && self.stop_requested_at.is_some_and(|at| at.elapsed() >= grace) {
            // Already gone is fine: the exit status below tells.
            let _ = child.kill();
            self.forced = true;
        }
        if self.open_streams > 0 {
            return None;
        }
        let status = child.try_wait().ok().flatten()?;
        // Another process (`univa jobs cancel`) may have written the stop file.
        let stop_requested = self.stop_requested_at.is_some() || self.stop_file.exists();
        std::fs::remove_file(&self.stop_file).ok();
        Some(Exit {
            error_line: self.error_line.clone(),
            stop_requested,
            forced: self.forced,
            ..Exit::of_status(status)
        })
    }
}

impl Drop for TrainerProcess {
    /// A job still running when its manager goes (the app closes) is asked to stop, so its
    /// last checkpoint stays resumable and no trainer is left running unseen.
    fn drop(&mut self) {
        let running = match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => !self.exited,
        };
        if !running {
            return;
        }
        match &self.abandoned {
            Some(abandoned) => abandoned.store(true, Ordering::Relaxed),
            None => {
                let _ = self.request_stop();
            }
        }
    }
}

/// Starts `read` on a named thread.
pub fn start_reader(
    name: String,
    read: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, JobsError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(read)
        .map_err(|source| JobsError::Io { path: PathBuf::from(name), source })
}

/// Calls `f` on each line of `input` (invalid UTF-8 replaced) until its end. Reads on to the
/// end even when `f` says the receiver is gone, so the child never blocks on a full pipe.
fn for_each_line(input: impl Read, mut f: impl FnMut(String) -> bool) {
    let mut reader = BufReader::new(input);
    let mut buffer = Vec::new();
    let mut receiving = true;
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if receiving {
                    let line = String::from_utf8_lossy(&buffer).trim_end_matches(['\n', '\r']).to_owned();
                    receiving = f(line);
                }
            }
        }
    }
}

pub fn read_events(stdout: impl Read, mut log: std::fs::File, tx: &SyncSender<Message>) {
    for_each_line(stdout, |line| {
        let message = match serde_json::from_str::<TrainEvent>(&line) {
            Ok(event) => {
                // The log is for curves after a restart; a failed write must not stop the job.
                let _ = writeln!(log, "{line}");
                Message::Event(event, Instant::now())
            }
            Err(_) => Message::Stderr(format!("(stdout) {line}")),
        };
        tx.send(message).is_ok()
    });
    let _ = tx.send(Message::Closed);
}

pub fn read_stderr(stderr: impl Read, tx: &SyncSender<Message>) {
    for_each_line(stderr, |line| tx.send(Message::Stderr(line)).is_ok());
    let _ = tx.send(Message::Closed);
}
