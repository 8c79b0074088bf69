//! The Explain pane's requests, answered on the worker thread.

use super::StudioApp;
use super::worker::Job;
use crate::explain::Rule;
use crate::ui::state::ExplainCommand;

impl StudioApp {
    /// Applies an [`ExplainCommand`].
    pub(super) fn handle_explain(&mut self, command: ExplainCommand) {
        match command {
            ExplainCommand::SetRule(rule) => self.view.explain.zero_rule = rule == Rule::Zero,
            ExplainCommand::Request(utterance) => {
                let Some(session) = &self.session else { return };
                let Some(run) = session.run.as_ref().map(|r| r.dir.clone()) else { return };
                let key = (run.clone(), utterance);
                if self.view.explain.answers.contains_key(&key) || self.view.explain.in_flight.is_some() {
                    return;
                }
                let dataset = session.dataset.root.clone();
                let Some(worker) = self.started_worker() else { return };
                match worker.submit(Job::Explain { run, dataset, utterance }) {
                    Ok(()) => self.view.explain.in_flight = Some(key),
                    Err(message) => {
                        self.view.explain.answers.insert(key, Err(message));
                    }
                }
            }
        }
    }
}
