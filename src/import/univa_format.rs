//! The UniVA reference format (DESIGN.md §3): per split and modality one pickle,
//!
//! ```text
//! final_feat/A/{DS}_{split}_audio_utt_VA.pkl         {split: {audio, audio_utt_mask, audio_VA_values, labels_class}, num_labels}
//! final_feat/V/{DS}_{split}_vision_utt_VA.pkl        {split: {vision, vision_utt_mask, vision_VA_values, labels_class}, num_labels}
//! final_feat/T/{DS}_{split}_text_glove300_VA.pkl     {text, text_utt_mask, text_VA_values}
//! final_multi_labels.csv   (MOSEI)  video_id, clip_id, mode, text, happy, sad, anger, surprise, disgust, fear
//! utt_annot.json           (M3ED)   {split: {utterance id: {"Emotion": "Happy,Surprise", "text": …}}}
//! ```
//!
//! Row `i` of a split's pickles is the `i`-th utterance of that split in the label file, as in
//! the reference loader; where the pickles carry `labels_class`, it is checked row by row against
//! the label file, so a file from another ordering is rejected instead of silently mislabelled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::matrix::{Dense, dense};
use super::pickle::{self, PersistentIds, Unpickled};
use super::{ImportError, ImportSummary, VaScale};
use crate::dataset::{DatasetWriter, FeatureSpec, LabelSpec, Manifest, Split, SplitFeatures, Utterance, Va};
use crate::modality::{Modality, PerModality};

/// Which corpus the reference files hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corpus {
    Mosei,
    M3ed,
}

impl Corpus {
    /// The name used in the reference file names (`MOSEI_train_…`).
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Mosei => "MOSEI",
            Self::M3ed => "M3ED",
        }
    }

    /// Labels in the column order of the reference code's `labels_class`.
    pub fn labels(self) -> Vec<LabelSpec> {
        match self {
            Self::Mosei => LabelSpec::mosei(),
            Self::M3ed => ["happy", "surprise", "sad", "disgust", "anger", "fear", "neutral"]
                .iter()
                .filter_map(|n| LabelSpec::known(n))
                .collect(),
        }
    }
}

