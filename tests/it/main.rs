//! All integration tests in one binary (linking a test binary is the slow part of a build).
#![allow(clippy::disallowed_methods)] // tests write fixtures directly; atomicity is not what they test

mod acquire;
mod cli;
mod cli_train;
mod dataset;
mod metrics;
mod model;
mod train;
