//! The three modalities of an utterance, shared vocabulary of every room.

use serde::{Deserialize, Serialize};

/// One of the input modalities of an utterance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Text,
    Vision,
    Audio,
}

impl Modality {
    /// All modalities in the canonical order (text, vision, audio) used for fusion and storage.
    pub const ALL: [Self; 3] = [Self::Text, Self::Vision, Self::Audio];

    /// Lower-case name used in files (`text`, `vision`, `audio`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Vision => "vision",
            Self::Audio => "audio",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Position in [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One value per modality, indexed by [`Modality`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerModality<T> {
    pub text: T,
    pub vision: T,
    pub audio: T,
}

impl<T> PerModality<T> {
    pub fn from_fn(mut f: impl FnMut(Modality) -> T) -> Self {
        Self { text: f(Modality::Text), vision: f(Modality::Vision), audio: f(Modality::Audio) }
    }

    pub fn get(&self, modality: Modality) -> &T {
        match modality {
            Modality::Text => &self.text,
            Modality::Vision => &self.vision,
            Modality::Audio => &self.audio,
        }
    }

    pub fn get_mut(&mut self, modality: Modality) -> &mut T {
        match modality {
            Modality::Text => &mut self.text,
            Modality::Vision => &mut self.vision,
            Modality::Audio => &mut self.audio,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Modality, &T)> {
        Modality::ALL.into_iter().map(move |m| (m, self.get(m)))
    }

    pub fn map<U>(&self, mut f: impl FnMut(Modality, &T) -> U) -> PerModality<U> {
        PerModality::from_fn(|m| f(m, self.get(m)))
    }
}
