//! Audio waveform envelopes (min/max per bin) for drawing under the timeline, computed on a
//! named worker thread and cached, so the UI only ever polls.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::audio::AudioStreamDecoder;
use super::error::MediaError;
use super::source::{TimeSpan, open_input, read_info};

/// Envelopes kept in a [`WaveformCache`] before the oldest is forgotten.
const CACHE_CAPACITY: usize = 64;
/// Requests that may wait for the worker.
const REQUEST_QUEUE: usize = 8;

/// Min/max of the audio (all channels) in `bins` equal slices of `start_secs..end_secs`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Waveform {
    pub start_secs: f64,
    pub end_secs: f64,
    pub min: Vec<f32>,
    pub max: Vec<f32>,
}

impl Waveform {
    pub fn bins(&self) -> usize {
        self.min.len()
    }
}

/// Decodes the audio of `span` and reduces it to `bins` min/max pairs. Slow for long spans; use
/// [`WaveformCache`] from a UI.
pub fn compute_waveform(path: &Path, span: TimeSpan, bins: usize) -> Result<Waveform, MediaError> {
    compute_waveform_unless(path, span, bins, &AtomicBool::new(false)).map(|waveform| waveform.unwrap_or_default())
}

/// [`compute_waveform`] that gives up (`Ok(None)`) as soon as `cancel` is set.
fn compute_waveform_unless(
    path: &Path,
    span: TimeSpan,
    bins: usize,
    cancel: &AtomicBool,
) -> Result<Option<Waveform>, MediaError> {
    let info = read_info(path, &open_input(path)?, span)?;
    let start_secs = info.span.start_secs;
    let end_secs = info.span.end_secs.unwrap_or(start_secs);
    let bins = bins.max(1);
    let mut min = vec![0.0f32; bins];
    let mut max = vec![0.0f32; bins];
    let mut touched = vec![false; bins];
    let mut decoder = AudioStreamDecoder::open(path, None)?;
    decoder.set_span_end(Some(end_secs));
    decoder.seek(start_secs)?;
    let bins_per_sec = bins as f64 / (end_secs - start_secs).max(f64::EPSILON);
    let mut skip_before = Some(start_secs);
    while let Some(chunk) = decoder.next_chunk(skip_before.take())? {
        if cancel.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let channels = usize::from(chunk.channels.max(1));
        for (i, frame) in chunk.samples.chunks_exact(channels).enumerate() {
            let secs = chunk.start_secs + i as f64 / f64::from(chunk.sample_rate);
            let bin = (((secs - start_secs) * bins_per_sec).max(0.0) as usize).min(bins - 1);
            for &value in frame {
                if touched[bin] {
                    min[bin] = min[bin].min(value);
                    max[bin] = max[bin].max(value);
                } else {
                    (min[bin], max[bin], touched[bin]) = (value, value, true);
                }
            }
        }
    }
    Ok(Some(Waveform { start_secs, end_secs, min, max }))
}

/// What [`WaveformCache::get`] has for a request.
#[derive(Debug, Clone)]
pub enum WaveformState {
    Pending,
    Ready(Arc<Waveform>),
    Failed(Arc<MediaError>),
}

type Key = (PathBuf, i64, i64, usize);

fn key(path: &Path, span: TimeSpan, bins: usize) -> Key {
    let millis = |secs: f64| (secs * 1000.0).round() as i64;
    (path.to_path_buf(), millis(span.start_secs), span.end_secs.map_or(-1, millis), bins)
}

/// Computes waveforms on the named thread `univa-waveform` and remembers the last few.
pub struct WaveformCache {
    requests: Option<SyncSender<(Key, TimeSpan)>>,
    results: Receiver<(Key, Result<Waveform, MediaError>)>,
    entries: HashMap<Key, WaveformState>,
    order: VecDeque<Key>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WaveformCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaveformCache").field("entries", &self.entries.len()).finish_non_exhaustive()
    }
}

impl WaveformCache {
    pub fn new() -> std::io::Result<Self> {
        let (requests, request_rx) = sync_channel::<(Key, TimeSpan)>(REQUEST_QUEUE);
        let (result_tx, results) = sync_channel(REQUEST_QUEUE);
        let cancel = Arc::new(AtomicBool::new(false));
        let thread_cancel = Arc::clone(&cancel);
        let thread = std::thread::Builder::new().name("univa-waveform".into()).spawn(move || {
            for (key, span) in request_rx {
                let result = match compute_waveform_unless(&key.0, span, key.3, &thread_cancel) {
                    Ok(Some(waveform)) => Ok(waveform),
                    Ok(None) => return,
                    Err(error) => Err(error),
                };
                if result_tx.send((key, result)).is_err() {
                    return;
                }
            }
        })?;
        Ok(Self {
            requests: Some(requests),
            results,
            entries: HashMap::new(),
            order: VecDeque::new(),
            cancel,
            thread: Some(thread),
        })
    }

    /// The envelope of `span` of `path` at `bins` resolution: ready, failed, or queued for the
    /// worker (call again on a later frame).
    pub fn get(&mut self, path: &Path, span: TimeSpan, bins: usize) -> WaveformState {
        self.collect();
        let key = key(path, span, bins);
        if let Some(state) = self.entries.get(&key) {
            return state.clone();
        }
        let Some(requests) = &self.requests else {
            return WaveformState::Pending;
        };
        match requests.try_send((key.clone(), span)) {
            Ok(()) => self.insert(key, WaveformState::Pending),
            // The worker is busy; the request is made again on the next call.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
        WaveformState::Pending
    }

    /// Like [`Self::get`], but waits up to `timeout` for the result (tests, batch tools).
    pub fn wait(&mut self, path: &Path, span: TimeSpan, bins: usize, timeout: Duration) -> WaveformState {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.get(path, span, bins);
            if !matches!(state, WaveformState::Pending) || Instant::now() >= deadline {
                return state;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn collect(&mut self) {
        loop {
            match self.results.try_recv() {
                Ok((key, result)) => {
                    let state = match result {
                        Ok(waveform) => WaveformState::Ready(Arc::new(waveform)),
                        Err(error) => WaveformState::Failed(Arc::new(error)),
                    };
                    self.insert(key, state);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    fn insert(&mut self, key: Key, state: WaveformState) {
        if self.entries.insert(key.clone(), state).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CACHE_CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }
}

impl Drop for WaveformCache {
    fn drop(&mut self) {
        // Closing the request channel and cancelling end the worker within one decoded chunk.
        self.requests = None;
        self.cancel.store(true, Ordering::Relaxed);
        while self.results.try_recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            // Results are bounded; drain while joining so a finishing worker never blocks.
            while !thread.is_finished() {
                while self.results.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(1));
            }
            if thread.join().is_err() {
                tracing::error!("the waveform thread panicked");
            }
        }
    }
}
