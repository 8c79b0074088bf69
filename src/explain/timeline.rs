//! Where a model's steps lie in the clip and the transcript.
//!
//! Vision and audio steps are equal consecutive chunks of the utterance's span when `univa
//! acquire` wrote the features (its record, `acquire.json`, names the modality and the model
//! whose VA the utterance carries); otherwise they are spread evenly over the utterance and
//! marked approximate. Text steps are tokens of the text model's tokenizer (averaged in equal
//! chunks of tokens when there were more than the steps), mapped back to the transcript's
//! words; without the record or the tokenizer, words are spread evenly over the steps.

use serde::Serialize;
use tokenizers::Tokenizer;

use crate::acquire::fill::{AcquireRecord, chunk};
use crate::acquire::text::{TextVaConfig, default_base_dir, default_model_dir, encoder::base_tokenizer};
use crate::dataset::{Dataset, Utterance};
use crate::modality::Modality;

/// The unit of [`StepSpan`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Seconds in the media file.
    Seconds,
    /// Fractions of the utterance (its span is not known).
    Fraction,
}

/// The stretch of the clip one step covers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepSpan {
    pub start: f64,
    pub end: f64,
}

/// One real step of a modality with its attention weight.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Position in the feature sequence.
    pub index: usize,
    pub weight: f32,
    pub span: StepSpan,
}

/// A word of the transcript with the text attention it received.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WordWeight {
    pub word: String,
    /// Byte range in the transcript.
    pub start: usize,
    pub end: usize,
    pub weight: f32,
}

/// One modality's attention over the utterance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModalityAttention {
    pub modality: Modality,
    /// α per step of the feature sequence, padding included (0 there).
    pub weights: Vec<f32>,
    /// The real steps, in order, placed on the clip.
    pub steps: Vec<Step>,
    pub unit: TimeUnit,
    /// Whether the spans are where the features came from (features made by `univa acquire`)
    /// rather than an even spread.
    pub exact: bool,
    /// How the steps were placed, in one sentence.
    pub placement: String,
    /// Text: the transcript's words with their share of the attention (empty otherwise).
    pub words: Vec<WordWeight>,
    /// Text: the attention that went to the tokenizer's special tokens ([CLS], [SEP]).
    pub special_weight: f32,
    /// Text: whether the words got the attention of their own tokens (the tokenizer that made
    /// the features) rather than of an even spread.
    pub words_exact: bool,
}

/// The tokenizer that made a dataset's text features, or why there is none.
enum TextTokens {
    Tokenizer { tokenizer: Box<Tokenizer>, max_len: usize, model: String },
    Missing(String),
}

/// Places steps for the utterances of one dataset (reads its acquisition record and the text
/// tokenizer once).
pub struct StepMapper {
    record: Option<AcquireRecord>,
    /// Why there is no record, for the placement notes.
    no_record: String,
    text: TextTokens,
}

impl std::fmt::Debug for StepMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepMapper").field("record", &self.record).finish_non_exhaustive()
    }
}

impl StepMapper {
    /// Never fails: what cannot be read makes the placements approximate, and says why.
    pub fn for_dataset(dataset: &Dataset) -> Self {
        let (record, no_record) = match AcquireRecord::read(&dataset.root) {
            Ok(Some(record)) => (Some(record), String::new()),
            Ok(None) => (None, format!("the features were not made by `univa acquire` ({})", provenance(dataset))),
            Err(e) => (None, format!("the acquisition record is unreadable ({e})")),
        };
        let text = match record.as_ref().and_then(|r| r.features.get(&Modality::Text)) {
            None => TextTokens::Missing(no_record.clone()),
            Some(made) => text_tokenizer(&made.model, made.max_len),
        };
        Self { record, no_record, text }
    }

    /// Places `weights` (α per step of `modality`, `real[t]` for the real steps) on the
    /// utterance's clip and, for text, its words.
    pub fn map(&self, utterance: &Utterance, modality: Modality, weights: &[f32], real: &[bool]) -> ModalityAttention {
        let real_steps: Vec<usize> = (0..weights.len()).filter(|&t| real.get(t).copied().unwrap_or(false)).collect();
        let (origin, length, unit) = match utterance.media.as_ref().map(|m| (m.start_secs.unwrap_or(0.0), m.end_secs)) {
            Some((start, Some(end))) if end > start => (start, end - start, TimeUnit::Seconds),
            _ => (0.0, 1.0, TimeUnit::Fraction),
        };
        let n = real_steps.len().max(1) as f64;
        let steps = real_steps
            .iter()
            .enumerate()
            .map(|(i, &t)| Step {
                index: t,
                weight: weights[t],
                span: StepSpan { start: origin + length * i as f64 / n, end: origin + length * (i + 1) as f64 / n },
            })
            .collect();
        let made = self
            .record
            .as_ref()
            .and_then(|r| r.features.get(&modality))
            .filter(|made| utterance.va_model.get(modality) == &made.model);
        let (words, special_weight, words_exact) = if modality == Modality::Text {
            self.words(utterance, weights, &real_steps)
        } else {
            (Vec::new(), 0.0, false)
        };
        let (exact, placement) = match (modality, made) {
            (Modality::Text, _) if words_exact => (
                false,
                format!(
                    "tokens of {} mapped to the transcript's words; text has no clock, so its steps are spread evenly over the utterance",
                    utterance.va_model.text
                ),
            ),
            (Modality::Text, _) => (
                false,
                format!(
                    "approximate, words spread evenly over the steps and steps over the utterance: {}",
                    self.why_not_text()
                ),
            ),
            (Modality::Vision, Some(made)) => (
                true,
                format!(
                    "equal chunks of the utterance's span: {} looked at {} frames per second and kept those with a face",
                    made.model,
                    made.sample_fps.unwrap_or(0.0)
                ),
            ),
            (Modality::Audio, Some(made)) => (
                true,
                format!("equal chunks of the utterance's span: 10 ms frames of `univa acquire` ({})", made.model),
            ),
            (_, None) => (false, format!("approximate, spread evenly over the utterance: {}", self.why_not(modality))),
        };
        ModalityAttention {
            modality,
            weights: weights.to_vec(),
            steps,
            unit,
            exact,
            placement,
            words,
            special_weight,
            words_exact,
        }
    }

