//! The audit store from the command line: `univa audit export` / `events`, training over an
//! exported overlay, bad overlays, and the durability kill test (a writer SIGKILLed at random
//! moments loses no acknowledged edit and leaves a store that opens cleanly).

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Command, Stdio};

use rand::{Rng as _, SeedableRng as _};
use univa::dataset::{Dataset, Va, VaOverlay};
use univa::modality::Modality;
use univa::store::{Change, EventKind, Judgment, Status, Store, StoreLocation};
use univa::va::VaNormalizer;

pub fn univa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).output().unwrap()
}

pub fn ok(args: &[&str]) -> String {
    let output = univa(args);
    assert!(output.status.success(), "univa {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let output = univa(args);
    assert!(!output.status.success(), "univa {args:?} should fail");
    String::from_utf8(output.stderr).unwrap()
}

fn judged(v: f32, a: f32) -> Option<Judgment> {
    Some(Judgment { va: Va::new(v, a), status: Status::Corrected, unsure: false, reason: String::new() })
}

/// A small synthetic dataset whose store has two annotators' corrections of train utterances.
pub fn audited_dataset(dir: &Path) -> (String, Vec<String>) {
    let data = dir.join("data");
    let data_str = data.to_str().unwrap().to_owned();
    ok(&["synth", "--out", &data_str, "-n", "120", "--text", "4x6", "--vision", "3x3", "--audio", "3x4"]);
    let dataset = Dataset::open(&data).unwrap();
    let ids: Vec<String> =
        dataset.split_indices(univa::dataset::Split::Train).iter().map(|&i| dataset.utterances[i].id.clone()).collect();
    let location = StoreLocation::resolve(&data, None).unwrap();
    assert_eq!(location.path, data.join(univa::store::STORE_FILE));
    let mut store = Store::open(&location.path, &dataset.manifest.name).unwrap();
    let alice = store.create_annotator("alice", "").unwrap();
    let bob = store.create_annotator("bob", "").unwrap();
    for (k, id) in ids.iter().take(30).enumerate() {
        let change = |annotator, new| Change {
            annotator,
            utterance: id,
            modality: Modality::Text,
            kind: EventKind::Correct,
            new,
            reason: "",
            source_model: "synth",
            model: None,
        };
        store.record(&change(alice.id, judged(0.9, 0.8 - k as f32 * 0.01))).unwrap();
        store.record(&change(bob.id, judged(0.5, 0.0))).unwrap();
    }
    (data_str, ids)
}

#[test]
fn export_events_and_train_over_the_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ids) = audited_dataset(dir.path());
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = ["manifest.toml", "utterances.csv"]
        .iter()
        .map(|f| (Path::new(&data).join(f), std::fs::read(Path::new(&data).join(f)).unwrap()))
        .collect();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    let alice = path("alice.csv");
    let printed = ok(&["audit", "export", "--dataset", &data, "--annotator", "alice", "--out", &alice]);
    assert!(printed.contains("30 utterances, 30 VA points (30 corrected, 0 accepted)"), "{printed}");
    let text = std::fs::read_to_string(&alice).unwrap();
    assert!(text.starts_with("id,text_v,text_a,vision_v,vision_a,audio_v,audio_a,provenance\n"), "{text}");
    assert!(text.contains(&format!("{},0.9,0.8,,,,,audit:alice\n", ids[0])), "{text}");

    let median = path("median.csv");
    ok(&["audit", "export", "--dataset", &data, "--consensus", "median", "--out", &median]);
    let consensus = VaOverlay::read(Path::new(&median)).unwrap();
    assert_eq!(consensus.rows.len(), 30);
    let first = consensus.rows.iter().find(|r| r.id == ids[0]).unwrap();
    // The median of two values is their mean: (0.9 + 0.5) / 2, (0.8 + 0.0) / 2.
    assert_eq!(first.va.text, Some(Va::new(0.7, 0.4)));
    assert_eq!(first.provenance, "audit:consensus");
    let error = fails(&["audit", "export", "--dataset", &data, "--annotator", "carol", "--out", &alice]);
    assert!(error.contains("no annotator named \"carol\"") && error.contains("alice, bob"), "{error}");

    let events = path("events.csv");
    assert!(ok(&["audit", "events", "--dataset", &data, "--csv", &events]).contains("60 events"));
    let log = std::fs::read_to_string(&events).unwrap();
    assert_eq!(log.lines().count(), 61);
    assert!(log.lines().next().unwrap().starts_with("event_id,time_utc,annotator,utterance_id,modality,kind,"));

    // Training reads the overlay: the run's VA statistics are those of the corrected data.
    let config = path("c.toml");
    std::fs::File::create(&config)
        .and_then(|mut f| {
            std::io::Write::write_all(
                &mut f,
                b"[model]\nhidden = 16\nheads = 2\nintermediate = 32\n[train]\nbatch_size = 32\n",
            )
        })
        .unwrap();
    let run = path("run");
    let printed =
        ok(&["train", "--dataset", &data, "--out", &run, "--config", &config, "--epochs", "1", "--va-overlay", &alice]);
    assert!(printed.contains("30 VA points replace the dataset's"), "{printed}");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&run).join("config.json")).unwrap()).unwrap();
    let saved: VaNormalizer = serde_json::from_value(info["va_normalizer"].clone()).unwrap();
    let mut dataset = Dataset::open(&data).unwrap();
    let train_normalizer = |d: &Dataset| {
        VaNormalizer::fit(&d.utterances.iter().filter(|u| u.split == univa::dataset::Split::Train).collect::<Vec<_>>())
    };
    let plain = train_normalizer(&dataset);
    VaOverlay::read(Path::new(&alice)).unwrap().apply(&mut dataset).unwrap();
    let corrected = train_normalizer(&dataset);
    assert_ne!(plain, corrected);
    assert_eq!(saved, corrected);

    // Auditing and exporting never touched the dataset's own files.
    for (file, bytes) in before {
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "{}", file.display());
    }
}

