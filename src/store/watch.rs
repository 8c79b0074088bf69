//! Watching a store for what other writers add: a thread of its own opens the store a second
//! time and asks [`Store::changes_since`] every [`WATCH_INTERVAL`], so that a window shows
//! other annotators' judgments as they arrive. The thread is needed because a [`Store`] is not
//! `Sync` and a server that does not answer can hold a call for the connect timeout (5 s); the
//! window only takes what the thread has found, never waits on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use super::{ChangeMark, Store, StoreChanges, StoreError, SyncStatus};

/// How often the watcher asks. One query when nothing changed, so a few a second are cheap.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Reports the watcher keeps before it waits for the window to take them.
const REPORTS_WAITING: usize = 64;

/// What the watcher found since it was last asked.
#[derive(Debug, Default)]
pub struct WatchReport {
    /// What was written after the mark the watcher started from, oldest first.
    pub changes: Vec<StoreChanges>,
    /// The store's status as the watcher last saw it, when it changed (for a server store,
    /// whether the server answers).
    pub status: Option<SyncStatus>,
}

/// What the watcher calls once it has a report waiting, so that a window that draws only when
/// something happens draws it at once (the GUI gives its repaint request).
#[derive(Clone)]
pub struct Wake(Arc<dyn Fn() + Send + Sync>);

impl Wake {
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(wake))
    }
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wake")
    }
}

/// A store watched from a thread of its own; dropping it stops the thread.
pub struct StoreWatcher {
    reports: Receiver<Found>,
    stop: Arc<AtomicBool>,
}

enum Found {
    Changes(StoreChanges),
    Status(SyncStatus),
}

impl std::fmt::Debug for StoreWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreWatcher").finish_non_exhaustive()
    }
}

impl StoreWatcher {
    /// Watches the store that `open` opens (on the watcher's thread), reporting what is written
    /// after `since`, and calling `wake` after each report.
    pub fn spawn(
        open: impl FnOnce() -> Result<Store, StoreError> + Send + 'static,
        since: ChangeMark,
        every: Duration,
        wake: Option<Wake>,
    ) -> Self {
        // A window that stops drawing frames pauses the watcher once this many reports wait;
        // it goes on from its mark when the window takes them.
        let (sender, reports) = mpsc::sync_channel(REPORTS_WAITING);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let spawned = std::thread::Builder::new().name("store watcher".to_owned()).spawn(move || {
            let report = |found: Found| {
                let sent = sender.send(found).is_ok();
                if let Some(Wake(wake)) = &wake {
                    wake();
                }
                sent
            };
            let store = match open() {
                Ok(store) => store,
                Err(error) => {
                    let status = SyncStatus { online: false, pending: 0, problem: Some(error.to_string()) };
                    report(Found::Status(status));
                    return;
                }
            };
            let mut mark = since;
            let mut last_status: Option<SyncStatus> = None;
            while !stopped.load(Ordering::Relaxed) {
                let found = match store.changes_since(mark) {
                    Ok(changes) => {
                        mark = changes.mark;
                        (!changes.is_empty()).then_some(Found::Changes(changes))
                    }
                    Err(error) => {
                        tracing::warn!("watching {}: {error}", store.address());
                        None
                    }
                };
                if let Some(found) = found
                    && !report(found)
                {
                    return;
                }
                let status = store.sync_status();
                if last_status.as_ref() != Some(&status) {
                    last_status = Some(status.clone());
                    if !report(Found::Status(status)) {
                        return;
                    }
                }
                std::thread::sleep(every);
            }
        });
        if let Err(error) = spawned {
            tracing::warn!("the store watcher did not start: {error}");
        }
        Self { reports, stop }
    }

    /// What the watcher found since the last call (nothing while it waits on the store).
    pub fn take(&self) -> WatchReport {
        let mut report = WatchReport::default();
        loop {
            match self.reports.try_recv() {
                Ok(Found::Changes(changes)) => report.changes.push(changes),
                Ok(Found::Status(status)) => report.status = Some(status),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return report,
            }
        }
    }
}

impl Drop for StoreWatcher {
    /// The thread ends after its current call (it is not joined: that call may be waiting on a
    /// server that does not answer).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
