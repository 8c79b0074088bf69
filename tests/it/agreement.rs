//! Agreement statistics against figures computed independently (the `krippendorff` and
//! `pingouin` PyPI packages, scipy and a numpy one-way ANOVA; see
//! `tests/fixtures/agreement/reference.py`), through the library and `univa agreement --json`.
//!
//! The EmoBank per-annotator ratings (CC BY-SA 4.0) are read in place from
//! `../shared/data/emobank/` beside the repo (or `UNIVA_EMOBANK_DIR`), never copied here.

use std::path::{Path, PathBuf};
use std::process::Command;

use univa::va::agreement::file::{Columns, agreement_of_file};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/agreement")
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn emobank(name: &str) -> PathBuf {
    let dir =
        std::env::var_os("UNIVA_EMOBANK_DIR").map_or_else(|| repo().join("../shared/data/emobank"), PathBuf::from);
    let path = dir.join(format!("individual_{name}_ratings.csv"));
    assert!(path.is_file(), "{} is missing: set UNIVA_EMOBANK_DIR to the folder with EmoBank's files", path.display());
    path
}

fn univa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

/// Every number the reference has must match ours to `rel` (counts exactly).
fn assert_matches(ours: &serde_json::Value, reference: &serde_json::Value, rel: f64, what: &str) {
    let reference = reference.as_object().unwrap();
    for (key, want) in reference {
        let got = ours.get(key).unwrap_or_else(|| panic!("{what}: {key} missing in {ours}"));
        if want.is_u64() {
            assert_eq!(got.as_u64(), want.as_u64(), "{what}: {key}");
        } else {
            let (got, want) = (got.as_f64().unwrap(), want.as_f64().unwrap());
            assert!((got - want).abs() <= rel * want.abs(), "{what}: {key} = {got}, reference {want}");
        }
    }
}

fn columns(unit: &str, value: &str, rater: Option<&str>) -> Columns {
    Columns { unit: unit.into(), value: value.into(), rater: rater.map(Into::into) }
}

/// Both pipelines agree to float rounding; 1e-9 leaves room for summation order only.
const REL: f64 = 1e-9;

#[test]
fn emobank_library_matches_the_reference() {
    let reference = reference();
    for file in ["reader", "writer"] {
        let path = emobank(file);
        for dim in ["V", "A"] {
            let ours = agreement_of_file(&path, &columns("id", dim, None)).unwrap();
            assert!(ours.identified.is_none());
            let ours = serde_json::to_value(&ours).unwrap();
            assert_matches(&ours, &reference["emobank"][file][dim], REL, &format!("{file} {dim}"));
        }
    }
}

#[test]
fn emobank_cli_json_matches_the_reference() {
    let reference = reference();
    for file in ["reader", "writer"] {
        let path = emobank(file);
        for dim in ["V", "A"] {
            let out =
                univa(&["agreement", "--ratings", path.to_str().unwrap(), "--unit", "id", "--value", dim, "--json"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            for key in ["n_units", "n_ratings", "alpha_interval", "icc1_1", "icc1_k"] {
                assert!(json.get(key).is_some(), "{key} missing in {json}");
            }
            assert!(json.get("icc_a1").is_none(), "no raters, no two-way ICC: {json}");
            assert_matches(&json, &reference["emobank"][file][dim], REL, &format!("{file} {dim} (CLI)"));
        }
    }
}

#[test]
fn identified_raters_match_pingouin_and_the_pairwise_reference() {
    let reference = reference();
    for (name, unit) in [("raters_complete", "item"), ("raters_missing", "utterance")] {
        let path = fixtures().join(format!("{name}.csv"));
        let cols = columns(unit, "valence", Some("annotator"));
        let ours = serde_json::to_value(agreement_of_file(&path, &cols).unwrap()).unwrap();
        assert_matches(&ours, &reference["fixtures"][name], REL, name);
        let out = univa(&[
            "agreement",
            "--ratings",
            path.to_str().unwrap(),
            "--unit",
            unit,
            "--value",
            "valence",
            "--rater",
            "annotator",
            "--json",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_matches(&json, &reference["fixtures"][name], REL, &format!("{name} (CLI)"));
    }
}

#[test]
fn plain_output_is_a_table() {
    let path = fixtures().join("raters_missing.csv");
    let args = ["agreement", "--ratings", path.to_str().unwrap(), "--unit", "utterance", "--value", "valence"];
    let out = univa(&[&args[..], &["--rater", "annotator"][..]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("51 ratings of 12 units") && text.contains("5 raters; 7 units rated by all"), "{text}");
    let alpha = reference()["fixtures"]["raters_missing"]["alpha_interval"].as_f64().unwrap();
    assert!(text.contains(&format!("{alpha:.4}")) && text.contains("ICC(A,1)"), "{text}");
    // Without the rater column: the one-way statistics only.
    let text = String::from_utf8_lossy(&univa(&args).stdout).into_owned();
    assert!(text.contains("ICC(1,1)") && !text.contains("ICC(A,1)"), "{text}");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// The CLI's one-line error for a bad ratings file.
fn cli_error(text: &str, rater: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    write(&path, text);
    let mut args = vec!["agreement", "--ratings", path.to_str().unwrap(), "--unit", "id", "--value", "V"];
    if let Some(rater) = rater {
        args.extend(["--rater", rater]);
    }
    let out = univa(&args);
    assert!(!out.status.success(), "{text:?} was accepted");
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.csv"), "{stderr}");
    stderr
}

#[test]
fn bad_ratings_files_get_one_line_naming_file_row_and_column() {
    let e = cli_error("id,A\na,1\n", None);
    assert!(e.contains("there is no column \"V\""), "{e}");
    let e = cli_error("id,V\na,1\na,2\nb,3\nb,high\n", None);
    assert!(e.contains("row 4 (line 5), column \"V\": \"high\" is not a number"), "{e}");
    let e = cli_error("id,who,V\na,x,1\nb,x,2\nc,x,3\n", Some("who"));
    assert!(e.contains("column \"who\": only one rater (\"x\")"), "{e}");
    let e = cli_error("id,V\na,1\nb,2\n", None);
    assert!(e.contains("column \"id\"") && e.contains("single rating"), "{e}");
    let e = cli_error("", None);
    assert!(e.contains("the file is empty"), "{e}");
    let e = cli_error("id,V\na,2\na,2\nb,2\nb,2\n", None);
    assert!(e.contains("column \"V\": all 4 ratings are 2"), "{e}");
}
