//! Packing the real steps of a padded batch into one `[N, ·]` matrix, and back.
//!
//! Every per-step operation of an encoder (projections, feed-forward blocks, LayerNorms) runs on
//! the N real steps only. Padded steps never reach a real one: as keys they get a −10000 bias,
//! whose weight after the softmax is exactly 0 in f32, and the pooling gives them weight 0, so
//! skipping them changes no output. (An utterance without any real step pools to zeros.)

use candle_core::{DType, Result, Tensor};

use super::kernels::attention::Segment;

#[derive(Clone, Debug)]
pub struct Packing {
    /// Row of each real step in the flattened `[B·L]` batch, in order (u32, `[N]`).
    rows: Tensor,
    /// For each of the B·L steps, its row among the real steps, or N (a zero row) for padding.
    sources: Tensor,
    /// Time index t of each real step (u32, `[N]`), for the position embeddings.
    positions: Tensor,
    /// Each utterance's real steps as a run of packed rows.
    segments: Vec<Segment>,
    batch: usize,
    len: usize,
}

impl Packing {
    /// `mask`: `[B, L]`, 1 (any value > 0.5) for a real step.
    pub fn from_mask(mask: &Tensor) -> Result<Self> {
        let (batch, len) = mask.dims2()?;
        let values = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let real: Vec<u32> = (0u32..).zip(&values).filter(|(_, m)| **m > 0.5).map(|(i, _)| i).collect();
        let positions: Vec<u32> = real.iter().map(|&i| i % len as u32).collect();
        let n = real.len();
        let mut sources = vec![n as u32; values.len()];
        for (k, &row) in (0u32..).zip(&real) {
            sources[row as usize] = k;
        }
        let mut segments = Vec::with_capacity(batch);
        let mut start = 0;
        for utterance in values.chunks(len.max(1)) {
            let steps = utterance.iter().filter(|m| **m > 0.5).count();
            segments.push(Segment { start, queries: steps, keys: steps });
            start += steps;
        }
        Ok(Self {
            segments,
            rows: Tensor::from_vec(real, n, mask.device())?,
            sources: Tensor::from_vec(sources, batch * len, mask.device())?,
            positions: Tensor::from_vec(positions, n, mask.device())?,
            batch,
            len,
        })
    }

    /// Number N of real steps.
    pub fn count(&self) -> usize {
        self.rows.elem_count()
    }

    pub fn positions(&self) -> &Tensor {
        &self.positions
    }

    /// The packed rows of each utterance, as attention segments (every step both query and key).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// `[B, L, k]` → `[N, k]`.
    pub fn pack(&self, xs: &Tensor) -> Result<Tensor> {
        let (_, _, k) = xs.dims3()?;
        xs.reshape((self.batch * self.len, k))?.index_select(&self.rows, 0)
    }

    /// `[N, k]` → `[B, L, k]`, zeros at padded steps.
    pub fn unpack(&self, tokens: &Tensor) -> Result<Tensor> {
        // A gather from the tokens plus one zero row: its backward is one scatter into [N + 1, k]
        // (an index_add into a zero [B·L, k] matrix would also accumulate a gradient for it).
        let (_, k) = tokens.dims2()?;
        let zero = Tensor::zeros((1, k), tokens.dtype(), tokens.device())?;
        Tensor::cat(&[tokens, &zero], 0)?.index_select(&self.sources, 0)?.reshape((self.batch, self.len, k))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn pack_keeps_real_steps_and_unpack_zeroes_padding() {
        let xs = Tensor::arange(0f32, 12.0, &Device::Cpu).unwrap().reshape((2, 3, 2)).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0, 0.0], [1.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let packing = Packing::from_mask(&mask).unwrap();
        assert_eq!(packing.count(), 3);
        assert_eq!(packing.positions().to_vec1::<u32>().unwrap(), vec![0, 1, 0]);
        let segments = [Segment { start: 0, queries: 2, keys: 2 }, Segment { start: 2, queries: 1, keys: 1 }];
        assert_eq!(packing.segments(), segments);
        let tokens = packing.pack(&xs).unwrap();
        assert_eq!(tokens.to_vec2::<f32>().unwrap(), vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![6.0, 7.0]]);
        let back = packing.unpack(&tokens).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(back, vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 6.0, 7.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