#[test]
fn a_bad_overlay_is_refused_naming_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ids) = audited_dataset(dir.path());
    let run = dir.path().join("run").to_str().unwrap().to_owned();
    let header = "id,text_v,text_a,vision_v,vision_a,audio_v,audio_a,provenance\n";
    let cases = [
        (
            format!("{header}{},0.1,0.2,,,,,audit:a\nnope,0.1,0.2,,,,,audit:a\n", ids[0]),
            "row 3, column \"id\"",
            "unknown utterance id \"nope\"",
        ),
        (format!("{header}{},0.1,high,,,,,audit:a\n", ids[0]), "row 2, column \"text_a\"", "\"high\" is not a number"),
        (format!("{header}{},,,1.5,0.0,,,audit:a\n", ids[0]), "row 2, column \"vision_v\"", "in [-1, 1]"),
        (format!("{header}{},,,,,0.3,,audit:a\n", ids[0]), "row 2, column \"audio_a\"", "arousal is empty"),
        ("id,text_v\nx,0.1\n".to_owned(), "row 1", "missing column \"text_a\""),
    ];
    for (i, (csv, location, problem)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.csv"));
        std::fs::File::create(&file).and_then(|mut f| std::io::Write::write_all(&mut f, csv.as_bytes())).unwrap();
        let error = fails(&["train", "--dataset", &data, "--out", &run, "--va-overlay", file.to_str().unwrap()]);
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(
            error.contains(&format!("bad{i}.csv")) && error.contains(location) && error.contains(problem),
            "{error}"
        );
    }
    // No store yet: a clear error, and no store is created.
    let empty = dir.path().join("empty");
    ok(&["synth", "--out", empty.to_str().unwrap(), "-n", "30", "--text", "2x2", "--vision", "2x2", "--audio", "2x2"]);
    let out = dir.path().join("o.csv");
    let error = fails(&["audit", "events", "--dataset", empty.to_str().unwrap(), "--csv", out.to_str().unwrap()]);
    assert!(error.contains("no audit store here"), "{error}");
    assert!(!empty.join(univa::store::STORE_FILE).exists());
}

