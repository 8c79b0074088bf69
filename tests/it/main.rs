//! All integration tests in one binary (linking a test binary is the slow part of a build).
// Tests write fixtures directly (atomicity is not what they test) and fail loudly on any error.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod acquire;
mod agreement;
mod audit;
mod audit_merge;
mod cli;
mod cli_train;
mod dataset;
mod demo;
mod explain;
mod figures;
mod gui;
mod gui_audit;
mod gui_defects;
mod gui_team_audit;
mod gui_training;
mod import;
mod jobs;
mod jobs_remote;
mod media;
mod metrics;
mod model;
mod packaging;
mod projection;
mod reliability;
mod runs;
mod servers;
mod store_server;
mod train;
mod workspace;
