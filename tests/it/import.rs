//! Importers: each public format imports and round-trips to the fixture's known values
//! (`tests/fixtures/import/expected.json`, written by `generate.py`), and hostile or broken
//! inputs are refused with one line that names the file.
// Test helpers unwrap: a failure is the test failing (clippy's test allowance covers only #[test] fns).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use univa::dataset::{Dataset, Split};
use univa::import::pickle::{self, PersistentIds, PickleError};
use univa::import::{self, Corpus, FolderOptions, MediaMode, UnivaOptions, VaScale};
use univa::modality::Modality;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn expected(key: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all[key].clone()
}

/// Opens the imported dataset (full validation) and compares it with the fixture's known values.
fn assert_matches_expected(out: &Path, key: &str) {
    let expected = expected(key);
    let dataset = Dataset::open(out).unwrap();
    let labels: Vec<&str> = expected["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(dataset.label_names(), labels);

    let utterances = expected["utterances"].as_array().unwrap();
    assert_eq!(dataset.utterances.len(), utterances.len());
    for (u, e) in dataset.utterances.iter().zip(utterances) {
        assert_eq!(u.id, e["id"].as_str().unwrap());
        assert_eq!(u.split.name(), e["split"].as_str().unwrap(), "{}", u.id);
        assert_eq!(u.text, e["text"].as_str().unwrap(), "{}", u.id);
        let names: Vec<&str> = u.labels.iter().map(|&l| labels[l]).collect();
        let expected_names: Vec<&str> = e["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(names, expected_names, "labels of {}", u.id);
        for modality in Modality::ALL {
            let va = u.va.get(modality);
            match e["va"].get(modality.name()) {
                Some(pair) => {
                    let va = va.unwrap_or_else(|| panic!("{} has no {modality} VA", u.id));
                    assert!((va.valence as f64 - pair[0].as_f64().unwrap()).abs() < 1e-6, "{} {modality}", u.id);
                    assert!((va.arousal as f64 - pair[1].as_f64().unwrap()).abs() < 1e-6, "{} {modality}", u.id);
                }
                None => assert_eq!(*va, None, "{} {modality}", u.id),
            }
        }
    }

    // The evaluation view of the round trip: one fixed prediction scored against the imported
    // labels and against the fixture's known labels gives the same metrics.
    let names: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    let imported_gold: Vec<Vec<bool>> = dataset.utterances.iter().map(|u| u.label_vector(labels.len())).collect();
    let known_gold: Vec<Vec<bool>> = utterances
        .iter()
        .map(|e| {
            labels.iter().map(|l| e["labels"].as_array().unwrap().iter().any(|x| x.as_str() == Some(*l))).collect()
        })
        .collect();
    let prediction: Vec<Vec<bool>> =
        (0..utterances.len()).map(|i| (0..labels.len()).map(|j| (i + j) % 3 == 0).collect()).collect();
    let on_import = univa::metrics::compute(&imported_gold, &prediction, &names).unwrap();
    assert_eq!(on_import, univa::metrics::compute(&known_gold, &prediction, &names).unwrap());

    let features = expected["features"].as_object().unwrap();
    for (name, block) in features {
        let (split, modality) = name.split_once('/').unwrap();
        let split = Split::parse(split).unwrap();
        let modality = Modality::from_name(modality).unwrap();
        let rows: Vec<usize> = (0..dataset.split_indices(split).len()).collect();
        let got = dataset.features(split).unwrap().gather(modality, &rows).unwrap();
        let want: Vec<f32> = block["features"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(got.features, want, "{name} features");
        let mask: Vec<f32> = block["mask"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(got.mask, mask, "{name} mask");
    }
    if features.is_empty() {
        assert!(dataset.manifest.features.is_empty());
    }
}

fn univa_options(root: &Path, corpus: Corpus, out: &Path) -> UnivaOptions {
    UnivaOptions { root: root.to_path_buf(), corpus, out: out.to_path_buf(), va_scale: VaScale::default() }
}

#[test]
fn univa_mosei_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mosei");
    let summary = import::import_univa(&univa_options(&fixtures().join("univa_mosei"), Corpus::Mosei, &out)).unwrap();
    assert_eq!(summary.total(), 10);
    // One -inf audio frame per split was written as 0.
    assert_eq!(summary.zeroed_non_finite, 3);
    assert_matches_expected(&out, "univa_mosei");
}

#[test]
fn univa_m3ed_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m3ed");
    let summary = import::import_univa(&univa_options(&fixtures().join("univa_m3ed"), Corpus::M3ed, &out)).unwrap();
    assert_eq!(summary.utterances.get(&Split::Valid), Some(&2), "the `val` split is the valid split");
    assert_matches_expected(&out, "univa_m3ed");
}

#[test]
fn tailor_zip_and_legacy_round_trip() {
    for file in ["train_valid_test.pt", "legacy_train_valid_test.pt"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tailor");
        let summary = import::import_tailor(&fixtures().join(file), &out).unwrap();
        assert_eq!(summary.total(), 10, "{file}");
        assert_eq!(summary.zeroed_non_finite, 3, "{file}: audio -inf becomes 0");
        assert_matches_expected(&out, "tailor");
    }
}

#[test]
fn folder_copies_clips_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("folder");
    let options = FolderOptions {
        csv: fixtures().join("folder/labels.csv"),
        out: out.clone(),
        media: MediaMode::Copy,
        labels: None,
    };
    import::import_folder(&options).unwrap();
    assert_matches_expected(&out, "folder");
    let dataset = Dataset::open(&out).unwrap();
    let first = dataset.media_path(&dataset.utterances[0]).unwrap();
    assert_eq!(first, out.join("media/clips/a.mp4"));
    assert_eq!(std::fs::read(first).unwrap(), std::fs::read(fixtures().join("folder/clips/a.mp4")).unwrap());
    assert_eq!(dataset.utterances[0].media.as_ref().unwrap().end_secs, Some(1.5));
    assert_eq!(dataset.utterances[2].media.as_ref().unwrap().start_secs, None);
}

#[test]
fn folder_references_clips_inside_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clips-folder");
    std::fs::create_dir_all(root.join("clips")).unwrap();
    for name in ["labels.csv", "clips/a.mp4", "clips/b.wav"] {
        std::fs::copy(fixtures().join("folder").join(name), root.join(name)).unwrap();
    }
    let options =
        FolderOptions { csv: root.join("labels.csv"), out: root.clone(), media: MediaMode::Reference, labels: None };
    import::import_folder(&options).unwrap();
    assert_matches_expected(&root, "folder");
    let dataset = Dataset::open(&root).unwrap();
    assert_eq!(dataset.utterances[2].media.as_ref().unwrap().path, Path::new("clips/b.wav"));

    // Referencing clips outside the dataset folder would break the folder's containment.
    let elsewhere = dir.path().join("elsewhere");
    let options =
        FolderOptions { csv: root.join("labels.csv"), out: elsewhere, media: MediaMode::Reference, labels: None };
    let err = import::import_folder(&options).unwrap_err().to_string();
    assert!(err.contains("labels.csv") && err.contains("outside the output folder"), "{err}");
}

