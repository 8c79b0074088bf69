//! Which figure a pane asks the export window for (`app/figure_export.rs` draws the window).

use std::path::PathBuf;

use crate::dataset::Split;
use crate::figures::{DOUBLE_COLUMN_MM, SINGLE_COLUMN_MM, data, plots};

/// Which figure a panel asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum FigureRequest {
    /// The VA plane of one utterance, with or without the cloud of all utterances.
    VaPlane { utterance: String, cloud: bool },
    /// The prior M beside the label co-occurrence.
    Correlation,
    /// The case card of the utterance at this row, with the attached run's probabilities at
    /// the run's threshold ζ (what `univa figure case-card` draws).
    CaseCard { index: usize, utterance: String },
    /// The attached run's metrics over thresholds on a split (`univa figure threshold-sweep`).
    ThresholdSweep { split: Split },
    /// A run's training curves from its events (`univa figure curves`).
    Curves { run: PathBuf },
    /// Embedding maps (one, or the compared pair) as the tab shows them (`univa figure
    /// embedding` on their CSVs).
    Embedding { maps: Vec<(String, Vec<data::MapRow>)>, colouring: plots::Colouring },
}

impl FigureRequest {
    pub fn title(&self) -> String {
        match self {
            Self::VaPlane { utterance, .. } => format!("VA plane of {utterance}"),
            Self::Correlation => "Correlation matrices".to_owned(),
            Self::CaseCard { utterance, .. } => format!("Case card of {utterance}"),
            Self::ThresholdSweep { split } => format!("Threshold sweep ({} split)", split.name()),
            Self::Curves { run } => format!("Training curves of {}", data::system_name(run)),
            Self::Embedding { maps, .. } => format!("Embedding map{}", if maps.len() > 1 { "s" } else { "" }),
        }
    }

    pub fn file_stem(&self) -> String {
        match self {
            Self::VaPlane { utterance, .. } => format!("va-plane-{utterance}"),
            Self::Correlation => "correlation".to_owned(),
            Self::CaseCard { utterance, .. } => format!("case-card-{utterance}"),
            Self::ThresholdSweep { split } => format!("threshold-sweep-{}", split.name()),
            Self::Curves { run } => format!("curves-{}", data::system_name(run)),
            Self::Embedding { .. } => "embedding".to_owned(),
        }
    }

    /// The size `univa figure` uses when none is given.
    pub fn default_size_mm(&self) -> (f64, f64) {
        match self {
            Self::VaPlane { .. } => (SINGLE_COLUMN_MM, 100.0),
            Self::Correlation => (DOUBLE_COLUMN_MM, 85.0),
            Self::CaseCard { .. } => (DOUBLE_COLUMN_MM, 75.0),
            Self::ThresholdSweep { .. } => (SINGLE_COLUMN_MM, 70.0),
            Self::Curves { .. } => (DOUBLE_COLUMN_MM, 110.0),
            Self::Embedding { maps, .. } => (if maps.len() > 1 { DOUBLE_COLUMN_MM } else { SINGLE_COLUMN_MM }, 90.0),
        }
    }
}
