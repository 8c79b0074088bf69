//! Progress of a training run as a stream of events (STYLE.md 6): the loop emits them, the CLI
//! draws a progress bar and/or writes JSON lines, the GUI plots them.

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::modality::PerModality;

/// One thing that happened during training. Epoch numbers (`epoch`, `best_epoch`) count from
/// 1, as the logs and the run files do; `start_epoch` is a count of finished epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Started {
        run: String,
        device: String,
        epochs: usize,
        steps_per_epoch: usize,
        parameters: usize,
        start_epoch: usize,
    },
    Step {
        epoch: usize,
        step: usize,
        global_step: usize,
        lr: f64,
        loss: f32,
        kl: f32,
        eta: f32,
        contrastive: f32,
        /// Each active modality's own VA-CL loss, before the weighted mix.
        #[serde(default)]
        contrastive_per_modality: PerModality<Option<f32>>,
        /// Training utterances per second over the epoch so far.
        #[serde(default)]
        samples_per_sec: f64,
    },
    Epoch {
        epoch: usize,
        train_loss: f32,
        valid: Box<Metrics>,
        best_micro_f1: f64,
        improved: bool,
        seconds: f64,
    },
    Finished {
        best_epoch: usize,
        best_micro_f1: f64,
    },
    /// The run stopped early: non-finite loss, or asked to stop. The last good checkpoint stays.
    Stopped {
        epoch: usize,
        step: usize,
        reason: String,
    },
}

/// Where events go.
pub trait EventSink {
    fn emit(&mut self, event: &TrainEvent);
}

/// Discards events (tests, library use without progress).
#[derive(Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&mut self, _event: &TrainEvent) {}
}

/// Collects events in memory.
#[derive(Debug, Default)]
pub struct CollectEvents(pub Vec<TrainEvent>);

impl EventSink for CollectEvents {
    fn emit(&mut self, event: &TrainEvent) {
        self.0.push(event.clone());
    }
}

/// Forwards every event to each of several sinks.
pub struct FanOut<'a>(pub Vec<&'a mut dyn EventSink>);

impl EventSink for FanOut<'_> {
    fn emit(&mut self, event: &TrainEvent) {
        for sink in &mut self.0 {
            sink.emit(event);
        }
    }
}