#[test]
fn folder_labels_option_orders_and_names_labels() {
    let labels = import::parse_labels("surprise,sad,happy,bored=0.3:0.2").unwrap();
    assert_eq!(labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["surprise", "sad", "happy", "bored"]);
    assert!(import::parse_labels("bored").unwrap_err().contains("bored=VALENCE:AROUSAL"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("folder");
    let options = FolderOptions {
        csv: fixtures().join("folder/labels.csv"),
        out: out.clone(),
        media: MediaMode::Copy,
        labels: Some(labels),
    };
    import::import_folder(&options).unwrap();
    let dataset = Dataset::open(&out).unwrap();
    assert_eq!(dataset.label_names(), ["surprise", "sad", "happy", "bored"]);
    assert_eq!(dataset.utterances[0].labels, vec![0, 2]);
}

#[test]
fn refuses_to_overwrite_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tailor");
    import::import_tailor(&fixtures().join("train_valid_test.pt"), &out).unwrap();
    let err = import::import_tailor(&fixtures().join("train_valid_test.pt"), &out).unwrap_err().to_string();
    assert!(err.contains("manifest.toml") && err.contains("already exists"), "{err}");
}

#[test]
fn malicious_pickles_are_refused_by_name() {
    let marker = Path::new("/tmp/univa-pickle-was-executed");
    let read = |name: &str| std::fs::read(fixtures().join("malicious").join(name)).unwrap();
    let bytes = read("os_system.pkl");
    match pickle::load(&bytes, PersistentIds::Refuse) {
        Err(PickleError::Refused(global)) => assert_eq!(global, "posix.system"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let bytes = read("builtins_eval.pkl");
    // Protocol 2 spells Python 3's `builtins` as `__builtin__`; the error names what the file says.
    assert!(
        matches!(pickle::load(&bytes, PersistentIds::Refuse), Err(PickleError::Refused(g)) if g == "__builtin__.eval")
    );

    let dir = tempfile::tempdir().unwrap();
    let pt = fixtures().join("malicious/os_system.pt");
    let err = import::import_tailor(&pt, &dir.path().join("a")).unwrap_err().to_string();
    assert!(err.contains("os_system.pt") && err.contains("posix.system"), "{err}");

    let root = dir.path().join("univa_mosei");
    copy_tree(&fixtures().join("univa_mosei"), &root);
    std::fs::copy(
        fixtures().join("malicious/univa_train_audio.pkl"),
        root.join("final_feat/A/MOSEI_train_audio_utt_VA.pkl"),
    )
    .unwrap();
    let err =
        import::import_univa(&univa_options(&root, Corpus::Mosei, &dir.path().join("b"))).unwrap_err().to_string();
    assert!(err.contains("MOSEI_train_audio_utt_VA.pkl") && err.contains("posix.system"), "{err}");
    assert!(!marker.exists(), "a pickle ran code");
    assert!(!dir.path().join("a/manifest.toml").exists() && !dir.path().join("b/manifest.toml").exists());
}

/// Runs the `univa` binary and returns (success, stderr).
fn univa(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_LOG", "off").output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn cli_imports_and_refuses_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ok");
    let pt = fixtures().join("train_valid_test.pt");
    let (ok, stderr) = univa(&["import", "tailor", "--pt", pt.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_matches_expected(&out, "tailor");

    let malicious = fixtures().join("malicious/os_system.pt");
    let out = dir.path().join("refused");
    let (ok, stderr) =
        univa(&["import", "tailor", "--pt", malicious.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("os_system.pt") && stderr.contains("posix.system"), "{stderr}");
    assert!(!out.exists(), "a failed import removes the folder it created");

    // A truncated archive, a truncated pickle, and a label file that is not CSV.
    let truncated = dir.path().join("truncated.pt");
    let bytes = std::fs::read(&pt).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, stderr) =
        univa(&["import", "tailor", "--pt", truncated.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok && stderr.trim_end().lines().count() == 1 && stderr.contains("truncated.pt"), "{stderr}");

    let root = dir.path().join("broken-univa");
    copy_tree(&fixtures().join("univa_mosei"), &root);
    let pkl = root.join("final_feat/V/MOSEI_valid_vision_utt_VA.pkl");
    let bytes = std::fs::read(&pkl).unwrap();
    std::fs::write(&pkl, &bytes[..bytes.len() - 40]).unwrap();
    let args = ["import", "univa", "--root", root.to_str().unwrap(), "--name", "MOSEI", "--out", out.to_str().unwrap()];
    let (ok, stderr) = univa(&args);
    assert!(!ok && stderr.trim_end().lines().count() == 1, "{stderr}");
    assert!(stderr.contains("MOSEI_valid_vision_utt_VA.pkl") && stderr.contains("not a valid pickle"), "{stderr}");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn univa_rows_out_of_label_order_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mosei");
    copy_tree(&fixtures().join("univa_mosei"), &root);
    // Swap two train rows of the label file whose labels differ.
    let csv = root.join("final_multi_labels.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(1, 2);
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let err =
        import::import_univa(&univa_options(&root, Corpus::Mosei, &dir.path().join("out"))).unwrap_err().to_string();
    assert!(err.contains("labels_class") && err.contains("not in the label file's order"), "{err}");
}

#[test]
fn univa_va_outside_the_scale_needs_va_scale() {
    let dir = tempfile::tempdir().unwrap();
    let root = fixtures().join("univa_mosei");
    let narrow = UnivaOptions {
        va_scale: "-0.5:0.5".parse().unwrap(),
        ..univa_options(&root, Corpus::Mosei, &dir.path().join("a"))
    };
    let err = import::import_univa(&narrow).unwrap_err().to_string();
    assert!(err.contains("--va-scale") && err.contains("_VA_values"), "{err}");

    // A wider source scale maps linearly onto [-1, 1]: here every value halves.
    let wide = UnivaOptions {
        va_scale: "-2:2".parse().unwrap(),
        ..univa_options(&root, Corpus::Mosei, &dir.path().join("b"))
    };
    import::import_univa(&wide).unwrap();
    let dataset = Dataset::open(dir.path().join("b")).unwrap();
    let want = expected("univa_mosei")["utterances"][1]["va"]["audio"][0].as_f64().unwrap() / 2.0;
    assert!((dataset.utterances[1].va.audio.unwrap().valence as f64 - want).abs() < 1e-6);
}

/// Walks everything the unpickler built, each object once (pickles may hold cycles and
/// shared references), and reads every array, as the importers would.
fn walk(p: &pickle::Unpickled<'_>, value: pickle::Value, seen: &mut std::collections::HashSet<pickle::ObjId>) {
    let pickle::Value::Obj(id) = value else { return };
    if !seen.insert(id) {
        return;
    }
    if let Some(array) = p.as_array(value) {
        let _ = p.for_each(array, &|_| None, |_| {});
    }
    for &item in p.as_items(value).unwrap_or(&[]) {
        walk(p, item, seen);
    }
    for &(key, item) in p.as_pairs(value).unwrap_or(&[]) {
        walk(p, key, seen);
        walk(p, item, seen);
    }
}

fn fuzz_pickle(data: &[u8]) {
    for ids in [PersistentIds::Refuse, PersistentIds::TorchStorages] {
        if let Ok((p, _)) = pickle::load(data, ids) {
            walk(&p, p.root(), &mut Default::default());
        }
    }
}

/// A `.pt` file through the whole TAILOR importer (zip or legacy container, pickle, tensors).
fn fuzz_torch_file(dir: &Path, data: &[u8]) {
    let pt = dir.join("input.pt");
    std::fs::write(&pt, data).unwrap();
    let out = dir.join("out");
    let _ = import::import_tailor(&pt, &out);
    let _ = std::fs::remove_dir_all(&out);
}

fn fuzz_dataset(dir: &Path, data: &[u8]) {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    std::fs::write(dir.join("manifest.toml"), &data[..split]).unwrap();
    std::fs::write(dir.join("utterances.csv"), data.get(split + 1..).unwrap_or(&[])).unwrap();
    let _ = Dataset::open(dir);
}

/// Seed inputs: every committed pickle, the `data.pkl` of each torch archive, and the manifest
/// and table of each imported fixture (joined by a NUL byte, as the dataset target splits them).
/// Seed inputs of the three fuzz targets.
struct FuzzCorpus {
    pickles: Vec<Vec<u8>>,
    tables: Vec<Vec<u8>>,
    torch_files: Vec<Vec<u8>>,
}

fn fuzz_corpus(work: &Path) -> FuzzCorpus {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { files(&path, out) } else { out.push(path) }
        }
    }
    let mut paths = Vec::new();
    files(&fixtures(), &mut paths);
    paths.sort();
    let torch_files: Vec<Vec<u8>> =
        paths.iter().filter(|p| p.extension().is_some_and(|e| e == "pt")).map(|p| std::fs::read(p).unwrap()).collect();
    let mut pickles: Vec<Vec<u8>> =
        paths.iter().filter(|p| p.extension().is_some_and(|e| e == "pkl")).map(|p| std::fs::read(p).unwrap()).collect();
    for pt in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "pt")) {
        let bytes = std::fs::read(pt).unwrap();
        if let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) {
            let name =
                archive.file_names().map(|n| n.unwrap().into_owned()).find(|n| n.ends_with("/data.pkl")).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut archive.by_name(&name).unwrap(), &mut data).unwrap();
            pickles.push(data);
        }
    }
    let mut tables = Vec::new();
    let folder = FolderOptions {
        csv: fixtures().join("folder/labels.csv"),
        out: work.join("seed-folder"),
        media: MediaMode::Copy,
        labels: None,
    };
    import::import_folder(&folder).unwrap();
    import::import_tailor(&fixtures().join("train_valid_test.pt"), &work.join("seed-tailor")).unwrap();
    for seed in ["seed-folder", "seed-tailor"] {
        let mut input = std::fs::read(work.join(seed).join("manifest.toml")).unwrap();
        input.push(0);
        input.extend(std::fs::read(work.join(seed).join("utterances.csv")).unwrap());
        tables.push(input);
    }
    FuzzCorpus { pickles, tables, torch_files }
}

