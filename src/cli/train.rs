use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;

use crate::dataset::{Dataset, VaOverlay};
use crate::model::Preset;
use crate::train::{self, EventSink, FanOut, RunConfig, TrainEvent, TrainRequest};

/// What a run trains: the dataset, the starting configuration and what overrides it, the
/// device. Shared by `univa train` and `univa jobs submit`.
#[derive(Debug, clap::Args)]
pub struct RunChoice {
    #[arg(long)]
    pub dataset: PathBuf,
    /// Starting configuration; `small` is sized for the CPU.
    #[arg(long, value_enum, default_value = "small")]
    pub preset: Preset,
    /// TOML file overriding any fields of the preset (`[model]`, `[loss]`, `[train]` tables).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// cpu, cuda or cuda:N, on the machine that trains.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// A VA overlay CSV (`univa audit export`) whose values replace the dataset's per-modality
    /// VA for this run; the dataset's files are not changed.
    #[arg(long)]
    pub va_overlay: Option<PathBuf>,
}

impl RunChoice {
    /// The preset with the `--config` file over it and `--epochs`.
    pub fn run_config(&self) -> anyhow::Result<RunConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
                RunConfig::from_toml_over(self.preset, &text).with_context(|| format!("{}", path.display()))?
            }
            None => RunConfig::preset(self.preset),
        };
        if let Some(epochs) = self.epochs {
            config.train.epochs = epochs;
        }
        Ok(config)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: RunChoice,
    /// Run folder to write (checkpoints, config).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write every event as a JSON line to this file (`-`: to standard output, which then
    /// carries nothing else).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Stop gracefully once this file exists: finish the current step, keep the last
    /// checkpoint (the last finished epoch, which --resume continues from), exit with an error.
    #[arg(long)]
    pub stop_file: Option<PathBuf>,
    /// Continue the run in --out from its last finished epoch (with none yet, train from the
    /// beginning).
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Train anew in an --out that already holds a run; its files are replaced once the new
    /// run has finished its first epoch.
    #[arg(long)]
    pub overwrite: bool,
    /// Print nothing but errors (no progress bar).
    #[arg(long)]
    pub quiet: bool,
}

/// Draws training progress with indicatif.
struct ProgressBar {
    bar: indicatif::ProgressBar,
    /// Standard output carries the events, so the closing line goes to standard error.
    stdout_taken: bool,
}

