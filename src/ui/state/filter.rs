//! Which utterances the browser lists: text search, split, gold and predicted label, error type,
//! modality VA disagreement and, while auditing, whether the annotator has judged them. Pure logic
//! over a [`Session`] and the audit's judgments.

use crate::dataset::Split;
use crate::metrics::Outcome;

use super::audit::AuditState;
use super::session::Session;

/// How an utterance's prediction relates to its gold labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorFilter {
    #[default]
    Any,
    /// One outcome (exact, partial, miss: [`Outcome`]).
    Outcome(Outcome),
    /// Partial or miss: anything but exact.
    AnyError,
    /// Label predicted but not gold.
    FalsePositive(usize),
    /// Label gold but not predicted.
    FalseNegative(usize),
}

impl ErrorFilter {
    pub fn describe(self, label_names: &[String]) -> String {
        let name = |j: usize| label_names.get(j).cloned().unwrap_or_else(|| format!("#{j}"));
        match self {
            Self::Any => "any".to_owned(),
            Self::Outcome(outcome) => outcome.name().to_owned(),
            Self::AnyError => "any error".to_owned(),
            Self::FalsePositive(j) => format!("FP of {}", name(j)),
            Self::FalseNegative(j) => format!("FN of {}", name(j)),
        }
    }
}

/// Whether the current annotator has judged every VA point of an utterance (applies only while
/// auditing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuditedFilter {
    #[default]
    Any,
    Audited,
    NotAudited,
}

impl AuditedFilter {
    pub const ALL: [Self; 3] = [Self::Any, Self::Audited, Self::NotAudited];

    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Audited => "audited",
            Self::NotAudited => "not audited",
        }
    }
}

/// The browser's filter. Not persisted: its labels belong to one dataset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Case-insensitive substring of id, video id or transcript.
    pub search: String,
    pub split: Option<Split>,
    pub gold: Option<usize>,
    pub predicted: Option<usize>,
    pub error: ErrorFilter,
    /// Keep utterances whose modality VA points are at least this far apart.
    pub min_disagreement: f32,
    pub audited: AuditedFilter,
}

impl Filter {
    /// Indices of the utterances that pass, in table order.
    pub fn apply(&self, session: &Session, threshold: f32, audit: &AuditState) -> Vec<usize> {
        let needle = self.search.trim().to_lowercase();
        (0..session.len()).filter(|&i| self.matches(session, i, threshold, &needle, audit)).collect()
    }

    fn matches(&self, session: &Session, index: usize, threshold: f32, needle: &str, audit: &AuditState) -> bool {
        let Some(u) = session.utterance(index) else { return false };
        if self.audited != AuditedFilter::Any
            && audit.is_auditing()
            && audit.audited_by_me(session, index) != (self.audited == AuditedFilter::Audited)
        {
            return false;
        }
        if self.split.is_some_and(|s| s != u.split) {
            return false;
        }
        if self.gold.is_some_and(|j| !u.labels.contains(&j)) {
            return false;
        }
        if session.disagreement.get(index).copied().unwrap_or(0.0) < self.min_disagreement {
            return false;
        }
        if !needle.is_empty()
            && !u.id.to_lowercase().contains(needle)
            && !u.video_id.to_lowercase().contains(needle)
            && !u.text.to_lowercase().contains(needle)
        {
            return false;
        }
        if self.predicted.is_none() && self.error == ErrorFilter::Any {
            return true;
        }
        // Prediction-based filters exclude utterances the run does not cover.
        let Some(predicted) = session.predicted(index, threshold) else { return false };
        if self.predicted.is_some_and(|j| !predicted.contains(&j)) {
            return false;
        }
        let outcome = Outcome::of(&u.labels, &predicted);
        match self.error {
            ErrorFilter::Any => true,
            ErrorFilter::Outcome(wanted) => outcome == wanted,
            ErrorFilter::AnyError => outcome != Outcome::Exact,
            ErrorFilter::FalsePositive(j) => predicted.contains(&j) && !u.labels.contains(&j),
            ErrorFilter::FalseNegative(j) => !predicted.contains(&j) && u.labels.contains(&j),
        }
    }
}