/// One random edit: bit flip, interesting byte, insert, delete, duplicate, splice or truncate.
fn mutate(rng: &mut rand::rngs::StdRng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    use rand::Rng as _;
    const INTERESTING: [u8; 10] = [0x00, 0x01, 0x7f, 0x80, 0xff, b'(', b'.', b'R', b'b', 0x94];
    if input.is_empty() {
        input.push(rng.random());
        return;
    }
    let at = rng.random_range(0..input.len());
    match rng.random_range(0..7) {
        0 => input[at] ^= 1 << rng.random_range(0..8),
        1 => input[at] = INTERESTING[rng.random_range(0..INTERESTING.len())],
        2 => {
            let n = rng.random_range(1..8);
            for _ in 0..n {
                input.insert(at, rng.random());
            }
        }
        3 => {
            let end = (at + rng.random_range(1..16)).min(input.len());
            input.drain(at..end);
        }
        4 => {
            let end = (at + rng.random_range(1..32)).min(input.len());
            let chunk = input[at..end].to_vec();
            let to = rng.random_range(0..=input.len());
            input.splice(to..to, chunk);
        }
        5 => {
            let other = &corpus[rng.random_range(0..corpus.len())];
            if !other.is_empty() {
                let from = rng.random_range(0..other.len());
                let end = (from + rng.random_range(1..64)).min(other.len());
                input.splice(at..at, other[from..end].iter().copied());
            }
        }
        _ => input.truncate(at),
    }
}

