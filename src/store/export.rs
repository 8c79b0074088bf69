//! What leaves the store: VA overlays (one annotator's judgments, or a consensus of all) for
//! training, and the event log as CSV.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{AnnotatorId, Store, StoreError};
use crate::dataset::{Dataset, OverlayRow, Va, VaOverlay};
use crate::modality::{Modality, PerModality};

/// How several annotators' values of one point become one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Consensus {
    Mean,
    Median,
}

/// Whose judgments an overlay carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverlaySource {
    Annotator(String),
    Consensus(Consensus),
}

/// The overlay of `source` over `dataset`: one row per utterance with at least one judgment, in
/// table order; judgments of utterances the dataset no longer has are an error.
pub fn overlay_of(
    store: &Store,
    dataset: &Dataset,
    source: &OverlaySource,
    out: &Path,
) -> Result<VaOverlay, StoreError> {
    let all = store.judgments()?;
    let (provenance, chosen): (String, Vec<AnnotatorId>) = match source {
        OverlaySource::Annotator(name) => {
            let Some(annotator) = store.annotator_named(name)? else {
                let known: Vec<String> = store.annotators()?.into_iter().map(|a| a.name).collect();
                return Err(StoreError::Invalid {
                    path: store.path().to_path_buf(),
                    problem: format!(
                        "no annotator named {name:?}; the store has {}",
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    ),
                });
            };
            (format!("audit:{}", annotator.name), vec![annotator.id])
        }
        OverlaySource::Consensus(_) => ("audit:consensus".to_owned(), all.keys().copied().collect()),
    };
    // (utterance id, modality) → every chosen annotator's value
    let mut values: HashMap<(&str, Modality), Vec<Va>> = HashMap::new();
    for annotator in &chosen {
        for ((utterance, modality), judgment) in all.get(annotator).into_iter().flatten() {
            values.entry((utterance.as_str(), *modality)).or_default().push(judgment.va);
        }
    }
    let known: HashMap<&str, usize> = dataset.utterances.iter().enumerate().map(|(i, u)| (u.id.as_str(), i)).collect();
    let mut rows: BTreeMap<usize, PerModality<Option<Va>>> = BTreeMap::new();
    for ((utterance, modality), points) in values {
        let Some(&index) = known.get(utterance) else {
            return Err(StoreError::Invalid {
                path: store.path().to_path_buf(),
                problem: format!(
                    "judgments of utterance {utterance:?}, which dataset {} does not have",
                    dataset.root.display()
                ),
            });
        };
        let combined = match source {
            OverlaySource::Consensus(Consensus::Median) => {
                Va::new(median(points.iter().map(|p| p.valence)), median(points.iter().map(|p| p.arousal)))
            }
            _ => Va::new(mean(points.iter().map(|p| p.valence)), mean(points.iter().map(|p| p.arousal))),
        };
        *rows.entry(index).or_default().get_mut(modality) = Some(combined);
    }
    let rows = rows
        .into_iter()
        .map(|(index, va)| OverlayRow { id: dataset.utterances[index].id.clone(), va, provenance: provenance.clone() })
        .collect();
    Ok(VaOverlay { rows, path: out.to_path_buf() })
}

fn mean(values: impl Iterator<Item = f32>) -> f32 {
    let (sum, n) = values.fold((0.0f64, 0usize), |(s, n), x| (s + f64::from(x), n + 1));
    (sum / n.max(1) as f64) as f32
}

/// The median; the mean of the middle two for an even count.
fn median(values: impl Iterator<Item = f32>) -> f32 {
    let mut sorted: Vec<f32> = values.collect();
    sorted.sort_by(f32::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The event log's columns in CSV.
pub const EVENT_COLUMNS: [&str; 23] = [
    "event_id",
    "time_utc",
    "annotator",
    "utterance_id",
    "modality",
    "kind",
    "old_valence",
    "old_arousal",
    "old_status",
    "old_unsure",
    "new_valence",
    "new_arousal",
    "new_status",
    "new_unsure",
    "reason",
    "source_model",
    "target_event",
    "old_reason",
    "new_reason",
    "model_valence",
    "model_arousal",
    "event_uid",
    "origin_store",
];

/// Every event of the store as CSV, oldest first, annotators by name. `old_*` is the value the
/// event replaced: the annotator's earlier judgment, or on a first edit the model's value
/// (`old_status` "model"); `model_*` is the model's value on every event that recorded it.
pub fn events_csv(store: &Store) -> Result<Vec<u8>, StoreError> {
    let names: HashMap<AnnotatorId, String> = store.annotators()?.into_iter().map(|a| (a.id, a.name)).collect();
    let failed = |e: csv::Error| StoreError::Invalid { path: store.path().to_path_buf(), problem: e.to_string() };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(EVENT_COLUMNS).map_err(failed)?;
    for event in store.events()? {
        let state = |j: &Option<super::Judgment>| match j {
            Some(j) => [
                format!("{}", j.va.valence),
                format!("{}", j.va.arousal),
                j.status.name().to_owned(),
                u8::from(j.unsure).to_string(),
            ],
            None => Default::default(),
        };
        let mut record = vec![
            event.id.to_string(),
            event.time_utc.clone(),
            names.get(&event.annotator).cloned().unwrap_or_else(|| format!("#{}", event.annotator)),
            event.utterance.clone(),
            event.modality.name().to_owned(),
            event.kind.name().to_owned(),
        ];
        match (&event.old, event.model) {
            (None, Some(model)) => record.extend([
                format!("{}", model.valence),
                format!("{}", model.arousal),
                "model".to_owned(),
                String::new(),
            ]),
            _ => record.extend(state(&event.old)),
        }
        record.extend(state(&event.new));
        record.push(event.reason.clone());
        record.push(event.source_model.clone());
        record.push(event.target.map(|t| t.to_string()).unwrap_or_default());
        record.push(event.old.as_ref().map(|j| j.reason.clone()).unwrap_or_default());
        record.push(event.new.as_ref().map(|j| j.reason.clone()).unwrap_or_default());
        record.extend(match event.model {
            Some(model) => [format!("{}", model.valence), format!("{}", model.arousal)],
            None => Default::default(),
        });
        // Ids that stay the same through merges, so that logs of several stores line up.
        record.push(event.uid.clone());
        record.push(event.origin.clone());
        writer.write_record(&record).map_err(failed)?;
    }
    writer.into_inner().map_err(|e| StoreError::Invalid { path: store.path().to_path_buf(), problem: e.to_string() })
}
