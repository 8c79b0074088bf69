//! `univa runs table` / `import-predictions` and the run browser, over three tiny runs that
//! differ in δ (trained as `cli_train` trains: small model, two epochs, 200 utterances).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use egui_kittest::kittest::Queryable as _;
use serde_json::Value;
use univa::dataset::{Dataset, Split};
use univa::ui::{
    Command as UiCommand, Layout, MetricsStatus, Pane, RunsCommand, StudioApp, ViewSettings, Workspace,
    WorkspaceCommand,
};

use crate::cli_train::univa;

const METRIC_KEYS: [&str; 5] = ["acc", "subset_acc", "hamming_loss", "micro_f1", "macro_f1"];
const DELTAS: [&str; 3] = ["0.05", "0.1", "0.5"];

struct Fixture {
    data: PathBuf,
    /// The runs folder: `delta-sweep/loss.delta=<δ>/` for each δ.
    runs_dir: PathBuf,
    runs: Vec<PathBuf>,
    /// Gold labels of the test split as a label file.
    gold: PathBuf,
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runs_fixture");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let data = root.join("data");
        univa(&["synth", "--out", s(&data), "-n", "200", "--text", "6x8", "--vision", "4x3", "--audio", "4x5"]);
        let runs_dir = root.join("runs");
        let mut runs = Vec::new();
        for delta in DELTAS {
            let config = root.join(format!("delta-{delta}.toml"));
            std::fs::write(
                &config,
                format!("[model]\nhidden = 32\nintermediate = 64\n[loss]\ndelta = {delta}\n[train]\nbatch_size = 16\n"),
            )
            .unwrap();
            let run = runs_dir.join("delta-sweep").join(format!("loss.delta={delta}"));
            univa(&[
                "train",
                "--dataset",
                s(&data),
                "--out",
                s(&run),
                "--config",
                s(&config),
                "--epochs",
                "2",
                "--quiet",
            ]);
            runs.push(run);
        }
        let dataset = Dataset::open(&data).unwrap();
        let mut gold_csv = format!("id,{}\n", dataset.label_names().join(","));
        for i in dataset.split_indices(Split::Test) {
            let u = &dataset.utterances[i];
            let bits: Vec<&str> = u.label_vector(6).iter().map(|&b| if b { "1" } else { "0" }).collect();
            gold_csv += &format!("{},{}\n", u.id, bits.join(","));
        }
        let gold = root.join("gold.csv");
        std::fs::write(&gold, gold_csv).unwrap();
        Fixture { data, runs_dir, runs, gold }
    })
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap()
}

fn failing(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_univa")).args(args).output().unwrap();
    assert!(!output.status.success(), "univa {args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `univa runs import-predictions` of `csv` as system `name` into the run folder `out`.
fn import_args<'a>(name: &'a str, csv: &'a Path, data: &'a Path, out: &'a Path) -> [&'a str; 10] {
    ["runs", "import-predictions", "--name", name, "--csv", s(csv), "--dataset", s(data), "--out", s(out)]
}

fn eval_json(run: &Path, data: &Path) -> Value {
    json_of(&univa(&["eval", "--run", s(run), "--dataset", s(data), "--split", "test", "--json"]))
}

#[test]
fn table_json_equals_eval_json_for_each_run_and_lists_the_differing_field() {
    let f = fixture();
    let mut args = vec!["runs", "table"];
    args.extend(f.runs.iter().map(|r| s(r)));
    args.push("--json");
    let rows = json_of(&univa(&args));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for ((row, run), delta) in rows.iter().zip(&f.runs).zip(DELTAS) {
        let object = row.as_object().unwrap();
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        // `run`, the one field that differs, the five metrics of `univa eval --json`.
        let mut expected = vec!["run", "loss.delta"];
        expected.extend(METRIC_KEYS);
        expected.sort_unstable();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected, "{row}");
        assert_eq!(row["run"], s(run));
        assert_eq!(row["loss.delta"].as_f64().unwrap(), delta.parse::<f64>().unwrap());
        let eval = eval_json(run, &f.data);
        for key in METRIC_KEYS {
            assert_eq!(row[key], eval[key], "{key} of {}", run.display());
        }
    }

    // The plain table: the field as a column, the best per metric starred, aligned columns.
    let plain = String::from_utf8(univa(&args[..args.len() - 1]).stdout).unwrap();
    let lines: Vec<&str> = plain.lines().collect();
    assert!(lines[0].starts_with("run") && lines[0].contains("loss.delta") && lines[0].contains("miF1"), "{plain}");
    assert_eq!(lines.len(), 5, "{plain}");
    assert!(lines[1..4].iter().any(|l| l.contains('*')), "{plain}");
    let width = lines[1].chars().count();
    assert!(lines[1..4].iter().all(|l| l.trim_end().chars().count() <= width + 1), "{plain}");

    // A folder of runs stands for the finished runs under it.
    let found = json_of(&univa(&["runs", "table", s(&f.runs_dir), "--json"]));
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 3);
    for (row, expected) in found.iter().zip(rows) {
        assert_eq!(row["micro_f1"], expected["micro_f1"]);
    }
}

