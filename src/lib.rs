//! UniVA Studio: multimodal multi-label emotion recognition with valence-arousal.
//!
//! Rooms (see `ARCHITECTURE.md`): `dataset`, `va`, `model`, `train`, `metrics`, `media`,
//! `acquire`, `import`, `jobs`, `runs`, `store`, `ui`; `cli` drives them from the command line.

pub mod acquire;
pub mod bundle;
pub mod cli;
pub mod dataset;
pub mod explain;
pub mod figures;
pub mod fsutil;
pub mod import;
pub mod jobs;
pub mod media;
pub mod metrics;
pub mod modality;
pub mod model;
pub mod projection;
pub mod runs;
pub mod runtime;
pub mod store;
pub mod train;
pub mod ui;
pub mod va;
