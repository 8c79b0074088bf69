//! `univa audit merge`: three annotators' laptops merged into the dataset's store, their
//! agreement computed from the merged store; merging again adds nothing; a conflict and another
//! dataset's store are refused with the stores named.

use std::path::Path;

use rand::{Rng as _, SeedableRng as _};
use univa::dataset::{Dataset, Va};
use univa::modality::Modality;
use univa::store::{Change, EventKind, Judgment, Status, Store};
use univa::va::agreement::{Rating, agreement};

use super::audit::{ok, univa};

/// Runs a command that must fail; what it printed on both streams.
fn fails(args: &[&str]) -> String {
    let output = univa(args);
    assert!(!output.status.success(), "univa {args:?} should fail: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8(output.stdout).unwrap() + &String::from_utf8(output.stderr).unwrap()
}

fn synth(out: &Path, seed: &str) -> Dataset {
    let out_str = out.to_str().unwrap();
    ok(&["synth", "--out", out_str, "-n", "60", "--seed", seed, "--text", "4x6", "--vision", "3x3", "--audio", "3x4"]);
    Dataset::open(out).unwrap()
}

/// One annotator's laptop: a store of their own in which they correct the text VA of 40
/// utterances from `first` on: the dataset's value plus their own noise.
fn laptop(path: &Path, dataset: &Dataset, name: &str, seed: u64, first: usize) {
    let mut store = Store::open(path, &dataset.manifest.name).unwrap();
    let annotator = store.create_annotator(name, "").unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for u in &dataset.utterances[first..first + 40] {
        let base = u.va.get(Modality::Text).unwrap_or(Va::new(0.0, 0.0));
        let mut noisy = |x: f32| (x + rng.random_range(-0.1..0.1)).clamp(-1.0, 1.0);
        let va = Va::new(noisy(base.valence), noisy(base.arousal));
        let change = Change {
            annotator: annotator.id,
            utterance: &u.id,
            modality: Modality::Text,
            kind: EventKind::Correct,
            new: Some(Judgment { va, status: Status::Corrected, unsure: false, reason: String::new() }),
            reason: "",
            source_model: "synth",
            model: None,
        };
        store.record(&change).unwrap();
    }
}

#[test]
fn three_laptops_merged_give_the_agreement_of_three_annotators() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dataset = synth(&data, "7");
    let data_str = data.to_str().unwrap();
    let laptops: Vec<String> =
        (1..=3).map(|k| dir.path().join(format!("laptop{k}.sqlite")).to_str().unwrap().to_owned()).collect();
    for (k, path) in laptops.iter().enumerate() {
        laptop(Path::new(path), &dataset, &format!("annotator{}", k + 1), k as u64, 0);
    }
    let mut args = vec!["audit", "merge", "--dataset", data_str, "--dry-run", "--from"];
    args.extend(laptops.iter().map(String::as_str));
    let dry = ok(&args);
    assert!(dry.contains("120 new events, 0 already present") && dry.contains("dry run"), "{dry}");
    assert!(!data.join(univa::store::STORE_FILE).exists(), "a dry run leaves no store behind");
    args.retain(|a| *a != "--dry-run");
    let merged = ok(&args);
    assert!(merged.contains("merged 120 new events"), "{merged}");
    let again = ok(&args);
    assert!(again.contains("0 new events, 120 already present"), "{again}");

    // Agreement over the three annotators, from the merged store.
    let store = Store::open(&data.join(univa::store::STORE_FILE), &dataset.manifest.name).unwrap();
    let annotators = store.annotators().unwrap();
    assert_eq!(
        annotators.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["annotator1", "annotator2", "annotator3"]
    );
    let judgments = store.judgments().unwrap();
    let mut ratings = Vec::new();
    for a in &annotators {
        for u in dataset.utterances.iter().take(40) {
            let j = &judgments[&a.id][&(u.id.clone(), Modality::Text)];
            ratings.push(Rating { unit: u.id.clone(), rater: Some(a.name.clone()), value: f64::from(j.va.valence) });
        }
    }
    let valence = agreement(&ratings).unwrap();
    let raters = valence.identified.as_ref().unwrap();
    assert_eq!((raters.n_raters, raters.n_complete_units, valence.n_ratings), (3, 40, 120));
    assert!(valence.alpha_interval > 0.8, "three noisy copies of one truth agree: {valence:?}");

    // Each laptop can take the merged store back: then all four hold the same events.
    let into_laptop = ok(&[
        "audit",
        "merge",
        "--dataset",
        data_str,
        "--into",
        &laptops[0],
        "--from",
        data.join(univa::store::STORE_FILE).to_str().unwrap(),
    ]);
    assert!(into_laptop.contains("80 new events, 40 already present"), "{into_laptop}");
}

#[test]
fn a_name_conflict_and_another_datasets_store_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dataset = synth(&data, "7");
    let data_str = data.to_str().unwrap();
    let (one, two) = (dir.path().join("one.sqlite"), dir.path().join("two.sqlite"));
    laptop(&one, &dataset, "kim", 1, 0);
    laptop(&two, &dataset, "kim", 2, 0);
    let (one_str, two_str) = (one.to_str().unwrap(), two.to_str().unwrap());
    ok(&["audit", "merge", "--dataset", data_str, "--from", one_str]);
    let refused = fails(&["audit", "merge", "--dataset", data_str, "--from", two_str]);
    let two_id = Store::open(&two, &dataset.manifest.name).unwrap().id().to_owned();
    assert!(
        refused.contains("conflict") && refused.contains(&two_id) && refused.contains("--rename OLD=NEW"),
        "{refused}"
    );
    let renamed = ok(&["audit", "merge", "--dataset", data_str, "--from", two_str, "--rename", "kim=kim-2"]);
    assert!(renamed.contains("\"kim-2\" (new, renamed from \"kim\")"), "{renamed}");

    // Stores of another dataset: one with utterance ids this dataset lacks, one of another name.
    let other = dir.path().join("other");
    let other_str = other.to_str().unwrap();
    ok(&["synth", "--out", other_str, "-n", "100", "--text", "4x6", "--vision", "3x3", "--audio", "3x4"]);
    let other_dataset = Dataset::open(&other).unwrap();
    let stranger = dir.path().join("stranger.sqlite");
    laptop(&stranger, &other_dataset, "lee", 3, 50);
    let refused = fails(&["audit", "merge", "--dataset", data_str, "--from", stranger.to_str().unwrap()]);
    assert!(refused.contains("stranger.sqlite") && refused.contains("another dataset"), "{refused}");
    let manifest = other.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replacen("name = \"synthetic\"", "name = \"other\"", 1)).unwrap();
    let named = dir.path().join("named.sqlite");
    laptop(&named, &Dataset::open(&other).unwrap(), "lee", 3, 0);
    let refused = fails(&["audit", "merge", "--dataset", data_str, "--from", named.to_str().unwrap()]);
    assert!(refused.contains("named.sqlite") && refused.contains("\"other\""), "{refused}");
}
