//! The live curves of one job, built from its training events.

use std::path::Path;
use std::time::Instant;

use crate::modality::PerModality;
use crate::train::TrainEvent;

/// The validation metrics and timing of one finished epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochPoint {
    /// 1-based, as shown.
    pub epoch: usize,
    pub train_loss: f64,
    pub acc: f64,
    pub micro_f1: f64,
    pub macro_f1: f64,
    pub hamming_loss: f64,
    pub seconds: f64,
}

/// Step series as `[global step, value]` points, per-epoch validation metrics, and progress.
#[derive(Clone, Debug, Default)]
pub struct Curves {
    pub loss: Vec<[f64; 2]>,
    pub kl: Vec<[f64; 2]>,
    pub eta: Vec<[f64; 2]>,
    /// Each modality's own VA-CL loss.
    pub contrastive: PerModality<Vec<[f64; 2]>>,
    pub learning_rate: Vec<[f64; 2]>,
    /// Training utterances per second.
    pub throughput: Vec<[f64; 2]>,
    pub epochs: Vec<EpochPoint>,
    pub total_steps: usize,
    pub global_step: usize,
    pub device: Option<String>,
    pub parameters: Option<usize>,
    /// Best epoch (1-based) and its validation micro-F1, once finished.
    pub best: Option<(usize, f64)>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    /// Wall clock and global step of the first step seen since the (re)start, for the ETA.
    clock: Option<(Instant, usize)>,
    eta_secs: Option<f64>,
}

impl Curves {
    /// Adds one event received at `at`.
    pub fn apply(&mut self, event: &TrainEvent, at: Instant) {
        match event {
            TrainEvent::Started { device, epochs, steps_per_epoch, parameters, start_epoch, .. } => {
                // A resumed run redoes the steps after its last checkpoint: drop their old points.
                let kept_steps = (start_epoch * steps_per_epoch) as f64;
                for series in self.step_series_mut() {
                    series.retain(|p| p[0] <= kept_steps);
                }
                self.epochs.retain(|e| e.epoch <= *start_epoch);
                self.total_steps = epochs * steps_per_epoch;
                self.global_step = start_epoch * steps_per_epoch;
                self.device = Some(device.clone());
                self.parameters = Some(*parameters);
                self.best = None;
                self.stopped = None;
                self.clock = None;
                self.eta_secs = None;
            }
            TrainEvent::Step { global_step, lr, loss, kl, eta, contrastive_per_modality, samples_per_sec, .. } => {
                let x = *global_step as f64;
                self.global_step = *global_step;
                self.loss.push([x, f64::from(*loss)]);
                self.kl.push([x, f64::from(*kl)]);
                self.eta.push([x, f64::from(*eta)]);
                self.learning_rate.push([x, *lr]);
                if *samples_per_sec > 0.0 {
                    self.throughput.push([x, *samples_per_sec]);
                }
                for (modality, value) in contrastive_per_modality.iter() {
                    if let Some(value) = value {
                        self.contrastive.get_mut(modality).push([x, f64::from(*value)]);
                    }
                }
                match self.clock {
                    None => self.clock = Some((at, *global_step)),
                    Some((since, first)) if *global_step > first => {
                        let per_step = at.duration_since(since).as_secs_f64() / (*global_step - first) as f64;
                        self.eta_secs = Some(per_step * self.total_steps.saturating_sub(*global_step) as f64);
                    }
                    Some(_) => {}
                }
            }
            TrainEvent::Epoch { epoch, train_loss, valid, seconds, .. } => self.epochs.push(EpochPoint {
                epoch: *epoch,
                train_loss: f64::from(*train_loss),
                acc: valid.acc,
                micro_f1: valid.micro_f1,
                macro_f1: valid.macro_f1,
                hamming_loss: valid.hamming_loss,
                seconds: *seconds,
            }),
            TrainEvent::Finished { best_epoch, best_micro_f1 } => {
                self.best = Some((*best_epoch, *best_micro_f1));
                self.global_step = self.total_steps;
                self.eta_secs = None;
            }
            TrainEvent::Stopped { reason, .. } => {
                self.stopped = Some(reason.clone());
                self.eta_secs = None;
            }
        }
    }