impl std::str::FromStr for Corpus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "MOSEI" => Ok(Self::Mosei),
            "M3ED" => Ok(Self::M3ed),
            _ => Err(format!("unknown corpus {s:?}; expected MOSEI or M3ED")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct UnivaOptions {
    /// The folder holding `final_feat/` and the label file.
    pub root: PathBuf,
    pub corpus: Corpus,
    pub out: PathBuf,
    /// Scale of the VA values in the pickles.
    pub va_scale: VaScale,
}

/// One utterance as the label file describes it.
#[derive(Clone, Debug)]
struct LabelRow {
    id: String,
    video_id: String,
    text: String,
    labels: Vec<usize>,
}

/// The label file's utterances of one split, with the split's name as the files spell it.
#[derive(Debug, Default)]
struct SplitRows {
    name: String,
    rows: Vec<LabelRow>,
}

pub fn import_univa(options: &UnivaOptions) -> Result<ImportSummary, ImportError> {
    super::check_out(&options.out)?;
    let labels = options.corpus.labels();
    let splits = match options.corpus {
        Corpus::Mosei => read_mosei_labels(&options.root.join("final_multi_labels.csv"), labels.len())?,
        Corpus::M3ed => read_m3ed_labels(&options.root.join("utt_annot.json"), &labels)?,
    };

    let mut utterances = Vec::new();
    let mut features: BTreeMap<(Split, Modality), SplitFeatures> = BTreeMap::new();
    let mut specs: BTreeMap<Modality, (FeatureSpec, PathBuf)> = BTreeMap::new();
    let mut zeroed = 0;
    for (&split, split_rows) in &splits {
        let mut va: PerModality<Option<Vec<Va>>> = PerModality::default();
        for modality in Modality::ALL {
            let path = pickle_path(&options.root, options.corpus, split, &split_rows.name, modality)?;
            let bytes = std::fs::read(&path).map_err(|e| ImportError::io(&path, e))?;
            let (p, _) = pickle::load(&bytes, PersistentIds::Refuse).map_err(|e| ImportError::pickle(&path, 0, e))?;
            let block =
                read_modality(&p, &path, bytes.len(), split, &split_rows.name, modality, split_rows.rows.len())?;
            if let Some(classes) = &block.labels_class {
                check_labels(&path, classes, &split_rows.rows, labels.len())?;
            }
            let spec = FeatureSpec { modality, max_len: block.features.dim(1), dim: block.features.dim(2) };
            match specs.get(&modality) {
                Some((first, first_path)) if *first != spec => {
                    return Err(ImportError::invalid(
                        &path,
                        Some(format!("{:?}", modality.name())),
                        format!(
                            "features are {}×{} but {} has {}×{}; every split must share one shape",
                            spec.max_len,
                            spec.dim,
                            first_path.display(),
                            first.max_len,
                            first.dim
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    specs.insert(modality, (spec, path.clone()));
                }
            }
            let mut block = block;
            zeroed += block.features.zero_non_finite();
            let mask = mask_bytes(&path, modality, &block.mask)?;
            *va.get_mut(modality) =
                block.va.as_ref().map(|v| scale_va(&path, modality, v, options.va_scale)).transpose()?;
            features.insert((split, modality), SplitFeatures { features: block.features.values, mask });
        }
        for (i, row) in split_rows.rows.iter().enumerate() {
            utterances.push(Utterance {
                id: row.id.clone(),
                video_id: row.video_id.clone(),
                split,
                media: None,
                text: row.text.clone(),
                labels: row.labels.clone(),
                va: va.map(|_, v| v.as_ref().and_then(|v| v.get(i).copied())),
                va_model: PerModality::default(),
            });
        }
    }

    let mut manifest =
        Manifest::new(options.corpus.file_name(), labels, specs.into_values().map(|(spec, _)| spec).collect());
    manifest.provenance = format!("imported from the UniVA reference files in {}", options.root.display());
    let label_names = manifest.labels.iter().map(|l| l.name.clone()).collect();
    DatasetWriter::new(&options.out, manifest)?.write(&utterances, &features)?;
    Ok(ImportSummary {
        out: options.out.clone(),
        labels: label_names,
        utterances: splits.iter().map(|(&s, rows)| (s, rows.rows.len())).collect(),
        zeroed_non_finite: zeroed,
    })
}

/// The names a split goes by in the public files, the label file's own first.
fn split_aliases(split: Split, first: &str) -> Vec<String> {
    let others: &[&str] = match split {
        Split::Train => &["train"],
        Split::Valid => &["valid", "val", "dev", "validation"],
        Split::Test => &["test"],
    };
    std::iter::once(first.to_owned()).chain(others.iter().map(|s| (*s).to_owned())).collect()
}

fn pickle_path(
    root: &Path,
    corpus: Corpus,
    split: Split,
    name: &str,
    modality: Modality,
) -> Result<PathBuf, ImportError> {
    let (dir, suffix) = match modality {
        Modality::Audio => ("A", "audio_utt_VA"),
        Modality::Vision => ("V", "vision_utt_VA"),
        Modality::Text => ("T", "text_glove300_VA"),
    };
    let folder = root.join("final_feat").join(dir);
    let candidates: Vec<PathBuf> = split_aliases(split, name)
        .iter()
        .map(|alias| folder.join(format!("{}_{alias}_{suffix}.pkl", corpus.file_name())))
        .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(ImportError::invalid(
            &candidates[0],
            None,
            format!("is missing; the label file has a {split} split, so its {modality} pickle is needed"),
        )),
    }
}

/// One modality of one split, as read from its pickle.
struct ModalityBlock {
    features: Dense,
    mask: Dense,
    va: Option<Dense>,
    labels_class: Option<Dense>,
}

fn read_modality(
    p: &Unpickled<'_>,
    path: &Path,
    file_len: usize,
    split: Split,
    split_name: &str,
    modality: Modality,
    rows: usize,
) -> Result<ModalityBlock, ImportError> {
    let name = modality.name();
    // Audio and vision nest their arrays under the split's name; text keeps them at the top.
    let container =
        split_aliases(split, split_name).iter().find_map(|alias| p.get(p.root(), alias)).unwrap_or(p.root());
    let no_storages = |_: &str| None;
    // Values left to read from this file (see `dense`).
    let budget = std::cell::Cell::new(file_len);
    let field = |key: &str| -> Result<Option<Dense>, ImportError> {
        let Some(value) = p.get(container, key) else { return Ok(None) };
        let block = dense(p, value, &no_storages, budget.get())
            .map_err(|problem| ImportError::invalid(path, Some(format!("{key:?}")), problem))?;
        budget.set(budget.get() - block.values.len());
        Ok(Some(block))
    };
    let required = |key: &str| -> Result<Dense, ImportError> {
        field(key)?.ok_or_else(|| {
            let keys = p.keys(container);
            let found = if keys.is_empty() { "no keys".to_owned() } else { keys.join(", ") };
            ImportError::invalid(path, None, format!("has no {key:?} entry (found {}: {found})", p.describe(container)))
        })
    };
    let expect = |key: &str, block: &Dense, axes: usize, what: &str| -> Result<(), ImportError> {
        if block.shape.len() != axes || block.dim(0) != rows {
            return Err(ImportError::invalid(
                path,
                Some(format!("{key:?}")),
                format!(
                    "has shape {:?}; expected {what} with {rows} rows, one per {split} utterance of the label file",
                    block.shape
                ),
            ));
        }
        Ok(())
    };
    let features = required(name)?;
    expect(name, &features, 3, "(utterances, steps, dims)")?;
    let mask_key = format!("{name}_utt_mask");
    let mask = required(&mask_key)?;
    expect(&mask_key, &mask, 2, "(utterances, steps)")?;
    if mask.dim(1) != features.dim(1) {
        return Err(ImportError::invalid(
            path,
            Some(format!("{mask_key:?}")),
            format!("has {} steps per utterance, the features {}", mask.dim(1), features.dim(1)),
        ));
    }
    let va_key = format!("{name}_VA_values");
    let va = field(&va_key)?;
    if let Some(va) = &va {
        expect(&va_key, va, 2, "(utterances, 2)")?;
        if va.dim(1) != 2 {
            return Err(ImportError::invalid(
                path,
                Some(format!("{va_key:?}")),
                format!("has {} columns; expected valence and arousal", va.dim(1)),
            ));
        }
    }
    let labels_class = field("labels_class")?;
    if let Some(classes) = &labels_class {
        expect("labels_class", classes, 2, "(utterances, labels)")?;
    }
    Ok(ModalityBlock { features, mask, va, labels_class })
}

fn mask_bytes(path: &Path, modality: Modality, mask: &Dense) -> Result<Vec<u8>, ImportError> {
    let steps = mask.dim(1).max(1);
    mask.values
        .iter()
        .enumerate()
        .map(|(i, &m)| match m {
            0.0 => Ok(0),
            1.0 => Ok(1),
            other => Err(ImportError::invalid(
                path,
                Some(format!("\"{}_utt_mask\", row {}", modality.name(), i / steps)),
                format!("holds {other}; masks are 0 or 1"),
            )),
        })
        .collect()
}

fn scale_va(path: &Path, modality: Modality, va: &Dense, scale: VaScale) -> Result<Vec<Va>, ImportError> {
    va.values
        .chunks_exact(2)
        .enumerate()
        .map(|(row, pair)| match (scale.apply(pair[0].into()), scale.apply(pair[1].into())) {
            (Some(v), Some(a)) => Ok(Va::new(v, a)),
            _ => Err(ImportError::invalid(
                path,
                Some(format!("\"{}_VA_values\", row {row}", modality.name())),
                format!(
                    "({}, {}) lies outside the VA scale {}:{}; give the file's scale with --va-scale LOW:HIGH",
                    pair[0], pair[1], scale.low, scale.high
                ),
            )),
        })
        .collect()
}

fn check_labels(path: &Path, classes: &Dense, rows: &[LabelRow], num_labels: usize) -> Result<(), ImportError> {
    if classes.dim(1) != num_labels {
        return Err(ImportError::invalid(
            path,
            Some("\"labels_class\"".to_owned()),
            format!("has {} label columns; the corpus has {num_labels} labels", classes.dim(1)),
        ));
    }
    for (i, (row, values)) in rows.iter().zip(classes.values.chunks_exact(num_labels)).enumerate() {
        let from_pickle: Vec<usize> = (0..num_labels).filter(|&j| values[j] != 0.0).collect();
        if from_pickle != row.labels {
            return Err(ImportError::invalid(
                path,
                Some(format!("\"labels_class\", row {i}")),
                format!(
                    "labels {from_pickle:?} differ from the label file's {:?} for utterance {:?}; the pickle's rows are not in the label file's order",
                    row.labels, row.id
                ),
            ));
        }
    }
    Ok(())
}

/// `final_multi_labels.csv`: label = intensity ≠ 0, in the column order of the six labels.
fn read_mosei_labels(path: &Path, num_labels: usize) -> Result<BTreeMap<Split, SplitRows>, ImportError> {
    let csv_error = |e: csv::Error| {
        let location = e.position().map(|p| format!("row {}", p.line()));
        ImportError::invalid(path, location, e.to_string())
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::io(path, io),
        other => ImportError::invalid(path, None, format!("{other:?}")),
    })?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            ImportError::invalid(
                path,
                Some("header".to_owned()),
                format!("has no {name:?} column (found {})", headers.iter().collect::<Vec<_>>().join(", ")),
            )
        })
    };
    let (video, clip, mode, text) = (column("video_id")?, column("clip_id")?, column("mode")?, column("text")?);
    let label_columns =
        LabelSpec::mosei().iter().take(num_labels).map(|l| column(&l.name)).collect::<Result<Vec<_>, _>>()?;
    let mut splits: BTreeMap<Split, SplitRows> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(csv_error)?;
        let row_number = i + 2;
        let cell = |c: usize| record.get(c).unwrap_or("").trim();
        let bad = |field: &str, problem: String| {
            ImportError::invalid(path, Some(format!("row {row_number}, field {field:?}")), problem)
        };
        let split = Split::parse(cell(mode))
            .ok_or_else(|| bad("mode", format!("unknown split {:?}; expected train, valid or test", cell(mode))))?;
        let id = format!("{}_{}", cell(video), cell(clip));
        if cell(video).is_empty() || !seen.insert(id.clone()) {
            return Err(bad("clip_id", format!("utterance {id:?} is empty or appears twice")));
        }
        let mut labels = Vec::new();
        for (j, &c) in label_columns.iter().enumerate() {
            let intensity: f64 = cell(c)
                .parse()
                .map_err(|_| bad(&LabelSpec::mosei()[j].name, format!("{:?} is not a number", cell(c))))?;
            if !intensity.is_finite() {
                return Err(bad(&LabelSpec::mosei()[j].name, format!("{intensity} is not an intensity")));
            }
            if intensity != 0.0 {
                labels.push(j);
            }
        }
        let entry = splits.entry(split).or_insert_with(|| SplitRows { name: cell(mode).to_owned(), rows: Vec::new() });
        entry.rows.push(LabelRow { id, video_id: cell(video).to_owned(), text: cell(text).to_owned(), labels });
    }
    if splits.is_empty() {
        return Err(ImportError::invalid(path, None, "holds no utterances"));
    }
    Ok(splits)
}

