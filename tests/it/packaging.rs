//! What a package installs besides the binary: man pages, shell completions, the models fetch.

use std::process::Command;

fn univa(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

#[test]
fn generate_writes_man_pages_and_completions_that_know_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let (man, completions) = (dir.path().join("man"), dir.path().join("completions"));
    let output = univa(&[
        "generate".as_ref(),
        "--man".as_ref(),
        man.as_os_str(),
        "--completions".as_ref(),
        completions.as_os_str(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let page = std::fs::read_to_string(man.join("univa.1")).unwrap();
    assert!(page.contains("univa\\-train(1)"), "the main page lists the subcommand pages:\n{page}");
    let train = std::fs::read_to_string(man.join("univa-train.1")).unwrap();
    assert!(train.contains("univa train"), "the train page's synopsis:\n{train}");
    assert!(!man.join("univa-generate.1").exists(), "the hidden subcommand has no page");

    for file in ["univa.bash", "_univa", "univa.fish"] {
        let text = std::fs::read_to_string(completions.join(file)).unwrap();
        assert!(text.contains("train"), "{file} completes `univa train`");
    }
    let bash = std::fs::read_to_string(completions.join("univa.bash")).unwrap();
    assert!(bash.contains("univa,train)"), "bash has a case for `univa train`");
}

#[test]
fn generate_is_hidden_from_help_and_needs_a_folder() {
    let help = univa(&["--help".as_ref()]);
    assert!(!String::from_utf8_lossy(&help.stdout).contains("generate"));
    let output = univa(&["generate".as_ref()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to generate"));
}