#[test]
fn a_moved_dataset_is_named_and_given_with_dataset() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("moved");
    std::fs::create_dir_all(&run).unwrap();
    for file in ["config.json", "model.safetensors", "trainer_state.json"] {
        std::fs::copy(f.runs[0].join(file), run.join(file)).unwrap();
    }
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["dataset_path"], s(&std::fs::canonicalize(&f.data).unwrap()), "training records the dataset");
    config["dataset_path"] = Value::String("/no/such/dataset".to_owned());
    std::fs::write(run.join("config.json"), config.to_string()).unwrap();
    let err = failing(&["runs", "table", s(&run)]);
    assert!(err.contains("its dataset /no/such/dataset is not there") && err.contains("--dataset"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let rows = json_of(&univa(&["runs", "table", s(&run), "--dataset", s(&f.data), "--json"]));
    assert_eq!(rows[0]["macro_f1"], eval_json(&f.runs[0], &f.data)["macro_f1"]);
}

/// A made-up other system: 0/1 labels equal to the gold ones on even rows, none on odd rows.
fn other_system_csv(f: &Fixture, path: &Path) {
    let gold = std::fs::read_to_string(&f.gold).unwrap();
    let mut out = String::new();
    for (i, line) in gold.lines().enumerate() {
        if i == 0 || i % 2 == 0 {
            out += line;
        } else {
            let id = line.split(',').next().unwrap();
            out += &format!("{id},0,0,0,0,0,0");
        }
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn imported_predictions_are_a_run_beside_ours() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (csv, out) = (dir.path().join("mult.csv"), dir.path().join("imported/mult"));
    other_system_csv(f, &csv);
    let said = univa(&import_args("MulT", &csv, &f.data, &out));
    let said = String::from_utf8_lossy(&said.stdout).into_owned();
    let tests = Dataset::open(&f.data).unwrap().split_indices(Split::Test).len();
    assert!(said.contains("imported MulT as run") && said.contains(&format!("test {tests}/{tests}")), "{said}");
    let info: Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        (info["kind"].as_str(), info["name"].as_str(), info["values"].as_str()),
        (Some("imported-predictions"), Some("MulT"), Some("labels"))
    );

    // Probabilities from `univa predict` import too.
    let (predicted, ours) = (dir.path().join("p.csv"), dir.path().join("imported/ours"));
    univa(&["predict", "--run", s(&f.runs[1]), "--dataset", s(&f.data), "--split", "test", "--out", s(&predicted)]);
    univa(&import_args("UniVA csv", &predicted, &f.data, &ours));

    let rows = json_of(&univa(&["runs", "table", s(&f.runs[0]), s(&f.runs[1]), s(&out), s(&ours), "--json"]));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    // The systems differ, and δ among our two runs; the imported rows have no δ.
    assert_eq!(rows[2]["system"], "MulT");
    assert_eq!(rows[0]["system"], "UniVA");
    assert_eq!(rows[2]["loss.delta"], Value::Null);
    assert_eq!(rows[0]["loss.delta"].as_f64(), Some(0.05));
    // An imported run's metrics are `univa metrics` on its CSV against the gold labels.
    for (row, file) in [(&rows[2], &csv), (&rows[3], &predicted)] {
        let expected = json_of(&univa(&["metrics", "--gold", s(&f.gold), "--pred", s(file), "--json"]));
        for key in METRIC_KEYS {
            assert_eq!(row[key], expected[key], "{key} of {}", file.display());
        }
    }
    assert_eq!(rows[1]["micro_f1"], eval_json(&f.runs[1], &f.data)["micro_f1"]);

    // Importing over an existing run is refused.
    let err = failing(&import_args("MulT", &csv, &f.data, &out));
    assert!(err.contains("already holds a run") && err.lines().count() == 1, "{err}");
}

#[test]
fn bad_prediction_csvs_give_one_line_errors_naming_file_row_and_column() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let first_id =
        std::fs::read_to_string(&f.gold).unwrap().lines().nth(1).unwrap().split(',').next().unwrap().to_owned();
    let header = "id,p_happy,p_sad,p_anger,p_surprise,p_disgust,p_fear";
    let cases = [
        (
            "unknown-id.csv",
            format!("{header}\n{first_id},0.1,0.2,0.3,0.1,0.1,0.2\nnobody,0.1,0.2,0.3,0.1,0.1,0.2\n"),
            "row 3, column \"id\": \"nobody\" is not an utterance of dataset",
        ),
        (
            "no-fear.csv",
            format!("id,p_happy,p_sad,p_anger,p_surprise,p_disgust\n{first_id},0.1,0.2,0.3,0.1,0.1\n"),
            "has no column for label \"fear\" (expected `p_fear` or `fear`)",
        ),
        (
            "text.csv",
            format!("{header}\n{first_id},0.1,high,0.3,0.1,0.1,0.2\n"),
            "row 2, column \"p_sad\": \"high\" is not a number",
        ),
        (
            "range.csv",
            format!("{header}\n{first_id},0.1,0.2,1.5,0.1,0.1,0.2\n"),
            "row 2, column \"p_anger\": 1.5 is not a probability in [0, 1]",
        ),
        (
            "joy.csv",
            format!("{header},p_joy\n{first_id},0.1,0.2,0.3,0.1,0.1,0.2,0.5\n"),
            "column \"p_joy\" is not a label of dataset",
        ),
        (
            "binary.csv",
            format!("id,happy,sad,anger,surprise,disgust,fear\n{first_id},1,0,0.5,0,0,0\n"),
            "row 2, column \"anger\": 0.5 is not a 0/1 label",
        ),
        (
            "mixed.csv",
            format!("id,p_happy,sad,anger,surprise,disgust,fear\n{first_id},0.5,0,0,0,0,0\n"),
            "mixes `p_<label>` probability columns with 0/1 label columns",
        ),
    ];
    for (name, text, expected) in cases {
        let csv = dir.path().join(name);
        std::fs::write(&csv, text).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        let err = failing(&import_args("X", &csv, &f.data, &out));
        assert!(
            err.contains(&format!("{name}: {expected}"))
                || err.contains(&format!("{name}: row")) && err.contains(expected),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(!out.join("config.json").exists(), "{name}: nothing written");
    }
}

// ---- the run browser (egui_kittest) ----

fn browser() -> egui_kittest::Harness<'static, StudioApp> {
    let f = fixture();
    let settings = ViewSettings {
        workspace: Workspace::at(Layout::Runs),
        runs_dir: f.runs_dir.clone(),
        ..ViewSettings::default()
    };
    let mut harness = crate::gui::harness_of(StudioApp::new(settings), None);
    // The first frame listed the runs and asked the worker for their metrics.
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    harness
}