/// Stable-Rust stand-in for the cargo-fuzz targets in `fuzz/`: mutates the corpus with a seeded
/// RNG for `UNIVA_FUZZ_SECS` seconds per target (default 30) and fails on any panic or on an
/// input that takes longer than a second. Findings are written to `UNIVA_FUZZ_OUT` (default a
/// temp dir) so they can become regression tests.
#[test]
#[ignore = "long-running fuzzing; run with --ignored"]
fn fuzz_loaders_on_stable() {
    use rand::SeedableRng as _;
    let secs: u64 = std::env::var("UNIVA_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let work = tempfile::tempdir().unwrap();
    let findings_dir = std::env::var_os("UNIVA_FUZZ_OUT").map_or_else(|| work.path().join("findings"), PathBuf::from);
    std::fs::create_dir_all(&findings_dir).unwrap();
    let FuzzCorpus { pickles, tables, torch_files } = fuzz_corpus(work.path());
    let dataset_dir = work.path().join("fuzz-dataset");
    std::fs::create_dir_all(&dataset_dir).unwrap();
    // Panics are findings, not noise.
    std::panic::set_hook(Box::new(|_| {}));

    let mut findings = Vec::new();
    for (target, corpus) in [("unpickle", &pickles), ("dataset_tables", &tables), ("torch_file", &torch_files)] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1111);
        let started = std::time::Instant::now();
        let mut tried = 0u64;
        let mut slowest = std::time::Duration::ZERO;
        while started.elapsed().as_secs() < secs {
            let mut input = corpus[tried as usize % corpus.len()].clone();
            use rand::Rng as _;
            for _ in 0..rng.random_range(1..6) {
                mutate(&mut rng, &mut input, corpus);
            }
            let run = |input: &[u8]| {
                let one = std::time::Instant::now();
                let result = std::panic::catch_unwind(|| match target {
                    "unpickle" => fuzz_pickle(input),
                    "torch_file" => fuzz_torch_file(&dataset_dir, input),
                    _ => fuzz_dataset(&dataset_dir, input),
                });
                (result.is_err(), one.elapsed())
            };
            let (panicked, took) = run(&input);
            if took > slowest {
                // Kept for a look at what the slowest input does (it is not a finding by itself).
                std::fs::write(findings_dir.join(format!("{target}-slowest")), &input).unwrap();
                slowest = took;
            }
            // A slow input counts only if it is slow again: the targets write files, and an
            // fsync on a busy shared disk can stall for a second on its own.
            let slow = took.as_secs() >= 1 && run(&input).1.as_secs() >= 1;
            if panicked || slow {
                let path = findings_dir.join(format!("{target}-{tried}"));
                std::fs::write(&path, &input).unwrap();
                findings.push(format!("{} ({})", path.display(), if panicked { "panic" } else { "slow" }));
            }
            tried += 1;
        }
        eprintln!("fuzz {target}: {tried} inputs in {secs} s, slowest {slowest:?}, {} findings so far", findings.len());
    }
    let _ = std::panic::take_hook();
    assert!(findings.is_empty(), "fuzzing found: {findings:#?}");
}
