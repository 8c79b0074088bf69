//! Training end to end on small synthetic data: learning beats a majority baseline, a seed
//! reproduces a run exactly, every ablation runs, resume continues, a non-finite loss stops the run and keeps the checkpoint.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use univa::dataset::synth::{SynthConfig, write_synthetic};
use univa::dataset::{Dataset, DatasetWriter, Split, SplitFeatures};
use univa::metrics;
use univa::modality::{Modality, PerModality};
use univa::model::{ContrastiveMode, Preset};
use univa::train::{self, CollectEvents, EventSink, NoEvents, RunConfig, TrainError, TrainEvent, TrainRequest};

fn small_synth(dir: &Path, utterances: usize) -> Dataset {
    let config = SynthConfig {
        utterances,
        seed: 7,
        shapes: PerModality { text: (8, 12), vision: (6, 5), audio: (6, 7) },
        ..SynthConfig::default()
    };
    write_synthetic(dir, &config).unwrap();
    Dataset::open(dir).unwrap()
}

/// The small preset shrunk for tests (also `explain`'s).
pub fn tiny_config(epochs: usize) -> RunConfig {
    let mut config = RunConfig::preset(Preset::Small);
    config.model.hidden = 32;
    config.model.heads = 4;
    config.model.intermediate = 64;
    config.train.epochs = epochs;
    config.train.batch_size = 32;
    config.train.learning_rate = 2e-3;
    config
}

pub fn request<'a>(dataset: &'a Dataset, config: RunConfig, run: &Path, resume: bool) -> TrainRequest<'a> {
    TrainRequest {
        dataset,
        config,
        run_dir: run.to_path_buf(),
        device: candle_core::Device::Cpu,
        resume,
        overwrite: false,
        stop: None,
    }
}

/// Micro-F1 of always predicting the most frequent training label.
fn majority_baseline(dataset: &Dataset, split: Split) -> f64 {
    let c = dataset.num_labels();
    let mut counts = vec![0usize; c];
    for u in dataset.utterances.iter().filter(|u| u.split == Split::Train) {
        for &l in &u.labels {
            counts[l] += 1;
        }
    }
    let top = (0..c).max_by_key(|&j| counts[j]).unwrap();
    let gold: Vec<Vec<bool>> =
        dataset.split_indices(split).iter().map(|&i| dataset.utterances[i].label_vector(c)).collect();
    let pred: Vec<Vec<bool>> = gold.iter().map(|_| (0..c).map(|j| j == top).collect()).collect();
    let names: Vec<String> = dataset.label_names().iter().map(|s| (*s).to_owned()).collect();
    metrics::compute(&gold, &pred, &names).unwrap().micro_f1
}

#[test]
fn learns_planted_structure_and_beats_majority() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = small_synth(&dir.path().join("data"), 600);
    let run = dir.path().join("run");
    let mut events = CollectEvents::default();
    let summary = train::train(request(&dataset, tiny_config(8), &run, false), &mut events).unwrap();
    assert!(matches!(events.0.first(), Some(TrainEvent::Started { .. })));
    assert!(events.0.iter().any(|e| matches!(e, TrainEvent::Epoch { .. })));

    let trained = train::load_run(&run, &candle_core::Device::Cpu).unwrap();
    let test = train::evaluate(&trained, &dataset, Split::Test, 0.18).unwrap();
    let baseline = majority_baseline(&dataset, Split::Test);
    assert!(
        test.metrics.micro_f1 > baseline + 0.15,
        "trained micro-F1 {} vs majority baseline {baseline}",
        test.metrics.micro_f1
    );
    assert!(summary.best_valid.unwrap().micro_f1 > 0.0);
    // The saved best checkpoint reproduces its validation score exactly.
    let valid = train::evaluate(&trained, &dataset, Split::Valid, 0.18).unwrap();
    assert_eq!(Some(valid.metrics), trained.info.best_valid);
}

#[test]
fn same_seed_trains_the_same_model_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = small_synth(&dir.path().join("data"), 120);
    let weights = |name: &str, seed: u64| {
        let mut config = tiny_config(2);
        config.train.seed = seed;
        config.model.dropout = 0.2;
        let run = dir.path().join(name);
        train::train(request(&dataset, config, &run, false), &mut NoEvents).unwrap();
        std::fs::read(run.join("last.safetensors")).unwrap()
    };
    let first = weights("a", 11);
    assert!(first == weights("b", 11), "two runs with seed 11 trained different weights");
    assert!(first != weights("c", 12), "seeds 11 and 12 trained the same weights");
}

