//! The figures' data, gathered from what the library already computes: a dataset's VA and
//! prior M, map CSVs and projections, sweep folders, a run's evaluation and events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::dataset::{Dataset, Split, Va};
use crate::jobs::Curves;
use crate::modality::Modality;
use crate::projection::{self, EmbeddingRequest};
use crate::runs::{self, ImportedPredictions, Run, RunKind};
use crate::train::{self, TrainedModel};
use crate::va::{self, PriorRule};

use super::FigureError;
use super::plots::{Colouring, CorrelationData, EmbeddingData, EmbeddingPanel, Key, LinePanel, Series, VaPlaneData};

/// The utterance's index in the table, or an error naming the dataset.
pub fn utterance_index(dataset: &Dataset, id: &str) -> Result<usize, FigureError> {
    dataset.utterances.iter().position(|u| u.id == id).ok_or_else(|| {
        FigureError::Data(format!("{}: no utterance with id {id:?} in utterances.csv", dataset.root.display()))
    })
}

/// The VA plane of one utterance; `cloud` adds every utterance's points behind it.
pub fn va_plane(dataset: &Dataset, id: &str, cloud: bool) -> Result<VaPlaneData, FigureError> {
    let u = &dataset.utterances[utterance_index(dataset, id)?];
    let points = u.va.iter().filter_map(|(m, va)| va.map(|va| (m, va))).collect();
    let anchors = dataset.manifest.labels.iter().map(|l| (l.name.clone(), va::label_anchor(l))).collect();
    let cloud = if cloud {
        dataset
            .utterances
            .iter()
            .flat_map(|o| o.va.iter().filter_map(|(m, va)| va.map(|va| (m, va))).collect::<Vec<_>>())
            .collect()
    } else {
        Vec::new()
    };
    let names = dataset.label_names();
    let gold: Vec<&str> = u.labels.iter().filter_map(|&l| names.get(l).copied()).collect();
    Ok(VaPlaneData {
        title: format!("{} — gold: {}", u.id, if gold.is_empty() { "none".to_owned() } else { gold.join(", ") }),
        points,
        anchors,
        gold: u.labels.clone(),
        cloud,
        audited: Vec::new(),
    })
}

/// The plane with one annotator's audit of the utterance from the dataset's store (`store`:
/// another store, a file or a server): each corrected modality's model VA becomes a ghost with
/// an arrow to the audited point, which replaces it.
pub fn audit_va_plane(
    dataset: &Dataset,
    plane: VaPlaneData,
    id: &str,
    annotator: &str,
    store: Option<&crate::store::StoreAddress>,
) -> Result<VaPlaneData, FigureError> {
    let store = crate::store::Store::open_existing(dataset, store)?;
    let Some(who) = store.annotator_named(annotator)? else {
        return Err(FigureError::Data(format!("{}: no annotator named {annotator:?}", store.path().display())));
    };
    let judgments = store.judgments()?.remove(&who.id).unwrap_or_default();
    let mut plane = plane;
    let mut audited = Vec::new();
    for (modality, va) in &mut plane.points {
        if let Some(judgment) = judgments.get(&(id.to_owned(), *modality)) {
            audited.push((*modality, *va, judgment.va));
            *va = judgment.va;
        }
    }
    plane.title = format!("{} — audited by {annotator}", plane.title);
    plane.audited = audited;
    Ok(plane)
}

