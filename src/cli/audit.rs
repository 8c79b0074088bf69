//! `univa audit export`: a VA overlay of one annotator's judgments or of their consensus, for
//! `univa train --va-overlay`. `univa audit events`: the whole event log as CSV.
//! `univa audit merge`: other stores of the dataset merged into its store (a union of events).
//! `univa audit stress-writer` (hidden): writes edits and acknowledges each saved one on
//! stdout, for the kill test of the store's durability. Every `--store`, `--from` and `--into`
//! is a store file or a PostgreSQL server store (`postgres://…`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::dataset::{Dataset, Va};
use crate::fsutil::write_atomic;
use crate::modality::Modality;
use crate::store::{
    self, Change, Consensus, EventKind, Judgment, OverlaySource, Status, Store, StoreAddress, StoreError,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a VA overlay (id + per-modality V/A + provenance) of one annotator or a consensus.
    Export(ExportArgs),
    /// Write every audit event (who, when, what, old → new, why) as CSV.
    Events(EventsArgs),
    /// Merge other stores of the dataset (other annotators' laptops) into its store: a union of
    /// audit events, so merging again changes nothing.
    Merge(MergeArgs),
    /// Write edits, printing `ack SEQ EVENT_ID UTTERANCE MODALITY V A` after each saved one
    /// (for the kill test).
    #[command(hide = true)]
    StressWriter(StressArgs),
}

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The dataset folder.
    #[arg(long)]
    pub dataset: PathBuf,
    /// The store: a file, or a PostgreSQL server (postgres://user@host/database; the password
    /// from PGPASSWORD or ~/.pgpass) [default: univa-store.sqlite in the dataset folder, or the
    /// user's data folder when the dataset folder is read-only].
    #[arg(long)]
    pub store: Option<StoreAddress>,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("whose").required(true).args(["annotator", "consensus"])))]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Export this annotator's judgments.
    #[arg(long)]
    pub annotator: Option<String>,
    /// Export the mean or median of every annotator's judgments.
    #[arg(long, value_enum)]
    pub consensus: Option<Consensus>,
    /// The overlay CSV to write.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The CSV file to write.
    #[arg(long)]
    pub csv: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The dataset folder.
    #[arg(long)]
    pub dataset: PathBuf,
    /// The stores to merge in, files or servers (stores older than this version are first
    /// brought to its schema).
    #[arg(long, num_args = 1.., required = true)]
    pub from: Vec<StoreAddress>,
    /// The store to merge into, a file or a server [default: the dataset's store].
    #[arg(long)]
    pub into: Option<StoreAddress>,
    /// OLD=NEW: the incoming annotator named OLD is called NEW here (for a name that two stores
    /// use for two people). Repeatable.
    #[arg(long, value_parser = parse_rename)]
    pub rename: Vec<(String, String)>,
    /// The incoming annotator of this name is the person of the same name here. Repeatable.
    #[arg(long)]
    pub same_person: Vec<String>,
    /// Print what the merge would add and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_rename(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((old, new)) if !old.trim().is_empty() && !new.trim().is_empty() => {
            Ok((old.trim().to_owned(), new.trim().to_owned()))
        }
        _ => Err(format!("{text:?} is not OLD=NEW (two annotator names)")),
    }
}

#[derive(Debug, clap::Args)]
pub struct StressArgs {
    #[arg(long)]
    pub store: StoreAddress,
    /// Sequence number of the first edit (edit `s` writes a value derived from `s`).
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// The annotator writing (made when the store has none of that name).
    #[arg(long, default_value = "stress")]
    pub annotator: String,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Export(args) => export(args),
        Command::Events(args) => events(args),
        Command::Merge(args) => merge(args),
        Command::StressWriter(args) => stress_writer(args),
    }
}

/// Opens the dataset (table only) and its existing store.
fn open(args: &StoreArgs) -> anyhow::Result<(Dataset, Store)> {
    let dataset = Dataset::open_lazy(&args.dataset)?;
    let store = Store::open_existing(&dataset, args.store.as_ref())?;
    if store.is_read_only() {
        eprintln!("note: {} cannot be written (a read-only folder); reading it as it is", store.path().display());
    }
    Ok((dataset, store))
}

fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let (dataset, store) = open(&args.store)?;
    let source = match (&args.annotator, args.consensus) {
        (Some(name), _) => OverlaySource::Annotator(name.clone()),
        (None, Some(consensus)) => OverlaySource::Consensus(consensus),
        (None, None) => anyhow::bail!("give --annotator NAME or --consensus mean|median"),
    };
    let overlay = store::overlay_of(&store, &dataset, &source, &args.out)?;
    write(&args.out, &overlay.to_csv()?)?;
    let values: usize = overlay.rows.iter().map(|r| r.va.iter().filter(|(_, v)| v.is_some()).count()).sum();
    println!(
        "{}: {} utterances, {values} VA points ({})",
        args.out.display(),
        overlay.rows.len(),
        judgment_counts(&store, &source)?
    );
    Ok(())
}

