//! View settings persisted by eframe between launches. Never user data (STYLE.md 14).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::dataset::Split;

use super::embedding::{EmbeddingColour, EmbeddingSettings};
use super::layout::Workspace;
use super::runs::RunsBrowserSettings;

/// Default decision threshold ζ (DESIGN.md §4.4).
pub const DEFAULT_THRESHOLD: f32 = 0.18;
/// How many recently opened datasets the welcome screen and File menu list.
pub const RECENT_LIMIT: usize = 8;

/// A dataset opened before, with the run that was attached to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredRecent")]
pub struct Recent {
    pub dataset: PathBuf,
    pub run: Option<PathBuf>,
}

/// A recent entry as settings store it: today's, or a bare dataset path (settings written
/// before the run was remembered).
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredRecent {
    Entry { dataset: PathBuf, run: Option<PathBuf> },
    Dataset(PathBuf),
}

impl From<StoredRecent> for Recent {
    fn from(stored: StoredRecent) -> Self {
        match stored {
            StoredRecent::Entry { dataset, run } => Self { dataset, run },
            StoredRecent::Dataset(dataset) => Self { dataset, run: None },
        }
    }
}

/// The window's colours: dark for a screen, light for a projector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

/// Where training jobs write their run folders (and `jobs.json`) and the run browser looks for
/// them, unless the user picks another folder.
pub fn default_runs_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "UniVA Studio")
        .map_or_else(|| PathBuf::from("runs"), |d| d.data_dir().join("runs"))
}

/// How clips play in the player panel; kept across clips and launches.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlaybackSettings {
    /// 0.25–2×.
    pub speed: f64,
    /// 0–1.
    pub volume: f32,
    pub muted: bool,
    /// Repeat the utterance's span.
    pub looping: bool,
}

impl Default for PlaybackSettings {
    fn default() -> Self {
        Self { speed: 1.0, volume: 1.0, muted: false, looping: false }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewSettings {
    pub threshold: f32,
    /// Split whose metrics and sweep the predictions panel shows.
    pub metrics_split: Split,
    pub show_cloud: bool,
    /// Which modalities the cloud draws (text, vision, audio).
    pub cloud_modalities: [bool; 3],
    /// What colours the points of the embedding map.
    pub embedding_colour: EmbeddingColour,
    /// The label whose gold holders the map highlights under [`EmbeddingColour::Label`].
    pub embedding_label: usize,
    /// How the embedding map is computed: method, split, point limit, seed.
    pub embedding: EmbeddingSettings,
    pub playback: PlaybackSettings,
    /// Most recent first.
    pub recent: Vec<Recent>,
    /// The layout shown and every layout's arrangement.
    pub workspace: Workspace,
    pub theme: Theme,
    /// The folder training jobs write their run folders and history (`jobs.json`) into, and the
    /// run browser lists runs under (searched recursively).
    pub runs_dir: PathBuf,
    pub runs_browser: RunsBrowserSettings,
    /// Who audited last, chosen again when auditing starts (the annotators live in the store).
    pub last_annotator: Option<String>,
    /// The last server store audited on, offered again (kept without a password: that comes
    /// from `~/.pgpass`, `PGPASSFILE` or `PGPASSWORD`).
    pub last_server: Option<String>,
}

impl Default for ViewSettings {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            metrics_split: Split::Test,
            show_cloud: false,
            cloud_modalities: [true; 3],
            embedding_colour: EmbeddingColour::default(),
            embedding_label: 0,
            embedding: EmbeddingSettings::default(),
            playback: PlaybackSettings::default(),
            recent: Vec::new(),
            workspace: Workspace::default(),
            theme: Theme::default(),
            runs_dir: default_runs_dir(),
            runs_browser: RunsBrowserSettings::default(),
            last_annotator: None,
            last_server: None,
        }
    }
}

impl ViewSettings {
    /// Puts `dataset` first in the recent list, with the run attached to it (if any).
    pub fn remember(&mut self, dataset: PathBuf, run: Option<PathBuf>) {
        self.recent.retain(|r| r.dataset != dataset);
        self.recent.insert(0, Recent { dataset, run });
        self.recent.truncate(RECENT_LIMIT);
    }
}