/// The prior M under `rule` (what `univa va-prior --json` prints) beside the empirical
/// co-occurrence over every utterance (what the Correlation tab shows).
pub fn correlation(dataset: &Dataset, rule: PriorRule) -> Result<CorrelationData, FigureError> {
    let labels = &dataset.manifest.labels;
    let prior = va::prior_matrix(labels, rule)
        .map_err(|e| FigureError::Data(format!("{}: {e}", dataset.root.join("manifest.toml").display())))?;
    let all: Vec<_> = dataset.utterances.iter().collect();
    if all.is_empty() {
        return Err(FigureError::Empty(format!("{}: the dataset has no utterances", dataset.root.display())));
    }
    let cooccurrence = va::cooccurrence(&all, labels.len());
    Ok(CorrelationData {
        labels: labels.iter().map(|l| l.name.clone()).collect(),
        matrices: vec![
            ("Prior M (label VA cosine, Eq. 8)".to_owned(), prior),
            ("Co-occurrence P(column | row)".to_owned(), cooccurrence),
        ],
    })
}

/// One row of a map CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct MapRow {
    pub id: String,
    pub modality: Modality,
    pub x: f32,
    pub y: f32,
}

/// Reads a map CSV (`id,modality,x,y`, what `univa project` writes).
pub fn read_map_csv(path: &Path) -> Result<Vec<MapRow>, FigureError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| FigureError::Data(format!("{}: {e}", path.display())))?;
    let headers = reader.headers().map_err(|e| FigureError::Data(format!("{}: {e}", path.display())))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            FigureError::Data(format!("{}: no column {name:?}; expected the header id,modality,x,y", path.display()))
        })
    };
    let (id, modality, x, y) = (column("id")?, column("modality")?, column("x")?, column("y")?);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| FigureError::Data(format!("{}: line {line}: {e}", path.display())))?;
        let field = |c: usize| record.get(c).unwrap_or("");
        let number = |c: usize, name: &str| {
            field(c).trim().parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                FigureError::Data(format!(
                    "{}: line {line}, {name}: {:?} is not a finite number",
                    path.display(),
                    field(c)
                ))
            })
        };
        let m = Modality::from_name(field(modality).trim()).ok_or_else(|| {
            FigureError::Data(format!(
                "{}: line {line}, modality: {:?} is not text, vision or audio",
                path.display(),
                field(modality)
            ))
        })?;
        rows.push(MapRow { id: field(id).to_owned(), modality: m, x: number(x, "x")?, y: number(y, "y")? });
    }
    if rows.is_empty() {
        return Err(FigureError::Empty(format!("{}: the map has no rows", path.display())));
    }
    Ok(rows)
}

/// A run's map of `split`, computed as `univa project` does (UMAP, seeded).
pub fn map_of_run(run: &Path, dataset: &Dataset, split: Split, seed: u64) -> Result<Vec<MapRow>, FigureError> {
    require_model(run)?;
    if dataset.split_indices(split).is_empty() {
        return Err(empty_split(dataset, split));
    }
    let trained = projection::load_run(run)?;
    let request = EmbeddingRequest { split: Some(split), seed, ..EmbeddingRequest::default() };
    let points = projection::embed(&trained, dataset, &request, &mut |_| true)?;
    Ok(points
        .into_iter()
        .map(|p| MapRow {
            id: dataset.utterances.get(p.utterance).map(|u| u.id.clone()).unwrap_or_default(),
            modality: p.modality,
            x: p.position[0],
            y: p.position[1],
        })
        .collect())
}

fn empty_split(dataset: &Dataset, split: Split) -> FigureError {
    FigureError::Empty(format!("{}: the {} split has no utterances", dataset.root.display(), split.name()))
}

/// An error unless the run folder holds a trained model.
pub fn require_model(run: &Path) -> Result<(), FigureError> {
    let path = run.join("model.safetensors");
    if path.is_file() {
        return Ok(());
    }
    let imported = Run::load(run).is_ok_and(|r| r.is_imported());
    Err(FigureError::Data(if imported {
        format!("{}: an imported run has predictions but no model, so it has no map or probabilities", run.display())
    } else {
        format!("{}: no model (expected {}); train the run first", run.display(), path.display())
    }))
}