/// What the exported judgments are, each kind counted: "4 corrected, 6 accepted, 1 unsure", and
/// for a consensus how many judgments of how many annotators went into it.
fn judgment_counts(store: &Store, source: &OverlaySource) -> anyhow::Result<String> {
    let all = store.judgments()?;
    let chosen: Vec<&std::collections::HashMap<(String, Modality), Judgment>> = match source {
        OverlaySource::Annotator(name) => {
            let id = store.annotator_named(name)?.map(|a| a.id);
            id.and_then(|id| all.get(&id)).into_iter().collect()
        }
        OverlaySource::Consensus(_) => all.values().collect(),
    };
    let judgments: Vec<&Judgment> = chosen.iter().flat_map(|points| points.values()).collect();
    let count = |status: Status| judgments.iter().filter(|j| j.status == status).count();
    let mut parts =
        vec![format!("{} corrected", count(Status::Corrected)), format!("{} accepted", count(Status::Accepted))];
    let unsure = judgments.iter().filter(|j| j.unsure).count();
    if unsure > 0 {
        parts.push(format!("{unsure} flagged unsure"));
    }
    let counts = parts.join(", ");
    Ok(match source {
        OverlaySource::Annotator(_) => counts,
        OverlaySource::Consensus(_) => {
            format!("from {} judgments of {} annotators: {counts}", judgments.len(), chosen.len())
        }
    })
}

fn events(args: &EventsArgs) -> anyhow::Result<()> {
    let (_, store) = open(&args.store)?;
    let csv = store::events_csv(&store)?;
    write(&args.csv, &csv)?;
    println!("{}: {} events", args.csv.display(), csv.iter().filter(|&&b| b == b'\n').count().saturating_sub(1));
    Ok(())
}

fn merge(args: &MergeArgs) -> anyhow::Result<()> {
    let dataset = Dataset::open_lazy(&args.dataset)?;
    let name = &dataset.manifest.name;
    let mut sources = Vec::with_capacity(args.from.len());
    for from in &args.from {
        sources.push(match from {
            StoreAddress::File(path) => {
                anyhow::ensure!(path.is_file(), "{}: no such store file", path.display());
                Store::open(path, name)?
            }
            StoreAddress::Server(_) => Store::open_existing(&dataset, Some(from))?,
        });
    }
    let (mut into, into_name) = merge_target(&dataset, args.into.as_ref(), args.dry_run)?;
    let ids: std::collections::HashSet<&str> = dataset.utterances.iter().map(|u| u.id.as_str()).collect();
    let options = store::MergeOptions { renames: args.rename.clone(), same_person: args.same_person.clone() };
    let started = std::time::Instant::now();
    let mut summary = into.merge(&sources, &|id| ids.contains(id), &options, !args.dry_run)?;
    summary.into = into_name;
    for line in summary.lines() {
        println!("{line}");
    }
    anyhow::ensure!(
        summary.conflicts.is_empty(),
        "{} annotator name conflict(s); nothing was written. Decide each with --rename OLD=NEW or --same-person NAME",
        summary.conflicts.len()
    );
    if summary.written {
        println!("merged {} new events in {:.2} s", summary.events_new(), started.elapsed().as_secs_f64());
    } else {
        println!("dry run: nothing was written");
    }
    Ok(())
}

/// The store a merge writes into, and its name. A dry run into a store that does not exist yet
/// merges into an empty one in memory, leaving no store behind.
fn merge_target(dataset: &Dataset, into: Option<&StoreAddress>, dry_run: bool) -> anyhow::Result<(Store, PathBuf)> {
    let name = &dataset.manifest.name;
    let in_memory = || Store::open(Path::new(":memory:"), name);
    let store = match into {
        Some(server @ StoreAddress::Server(_)) if dry_run => match Store::open_existing(dataset, Some(server)) {
            Err(StoreError::Missing { path, .. }) => return Ok((in_memory()?, path)),
            opened => opened?,
        },
        Some(server @ StoreAddress::Server(_)) => Store::open_at(server, name)?,
        file => {
            let file = match file {
                Some(StoreAddress::File(path)) => Some(path.as_path()),
                _ => None,
            };
            let location = store::StoreLocation::resolve(&dataset.root, file)?;
            if dry_run && !location.path.exists() {
                return Ok((in_memory()?, location.path));
            }
            Store::open(&location.path, name)?
        }
    };
    let path = store.path().to_path_buf();
    Ok((store, path))
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic(path, bytes).with_context(|| format!("could not write {}", path.display()))
}

/// The dataset name the stress writer's stores carry.
const STRESS_DATASET: &str = "stress-test";

/// The edit with sequence number `seq`: which utterance and modality it sets, and to what.
fn stress_edit(seq: u64) -> (String, Modality, Va) {
    let modality = Modality::ALL[(seq % 3) as usize];
    let unit = |k: u64| ((seq.wrapping_mul(k) % 201) as f32 - 100.0) / 100.0;
    (format!("u{}", seq % 50), modality, Va::new(unit(37), unit(53)))
}

fn stress_writer(args: &StressArgs) -> anyhow::Result<()> {
    let mut store = Store::open_at(&args.store, STRESS_DATASET)?;
    let annotator = match store.annotator_named(&args.annotator)? {
        Some(a) => a,
        None => store.create_annotator(&args.annotator, "kill test")?,
    };
    let mut stdout = std::io::stdout().lock();
    for seq in args.from..args.from + args.count {
        let (utterance, modality, va) = stress_edit(seq);
        let change = Change {
            annotator: annotator.id,
            utterance: &utterance,
            modality,
            kind: EventKind::Correct,
            new: Some(Judgment { va, status: Status::Corrected, unsure: false, reason: String::new() }),
            reason: "stress",
            source_model: "stress",
            model: None,
        };
        let event = store.record(&change)?;
        // The acknowledgement goes out only after the edit was saved (committed, or for a server
        // that cannot be reached, in the local journal), with what was saved.
        writeln!(stdout, "ack {seq} {} {utterance} {modality} {} {}", event.id, va.valence, va.arousal)?;
        stdout.flush()?;
    }
    Ok(())
}
