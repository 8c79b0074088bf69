//! `univa synth` → `univa train` → `univa eval` / `predict` / `metrics`, as the README runs them.

use std::process::Command;

pub fn univa(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_univa")).args(args).output().unwrap();
    assert!(output.status.success(), "univa {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
fn end_to_end_with_events_and_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (data, run, events, config, predictions, gold) =
        (path("data"), path("run"), path("events.jsonl"), path("c.toml"), path("p.csv"), path("gold.csv"));
    univa(&["synth", "--out", &data, "-n", "200", "--text", "6x8", "--vision", "4x3", "--audio", "4x5"]);
    std::fs::write(&config, "[model]\nhidden = 32\nintermediate = 64\n[train]\nbatch_size = 16\n").unwrap();
    univa(&[
        "train",
        "--dataset",
        &data,
        "--out",
        &run,
        "--config",
        &config,
        "--epochs",
        "2",
        "--events",
        &events,
        "--quiet",
    ]);

    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&events).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.first().unwrap()["event"], "started");
    assert_eq!(lines.iter().filter(|l| l["event"] == "epoch").count(), 2);
    assert_eq!(lines.last().unwrap()["event"], "finished");

    let eval = univa(&["eval", "--run", &run, "--dataset", &data, "--split", "test", "--json"]);
    let metrics: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(metrics["per_label"].as_array().unwrap().len(), 6);

    univa(&["predict", "--run", &run, "--dataset", &data, "--split", "test", "--out", &predictions]);
    let predicted = std::fs::read_to_string(&predictions).unwrap();
    assert!(predicted.starts_with("id,p_happy,p_sad,p_anger,p_surprise,p_disgust,p_fear,predicted\n"), "{predicted}");

    // Gold labels of the test split from the dataset table, as a label file.
    let dataset = univa::dataset::Dataset::open(&data).unwrap();
    let mut gold_csv = String::from("id,happy,sad,anger,surprise,disgust,fear\n");
    for i in dataset.split_indices(univa::dataset::Split::Test) {
        let u = &dataset.utterances[i];
        let bits: Vec<&str> = u.label_vector(6).iter().map(|&b| if b { "1" } else { "0" }).collect();
        gold_csv += &format!("{},{}\n", u.id, bits.join(","));
    }
    std::fs::write(&gold, gold_csv).unwrap();
    let from_files = univa(&["metrics", "--gold", &gold, "--pred", &predictions, "--json"]);
    let from_files: serde_json::Value = serde_json::from_slice(&from_files.stdout).unwrap();
    // Probabilities are rounded to 6 decimals in the CSV; metrics agree unless a value sits on the threshold.
    assert_eq!(from_files["micro_f1"], metrics["micro_f1"]);
    assert_eq!(from_files["acc"], metrics["acc"]);
}