/// Maps coloured one way. `dataset` is needed for every colouring but by modality.
pub fn embedding(
    maps: &[(String, Vec<MapRow>)],
    dataset: Option<&Dataset>,
    colouring: Colouring,
) -> Result<EmbeddingData, FigureError> {
    let by_id: HashMap<&str, usize> =
        dataset.map(|d| d.utterances.iter().enumerate().map(|(i, u)| (u.id.as_str(), i)).collect()).unwrap_or_default();
    let categories: Vec<String> = match colouring {
        Colouring::Modality => Modality::ALL.iter().map(|&m| super::plots::modality_title(m)).collect(),
        Colouring::Label => {
            let mut names: Vec<String> =
                dataset.map(|d| d.label_names().iter().map(|s| s.to_string()).collect()).unwrap_or_default();
            names.push("no label".to_owned());
            names
        }
        Colouring::Quadrant => ["V+ A+", "V− A+", "V− A−", "V+ A−"].iter().map(|s| s.to_string()).collect(),
        Colouring::Valence | Colouring::Arousal => Vec::new(),
    };
    let mut panels = Vec::new();
    for (title, rows) in maps {
        let mut panel = EmbeddingPanel { title: title.clone(), ..EmbeddingPanel::default() };
        for row in rows {
            let key = if colouring == Colouring::Modality {
                Key::Category(row.modality.index())
            } else {
                let Some(dataset) = dataset else {
                    return Err(FigureError::Data(format!("colouring a map by {colouring:?} needs --dataset")));
                };
                let Some(u) = by_id.get(row.id.as_str()).and_then(|&i| dataset.utterances.get(i)) else {
                    return Err(FigureError::Data(format!(
                        "map {title:?}: id {:?} is not an utterance of {}",
                        row.id,
                        dataset.root.display()
                    )));
                };
                let va: Option<Va> = *u.va.get(row.modality);
                match colouring {
                    Colouring::Label => Key::Category(u.labels.first().copied().unwrap_or(categories.len() - 1)),
                    Colouring::Quadrant => match va {
                        Some(va) => Key::Category(match (va.valence >= 0.0, va.arousal >= 0.0) {
                            (true, true) => 0,
                            (false, true) => 1,
                            (false, false) => 2,
                            (true, false) => 3,
                        }),
                        None => continue,
                    },
                    Colouring::Valence => match va {
                        Some(va) => Key::Value(f64::from(va.valence)),
                        None => continue,
                    },
                    _ => match va {
                        Some(va) => Key::Value(f64::from(va.arousal)),
                        None => continue,
                    },
                }
            };
            panel.points.push([row.x, row.y]);
            panel.keys.push(key);
        }
        panels.push(panel);
    }
    Ok(EmbeddingData { panels, colouring, categories })
}

/// The metrics a sweep or threshold chart plots, with their names.
fn metric_series(points: &[(f64, crate::metrics::Metrics)]) -> Vec<Series> {
    let metric = |name: &str, f: fn(&crate::metrics::Metrics) -> f64| Series {
        name: name.to_owned(),
        points: points.iter().map(|(x, m)| (*x, f(m))).collect(),
        markers: points.len() <= 25,
    };
    vec![
        metric("Acc", |m| m.acc),
        metric("miF1", |m| m.micro_f1),
        metric("maF1", |m| m.macro_f1),
        metric("HL", |m| m.hamming_loss),
    ]
}

