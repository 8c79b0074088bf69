//! What the decoder threads share: delivering into a bounded queue without going deaf to commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

/// How long a worker with a full output queue waits for a command before retrying the send.
const FULL_QUEUE_POLL: Duration = Duration::from_millis(2);

/// Outcome of [`deliver`].
pub(crate) enum Delivery<T, C> {
    Sent,
    /// A command arrived while the queue was full; the item was not sent and is handed back so
    /// the worker can retry it (pause, resize) or drop it (seek).
    Interrupted(C, T),
    /// The receiver is gone or the worker was told to stop.
    Closed,
}

/// Sends `item` into the bounded `queue`; while the queue is full, keeps listening to `commands`
/// so that a seek or stop is handled at once instead of after the consumer drains the queue.
pub(crate) fn deliver<T, C>(
    queue: &SyncSender<T>,
    item: T,
    commands: &Receiver<C>,
    stop: &AtomicBool,
) -> Delivery<T, C> {
    let mut item = item;
    loop {
        match queue.try_send(item) {
            Ok(()) => return Delivery::Sent,
            Err(TrySendError::Disconnected(_)) => return Delivery::Closed,
            Err(TrySendError::Full(back)) => {
                item = back;
                if stop.load(Ordering::Relaxed) {
                    return Delivery::Closed;
                }
                match commands.recv_timeout(FULL_QUEUE_POLL) {
                    Ok(command) => return Delivery::Interrupted(command, item),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return Delivery::Closed,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;

    #[test]
    fn a_full_queue_still_hears_commands() {
        let (queue_tx, _queue_rx) = sync_channel::<u32>(1);
        let (command_tx, command_rx) = sync_channel::<&str>(1);
        let stop = AtomicBool::new(false);
        assert!(matches!(deliver(&queue_tx, 1, &command_rx, &stop), Delivery::Sent));
        command_tx.send("seek").unwrap();
        match deliver(&queue_tx, 2, &command_rx, &stop) {
            Delivery::Interrupted(command, item) => assert_eq!((command, item), ("seek", 2)),
            _ => panic!("expected the command to interrupt the blocked send"),
        }
        stop.store(true, Ordering::Relaxed);
        assert!(matches!(deliver(&queue_tx, 3, &command_rx, &stop), Delivery::Closed));
    }
}
