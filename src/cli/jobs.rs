//! `univa jobs`: the Training room's jobs without the window — submit a training job to this
//! machine, a host over SSH or Slurm and follow it, list the jobs of a runs folder, cancel one,
//! follow one's events. Over the same `jobs` library and the same `RUNS/jobs.json`.

use std::io::{BufRead as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::jobs::{self, JobManager, JobRecord, JobSpec, JobStatus, Target};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: JobsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Submit a training job and follow it to its end, printing its events as JSON lines.
    Submit(Box<SubmitArgs>),
    /// List the jobs of a runs folder.
    List(RunsArgs),
    /// Cancel a job: a stop file (its trainer or worker stops it), `scancel` for a Slurm job.
    Cancel(IdArgs),
    /// Print a job's events as JSON lines, following them until the job ends.
    Follow(IdArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// The runs folder (its `jobs.json`); default: the GUI's.
    #[arg(long)]
    pub runs: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    pub id: jobs::JobId,
    #[command(flatten)]
    pub runs: RunsArgs,
}

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// `local`, `ssh://user@host[:port]`, `slurm` or `slurm+ssh://user@host[:port]` (a login node).
    #[arg(long, default_value = "local")]
    pub target: String,
    #[command(flatten)]
    pub runs: RunsArgs,
    /// The run folder's name under the runs folder.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub run: super::train::RunChoice,
    /// SSH: an identity file (`ssh -i`); default: the agent or the default keys.
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// SSH: an ssh config file (`ssh -F`), e.g. for known hosts or jump hosts.
    #[arg(long)]
    pub ssh_config: Option<PathBuf>,
    /// SSH: the `univa` executable on the host (or the login node).
    #[arg(long, default_value = "univa")]
    pub remote_univa: String,
    /// SSH: the folder there for copied datasets and run folders (relative: under home).
    #[arg(long, default_value = "univa-jobs")]
    pub remote_dir: String,
    /// SSH: a dataset folder that exists there, instead of copying `--dataset` there.
    #[arg(long)]
    pub remote_dataset: Option<String>,
    /// Slurm: `--partition`.
    #[arg(long, default_value = "")]
    pub partition: String,
    /// Slurm: GPUs per job (`--gres=gpu:N`).
    #[arg(long, default_value_t = 0)]
    pub gpus: u32,
    /// Slurm: the time limit (`--time`).
    #[arg(long, default_value = "01:00:00")]
    pub time: String,
    /// Slurm: memory (`--mem`, e.g. 16G).
    #[arg(long, default_value = "")]
    pub mem: String,
    /// Slurm: `--account`.
    #[arg(long, default_value = "")]
    pub account: String,
    /// Slurm: `--cpus-per-task`.
    #[arg(long, default_value_t = 0)]
    pub cpus: u32,
    /// Slurm: the `SLURM_CONF` its commands run with.
    #[arg(long, default_value = "")]
    pub slurm_conf: String,
    /// Slurm: the `univa` the compute nodes run (default: this one, or `--remote-univa`).
    #[arg(long, default_value = "")]
    pub slurm_univa: String,
    /// Print the sbatch script of a Slurm job and exit without submitting.
    #[arg(long)]
    pub print_script: bool,
}

impl Args {
    /// Whether the command only prints (list, follow), so a closed output pipe may end it.
    pub fn prints_only(&self) -> bool {
        matches!(self.command, JobsCommand::List(_) | JobsCommand::Follow(_))
    }
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        JobsCommand::Submit(args) => submit(args),
        JobsCommand::List(args) => list(args),
        JobsCommand::Cancel(args) => cancel(args),
        JobsCommand::Follow(args) => follow(args),
    }
}

fn runs_dir(args: &RunsArgs) -> PathBuf {
    args.runs.clone().unwrap_or_else(crate::ui::default_runs_dir)
}

fn target_of(args: &SubmitArgs) -> anyhow::Result<Target> {
    let fill = |host: &mut jobs::SshHost| {
        host.identity.clone_from(&args.identity);
        host.ssh_config.clone_from(&args.ssh_config);
        host.univa.clone_from(&args.remote_univa);
        host.work_dir.clone_from(&args.remote_dir);
        host.dataset.clone_from(&args.remote_dataset);
    };
    let mut target = Target::parse(&args.target)?;
    match &mut target {
        Target::Local => {}
        Target::Ssh(host) => fill(host),
        Target::Slurm(slurm) => {
            if let Some(host) = &mut slurm.login {
                fill(host);
            }
            slurm.partition.clone_from(&args.partition);
            slurm.gpus = args.gpus;
            slurm.time.clone_from(&args.time);
            slurm.mem.clone_from(&args.mem);
            slurm.account.clone_from(&args.account);
            slurm.cpus = args.cpus;
            slurm.slurm_conf.clone_from(&args.slurm_conf);
            slurm.univa.clone_from(&args.slurm_univa);
        }
    }
    Ok(target)
}