/// Starts the stress writer on the store at `address` (a file or a server, its environment
/// `envs`) and SIGKILLs it at a random moment, `trials` times: a quarter of the kills come
/// anywhere in its start-up (opening and migrating the store), the rest at a random time after
/// its first acknowledged edit. After each kill every acknowledged edit must be in the store
/// (`open` opens it), which must pass its integrity check.
/// Returns (trials, acknowledged edits, edits lost).
pub fn kill_trials(
    address: &str,
    envs: &[(&str, &Path)],
    open: &dyn Fn() -> Store,
    trials: usize,
    seed: u64,
) -> (usize, usize, usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut acknowledged, mut lost, mut next) = (0usize, 0usize, 0u64);
    // How long the writer took to its first acknowledgement, last time.
    let mut start_up = std::time::Duration::from_millis(50);
    for _ in 0..trials {
        let started = std::time::Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_univa"))
            .args(["audit", "stress-writer", "--store", address])
            .args(["--from", &next.to_string(), "--count", "100000"])
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut acks = Vec::new();
        if rng.random_range(0..4) == 0 {
            std::thread::sleep(start_up.mul_f64(rng.random_range(0.0..1.0)));
        } else {
            let mut first = String::new();
            stdout.read_line(&mut first).unwrap();
            start_up = started.elapsed();
            acks.push(first);
            std::thread::sleep(std::time::Duration::from_micros(rng.random_range(0..30_000)));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        acks.extend(rest.split_inclusive('\n').map(str::to_owned));
        let store = open();
        store.integrity_check().unwrap();
        let events: std::collections::HashMap<i64, univa::store::Event> =
            store.events().unwrap().into_iter().map(|e| (e.id, e)).collect();
        for ack in &acks {
            // A line cut off by the kill (no newline) was not an acknowledgement.
            let Some(line) = ack.strip_suffix('\n') else { continue };
            let fields: Vec<&str> = line.split(' ').collect();
            assert!(fields.len() == 7 && fields[0] == "ack", "{line:?}");
            acknowledged += 1;
            let seq: u64 = fields[1].parse().unwrap();
            next = next.max(seq + 1);
            let va = Va::new(fields[5].parse().unwrap(), fields[6].parse().unwrap());
            let present = events.get(&fields[2].parse().unwrap()).is_some_and(|e| {
                e.utterance == fields[3] && e.modality.name() == fields[4] && e.new.as_ref().map(|j| j.va) == Some(va)
            });
            lost += usize::from(!present);
        }
        // The writer may have committed one edit it had no time to acknowledge.
        next = next.max(events.len() as u64);
    }
    (trials, acknowledged, lost)
}

#[test]
fn killed_writers_lose_no_acknowledged_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stress.sqlite");
    let open = || Store::open(&path, "stress-test").unwrap();
    let (trials, acknowledged, lost) = kill_trials(path.to_str().unwrap(), &[], &open, 60, 7);
    println!("kill test: {trials} trials, {acknowledged} acknowledged edits, {lost} lost");
    assert_eq!(lost, 0);
    assert!(acknowledged > 0, "the writer never got to write");
}

/// The full run the issue asks for: `cargo test --test it audit::kill_test_1000 -- --ignored --nocapture`.
#[test]
#[ignore = "1,000 kills take minutes; run by hand"]
fn kill_test_1000() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stress.sqlite");
    let open = || Store::open(&path, "stress-test").unwrap();
    let (trials, acknowledged, lost) = kill_trials(path.to_str().unwrap(), &[], &open, 1000, 20261202);
    println!("kill test: {trials} trials, {acknowledged} acknowledged edits, {lost} lost");
    assert_eq!(lost, 0);
}

#[test]
fn export_counts_corrected_and_accepted_points_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ids) = audited_dataset(dir.path());
    let dataset = Dataset::open(Path::new(&data)).unwrap();
    let mut store = Store::open(&Path::new(&data).join(univa::store::STORE_FILE), &dataset.manifest.name).unwrap();
    let carol = store.create_annotator("carol", "").unwrap();
    for (k, id) in ids.iter().take(10).enumerate() {
        let status = if k < 4 { Status::Corrected } else { Status::Accepted };
        let judgment = Judgment { va: Va::new(0.1, 0.2), status, unsure: k == 9, reason: String::new() };
        let change = Change {
            annotator: carol.id,
            utterance: id,
            modality: Modality::Audio,
            kind: if k < 4 { EventKind::Correct } else { EventKind::Accept },
            new: Some(judgment),
            reason: "",
            source_model: "synth",
            model: None,
        };
        store.record(&change).unwrap();
    }
    drop(store);
    let out = dir.path().join("carol.csv");
    let printed = ok(&["audit", "export", "--dataset", &data, "--annotator", "carol", "--out", out.to_str().unwrap()]);
    assert!(printed.contains("10 utterances, 10 VA points (4 corrected, 6 accepted, 1 flagged unsure)"), "{printed}");
    let printed = ok(&["audit", "export", "--dataset", &data, "--consensus", "mean", "--out", out.to_str().unwrap()]);
    assert!(printed.contains("from 70 judgments of 3 annotators: 64 corrected, 6 accepted"), "{printed}");
}