/// Metrics against the swept field of the runs under `dir` (paper Fig. 5), on `split`.
pub fn sweep(dir: &Path, dataset: Option<&Path>, split: Split) -> Result<Vec<LinePanel>, FigureError> {
    let found = runs::discover(dir);
    let runs: Vec<Run> = found.iter().map(|d| Run::load(d)).collect::<Result<_, _>>()?;
    let runs: Vec<Run> = runs.into_iter().filter(|r| r.is_finished() && !r.is_imported()).collect();
    let configs: Vec<runs::FlatConfig> = runs.iter().map(Run::flat_config).collect();
    let refs: Vec<&runs::FlatConfig> = configs.iter().collect();
    let fields = runs::swept_fields(&refs);
    let Some(field) = fields.first() else {
        return Err(FigureError::Empty(format!(
            "{}: no finished runs that differ in one numeric field (found {} finished run(s))",
            dir.display(),
            runs.len()
        )));
    };
    let mut evaluator = runs::Evaluator::new(Device::Cpu);
    let mut panels = Vec::new();
    for (g, group) in runs::sweep_series(&refs, field).into_iter().enumerate() {
        let mut points = Vec::new();
        for (x, index) in group {
            let run = &runs[index];
            let data = run.dataset(dataset)?;
            points.push((x, evaluator.metrics(run, &data, split)?));
        }
        panels.push(LinePanel {
            title: if g == 0 {
                format!("Sweep of {field} ({} split)", split.name())
            } else {
                format!("Sweep of {field}, group {}", g + 1)
            },
            x_label: field.clone(),
            y_label: "metric".to_owned(),
            series: metric_series(&points),
            marker_line: None,
        });
    }
    Ok(panels)
}

/// A trained run and its probabilities on a split.
pub struct Evaluated {
    pub trained: TrainedModel,
    pub evaluation: train::Evaluation,
    pub threshold: f32,
}

/// Loads the run (which must have a model) and evaluates it on `split` at its threshold.
pub fn evaluate(run: &Path, dataset: &Dataset, split: Split) -> Result<Evaluated, FigureError> {
    require_model(run)?;
    if dataset.split_indices(split).is_empty() {
        return Err(empty_split(dataset, split));
    }
    let trained = train::load_run(run, &Device::Cpu)?;
    let threshold = trained.info.config.train.threshold;
    let evaluation = train::evaluate(&trained, dataset, split, threshold)?;
    Ok(Evaluated { trained, evaluation, threshold })
}

/// Metrics of a run against the decision threshold ζ on `split`, the run's ζ marked.
pub fn threshold_sweep(run: &Path, dataset: &Dataset, split: Split) -> Result<LinePanel, FigureError> {
    let Evaluated { trained, evaluation, threshold } = evaluate(run, dataset, split)?;
    let names: Vec<String> = trained.info.labels.iter().map(|l| l.name.clone()).collect();
    threshold_sweep_of(&evaluation.gold, &evaluation.probabilities, &names, threshold, split)
}

/// [`threshold_sweep`] from probabilities already computed (the workbench's, which are the
/// same call's).
pub fn threshold_sweep_of(
    gold: &[Vec<bool>],
    probabilities: &[Vec<f32>],
    names: &[String],
    threshold: f32,
    split: Split,
) -> Result<LinePanel, FigureError> {
    if gold.is_empty() {
        return Err(FigureError::Empty(format!("the {} split has no utterances the run predicts", split.name())));
    }
    let grid = crate::metrics::threshold_grid(0.02, 0.6, 29);
    let swept = crate::metrics::sweep(gold, probabilities, &grid, names)?;
    let points: Vec<(f64, crate::metrics::Metrics)> = swept.into_iter().map(|(t, m)| (f64::from(t), m)).collect();
    Ok(LinePanel {
        title: format!("Threshold sweep ({} split)", split.name()),
        x_label: "threshold ζ".to_owned(),
        y_label: "metric".to_owned(),
        series: metric_series(&points),
        marker_line: Some((f64::from(threshold), format!("run's ζ = {threshold:.2}"))),
    })
}