fn submit(args: &SubmitArgs) -> anyhow::Result<()> {
    let runs = runs_dir(&args.runs);
    let config = args.run.run_config()?;
    let target = target_of(args)?;
    let spec = JobSpec {
        name: args.name.clone(),
        sweep: None,
        dataset: std::path::absolute(&args.run.dataset).unwrap_or_else(|_| args.run.dataset.clone()),
        run_dir: runs.join(&args.name),
        config,
        device: args.run.device.clone(),
        va_overlay: args.run.va_overlay.clone(),
        target: target.clone(),
    };
    let facts = jobs::DatasetFacts::read(&spec.dataset).ok();
    let problems = jobs::check(&spec, facts.as_ref(), &jobs::devices::list_gpus(), false);
    if let Some(first) = problems.first() {
        bail!("cannot submit: {first}");
    }
    let mut manager = JobManager::open(&runs, JobManager::default_trainer());
    if let Target::Slurm(slurm) = &target {
        let script = jobs::slurm::script(
            slurm,
            std::slice::from_ref(&spec),
            &runs,
            &JobManager::default_trainer(),
            manager.next_id(),
        );
        if args.print_script {
            print!("{script}");
            return Ok(());
        }
        eprintln!("sbatch script:\n{script}");
    }
    let submitted = Instant::now();
    let id = manager.submit(spec)?;
    eprintln!("job {id} submitted to {}", target.label());
    let mut printed = 0;
    let mut state = String::new();
    let mut first_event: Option<Duration> = None;
    let stdout = std::io::stdout();
    loop {
        manager.poll();
        let Some(job) = manager.job(id) else { bail!("job {id} left the list") };
        let now = format!(
            "{}{}",
            job.record.status.label(),
            job.record.remote_state.as_ref().map(|s| format!(" · {s}")).unwrap_or_default()
        );
        if now != state {
            eprintln!("job {id}: {now}");
            state = now;
        }
        // The events file holds what the curves were built from, in order.
        let events = job.record.spec.run_dir.join(jobs::EVENTS_FILE);
        printed = print_new_lines(&events, printed, &mut stdout.lock())?;
        if printed > 0 && first_event.is_none() {
            let took = submitted.elapsed();
            first_event = Some(took);
            eprintln!("job {id}: first event {:.2} s after submitting", took.as_secs_f64());
        }
        if !job.record.status.is_active() {
            return match &job.record.status {
                JobStatus::Finished => {
                    eprintln!("job {id}: run folder {}", job.record.spec.run_dir.display());
                    Ok(())
                }
                status => bail!(
                    "job {id} {}{}",
                    status.label(),
                    status.message().map(|m| format!(": {m}")).unwrap_or_default()
                ),
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Prints the lines of `path` after the first `skip` bytes; returns the new byte count.
fn print_new_lines(path: &Path, skip: u64, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
    let Ok(mut file) = std::fs::File::open(path) else { return Ok(skip) };
    file.seek(SeekFrom::Start(skip))?;
    let mut reader = std::io::BufReader::new(file);
    let mut done = skip;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        // Only whole lines; a partial one is printed once it is finished.
        if read == 0 || !line.ends_with('\n') {
            break;
        }
        out.write_all(line.as_bytes())?;
        done += read as u64;
    }
    out.flush()?;
    Ok(done)
}

/// Job `id` as it stands: a job whose process and trainer have both gone is shown as what it
/// has become (interrupted, cancelled or finished), not as running.
fn record(runs: &Path, id: jobs::JobId) -> anyhow::Result<JobRecord> {
    let records = jobs::settled_history(runs)?;
    records
        .into_iter()
        .find(|r| r.id == id)
        .with_context(|| format!("{}: no job {id}", runs.join(jobs::HISTORY_FILE).display()))
}

fn list(args: &RunsArgs) -> anyhow::Result<()> {
    let runs = runs_dir(args);
    let records = match jobs::settled_history(&runs) {
        Err(jobs::JobsError::History { .. }) => {
            // Damaged: set aside and rebuilt from the run folders, as the window does.
            let manager = JobManager::open(&runs, JobManager::default_trainer());
            if let Some(problem) = &manager.load_problem {
                eprintln!("univa: {problem}");
            }
            manager.jobs().iter().map(|j| j.record.clone()).collect()
        }
        records => records?,
    };
    if records.is_empty() {
        eprintln!("{}: no jobs", runs.display());
        return Ok(());
    }
    println!("{:>4}  {:<36} {:<10} {:<30} {:<10} run", "id", "status", "device", "target", "remote id");
    for r in records {
        let remote = r.remote_id.clone().unwrap_or_default();
        println!(
            "{:>4}  {:<36} {:<10} {:<30} {:<10} {}",
            r.id,
            r.status_text(),
            r.spec.device,
            r.spec.target.label(),
            remote,
            r.spec.run_dir.display()
        );
    }
    Ok(())
}

fn cancel(args: &IdArgs) -> anyhow::Result<()> {
    let runs = runs_dir(&args.runs);
    let record = record(&runs, args.id)?;
    if !record.status.is_active() {
        bail!("job {} is {}; only queued or running jobs can be cancelled", args.id, record.status.label());
    }
    // The process that runs the job (the window, or `univa jobs submit`) watches this file.
    jobs::request_stop(&runs, args.id)?;
    if let (Target::Slurm(slurm), Some(id)) = (&record.spec.target, &record.remote_id) {
        // Reaches Slurm even when no process here follows the job any more.
        jobs::slurm::cancel(slurm, id).map_err(anyhow::Error::msg)?;
        eprintln!("job {}: scancel {id}", args.id);
    }
    eprintln!("job {}: asked to stop", args.id);
    Ok(())
}

fn follow(args: &IdArgs) -> anyhow::Result<()> {
    let runs = runs_dir(&args.runs);
    let mut record = record(&runs, args.id)?;
    let events = record.spec.run_dir.join(jobs::EVENTS_FILE);
    let stdout = std::io::stdout();
    let mut printed = 0;
    let mut checked = Instant::now();
    loop {
        printed = print_new_lines(&events, printed, &mut stdout.lock())?;
        if !record.status.is_active() {
            return Ok(());
        }
        if checked.elapsed() >= Duration::from_millis(500) {
            record = self::record(&runs, args.id)?;
            checked = Instant::now();
            // One more read after it ended, for the lines written just before.
            continue;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
