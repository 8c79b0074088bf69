//! Turning dataset rows into model batches.

use candle_core::{Device, Tensor};

use crate::dataset::{Dataset, Split};
use crate::modality::{Modality, PerModality};
use crate::model::{Batch, ModalityInput};
use crate::va::VaNormalizer;

use super::TrainError;

/// The utterances of one split with what batching needs: their table indices and features.
pub struct SplitData<'a> {
    dataset: &'a Dataset,
    split: Split,
    /// Table index of each row of the split, in feature-row order.
    pub indices: Vec<usize>,
    modalities: Vec<Modality>,
}

impl<'a> SplitData<'a> {
    /// `modalities` are those the model reads; each must have features in the dataset.
    pub fn new(dataset: &'a Dataset, split: Split, modalities: &[Modality]) -> Result<Self, TrainError> {
        let indices = dataset.split_indices(split);
        if indices.is_empty() {
            return Err(TrainError::Data(format!("{}: split {split} has no utterances", dataset.root.display())));
        }
        let features = dataset.features(split);
        for &m in modalities {
            if features.and_then(|f| f.modalities().find(|&x| x == m)).is_none() {
                return Err(TrainError::Data(format!(
                    "{}: split {split} has no {m} features; the model needs them (drop the modality from [model] to train without it)",
                    dataset.root.display()
                )));
            }
        }
        Ok(Self { dataset, split, indices, modalities: modalities.to_vec() })
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Gold label rows of the whole split.
    pub fn gold(&self) -> Vec<Vec<bool>> {
        let c = self.dataset.num_labels();
        self.indices.iter().map(|&i| self.dataset.utterances[i].label_vector(c)).collect()
    }

    /// Builds the batch of the given split rows. VA is z-normalised with `normalizer`; where
    /// `need_va` and an utterance lacks a modality's VA, that is an error naming it.
    pub fn batch(&self, rows: &[usize], normalizer: &VaNormalizer, need_va: bool, device: &Device) -> Result<Batch, TrainError> {
        let features = self.dataset.features(self.split);
        let mut inputs = PerModality::<Option<ModalityInput>>::default();
        for &m in &self.modalities {
            let Some(gathered) = features.and_then(|f| f.gather(m, rows)) else { continue };
            let (b, l, d) = (gathered.rows, gathered.spec.max_len, gathered.spec.dim);
            let mut va = Vec::with_capacity(b * 2);
            for &row in rows {
                let utterance = &self.dataset.utterances[self.indices[row]];
                match utterance.va.get(m) {
                    Some(point) => va.extend(normalizer.normalize(m, *point)),
                    None if need_va => {
                        return Err(TrainError::Data(format!(
                            "{}: utterance {:?} has no {m} VA; the VA-driven contrastive loss needs it \
                             (acquire VA with `univa acquire`, or set [loss] contrastive = \"off\")",
                            self.dataset.root.display(),
                            utterance.id
                        )));
                    }
                    None => va.extend([0.0, 0.0]),
                }
            }
            *inputs.get_mut(m) = Some(ModalityInput {
                features: Tensor::from_vec(gathered.features, (b, l, d), device)?,
                mask: Tensor::from_vec(gathered.mask, (b, l), device)?,
                va: Tensor::from_vec(va, (b, 2), device)?,
            });
        }
        let c = self.dataset.num_labels();
        let labels: Vec<f32> = rows
            .iter()
            .flat_map(|&row| self.dataset.utterances[self.indices[row]].label_vector(c))
            .map(|on| if on { 1.0 } else { 0.0 })
            .collect();
        Ok(Batch { inputs, labels: Tensor::from_vec(labels, (rows.len(), c), device)? })
    }
}
