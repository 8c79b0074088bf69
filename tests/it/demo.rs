//! The bundled demo: the committed dataset is complete and the committed model reproduces the
//! metrics its model card states.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Device;
use univa::dataset::{Dataset, Split};
use univa::metrics::Metrics;
use univa::modality::Modality;
use univa::train;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn folder_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() { folder_size(&entry.path()) } else { meta.len() }
        })
        .sum()
}

#[test]
fn demo_dataset_is_complete_and_small() {
    let dataset = Dataset::open(repo("assets/demo")).unwrap();
    assert_eq!(dataset.label_names(), ["happy", "sad", "anger", "surprise", "disgust", "fear"]);
    assert_eq!(dataset.utterances.len(), 240);
    for split in [Split::Train, Split::Valid, Split::Test] {
        assert!(!dataset.split_indices(split).is_empty(), "{split} is empty");
        assert!(dataset.features(split).is_some(), "{split} has no features");
    }
    for modality in Modality::ALL {
        assert!(dataset.manifest.feature_spec(modality).is_some(), "no {modality} features");
    }
    for utterance in &dataset.utterances {
        let media = dataset.media_path(utterance).unwrap();
        assert!(media.is_file(), "{} is missing", media.display());
        assert!(!utterance.text.is_empty() && !utterance.labels.is_empty(), "{}", utterance.id);
        for modality in Modality::ALL {
            assert!(utterance.va.get(modality).is_some(), "{} has no {modality} VA", utterance.id);
            assert!(!utterance.va_model.get(modality).is_empty(), "{} has no {modality} provenance", utterance.id);
        }
    }
    let bytes = folder_size(&repo("assets/demo"));
    assert!(bytes <= 30 << 20, "assets/demo is {bytes} bytes, over 30 MiB");
}

#[test]
fn demo_model_reproduces_its_card_metrics() {
    let trained = train::load_run(&repo("models/demo"), &Device::Cpu).unwrap();
    let dataset = Dataset::open(repo("assets/demo")).unwrap();
    let threshold = trained.info.config.train.threshold;
    let evaluation = train::evaluate(&trained, &dataset, Split::Test, threshold).unwrap();
    let stated: Metrics =
        serde_json::from_str(&std::fs::read_to_string(repo("models/demo/test_metrics.json")).unwrap()).unwrap();
    assert_eq!(evaluation.metrics, stated);
    let card = std::fs::read_to_string(repo("models/demo/README.md")).unwrap();
    assert!(
        card.contains(&format!("| {:.4} |", stated.micro_f1)),
        "the model card does not state micro-F1 {}",
        stated.micro_f1
    );
}

#[test]
fn demo_evaluates_from_the_command_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_univa"))
        .args(["eval", "--run", "models/demo", "--dataset", "assets/demo", "--split", "test", "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let stated: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("models/demo/test_metrics.json")).unwrap()).unwrap();
    assert_eq!(printed, stated);
}

/// `univa va-prior`, the matrix training starts M from, and the workbench's Correlation tab all
/// show the reference code's prior on the demo (labels min-max scaled over the label set).
#[test]
fn demo_prior_is_the_reference_matrix_everywhere() {
    let output = Command::new(env!("CARGO_BIN_EXE_univa"))
        .args(["va-prior", "--dataset", "assets/demo", "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let labels: Vec<String> = serde_json::from_value(printed["labels"].clone()).unwrap();
    assert_eq!(labels, ["happy", "sad", "anger", "surprise", "disgust", "fear"]);
    let matrix: Vec<Vec<f32>> = serde_json::from_value(printed["matrix"].clone()).unwrap();
    // sad–anger and sad–disgust, where the centred rule gave 0.19 and 0.46.
    assert!((matrix[1][2] - -0.332_193_9).abs() < 1e-6, "{matrix:?}");
    assert!((matrix[1][4] - 0.002_873_4).abs() < 1e-6, "{matrix:?}");

    let info = train::load_run(&repo("models/demo"), &Device::Cpu).unwrap().info;
    assert_eq!(info.config.model.prior_rule, univa::va::PriorRule::LabelSetMinMax);
    assert_eq!(info.prior().unwrap(), matrix);
    let initial = train::TrainedModel::new(info, &Device::Cpu).unwrap();
    assert_eq!(initial.model.correlation_matrix().unwrap(), matrix);
    let session = univa::ui::Session::open(&repo("assets/demo"), None).unwrap();
    assert_eq!(session.prior.as_ref().unwrap(), &matrix);
}