fn name_of(run: &Path) -> String {
    run.strip_prefix(&fixture().runs_dir).unwrap().display().to_string()
}

#[test]
fn browser_lists_runs_and_its_table_shows_eval_metrics_with_the_best_marked() {
    let f = fixture();
    let harness = browser();
    for run in &f.runs {
        // In the list and as a row of the table.
        assert_eq!(harness.query_all_by_label(&name_of(run)).count(), 2, "{}", name_of(run));
    }
    let app = harness.state();
    assert_eq!(app.runs.entries.len(), 3);
    for run in &f.runs {
        let Some(MetricsStatus::Done(metrics)) = app.runs.status(run) else {
            panic!("no metrics for {}", run.display())
        };
        let eval = eval_json(run, &f.data);
        assert_eq!(serde_json::to_value(metrics).unwrap(), eval, "the browser's metrics are `univa eval`'s");
        // The table's cell, named by run and metric.
        let cell = format!("{} miF1 {:.4}", name_of(run), metrics.micro_f1);
        assert!(harness.query_by_label_contains(&cell).is_some(), "no cell {cell}");
    }
    harness.get_by_label("loss.delta");
    // The best micro-F1 is marked, and only there.
    let f1 = |run: &PathBuf| match app.runs.status(run) {
        Some(MetricsStatus::Done(m)) => m.micro_f1,
        _ => unreachable!(),
    };
    let best = f.runs.iter().map(f1).fold(f64::MIN, f64::max);
    for run in &f.runs {
        let cell = format!("{} miF1 {:.4} best", name_of(run), f1(run));
        assert_eq!(harness.query_by_label(&cell).is_some(), f1(run) == best, "{cell}");
    }
}

