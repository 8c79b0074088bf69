//! An annotator's own data: clips plus a CSV of labels.
//!
//! Columns `id, media, start, end, text, labels` (labels separated by `;` or `,`), optional
//! `split` (default train), `video_id` and per-modality VA (`text_v, text_a, vision_v, …` in
//! [-1, 1]). Media paths are relative to the CSV's folder (or absolute). Clips are copied into
//! the dataset's `media/` folder, or referenced in place when the dataset folder contains them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::{ImportError, ImportSummary};
use crate::dataset::{DatasetWriter, LabelSpec, Manifest, MediaRef, Split, Utterance, Va};
use crate::modality::{Modality, PerModality};

/// What happens to the clips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaMode {
    /// Copy each clip into `OUT/media/`.
    Copy,
    /// Leave clips where they are; they must lie inside the output folder.
    Reference,
}

#[derive(Clone, Debug)]
pub struct FolderOptions {
    pub csv: PathBuf,
    pub out: PathBuf,
    pub media: MediaMode,
    /// Labels in model order; by default the known emotions the CSV uses, in MOSEI/M3ED order.
    pub labels: Option<Vec<LabelSpec>>,
}

/// The known emotions in the order the manifest lists them when `--labels` is not given.
const KNOWN_ORDER: [&str; 7] = ["happy", "sad", "anger", "surprise", "disgust", "fear", "neutral"];

/// Parses `happy,sad,bored=0.3:0.2`: known emotions by name, others with their NRC-VAD-scale VA.
pub fn parse_labels(s: &str) -> Result<Vec<LabelSpec>, String> {
    let mut labels = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let label = match item.split_once('=') {
            Some((name, va)) => {
                let (v, a) = va.split_once(':').ok_or_else(|| format!("{item:?}: expected NAME=VALENCE:AROUSAL"))?;
                let parse = |x: &str| x.trim().parse::<f32>().ok().filter(|x| (0.0..=1.0).contains(x));
                match (parse(v), parse(a)) {
                    (Some(valence), Some(arousal)) => LabelSpec { name: name.trim().to_owned(), valence, arousal },
                    _ => return Err(format!("{item:?}: valence and arousal must be numbers in [0, 1]")),
                }
            }
            None => LabelSpec::known(&item.to_ascii_lowercase())
                .ok_or_else(|| format!("{item:?} has no known VA anchor; give it as {item}=VALENCE:AROUSAL"))?,
        };
        labels.push(label);
    }
    if labels.is_empty() {
        return Err("no labels given".to_owned());
    }
    Ok(labels)
}

#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    #[serde(default)]
    video_id: String,
    #[serde(default)]
    split: String,
    media: String,
    start: Option<f64>,
    end: Option<f64>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    labels: String,
    text_v: Option<f32>,
    text_a: Option<f32>,
    vision_v: Option<f32>,
    vision_a: Option<f32>,
    audio_v: Option<f32>,
    audio_a: Option<f32>,
}

