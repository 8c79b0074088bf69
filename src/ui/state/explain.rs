//! The Explain pane's state: its answers per run and utterance, the request in flight and the
//! removal rule shown (issue 28). Explanations are computed on the worker thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::explain::{Explanation, Rule};

/// What the Explain tab asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum ExplainCommand {
    /// Explain this utterance of the session with its run (on the worker thread).
    Request(usize),
    /// Show the contributions under this removal rule.
    SetRule(Rule),
}

/// The tab's answers per (run, utterance), the one request in flight, the rule shown.
#[derive(Debug, Default)]
pub struct ExplainView {
    pub(in crate::ui) answers: HashMap<(PathBuf, usize), Result<Arc<Explanation>, String>>,
    pub(in crate::ui) in_flight: Option<(PathBuf, usize)>,
    pub(in crate::ui) zero_rule: bool,
}

impl ExplainView {
    pub fn rule(&self) -> Rule {
        if self.zero_rule { Rule::Zero } else { Rule::TrainMean }
    }

    /// The answer for `utterance` with `run`, once the worker has given it.
    pub fn answer(&self, run: &Path, utterance: usize) -> Option<&Result<Arc<Explanation>, String>> {
        self.answers.get(&(run.to_path_buf(), utterance))
    }

    /// Keeps the worker's answer.
    pub(in crate::ui) fn apply(&mut self, run: PathBuf, utterance: usize, result: Result<Box<Explanation>, String>) {
        if self.in_flight.as_ref().is_some_and(|(r, u)| *r == run && *u == utterance) {
            self.in_flight = None;
        }
        self.answers.insert((run, utterance), result.map(Arc::from));
    }
}