    fn step_series_mut(&mut self) -> impl Iterator<Item = &mut Vec<[f64; 2]>> {
        let PerModality { text, vision, audio } = &mut self.contrastive;
        [
            &mut self.loss,
            &mut self.kl,
            &mut self.eta,
            &mut self.learning_rate,
            &mut self.throughput,
            text,
            vision,
            audio,
        ]
        .into_iter()
    }

    /// The curves of an events file (`RUN/events.jsonl`); lines that are not events are skipped.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut curves = Self::default();
        let now = Instant::now();
        for event in text.lines().filter_map(|line| serde_json::from_str::<TrainEvent>(line).ok()) {
            curves.apply(&event, now);
        }
        curves.eta_secs = None;
        Ok(curves)
    }

    /// Curves read back from a running job's events file (a job another process runs): the
    /// events carry no wall-clock times, so the time left is the steps left at the latest
    /// throughput, `batch_size` utterances a step (validation not counted).
    pub fn read_running(path: &Path, batch_size: usize) -> std::io::Result<Self> {
        let mut curves = Self::read(path)?;
        curves.eta_secs = curves.samples_per_sec().filter(|&rate| rate > 0.0).map(|rate| {
            let steps_left = curves.total_steps.saturating_sub(curves.global_step);
            (steps_left * batch_size) as f64 / rate
        });
        Ok(curves)
    }

    /// Fraction of all steps done, 0–1.
    pub fn progress(&self) -> f32 {
        if self.total_steps == 0 {
            return 0.0;
        }
        (self.global_step as f32 / self.total_steps as f32).min(1.0)
    }

    /// Seconds left at the pace of the steps seen since the (re)start; validation included.
    pub fn eta_secs(&self) -> Option<f64> {
        self.eta_secs
    }

    /// The latest throughput in utterances per second.
    pub fn samples_per_sec(&self) -> Option<f64> {
        self.throughput.last().map(|p| p[1])
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn step(global_step: usize, epoch: usize) -> TrainEvent {
        TrainEvent::Step {
            epoch,
            step: global_step,
            global_step,
            lr: 1e-3,
            loss: 2.0,
            kl: 1.5,
            eta: 0.1,
            contrastive: 0.4,
            contrastive_per_modality: PerModality { text: Some(0.5), vision: None, audio: Some(0.3) },
            samples_per_sec: 100.0,
        }
    }

    fn started(start_epoch: usize) -> TrainEvent {
        TrainEvent::Started {
            run: "r".into(),
            device: "Cpu".into(),
            epochs: 2,
            steps_per_epoch: 10,
            parameters: 5,
            start_epoch,
        }
    }

    #[test]
    fn steps_fill_the_series_and_the_eta_follows_the_pace() {
        let t0 = Instant::now();
        let mut curves = Curves::default();
        curves.apply(&started(0), t0);
        curves.apply(&step(1, 0), t0);
        curves.apply(&step(5, 0), t0 + Duration::from_secs(4));
        assert_eq!(curves.loss.len(), 2);
        assert_eq!(curves.contrastive.text.len(), 2);
        assert!(curves.contrastive.vision.is_empty());
        // 1 s per step, 15 steps left.
        assert!((curves.eta_secs().unwrap() - 15.0).abs() < 1e-9);
        assert!((curves.progress() - 0.25).abs() < 1e-6);
    }

    #[test]
    fn curves_read_back_estimate_the_time_left_from_the_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let lines: Vec<String> =
            [started(0), step(1, 0), step(5, 0)].iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        crate::fsutil::write_atomic(&path, (lines.join("\n") + "\n").as_bytes()).unwrap();
        assert_eq!(Curves::read(&path).unwrap().eta_secs(), None, "a finished job's history has no time left");
        // 15 steps left × 8 utterances at 100 utterances/s.
        let running = Curves::read_running(&path, 8).unwrap();
        assert!((running.eta_secs().unwrap() - 1.2).abs() < 1e-9);
    }

    #[test]
    fn a_resume_drops_the_points_after_the_checkpoint() {
        let t0 = Instant::now();
        let mut curves = Curves::default();
        curves.apply(&started(0), t0);
        for s in 1..=14 {
            curves.apply(&step(s, (s - 1) / 10), t0);
        }
        curves.apply(&started(1), t0);
        assert_eq!(curves.loss.len(), 10);
        assert_eq!(curves.global_step, 10);
    }
}