pub fn import_folder(options: &FolderOptions) -> Result<ImportSummary, ImportError> {
    let csv_path = &options.csv;
    let csv_dir = csv_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut reader =
        csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(csv_path).map_err(|e| csv_error(csv_path, e))?;
    let rows: Vec<Row> = reader.deserialize().collect::<Result<_, _>>().map_err(|e| csv_error(csv_path, e))?;
    if rows.is_empty() {
        return Err(ImportError::invalid(csv_path, None, "holds no utterances"));
    }

    let labels = match &options.labels {
        Some(labels) => labels.clone(),
        None => default_labels(csv_path, &rows)?,
    };
    super::check_out(&options.out)?;
    std::fs::create_dir_all(&options.out).map_err(|e| ImportError::io(&options.out, e))?;
    let out_abs = options.out.canonicalize().map_err(|e| ImportError::io(&options.out, e))?;

    let mut utterances = Vec::with_capacity(rows.len());
    let mut seen = std::collections::HashSet::new();
    // Source clip → its path inside the dataset, so a clip shared by utterances is copied once.
    let mut placed: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut taken: HashMap<PathBuf, PathBuf> = HashMap::new();
    for (i, row) in rows.into_iter().enumerate() {
        let row_number = i + 2;
        let bad = |field: &str, problem: String| {
            ImportError::invalid(csv_path, Some(format!("row {row_number}, field {field:?}")), problem)
        };
        if row.id.is_empty() || !seen.insert(row.id.clone()) {
            return Err(bad("id", format!("utterance id {:?} is empty or appears twice", row.id)));
        }
        let split = if row.split.is_empty() {
            Split::Train
        } else {
            Split::parse(&row.split)
                .ok_or_else(|| bad("split", format!("unknown split {:?}; expected train, valid or test", row.split)))?
        };
        let mut indices = Vec::new();
        for name in row.labels.split([';', ',']).map(str::trim).filter(|n| !n.is_empty()) {
            let index = label_index(&labels, name).ok_or_else(|| {
                let known: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
                bad("labels", format!("unknown label {name:?}; the labels are {}", known.join(", ")))
            })?;
            indices.push(index);
        }
        indices.sort_unstable();
        indices.dedup();
        for (field, secs) in [("start", row.start), ("end", row.end)] {
            if let Some(s) = secs
                && (!s.is_finite() || s < 0.0)
            {
                return Err(bad(field, format!("{s} is not a time; expected seconds ≥ 0")));
            }
        }
        if let (Some(start), Some(end)) = (row.start, row.end)
            && end <= start
        {
            return Err(bad("end", format!("the clip ends at {end} s, before it starts at {start} s")));
        }

        let media = if row.media.is_empty() {
            None
        } else {
            let source = csv_dir.join(&row.media);
            let source = source.canonicalize().map_err(|e| bad("media", format!("{}: {e}", source.display())))?;
            if !source.is_file() {
                return Err(bad("media", format!("{} is not a file", source.display())));
            }
            let relative = match placed.get(&source) {
                Some(relative) => relative.clone(),
                None => {
                    let relative = match options.media {
                        MediaMode::Reference => source.strip_prefix(&out_abs).map(Path::to_path_buf).map_err(|_| {
                            bad(
                                "media",
                                format!("{} is outside the output folder; import with --media copy", source.display()),
                            )
                        })?,
                        MediaMode::Copy => {
                            let relative = copy_target(&row.media, &source);
                            if let Some(other) = taken.insert(relative.clone(), source.clone()) {
                                return Err(bad(
                                    "media",
                                    format!(
                                        "{} and {} would both be copied to {}",
                                        other.display(),
                                        source.display(),
                                        relative.display()
                                    ),
                                ));
                            }
                            copy_clip(&source, &out_abs.join(&relative))?;
                            relative
                        }
                    };
                    placed.insert(source, relative.clone());
                    relative
                }
            };
            Some(MediaRef { path: relative, start_secs: row.start, end_secs: row.end })
        };

        let va_cell = |modality: Modality, v: Option<f32>, a: Option<f32>| -> Result<Option<Va>, ImportError> {
            match (v, a) {
                (None, None) => Ok(None),
                (Some(v), Some(a)) if [v, a].iter().all(|x| x.is_finite() && (-1.0..=1.0).contains(x)) => {
                    Ok(Some(Va::new(v, a)))
                }
                _ => Err(bad(&format!("{}_v", modality.name()), "VA needs both values, each in [-1, 1]".to_owned())),
            }
        };
        let va = PerModality {
            text: va_cell(Modality::Text, row.text_v, row.text_a)?,
            vision: va_cell(Modality::Vision, row.vision_v, row.vision_a)?,
            audio: va_cell(Modality::Audio, row.audio_v, row.audio_a)?,
        };
        utterances.push(Utterance {
            video_id: if row.video_id.is_empty() { row.id.clone() } else { row.video_id },
            id: row.id,
            split,
            media,
            text: row.text,
            labels: indices,
            va,
            va_model: PerModality::default(),
        });
    }

    let name = csv_path.file_stem().map_or_else(|| "imported".to_owned(), |s| s.to_string_lossy().into_owned());
    let mut manifest = Manifest::new(name, labels, Vec::new());
    manifest.provenance = format!("imported from {}", csv_path.display());
    let label_names = manifest.labels.iter().map(|l| l.name.clone()).collect();
    DatasetWriter::new(&options.out, manifest)?.write(&utterances, &BTreeMap::new())?;
    let mut counts = BTreeMap::new();
    for u in &utterances {
        *counts.entry(u.split).or_insert(0) += 1;
    }
    Ok(ImportSummary { out: options.out.clone(), labels: label_names, utterances: counts, zeroed_non_finite: 0 })
}