impl EventSink for ProgressBar {
    fn emit(&mut self, event: &TrainEvent) {
        match event {
            TrainEvent::Started { epochs, steps_per_epoch, parameters, device, start_epoch, .. } => {
                self.bar.set_length((epochs * steps_per_epoch) as u64);
                self.bar.set_position((start_epoch * steps_per_epoch) as u64);
                self.bar.println(format!("training {parameters} parameters on {device}"));
            }
            TrainEvent::Step { global_step, loss, epoch, .. } => {
                self.bar.set_position(*global_step as u64);
                self.bar.set_message(format!("epoch {epoch} loss {loss:.4}"));
            }
            TrainEvent::Epoch { epoch, train_loss, valid, improved, seconds, .. } => {
                self.bar.println(format!(
                    "epoch {:>3}  loss {train_loss:.4}  valid acc {:.3} miF1 {:.3} maF1 {:.3} HL {:.3}  {seconds:.1}s{}",
                    epoch,
                    valid.acc,
                    valid.micro_f1,
                    valid.macro_f1,
                    valid.hamming_loss,
                    if *improved { "  * best" } else { "" }
                ));
            }
            TrainEvent::Finished { best_epoch, best_micro_f1 } => {
                self.bar.finish_and_clear();
                let line = format!("best epoch {best_epoch} (valid micro-F1 {best_micro_f1:.4})");
                if self.stdout_taken {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
            TrainEvent::Stopped { reason, .. } => self.bar.abandon_with_message(reason.clone()),
        }
    }
}

/// One line on standard error; a closed standard error (the job's owner has gone) is not an
/// error: the run goes on to its checkpoint.
macro_rules! log_line {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Progress as plain lines on standard error, one per epoch, when it is not a terminal (a job
/// launched by the GUI keeps them as the log it shows when the process dies).
struct PlainLog {
    /// As for [`ProgressBar`]: the closing line goes to standard output unless events do.
    stdout_taken: bool,
}

impl EventSink for PlainLog {
    fn emit(&mut self, event: &TrainEvent) {
        match event {
            TrainEvent::Started { parameters, device, epochs, start_epoch, .. } => {
                log_line!("training {parameters} parameters on {device}, epochs {}..{epochs}", start_epoch + 1);
            }
            TrainEvent::Step { .. } => {}
            TrainEvent::Epoch { epoch, train_loss, valid, seconds, .. } => {
                log_line!("epoch {epoch:>3}  loss {train_loss:.4}  valid miF1 {:.3}  {seconds:.1}s", valid.micro_f1);
            }
            TrainEvent::Finished { best_epoch, best_micro_f1 } => {
                let line = format!("best epoch {best_epoch} (valid micro-F1 {best_micro_f1:.4})");
                if self.stdout_taken {
                    log_line!("{line}");
                } else {
                    println!("{line}");
                }
            }
            TrainEvent::Stopped { epoch, step, reason } => {
                log_line!("stopped at epoch {epoch}, step {step}: {reason}");
            }
        }
    }
}

/// Writes each event as one JSON line.
struct JsonLines<'a> {
    file: std::io::BufWriter<Box<dyn std::io::Write>>,
    failed: bool,
    /// Set when the events cannot be written to standard output: the job's owner reads them
    /// there, and once it has gone the run stops at its next step (keeping its last
    /// checkpoint to resume from) instead of training for nobody.
    stop_when_unread: Option<&'a AtomicBool>,
}

impl EventSink for JsonLines<'_> {
    fn emit(&mut self, event: &TrainEvent) {
        if self.failed {
            return;
        }
        let written = serde_json::to_string(event)
            .map_err(std::io::Error::other)
            .and_then(|line| writeln!(self.file, "{line}"))
            .and_then(|()| self.file.flush());
        if let Err(e) = written {
            tracing::warn!("could not write training events: {e}");
            self.failed = true;
            if let Some(stop) = self.stop_when_unread {
                stop.store(true, Ordering::Relaxed);
            }
        }
    }
}

use crate::train::run::OVERLAY_FILE as RUN_OVERLAY_FILE;

pub fn run(args: &Args) -> anyhow::Result<()> {
    // Before anything is read or written: whether --out may be trained, and by this process.
    let start = train::run::start_in(&args.out, args.resume, args.overwrite)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    drop(train::run::RunLock::acquire(&args.out)?);
    if start == train::run::Start::NothingToResume {
        eprintln!(
            "note: {} has no finished epoch to resume from (cut off in its first epoch, or a full disk); training \
             from the beginning",
            args.out.display()
        );
    }
    let mut dataset = Dataset::open(&args.run.dataset)?;
    if let Some(path) = &args.run.va_overlay {
        let replaced = VaOverlay::read(path)?.apply(&mut dataset)?;
        // The run keeps the VA it was trained on, whatever happens to the overlay later.
        let kept = args.out.join(RUN_OVERLAY_FILE);
        let same_file = std::fs::canonicalize(path).ok().is_some_and(|p| std::fs::canonicalize(&kept).ok() == Some(p));
        if !same_file {
            std::fs::create_dir_all(&args.out)
                .and_then(|()| std::fs::copy(path, &kept))
                .with_context(|| format!("could not copy {} to {}", path.display(), kept.display()))?;
        }
        if !args.quiet {
            println!("{}: {replaced} VA points replace the dataset's", path.display());
        }
    }
    let config = args.run.run_config()?;
    let device = train::select_device(&args.run.device)?;

    let stdout_taken = args.events.as_deref() == Some(Path::new("-"));
    let mut progress = ProgressBar { bar: indicatif::ProgressBar::new(0), stdout_taken };
    progress.bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if args.quiet {
        progress.bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let stop = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let mut json = match &args.events {
        Some(path) => {
            let out: Box<dyn std::io::Write> = if stdout_taken {
                Box::new(std::io::stdout())
            } else {
                Box::new(std::fs::File::create(path).with_context(|| format!("{}", path.display()))?)
            };
            Some(JsonLines {
                file: std::io::BufWriter::new(out),
                failed: false,
                stop_when_unread: stdout_taken.then_some(&stop),
            })
        }
        None => None,
    };
    let mut plain = PlainLog { stdout_taken };
    let mut sinks: Vec<&mut dyn EventSink> = Vec::new();
    if !args.quiet {
        if std::io::stderr().is_terminal() {
            sinks.push(&mut progress);
        } else {
            sinks.push(&mut plain);
        }
    }
    if let Some(json) = json.as_mut() {
        sinks.push(json);
    }
    std::thread::scope(|scope| {
        // However training ends (a panic included), the watcher is told, so the scope can end.
        let _done = SetOnDrop(&done);
        if let Some(stop_file) = &args.stop_file {
            std::thread::Builder::new()
                .name("univa-stop-file".to_owned())
                .spawn_scoped(scope, || watch_stop_file(stop_file, &stop, &done))
                .context("could not start the stop-file watcher")?;
        }
        let request = TrainRequest {
            dataset: &dataset,
            config,
            run_dir: args.out.clone(),
            device,
            resume: start == train::run::Start::Resume,
            overwrite: args.overwrite,
            stop: Some(&stop),
        };
        let trained = train::train(request, &mut FanOut(sinks));
        done.store(true, Ordering::Relaxed);
        trained?;
        Ok(())
    })
}

/// Sets its flag when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Sets `stop` once `path` exists; returns when it does or when training is `done`.
fn watch_stop_file(path: &Path, stop: &AtomicBool, done: &AtomicBool) {
    while !done.load(Ordering::Relaxed) {
        if path.exists() {
            stop.store(true, Ordering::Relaxed);
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