/// The training curves of a run from its events file: loss, KL, η, VA-CL per modality, and
/// the validation metrics per epoch.
pub fn curves(run: &Path) -> Result<Vec<LinePanel>, FigureError> {
    let path = run.join(crate::jobs::EVENTS_FILE);
    if !path.is_file() {
        return Err(FigureError::Empty(format!(
            "{}: no events file; only runs trained as jobs (the Training room, `univa jobs submit`, `univa train --events`) record their curves",
            path.display()
        )));
    }
    let curves = Curves::read(&path).map_err(|source| FigureError::Io { path: path.clone(), source })?;
    if curves.loss.is_empty() && curves.epochs.is_empty() {
        return Err(FigureError::Empty(format!("{}: holds no training steps", path.display())));
    }
    let steps = |name: &str, points: &[[f64; 2]]| Series {
        name: name.to_owned(),
        points: points.iter().map(|p| (p[0], p[1])).collect(),
        markers: false,
    };
    let panel = |title: &str, y: &str, series: Vec<Series>| LinePanel {
        title: title.to_owned(),
        x_label: "step".to_owned(),
        y_label: y.to_owned(),
        series,
        marker_line: None,
    };
    let epochs = |name: &str, f: fn(&crate::jobs::EpochPoint) -> f64| Series {
        name: name.to_owned(),
        points: curves.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect(),
        markers: true,
    };
    let best = curves.best.map(|(epoch, _)| (epoch as f64, format!("best epoch {epoch}")));
    Ok(vec![
        panel("Training loss", "loss", vec![steps("loss", &curves.loss)]),
        panel("KL term", "KL", vec![steps("KL", &curves.kl)]),
        panel("η (VA-CL weight)", "η", vec![steps("η", &curves.eta)]),
        panel(
            "VA-CL per modality",
            "contrastive loss",
            Modality::ALL.iter().map(|&m| steps(&super::plots::modality_title(m), curves.contrastive.get(m))).collect(),
        ),
        LinePanel {
            title: "Validation metrics".to_owned(),
            x_label: "epoch".to_owned(),
            y_label: "metric".to_owned(),
            series: vec![
                epochs("Acc", |e| e.acc),
                epochs("miF1", |e| e.micro_f1),
                epochs("maF1", |e| e.macro_f1),
                epochs("HL", |e| e.hamming_loss),
            ],
            marker_line: best,
        },
    ])
}

/// One system's view of an utterance: its predicted labels and, for our runs, probabilities.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemPrediction {
    pub system: String,
    /// `None` where the system has no prediction for the utterance.
    pub predicted: Option<Vec<usize>>,
    pub probabilities: Option<Vec<f32>>,
    pub threshold: Option<f32>,
}

/// The predictions of the systems (run folders, trained or imported) for the utterances at
/// `indices`: `result[system][k]` is for `indices[k]`.
pub fn predictions(
    systems: &[PathBuf],
    dataset: &Dataset,
    indices: &[usize],
) -> Result<Vec<Vec<SystemPrediction>>, FigureError> {
    let mut out = Vec::new();
    for dir in systems {
        let run = Run::load(dir)?;
        let name = match &run.kind {
            RunKind::Trained { .. } => system_name(dir),
            RunKind::Imported(info) => info.name.clone(),
        };
        let column = match &run.kind {
            RunKind::Trained { .. } => {
                let mut by_index: HashMap<usize, Vec<f32>> = HashMap::new();
                let mut threshold = None;
                let splits: Vec<Split> = {
                    let mut s: Vec<Split> =
                        indices.iter().filter_map(|&i| dataset.utterances.get(i).map(|u| u.split)).collect();
                    s.sort_by_key(|s| s.name());
                    s.dedup();
                    s
                };
                for split in splits {
                    let e = evaluate(dir, dataset, split)?;
                    threshold = Some(e.threshold);
                    by_index.extend(e.evaluation.indices.into_iter().zip(e.evaluation.probabilities));
                }
                indices
                    .iter()
                    .map(|i| {
                        let p = by_index.get(i).cloned();
                        SystemPrediction {
                            system: name.clone(),
                            predicted: p
                                .as_ref()
                                .zip(threshold)
                                .map(|(p, t)| p.iter().enumerate().filter(|(_, v)| **v > t).map(|(l, _)| l).collect()),
                            probabilities: p,
                            threshold,
                        }
                    })
                    .collect()
            }
            RunKind::Imported(_) => {
                let imported = ImportedPredictions::load(dir)?;
                indices
                    .iter()
                    .map(|&i| SystemPrediction {
                        system: name.clone(),
                        predicted: dataset.utterances.get(i).and_then(|u| imported.predicted(&u.id)),
                        probabilities: None,
                        threshold: None,
                    })
                    .collect()
            }
        };
        out.push(column);
    }
    Ok(out)
}

