//! The `univa` binary as a user runs it.

use std::path::Path;
use std::process::Command;

fn univa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn synth_then_validate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let out_str = out.to_str().unwrap();
    let synth = univa(&["synth", "--out", out_str, "-n", "50", "--text", "5x4", "--vision", "3x2", "--audio", "4x3"]);
    assert!(synth.status.success(), "{}", stderr(&synth));
    let validate = univa(&["validate", out_str]);
    assert!(validate.status.success(), "{}", stderr(&validate));
    let text = stdout(&validate);
    assert!(text.contains("50 utterances") && text.contains("features text: 5×4"), "{text}");
}

#[test]
fn synth_rejects_unknown_label_and_bad_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let bad = univa(&["synth", "--out", out.to_str().unwrap(), "--labels", "happy,bored"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unknown label \"bored\""), "{}", stderr(&bad));
    let bad = univa(&["synth", "--out", out.to_str().unwrap(), "--text", "50"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("is not LxD"), "{}", stderr(&bad));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn metrics_from_label_files() {
    let dir = tempfile::tempdir().unwrap();
    let gold = dir.path().join("gold.csv");
    let pred = dir.path().join("pred.csv");
    write(&gold, "id,a,b\nx,1,0\ny,1,1\n");
    // `univa predict` output: probabilities thresholded at 0.18 by default.
    write(&pred, "id,p_a,p_b,predicted\nx,0.9,0.1,a\ny,0.6,0.3,a;b\n");
    let output = univa(&["metrics", "--gold", gold.to_str().unwrap(), "--pred", pred.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    for key in ["acc", "subset_acc", "hamming_loss", "micro_f1", "macro_f1", "per_label"] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    assert_eq!(json["subset_acc"], 1.0);

    write(&pred, "id,a,b\nx,1,0\n");
    let output = univa(&["metrics", "--gold", gold.to_str().unwrap(), "--pred", pred.to_str().unwrap()]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("pred.csv: no prediction for id \"y\"") && err.lines().count() == 1, "{err}");
}

#[test]
fn bad_dataset_is_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = univa(&["validate", dir.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("manifest.toml") && err.lines().count() == 1, "{err}");
}

/// Every subcommand that reads a dataset says the same one line for a folder that is not one,
/// with no cause printed twice.
#[test]
fn a_folder_without_a_manifest_is_not_a_dataset_for_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    let expected = format!("univa: {folder}: is not a dataset folder (no manifest.toml)\n");
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let runs: [&[&str]; 4] = [
        &["validate", folder],
        &["train", "--dataset", folder, "--out", out],
        &["va-prior", "--dataset", folder],
        &["predict", "--run", "models/demo", "--dataset", folder, "--out", out],
    ];
    for args in runs {
        let output = Command::new(env!("CARGO_BIN_EXE_univa"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("UNIVA_AUDIO", "off")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert_eq!(stderr(&output), expected, "{args:?}");
    }
}
