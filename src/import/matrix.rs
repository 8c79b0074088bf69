//! Dense numeric blocks out of unpickled values: an array or tensor, a list of equally shaped
//! arrays (how CARAT stores frames), or nested lists of numbers (how VA values are often kept).

use super::pickle::{PickleError, Unpickled, Value};

/// Values in C order with their shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Dense {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Dense {
    /// Size of axis `i`, 0 if the block has fewer axes.
    pub fn dim(&self, i: usize) -> usize {
        self.shape.get(i).copied().unwrap_or(0)
    }

    /// Replaces NaN and ±inf with 0 and returns how many there were.
    pub fn zero_non_finite(&mut self) -> usize {
        let mut count = 0;
        for x in &mut self.values {
            if !x.is_finite() {
                *x = 0.0;
                count += 1;
            }
        }
        count
    }
}

/// Nested lists deeper than this are not numeric blocks (and cycles end here).
const MAX_DEPTH: usize = 4;

/// Reads `value` as a dense block; the error says what was found instead.
///
/// `limit` caps the number of values: the memo lets a few bytes repeat a list many times
/// (nested four deep, a kilobyte would expand to 10¹² numbers), so callers pass what the input
/// can honestly hold (its size in bytes: every pickled number or array element takes at least one).
pub(super) fn dense<'a>(
    p: &Unpickled<'a>,
    value: Value,
    storages: &dyn Fn(&str) -> Option<&'a [u8]>,
    limit: usize,
) -> Result<Dense, String> {
    let mut out = Dense::default();
    collect(p, value, storages, 0, limit, &mut out)?;
    Ok(out)
}

fn collect<'a>(
    p: &Unpickled<'a>,
    value: Value,
    storages: &dyn Fn(&str) -> Option<&'a [u8]>,
    depth: usize,
    limit: usize,
    out: &mut Dense,
) -> Result<(), String> {
    let too_many =
        || format!("holds more values than the file's {limit} bytes can (a pickle that repeats shared lists?)");
    let record_shape = |out: &mut Dense, shape: &[usize]| -> Result<(), String> {
        // The first item at a depth fixes the shape below it; later items must match.
        let below = &out.shape.get(depth..).unwrap_or(&[]);
        if out.shape.len() <= depth {
            out.shape.extend_from_slice(shape);
            Ok(())
        } else if *below == shape {
            Ok(())
        } else {
            Err(format!("items have different shapes ({below:?} and {shape:?})"))
        }
    };
    if let Some(array) = p.as_array(value) {
        if out.values.len().saturating_add(array.len()) > limit {
            return Err(too_many());
        }
        record_shape(out, &array.shape)?;
        out.values.reserve(array.len());
        let values = &mut out.values;
        return p.for_each(array, storages, |x| values.push(x as f32)).map_err(|e: PickleError| e.to_string());
    }
    match value {
        Value::Int(i) => {
            record_shape(out, &[])?;
            out.values.push(i as f32);
            return Ok(());
        }
        Value::Float(x) => {
            record_shape(out, &[])?;
            out.values.push(x as f32);
            return Ok(());
        }
        Value::Bool(b) => {
            record_shape(out, &[])?;
            out.values.push(f32::from(u8::from(b)));
            return Ok(());
        }
        _ => {}
    }
    let Some(items) = p.as_items(value) else {
        return Err(format!("found {}, expected numbers, arrays or lists of them", p.describe(value)));
    };
    if depth >= MAX_DEPTH {
        return Err(format!("lists nested deeper than {MAX_DEPTH} levels are not a numeric block"));
    }
    if out.shape.len() <= depth {
        out.shape.push(items.len());
    } else if out.shape[depth] != items.len() {
        return Err(format!("lists of different lengths ({} and {})", out.shape[depth], items.len()));
    }
    for &item in items {
        if out.values.len() >= limit {
            return Err(too_many());
        }
        collect(p, item, storages, depth + 1, limit, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::pickle::{PersistentIds, load};

    /// `[[[[1] * k] * k] * k] * k` through the memo: 2 kB of pickle, k⁴ numbers if expanded.
    fn shared_list_bomb(k: usize) -> Vec<u8> {
        let mut bytes = b"\x80\x02]q\x00(".to_vec();
        bytes.extend(std::iter::repeat_n(*b"K\x01", k).flatten());
        bytes.push(b'e');
        for level in 0u8..3 {
            bytes.extend([b']', b'q', level + 1, b'(']);
            bytes.extend(std::iter::repeat_n([b'h', level], k).flatten());
            bytes.push(b'e');
        }
        bytes.push(b'.');
        bytes
    }

    #[test]
    fn shared_lists_cannot_expand_past_the_input() {
        let bytes = shared_list_bomb(200);
        let (p, _) = load(&bytes, PersistentIds::Refuse).unwrap();
        let started = std::time::Instant::now();
        let err = dense(&p, p.root(), &|_| None, bytes.len()).unwrap_err();
        assert!(err.contains("more values than"), "{err}");
        assert!(started.elapsed().as_secs() < 1);
    }

    #[test]
    fn nested_lists_and_arrays_become_blocks() {
        let bytes = shared_list_bomb(3);
        let (p, _) = load(&bytes, PersistentIds::Refuse).unwrap();
        let block = dense(&p, p.root(), &|_| None, 1000).unwrap();
        assert_eq!(block.shape, [3, 3, 3, 3]);
        assert!(block.values.iter().all(|&x| x == 1.0));
    }
}