#[test]
fn every_ablation_runs() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = small_synth(&dir.path().join("data"), 160);
    let mut ablations: Vec<(&str, RunConfig)> = Vec::new();
    for (name, mode) in [
        ("w/o VA-CL", ContrastiveMode::Off),
        ("Sup-CL", ContrastiveMode::SupervisedLabels),
        ("Self-CL", ContrastiveMode::SelfOnly),
    ] {
        let mut c = tiny_config(1);
        c.loss.contrastive = mode;
        ablations.push((name, c));
    }
    let mut c = tiny_config(1);
    c.loss.prior = false;
    ablations.push(("w/o VA-ECP", c));
    let mut c = tiny_config(1);
    c.loss.prior = false;
    c.loss.contrastive = ContrastiveMode::Off;
    ablations.push(("w/o both", c));
    for subset in [vec![Modality::Text], vec![Modality::Vision, Modality::Audio], vec![Modality::Text, Modality::Audio]]
    {
        let mut c = tiny_config(1);
        c.model.modalities = subset;
        ablations.push(("modality subset", c));
    }
    for (i, (name, config)) in ablations.into_iter().enumerate() {
        let run = dir.path().join(format!("run{i}"));
        train::train(request(&dataset, config, &run, false), &mut NoEvents).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(run.join("model.safetensors").is_file(), "{name}");
    }
}

/// Sets the stop flag once the first epoch has finished, like a user pressing Stop.
struct StopAfterFirstEpoch<'a>(&'a AtomicBool);

impl EventSink for StopAfterFirstEpoch<'_> {
    fn emit(&mut self, event: &TrainEvent) {
        if matches!(event, TrainEvent::Epoch { .. }) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

#[test]
fn stopped_run_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = small_synth(&dir.path().join("data"), 160);
    let run = dir.path().join("run");
    let stop = AtomicBool::new(false);
    let mut req = request(&dataset, tiny_config(2), &run, false);
    req.stop = Some(&stop);
    let err = train::train(req, &mut StopAfterFirstEpoch(&stop)).unwrap_err();
    // Stopped as the second epoch began (epochs are numbered from 1).
    assert!(matches!(err, TrainError::Cancelled { epoch: 2, .. }), "{err}");
    assert!(err.to_string().contains("last good checkpoint is kept"), "{err}");
    train::load_run(&run, &candle_core::Device::Cpu).unwrap();

    let mut events = CollectEvents::default();
    let summary = train::train(request(&dataset, tiny_config(2), &run, true), &mut events).unwrap();
    assert!(matches!(events.0.first(), Some(TrainEvent::Started { start_epoch: 1, .. })), "{:?}", events.0.first());
    let epochs: Vec<usize> = events
        .0
        .iter()
        .filter_map(|e| if let TrainEvent::Epoch { epoch, .. } = e { Some(*epoch) } else { None })
        .collect();
    assert_eq!(epochs, vec![2]);
    assert!(summary.best_epoch.is_some());

    // A different model cannot continue these weights.
    let mut other = tiny_config(3);
    other.model.hidden = 16;
    let err = train::train(request(&dataset, other, &run, true), &mut NoEvents).unwrap_err();
    assert!(err.to_string().contains("different configuration"), "{err}");
}

#[test]
fn non_finite_loss_stops_and_keeps_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = small_synth(&dir.path().join("data"), 160);
    let run = dir.path().join("run");
    train::train(request(&dataset, tiny_config(1), &run, false), &mut NoEvents).unwrap();
    let best = std::fs::read(run.join("model.safetensors")).unwrap();

    // Continue for another epoch on features so large that the first projection overflows.
    let poisoned_dir = dir.path().join("poisoned");
    let mut features = BTreeMap::new();
    for split in Split::ALL {
        let rows = dataset.split_indices(split).len();
        for spec in &dataset.manifest.features {
            let data = SplitFeatures {
                features: vec![3.0e38; rows * spec.max_len * spec.dim],
                mask: vec![1; rows * spec.max_len],
            };
            features.insert((split, spec.modality), data);
        }
    }
    DatasetWriter::new(&poisoned_dir, dataset.manifest.clone()).unwrap().write(&dataset.utterances, &features).unwrap();
    let poisoned = Dataset::open(&poisoned_dir).unwrap();
    let err = train::train(request(&poisoned, tiny_config(2), &run, true), &mut NoEvents).unwrap_err();
    // The second epoch (numbered from 1) is the first on the poisoned features.
    assert!(matches!(err, TrainError::NonFiniteLoss { epoch: 2, .. }), "{err}");
    assert!(err.to_string().contains("last good checkpoint is kept"), "{err}");
    assert_eq!(std::fs::read(run.join("model.safetensors")).unwrap(), best);
    train::load_run(&run, &candle_core::Device::Cpu).unwrap();
}
