//! The bad-input campaign's cases (issue 32): damaged files, killed processes and names that
//! would escape their folder, each ending in a clear error or a sound state.

use std::path::Path;
use std::process::{Command, Output};

use super::jobs::tiny_dataset;

fn univa_in(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Fails unless the command failed with one line on standard error containing each of `words`.
fn fails_saying(output: &Output, words: &[&str]) -> String {
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "succeeded; stderr: {err}");
    assert_ne!(output.status.code(), Some(101), "panicked: {err}");
    for word in words {
        assert!(err.contains(word), "{word:?} not in: {err}");
    }
    err
}

// Item 1: a job name is one folder name under the runs folder.
#[test]
fn a_job_name_cannot_escape_the_runs_folder() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("a").join("runs");
    for name in ["../../escape", "/tmp/univa-escape-abs", ".hidden", ".."] {
        let out = univa_in(&[
            "jobs",
            "submit",
            "--runs",
            s(&runs),
            "--name",
            name,
            "--dataset",
            s(tiny_dataset()),
            "--epochs",
            "1",
        ]);
        fails_saying(&out, &["run name", "one folder name"]);
    }
    assert!(!dir.path().join("escape").exists(), "trained outside the runs folder");
    assert!(!Path::new("/tmp/univa-escape-abs").exists());
}