/// A JSON object read in file order (the reference code relies on Python's ordered dicts).
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<V> {
            type Value = Ordered<V>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct M3edUtterance {
    #[serde(rename = "Emotion", alias = "emotion")]
    emotion: String,
    #[serde(default, alias = "Text")]
    text: String,
}

/// `utt_annot.json`: `{split: {utterance id: {"Emotion": "Happy,Surprise", …}}}`.
fn read_m3ed_labels(path: &Path, labels: &[LabelSpec]) -> Result<BTreeMap<Split, SplitRows>, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ImportError::io(path, e))?;
    let parsed: Ordered<Ordered<M3edUtterance>> = serde_json::from_str(&text).map_err(|e| {
        ImportError::invalid(path, Some(format!("line {}, column {}", e.line(), e.column())), e.to_string())
    })?;
    let mut splits: BTreeMap<Split, SplitRows> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (split_name, utterances) in parsed.0 {
        let split = Split::parse(&split_name).ok_or_else(|| {
            ImportError::invalid(
                path,
                Some(format!("key {split_name:?}")),
                "is not a split; expected train, valid (val, dev) or test",
            )
        })?;
        if splits.contains_key(&split) {
            return Err(ImportError::invalid(
                path,
                Some(format!("key {split_name:?}")),
                format!("a second {split} split"),
            ));
        }
        let mut rows = Vec::with_capacity(utterances.0.len());
        for (id, utterance) in utterances.0 {
            let bad = |problem: String| ImportError::invalid(path, Some(format!("{split_name}.{id}")), problem);
            if !seen.insert(id.clone()) {
                return Err(bad("appears twice".to_owned()));
            }
            let mut indices = Vec::new();
            for name in utterance.emotion.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let lower = name.to_ascii_lowercase();
                let index = labels.iter().position(|l| l.name == lower).ok_or_else(|| {
                    bad(format!(
                        "unknown emotion {name:?}; M3ED's are Happy, Surprise, Sad, Disgust, Anger, Fear, Neutral"
                    ))
                })?;
                indices.push(index);
            }
            indices.sort_unstable();
            indices.dedup();
            // The reference groups utterances by dialogue: the id minus its last `_` part.
            let video_id = id.rsplit_once('_').map_or(id.as_str(), |(dialogue, _)| dialogue).to_owned();
            rows.push(LabelRow { id, video_id, text: utterance.text, labels: indices });
        }
        splits.insert(split, SplitRows { name: split_name, rows });
    }
    if splits.values().all(|s| s.rows.is_empty()) {
        return Err(ImportError::invalid(path, None, "holds no utterances"));
    }
    Ok(splits)
}