#[test]
fn browser_lists_the_workbenchs_run_wherever_it_lies_once() {
    let f = fixture();
    let (data, run) = crate::gui::fixture();
    let settings = ViewSettings {
        workspace: Workspace::at(Layout::Runs),
        runs_dir: f.runs_dir.clone(),
        ..ViewSettings::default()
    };
    let mut harness = crate::gui::harness_of(StudioApp::new(settings), Some((data.clone(), Some(run.clone()))));
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    let label = format!("{} (the open dataset's run)", run.display());
    // In the list and as a row of the table.
    assert_eq!(harness.query_all_by_label(&label).count(), 2, "listed: {label}");
    assert_eq!(harness.state().runs.entries.len(), f.runs.len() + 1);
    // A run of the runs folder attached in the workbench is listed once, under its own name.
    let inside = &f.runs[0];
    harness.state_mut().handle(UiCommand::Open { dataset: f.data.clone(), run: Some(inside.clone()) });
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    assert_eq!(harness.state().runs.entries.len(), f.runs.len());
}

#[test]
fn browser_compares_two_runs_and_plots_the_sweep() {
    let f = fixture();
    let mut harness = browser();
    // The list's entry comes before the table's row of the same name.
    harness.get_all_by_label(&name_of(&f.runs[0])).next().unwrap().click();
    harness.run_steps(2);
    harness.get_all_by_label(&name_of(&f.runs[2])).next().unwrap().click();
    harness.run_steps(2);
    assert_eq!(harness.state().runs.picked, [f.runs[0].clone(), f.runs[2].clone()]);
    harness.get_by_label("Compare two runs").click();
    harness.run_steps(2);
    assert!(harness.state().pane_rect(Pane::ConfigDiff).is_some(), "the comparison's tab is shown");
    harness.get_by_label("Config diff");
    harness.get_by_label("0.05");
    harness.get_by_label("B − A");

    harness.get_by_label("Sweep plot").click();
    harness.run_steps(2);
    // δ is the swept field; the points' table lists each run at its δ.
    harness.get_by_label("Field");
    for (run, delta) in f.runs.iter().zip(DELTAS) {
        harness.get_by_label(delta);
        // Unpicked runs are listed under their name, and the sweep's table names each run.
        assert!(harness.query_all_by_label_contains(&name_of(run)).count() >= 2, "{}", name_of(run));
    }
}

#[test]
fn open_in_workbench_opens_the_dataset_with_the_run_attached() {
    let f = fixture();
    let mut harness = browser();
    harness.get_all_by_label("Open in Case study").nth(1).unwrap().click();
    harness.run_steps(2);
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    let app = harness.state();
    assert_eq!(app.settings.workspace.layout, Layout::CaseStudy);
    let session = app.session.as_ref().expect("the run's dataset is open");
    assert_eq!(std::fs::canonicalize(&session.dataset.root).unwrap(), std::fs::canonicalize(&f.data).unwrap());
    assert_eq!(session.run.as_ref().unwrap().dir, f.runs[1]);
    harness.get_by_label("Case card");
}

#[test]
fn an_imported_system_gets_a_row_in_the_case_card() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (csv, out) = (dir.path().join("mult.csv"), dir.path().join("mult"));
    other_system_csv(f, &csv);
    univa(&import_args("MulT", &csv, &f.data, &out));

    let mut harness = browser();
    harness.state_mut().handle(UiCommand::Runs(RunsCommand::AddRunFolder(dir.path().to_path_buf())));
    harness.state_mut().wait_for_worker();
    harness.run_steps(2);
    assert_eq!(harness.state().runs.entries.len(), 4);
    harness.get_by_label("Compare in case card").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.runs_browser.in_case_card, std::slice::from_ref(&out));
    // Open our run beside it, and pick a test utterance the system predicted (an even row).
    harness.state_mut().handle(UiCommand::Open { dataset: f.data.clone(), run: Some(f.runs[0].clone()) });
    harness.state_mut().handle(UiCommand::Workspace(WorkspaceCommand::SetLayout(Layout::CaseStudy)));
    harness.state_mut().wait_for_worker();
    let gold = std::fs::read_to_string(&f.gold).unwrap();
    let id = gold.lines().nth(2).unwrap().split(',').next().unwrap().to_owned();
    let index = harness.state().session.as_ref().unwrap().dataset.utterances.iter().position(|u| u.id == id).unwrap();
    harness.state_mut().handle(UiCommand::Select(index));
    harness.run_steps(2);
    harness.get_by_label("Case card").click();
    harness.run_steps(2);
    harness.get_by_label("Prediction (MulT)");
    let app = harness.state();
    let session = app.session.as_ref().unwrap();
    let systems = app.runs.systems_for(session);
    let markdown = univa::ui::case_card_markdown(session, index, app.settings.threshold, &systems).unwrap();
    let gold_names: Vec<&str> =
        session.utterance(index).unwrap().labels.iter().map(|&j| session.label_names[j].as_str()).collect();
    assert!(markdown.contains(&format!("| MulT | {} | ✓ exact |", gold_names.join(", "))), "{markdown}");
    assert!(markdown.contains("| UniVA (this run) |"), "{markdown}");
}