/// Case-insensitive, with `angry` read as `anger`.
fn label_index(labels: &[LabelSpec], name: &str) -> Option<usize> {
    labels
        .iter()
        .position(|l| l.name.eq_ignore_ascii_case(name))
        .or_else(|| name.eq_ignore_ascii_case("angry").then(|| labels.iter().position(|l| l.name == "anger")).flatten())
}

/// Known emotions the CSV uses, in the canonical order; an unknown one needs `--labels`.
fn default_labels(csv_path: &Path, rows: &[Row]) -> Result<Vec<LabelSpec>, ImportError> {
    let mut used = std::collections::BTreeSet::new();
    for (i, row) in rows.iter().enumerate() {
        for name in row.labels.split([';', ',']).map(str::trim).filter(|n| !n.is_empty()) {
            let lower = name.to_ascii_lowercase();
            let lower = if lower == "angry" { "anger".to_owned() } else { lower };
            match KNOWN_ORDER.iter().position(|k| *k == lower) {
                Some(position) => {
                    used.insert(position);
                }
                None => {
                    return Err(ImportError::invalid(
                        csv_path,
                        Some(format!("row {}, field \"labels\"", i + 2)),
                        format!(
                            "label {name:?} has no known VA anchor; list the labels with --labels, e.g. --labels happy,{name}=0.5:0.5"
                        ),
                    ));
                }
            }
        }
    }
    if used.is_empty() {
        return Err(ImportError::invalid(csv_path, None, "no utterance has a label; list the labels with --labels"));
    }
    Ok(used.into_iter().filter_map(|i| LabelSpec::known(KNOWN_ORDER[i])).collect())
}

/// Where a copied clip goes: its relative path under `media/` when it is a plain relative
/// path, else `media/<file name>`.
fn copy_target(as_written: &str, source: &Path) -> PathBuf {
    let written = Path::new(as_written);
    let plain = written.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let tail = if plain { written.to_path_buf() } else { source.file_name().map(PathBuf::from).unwrap_or_default() };
    Path::new("media").join(tail)
}

/// Copies through a temporary name and a rename, so a dataset never holds half a clip.
fn copy_clip(source: &Path, target: &Path) -> Result<(), ImportError> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ImportError::io(dir, e))?;
    }
    let file_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = target.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = std::fs::copy(source, &tmp).and_then(|_| std::fs::rename(&tmp, target));
    if let Err(e) = result {
        std::fs::remove_file(&tmp).ok();
        return Err(ImportError::io(target, e));
    }
    Ok(())
}

fn csv_error(path: &Path, e: csv::Error) -> ImportError {
    let location = e.position().map(|p| format!("row {}", p.line()));
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::io(path, io),
        csv::ErrorKind::Deserialize { err, .. } => {
            let field = err.field().map(|f| format!(", column {}", f + 1)).unwrap_or_default();
            ImportError::invalid(path, location.map(|l| l + &field), err.kind().to_string())
        }
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            ImportError::invalid(path, location, format!("expected {expected_len} fields, found {len}"))
        }
        other => ImportError::invalid(path, location, format!("{other:?}")),
    }
}
