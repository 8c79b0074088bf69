//! The restricted unpickler on arbitrary bytes: it must return Ok or Err, never panic, hang or
//! allocate more than the input justifies; every array it accepts must be readable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use univa::import::pickle::{self, PersistentIds, Unpickled, Value};

fn walk(p: &Unpickled<'_>, value: Value, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(array) = p.as_array(value) {
        let _ = p.for_each(array, &|_| None, |_| {});
    }
    if let Some(items) = p.as_items(value) {
        for &item in items {
            walk(p, item, depth + 1);
        }
    }
    if let Some(pairs) = p.as_pairs(value) {
        for &(key, item) in pairs {
            walk(p, key, depth + 1);
            walk(p, item, depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for ids in [PersistentIds::Refuse, PersistentIds::TorchStorages] {
        if let Ok((p, _)) = pickle::load(data, ids) {
            walk(&p, p.root(), 0);
        }
    }
});
