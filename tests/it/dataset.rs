//! The native dataset format: round trip, and one clear error per kind of bad input.

use std::collections::BTreeMap;
use std::path::Path;

use univa::dataset::{
    Dataset, DatasetWriter, FeatureSpec, LabelSpec, Manifest, MediaRef, Split, SplitFeatures, Utterance, Va,
};
use univa::modality::{Modality, PerModality};

const LEN: usize = 3;
const DIM: usize = 2;

fn utterance(id: &str, split: Split, labels: Vec<usize>) -> Utterance {
    Utterance {
        id: id.to_owned(),
        video_id: format!("video-{id}"),
        split,
        media: Some(MediaRef { path: format!("media/{id}.mp4").into(), start_secs: Some(1.5), end_secs: Some(3.0) }),
        text: format!("sentence, with \"quotes\" {id}"),
        labels,
        va: PerModality { text: Some(Va::new(0.5, -0.25)), vision: None, audio: Some(Va::new(-1.0, 1.0)) },
        va_model: PerModality { text: "text-va@1".to_owned(), vision: String::new(), audio: "prosody@1".to_owned() },
    }
}

/// Writes a 3-utterance dataset (2 train, 1 test) with text features only.
fn write_small(root: &Path) -> Vec<Utterance> {
    let manifest = Manifest::new(
        "small",
        LabelSpec::mosei(),
        vec![FeatureSpec { modality: Modality::Text, max_len: LEN, dim: DIM }],
    );
    let utterances = vec![
        utterance("u1", Split::Train, vec![0, 4]),
        utterance("u2", Split::Test, vec![]),
        utterance("u3", Split::Train, vec![2]),
    ];
    let mut features = BTreeMap::new();
    let rows = |n: usize, offset: f32| SplitFeatures {
        features: (0..n * LEN * DIM).map(|i| i as f32 + offset).collect(),
        mask: (0..n * LEN).map(|i| u8::from(i % LEN != LEN - 1)).collect(),
    };
    features.insert((Split::Train, Modality::Text), rows(2, 0.0));
    features.insert((Split::Test, Modality::Text), rows(1, 100.0));
    DatasetWriter::new(root, manifest).unwrap().write(&utterances, &features).unwrap();
    utterances
}

fn open_err(root: &Path) -> String {
    Dataset::open(root).unwrap_err().to_string()
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_small(dir.path());
    let dataset = Dataset::open(dir.path()).unwrap();
    assert_eq!(dataset.utterances, written);
    assert_eq!(dataset.manifest.splits.get(&Split::Train), Some(&2));
    assert_eq!(dataset.split_indices(Split::Train), vec![0, 2]);

    let train = dataset.features(Split::Train).unwrap();
    let second = train.gather(Modality::Text, &[1]).unwrap();
    assert_eq!(second.features, (6..12).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(second.mask, vec![1.0, 1.0, 0.0]);
    assert!(train.gather(Modality::Audio, &[0]).is_none());
    let test = dataset.features(Split::Test).unwrap().gather(Modality::Text, &[0]).unwrap();
    assert_eq!(test.features[0], 100.0);
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    std::fs::remove_file(dir.path().join("features/test.safetensors")).unwrap();
    let err = open_err(dir.path());
    assert!(err.contains("test.safetensors") && err.contains("No such file"), "{err}");
}

#[test]
fn wrong_shape_names_tensor_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    edit(&dir.path().join("manifest.toml"), "dim = 2", "dim = 5");
    let err = open_err(dir.path());
    assert!(
        err.contains("train.safetensors") && err.contains("tensor \"text\"") && err.contains("expected F32 [2, 3, 5]"),
        "{err}"
    );
}

#[test]
fn unknown_label_names_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    edit(&dir.path().join("utterances.csv"), "anger", "rage");
    let err = open_err(dir.path());
    assert!(err.contains("utterances.csv: row 4, field \"labels\": unknown label \"rage\""), "{err}");
}

#[test]
fn nan_va_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    edit(&dir.path().join("utterances.csv"), ",0.5,-0.25,", ",NaN,-0.25,");
    let err = open_err(dir.path());
    assert!(err.contains("row 2, field \"text_v\": VA value NaN is not a number in [-1, 1]"), "{err}");
}

#[test]
fn out_of_range_va_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    edit(&dir.path().join("utterances.csv"), ",-1.0,1.0,", ",-1.0,1.5,");
    let err = open_err(dir.path());
    assert!(err.contains("field \"audio_a\": VA value 1.5"), "{err}");
}

#[test]
fn path_escape_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    edit(&dir.path().join("utterances.csv"), "media/u1.mp4", "../../etc/passwd");
    let err = open_err(dir.path());
    assert!(err.contains("field \"media\"") && err.contains("escapes the dataset folder"), "{err}");

    edit(&dir.path().join("utterances.csv"), "../../etc/passwd", "/etc/passwd");
    let err = open_err(dir.path());
    assert!(err.contains("escapes the dataset folder (paths must be relative to it)"), "{err}");
}

#[test]
fn writer_refuses_escaping_media() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = Manifest::new("x", LabelSpec::mosei(), vec![]);
    let mut u = utterance("u1", Split::Train, vec![]);
    u.media = Some(MediaRef { path: "../outside.mp4".into(), start_secs: None, end_secs: None });
    let err = DatasetWriter::new(dir.path(), manifest).unwrap().write(&[u], &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("escapes the dataset folder"), "{err}");
}

#[test]
fn nan_feature_is_rejected_by_full_open_only() {
    let dir = tempfile::tempdir().unwrap();
    let manifest =
        Manifest::new("x", LabelSpec::mosei(), vec![FeatureSpec { modality: Modality::Text, max_len: 1, dim: 1 }]);
    let mut features = BTreeMap::new();
    features.insert((Split::Train, Modality::Text), SplitFeatures { features: vec![f32::NAN], mask: vec![1] });
    DatasetWriter::new(dir.path(), manifest)
        .unwrap()
        .write(&[utterance("u1", Split::Train, vec![])], &features)
        .unwrap();
    let err = open_err(dir.path());
    assert!(err.contains("tensor \"text\", row 0: holds NaN or infinite values"), "{err}");
    assert!(Dataset::open_lazy(dir.path()).is_ok());
}

#[test]
fn manifest_problems_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    let manifest = dir.path().join("manifest.toml");
    edit(&manifest, "valence = 1.0", "valence = 7.0");
    let err = open_err(dir.path());
    assert!(err.contains("manifest.toml: field \"labels\": label \"happy\" has valence 7"), "{err}");

    edit(&manifest, "valence = 7.0", "valence = \"high\"");
    let err = open_err(dir.path());
    assert!(err.contains("manifest.toml: line") && err.contains("invalid type"), "{err}");
}

#[test]
fn split_count_mismatch_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    edit(&dir.path().join("manifest.toml"), "train = 2", "train = 5");
    let err = open_err(dir.path());
    assert!(err.contains("split train has 5 utterances, the table has 2"), "{err}");
}

#[test]
fn not_a_folder() {
    let err = open_err(Path::new("/definitely/not/here"));
    assert!(err.contains("/definitely/not/here: is not a dataset folder"), "{err}");
}

#[test]
fn garbage_safetensors_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_small(dir.path());
    std::fs::write(dir.path().join("features/train.safetensors"), b"\x01\x02garbage").unwrap();
    let err = open_err(dir.path());
    assert!(err.contains("train.safetensors: not a readable safetensors file"), "{err}");
}
