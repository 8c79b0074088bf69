//! [`PlayerOpener`]: opens [`Player`]s on a named thread, so a UI that switches clips never waits
//! for a probe or a decoder to start, and drops retired players there too (joining their decoder
//! threads can take a frame's decoding time).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};

use super::error::MediaError;
use super::player::{Player, PlayerOptions};
use super::source::TimeSpan;

/// Requests that may wait; a UI sends at most one open per frame and only the newest matters.
const REQUEST_QUEUE: usize = 8;

enum Request {
    Open {
        ticket: u64,
        path: PathBuf,
        span: TimeSpan,
        options: PlayerOptions,
    },
    /// A player that is no longer shown, to be dropped off the caller's thread.
    Retire(Box<Player>),
}

/// A finished open: the ticket [`PlayerOpener::open`] returned, and the player or why not.
pub struct Opened {
    pub ticket: u64,
    pub result: Result<Player, MediaError>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").field("ticket", &self.ticket).field("ok", &self.result.is_ok()).finish()
    }
}

/// The `univa-media-open` thread and its bounded channels. Dropping it closes the request
/// channel; the thread finishes the open in progress (its result is discarded) and ends.
pub struct PlayerOpener {
    requests: SyncSender<Request>,
    results: Receiver<Opened>,
    last_ticket: u64,
}

impl std::fmt::Debug for PlayerOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayerOpener").field("last_ticket", &self.last_ticket).finish_non_exhaustive()
    }
}

impl PlayerOpener {
    pub fn start() -> std::io::Result<Self> {
        let (requests, request_rx) = sync_channel(REQUEST_QUEUE);
        let (result_tx, results) = sync_channel(2);
        std::thread::Builder::new().name("univa-media-open".into()).spawn(move || run(&request_rx, &result_tx))?;
        Ok(Self { requests, results, last_ticket: 0 })
    }

    /// Asks for `path` to be opened at `span`; the ticket identifies the answer. Opens asked for
    /// earlier and not yet started are skipped.
    pub fn open(&mut self, path: PathBuf, span: TimeSpan, options: PlayerOptions) -> Result<u64, MediaError> {
        self.last_ticket += 1;
        let ticket = self.last_ticket;
        match self.requests.try_send(Request::Open { ticket, path: path.clone(), span, options }) {
            Ok(()) => Ok(ticket),
            Err(TrySendError::Full(_)) => Err(MediaError::Busy { path, role: "clip opener" }),
            Err(TrySendError::Disconnected(_)) => Err(MediaError::WorkerGone { path, role: "clip opener" }),
        }
    }

    /// The answer to the newest [`Self::open`] if it has arrived; answers to older ones are
    /// dropped on the way (on the opener's thread).
    pub fn poll(&mut self) -> Option<Opened> {
        loop {
            match self.results.try_recv() {
                Ok(opened) if opened.ticket == self.last_ticket => return Some(opened),
                Ok(stale) => {
                    if let Ok(player) = stale.result {
                        self.retire(player);
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return None,
            }
        }
    }

    /// Blocks until the answer to the newest open arrives (tests and tools without an event loop).
    pub fn wait(&mut self) -> Option<Opened> {
        loop {
            let opened = self.results.recv().ok()?;
            if opened.ticket == self.last_ticket {
                return Some(opened);
            }
            if let Ok(player) = opened.result {
                self.retire(player);
            }
        }
    }

    /// Drops `player` on the opener's thread (on this one if the queue is full or the thread gone).
    pub fn retire(&self, player: Player) {
        let _ = self.requests.try_send(Request::Retire(Box::new(player)));
    }
}

fn run(requests: &Receiver<Request>, results: &SyncSender<Opened>) {
    while let Ok(request) = requests.recv() {
        let mut newest = request;
        // Only the newest open matters; retire everything else that waits.
        loop {
            match requests.try_recv() {
                Ok(Request::Retire(player)) => drop(player),
                Ok(open) => {
                    if let Request::Retire(player) = std::mem::replace(&mut newest, open) {
                        drop(player);
                    }
                }
                Err(_) => break,
            }
        }
        let Request::Open { ticket, path, span, options } = newest else { continue };
        let _span = tracing::info_span!("open_clip", path = %path.display()).entered();
        let result = Player::open(&path, span, &options);
        if results.send(Opened { ticket, result }).is_err() {
            return;
        }
    }
}
