//! The audit queue: the order an annotator works through the browser's utterances in. Pure
//! logic over a [`Session`], no egui.

use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;

use super::session::Session;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueOrder {
    /// The browser's order.
    #[default]
    Table,
    /// Largest distance between two modalities' VA points first.
    Disagreement,
    /// The run's least confident prediction first: the label probability nearest the threshold.
    LeastConfidence,
    /// Shuffled with a seed, so two annotators can work in the same random order.
    Random,
}

impl QueueOrder {
    pub const ALL: [Self; 4] = [Self::Table, Self::Disagreement, Self::LeastConfidence, Self::Random];

    pub fn name(self) -> &'static str {
        match self {
            Self::Table => "browser order",
            Self::Disagreement => "most modality disagreement",
            Self::LeastConfidence => "least model confidence",
            Self::Random => "random (seeded)",
        }
    }
}

/// How the queue is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    pub order: QueueOrder,
    /// Skip what the current annotator has audited.
    pub unaudited_only: bool,
    pub seed: u64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { order: QueueOrder::Table, unaudited_only: true, seed: 1 }
    }
}

/// How confident the run is about utterance `index` at `threshold`: the distance of the label
/// probability nearest the threshold (0 = a label on the edge); `None` without probabilities.
pub fn confidence(session: &Session, index: usize, threshold: f32) -> Option<f32> {
    session.probabilities(index)?.iter().map(|p| (p - threshold).abs()).min_by(f32::total_cmp)
}

/// The browser's `rows` that have VA to audit, in `order`. Ties keep the browser's order.
pub fn ordered(session: &Session, rows: &[usize], settings: QueueSettings, threshold: f32) -> Vec<usize> {
    let mut queue: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&i| session.utterance(i).is_some_and(|u| u.va.iter().any(|(_, va)| va.is_some())))
        .collect();
    match settings.order {
        QueueOrder::Table => {}
        QueueOrder::Disagreement => {
            let of = |i: usize| session.disagreement.get(i).copied().unwrap_or(0.0);
            queue.sort_by(|&a, &b| of(b).total_cmp(&of(a)));
        }
        QueueOrder::LeastConfidence => {
            // Utterances the run does not cover go last.
            let of = |i: usize| confidence(session, i, threshold).unwrap_or(f32::INFINITY);
            queue.sort_by(|&a, &b| of(a).total_cmp(&of(b)));
        }
        QueueOrder::Random => queue.shuffle(&mut rand::rngs::StdRng::seed_from_u64(settings.seed)),
    }
    queue
}

/// The next utterance of `queue` other than `current` that `wanted` accepts: from the top
/// when `from_top` (the queue is the work left), else after `current`, wrapping around once.
pub fn next(queue: &[usize], current: Option<usize>, from_top: bool, wanted: impl Fn(usize) -> bool) -> Option<usize> {
    let after = current.and_then(|c| queue.iter().position(|&i| i == c)).map_or(0, |p| p + 1);
    let start = if from_top { 0 } else { after };
    let len = queue.len();
    (0..len).map(|k| queue[(start + k) % len]).find(|&i| Some(i) != current && wanted(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_wraps_and_skips_what_is_not_wanted() {
        let queue = [4, 2, 9, 7];
        assert_eq!(next(&queue, Some(2), false, |_| true), Some(9));
        assert_eq!(next(&queue, Some(7), false, |_| true), Some(4));
        assert_eq!(next(&queue, Some(2), false, |i| i != 9), Some(7));
        assert_eq!(next(&queue, None, false, |i| i != 4), Some(2));
        assert_eq!(next(&queue, Some(5), false, |_| true), Some(4));
        assert_eq!(next(&queue, Some(2), false, |i| i == 2), None, "only the current one is left");
        assert_eq!(next(&[], None, false, |_| true), None);
        // From the top: the first wanted one that is not the current.
        assert_eq!(next(&queue, Some(9), true, |_| true), Some(4));
        assert_eq!(next(&queue, Some(4), true, |i| i != 2), Some(9));
    }
}
