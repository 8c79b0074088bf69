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
pub(super) fn dense<'a>(
    p: &Unpickled<'a>,
    value: Value,
    storages: &dyn Fn(&str) -> Option<&'a [u8]>,
) -> Result<Dense, String> {
    let mut out = Dense::default();
    collect(p, value, storages, 0, &mut out)?;
    Ok(out)
}

fn collect<'a>(
    p: &Unpickled<'a>,
    value: Value,
    storages: &dyn Fn(&str) -> Option<&'a [u8]>,
    depth: usize,
    out: &mut Dense,
) -> Result<(), String> {
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
        collect(p, item, storages, depth + 1, out)?;
    }
    Ok(())
}