    /// Why `modality`'s features are not known to be acquisition's.
    fn why_not(&self, modality: Modality) -> String {
        match &self.record {
            None => self.no_record.clone(),
            Some(record) if record.features.contains_key(&modality) => {
                format!("this utterance's {modality} was not acquired by the model that wrote the features")
            }
            Some(_) => format!("the {modality} features were not made by `univa acquire`"),
        }
    }

    fn why_not_text(&self) -> String {
        match &self.text {
            TextTokens::Missing(why) => why.clone(),
            TextTokens::Tokenizer { model, .. } => {
                format!("this utterance's text was not acquired by {model}, or its tokens do not match the steps")
            }
        }
    }

    /// The transcript's words with the attention of the steps over their tokens, the special
    /// tokens' share, and whether the tokenizer placed them (else they are spread evenly).
    fn words(&self, utterance: &Utterance, weights: &[f32], real_steps: &[usize]) -> (Vec<WordWeight>, f32, bool) {
        let mut words = split_words(&utterance.text);
        if words.is_empty() {
            return (words, 0.0, false);
        }
        let made = matches!(&self.text, TextTokens::Tokenizer { model, .. } if utterance.va_model.text == *model);
        if let (true, TextTokens::Tokenizer { tokenizer, max_len, .. }) = (made, &self.text)
            && let Ok(encoding) = tokenizer.encode(utterance.text.as_str(), true)
            && encoding.len().min(*max_len) == real_steps.len()
        {
            let (offsets, special) = (encoding.get_offsets(), encoding.get_special_tokens_mask());
            let mut special_weight = 0.0;
            for (i, &t) in real_steps.iter().enumerate() {
                let tokens = chunk(encoding.len(), *max_len, i);
                let share = weights[t] / tokens.len() as f32;
                for token in tokens {
                    let word = words.iter_mut().find(|w| w.start <= offsets[token].0 && offsets[token].0 < w.end);
                    match word {
                        Some(word) if special.get(token) == Some(&0) => word.weight += share,
                        _ => special_weight += share,
                    }
                }
            }
            return (words, special_weight, true);
        }
        // Spread evenly: step i of n falls on word ⌊(i + ½)·W / n⌋.
        let n = real_steps.len().max(1) as f64;
        let count = words.len();
        for (i, &t) in real_steps.iter().enumerate() {
            let w = (((i as f64 + 0.5) * count as f64 / n) as usize).min(count - 1);
            words[w].weight += weights[t];
        }
        (words, 0.0, false)
    }
}

/// The dataset's provenance line, or that it has none.
fn provenance(dataset: &Dataset) -> String {
    let p = dataset.manifest.provenance.trim();
    if p.is_empty() { "the dataset records no provenance".to_owned() } else { p.to_owned() }
}

/// The tokenizer of the text model `model`, when it is the bundled default (the one model
/// whose base this build can find).
fn text_tokenizer(model: &str, max_len: usize) -> TextTokens {
    let config_path = default_model_dir().join(crate::acquire::text::MODEL_CONFIG_FILE);
    let config = match TextVaConfig::read(&config_path) {
        Ok(config) => config,
        Err(e) => return TextTokens::Missing(format!("the text model's tokenizer is not at hand ({e})")),
    };
    if config.model_id != model {
        return TextTokens::Missing(format!(
            "the text features were made by {model}, whose tokenizer this build does not have (it has {})",
            config.model_id
        ));
    }
    match base_tokenizer(&default_base_dir(), config.max_tokens) {
        Ok(tokenizer) => TextTokens::Tokenizer { tokenizer: Box::new(tokenizer), max_len, model: model.to_owned() },
        Err(e) => TextTokens::Missing(format!(
            "the text model's tokenizer is missing ({e}); fetch it with `univa models fetch {}`",
            crate::acquire::text::BASE_FETCH_IDS
        )),
    }
}

/// Whitespace-separated words of `text`, with byte ranges and no weight yet.
fn split_words(text: &str) -> Vec<WordWeight> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push(WordWeight { word: text[s..i].to_owned(), start: s, end: i, weight: 0.0 });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_byte_ranges() {
        let words = split_words("  Hong Kong’s  trams!");
        let names: Vec<&str> = words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(names, ["Hong", "Kong’s", "trams!"]);
        assert_eq!(&"  Hong Kong’s  trams!"[words[1].start..words[1].end], "Kong’s");
    }
}
