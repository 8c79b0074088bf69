//! Packing the real steps of a padded batch into one `[N, ·]` matrix.
//!
//! Every operation of an encoder runs on the N real steps only: per-step ones (projections,
//! feed-forward blocks, LayerNorms) row by row, attention and pooling within each utterance's
//! run of rows (its [`Segment`]). Padded steps never reach a real one in the reference either:
//! as keys they get a −10000 bias, whose weight after the softmax is exactly 0 in f32, and the
//! pooling gives them weight 0, so skipping them changes no output. (An utterance without any
//! real step pools to zeros.)

use candle_core::{DType, Result, Tensor};

use super::kernels::attention::Segment;

#[derive(Clone, Debug)]
pub struct Packing {
    /// Row of each real step in the flattened `[B·L]` batch, in order (u32, `[N]`).
    rows: Tensor,
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
            positions: Tensor::from_vec(positions, n, mask.device())?,
            batch,
            len,
        })
    }

    /// Steps L per utterance, padding included.
    pub fn steps(&self) -> usize {
        self.len
    }

    pub fn positions(&self) -> &Tensor {
        &self.positions
    }

    /// The packed rows of each utterance, as attention segments (every step both query and key).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// One value per packed row (`[N]`) back onto each utterance's steps, `[B][L]`, 0 on padding.
    pub fn unpack_steps(&self, values: &[f32]) -> Result<Vec<Vec<f32>>> {
        let positions = self.positions.to_vec1::<u32>()?;
        if values.len() != positions.len() {
            candle_core::bail!("packing: {} values for {} packed steps", values.len(), positions.len())
        }
        let mut out = vec![vec![0.0f32; self.len]; self.batch];
        for (row, segment) in out.iter_mut().zip(&self.segments) {
            for r in segment.start..segment.start + segment.queries {
                row[positions[r] as usize] = values[r];
            }
        }
        Ok(out)
    }

    /// `[B, L, k]` → `[N, k]`.
    pub fn pack(&self, xs: &Tensor) -> Result<Tensor> {
        let (_, _, k) = xs.dims3()?;
        xs.reshape((self.batch * self.len, k))?.index_select(&self.rows, 0)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn pack_keeps_the_real_steps_in_utterance_runs() {
        let xs = Tensor::arange(0f32, 12.0, &Device::Cpu).unwrap().reshape((2, 3, 2)).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0, 0.0], [1.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let packing = Packing::from_mask(&mask).unwrap();
        assert_eq!(packing.steps(), 3);
        assert_eq!(packing.positions().to_vec1::<u32>().unwrap(), vec![0, 1, 0]);
        let segments = [Segment { start: 0, queries: 2, keys: 2 }, Segment { start: 2, queries: 1, keys: 1 }];
        assert_eq!(packing.segments(), segments);
        let tokens = packing.pack(&xs).unwrap();
        assert_eq!(tokens.to_vec2::<f32>().unwrap(), vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![6.0, 7.0]]);
        assert_eq!(packing.unpack_steps(&[0.25, 0.75, 1.0]).unwrap(), vec![vec![0.25, 0.75, 0.0], vec![1.0, 0.0, 0.0]]);
    }
}