/// What the case card shows of one utterance.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseCard {
    pub id: String,
    /// Where it comes from: video, split, clip times.
    pub source: String,
    pub transcript: String,
    /// A frame of the clip, RGBA.
    pub frame: Option<(u32, u32, Vec<u8>)>,
    pub plane: VaPlaneData,
    pub labels: Vec<String>,
    pub gold: Vec<usize>,
    /// Our run's prediction (with probabilities and threshold), and other systems'.
    pub systems: Vec<SystemPrediction>,
}

/// The case card of the utterance at `index`: its frame (when the clip decodes), transcript,
/// VA plane, and the systems' predictions (the first, a trained run, gives the probabilities).
pub fn case_card(dataset: &Dataset, index: usize, systems: &[PathBuf]) -> Result<CaseCard, FigureError> {
    let predictions = predictions(systems, dataset, &[index])?;
    case_card_of(dataset, index, predictions.into_iter().filter_map(|mut column| column.pop()).collect())
}

/// The name a trained run's predictions carry in tables and cards: its folder's name.
pub fn system_name(run: &Path) -> String {
    runs::display_name(run.parent().unwrap_or(run), run)
}

/// The case card of the utterance at `index` with predictions already made (the GUI's, from
/// the run it has evaluated).
pub fn case_card_of(dataset: &Dataset, index: usize, systems: Vec<SystemPrediction>) -> Result<CaseCard, FigureError> {
    let Some(u) = dataset.utterances.get(index) else {
        return Err(FigureError::Data(format!("{}: no utterance at row {index}", dataset.root.display())));
    };
    let frame = dataset.media_path(u).and_then(|path| {
        let media = u.media.as_ref()?;
        let start = media.start_secs.unwrap_or(0.0);
        let middle = media.end_secs.map_or(start, |end| (start + end) / 2.0);
        crate::media::grab_frame(&path, middle, Some((640, 480))).ok()
    });
    let mut source = format!("{} · {} split", u.video_id, u.split.name());
    if let Some(media) = &u.media {
        let _ = std::fmt::Write::write_fmt(&mut source, format_args!(" · {}", media.path.display()));
    }
    Ok(CaseCard {
        id: u.id.clone(),
        source,
        transcript: u.text.clone(),
        frame: frame.map(|f| (f.width, f.height, f.rgba)),
        plane: VaPlaneData { title: "VA per modality".to_owned(), ..va_plane(dataset, &u.id, false)? },
        labels: dataset.label_names().iter().map(|s| s.to_string()).collect(),
        gold: u.labels.clone(),
        systems,
    })
}

/// The ablation table of named runs on `split`, by the call `univa runs table` makes.
pub fn ablation(
    runs: &[(String, Run)],
    dataset: Option<&Path>,
    split: Split,
) -> Result<runs::AblationTable, FigureError> {
    if runs.is_empty() {
        return Err(FigureError::Empty("no runs for the ablation table".to_owned()));
    }
    let mut evaluator = runs::Evaluator::new(Device::Cpu);
    let mut rows = Vec::new();
    for (name, run) in runs {
        let data = run.dataset(dataset)?;
        rows.push((name.clone(), run.flat_config(), evaluator.metrics(run, &data, split)?));
    }
    Ok(runs::AblationTable::new(rows.iter().map(|(n, c, m)| (n.clone(), c, m.clone())).collect()))
}
