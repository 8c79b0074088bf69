//! Every change a pane asks for, as one enum (STYLE.md 2). Panes draw from borrowed state and
//! push [`Command`]s; the app applies them after the frame's drawing (`app/handle.rs`).

use std::path::PathBuf;

use crate::dataset::Split;
use crate::modality::Modality;
use crate::projection::EmbeddingRequest;

use super::audit::AuditCommand;
use super::clip::ClipCommand;
use super::embedding::{EmbeddingColour, EmbeddingSettings, MapSide};
use super::explain::ExplainCommand;
use super::figure::FigureRequest;
use super::filter::Filter;
use super::layout::{Layout, Pane, Side};
use super::player::Transport;
use super::runs::RunsCommand;
use super::settings::Theme;
use super::training::{TrainingCommand, TrainingPick};

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Ask for a dataset folder with the native dialog, then open it.
    OpenDialog,
    /// Ask for a run folder and reopen the current dataset with it.
    AttachRunDialog,
    Open {
        dataset: PathBuf,
        run: Option<PathBuf>,
    },
    Select(usize),
    /// Select the next/previous row of the browser's filtered list.
    SelectNext,
    SelectPrevious,
    SetThreshold(f32),
    SetFilter(Filter),
    SetMetricsSplit(Split),
    SetShowCloud(bool),
    SetCloudModality(Modality, bool),
    /// Save the selected utterance's case card as Markdown (asks where).
    ExportCaseCard,
    /// Project the attached run's unimodal representations (and the compared run's, if one is
    /// chosen) on the worker thread.
    ComputeEmbedding(EmbeddingRequest),
    StopEmbedding,
    SetEmbeddingColour(EmbeddingColour),
    /// Highlight the utterances whose gold labels include this one (by index).
    SetEmbeddingLabel(usize),
    SetEmbeddingSettings(EmbeddingSettings),
    /// The run mapped beside the attached one (`None`: none); its map is computed next time.
    SetEmbeddingCompareRun(Option<PathBuf>),
    /// Ask for the run folder to map beside the attached one.
    ChooseEmbeddingCompareRun,
    /// Save a map as CSV (`id,modality,x,y`) to the path, or where the user chooses (`None`).
    SaveEmbeddingCsv(MapSide, Option<PathBuf>),
    /// Play/pause, seek, loop, speed, volume of the player panel.
    Transport(Transport),
    /// Annotators, corrections, undo/redo and the queue of the audit.
    Audit(AuditCommand),
    DismissNotice,
    /// What the run browser asks for (`app/handle_runs.rs` applies it).
    Runs(RunsCommand),
    /// Launch, cancel, resume training jobs and edit the launch form.
    Training(TrainingCommand),
    /// Ask for a folder or file of the training form with a file dialog.
    ChooseForTraining(TrainingPick),
    /// File → "Predict on a clip…".
    PredictOnClip(ClipCommand),
    /// What the Explain pane asks for (`app/explain.rs` applies it).
    Explain(ExplainCommand),
    /// Open the export window for a figure.
    ExportFigure(FigureRequest),
    /// Arrange the window (layouts, panes, zoom, theme, help).
    Workspace(WorkspaceCommand),
}

/// What the menu bar, the panes' title bars and the keys ask of the workspace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WorkspaceCommand {
    SetLayout(Layout),
    /// Put the layout shown back as it ships.
    ResetLayout,
    /// Bring a pane to the front, reopening it if it was closed.
    Show(Pane),
    Close(Pane),
    /// Move a pane beside another (split) or into its tabs.
    Move {
        pane: Pane,
        beside: Pane,
        side: Side,
    },
    /// Fill the window with one pane (`None`: restore the layout).
    Maximize(Option<Pane>),
    /// The UI zoom of the layout shown.
    SetZoom(f32),
    SetTheme(Theme),
    ToggleFullscreen,
    /// Close the window (through eframe, which saves the settings on the way out).
    Quit,
    /// The keyboard shortcuts sheet (F1).
    ShowShortcuts(bool),
}
