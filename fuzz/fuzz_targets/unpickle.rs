//! The restricted unpickler on arbitrary bytes: it must return Ok or Err, never panic, hang or
//! allocate more than the input justifies; every array it accepts must be readable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

use univa::import::pickle::{self, ObjId, PersistentIds, Unpickled, Value};

/// Visits each object once (pickles may hold cycles and shared references).
fn walk(p: &Unpickled<'_>, value: Value, seen: &mut HashSet<ObjId>) {
    let Value::Obj(id) = value else { return };
    if !seen.insert(id) {
        return;
    }
    if let Some(array) = p.as_array(value) {
        let _ = p.for_each(array, &|_| None, |_| {});
    }
    for &item in p.as_items(value).unwrap_or(&[]) {
        walk(p, item, seen);
    }
    for &(key, item) in p.as_pairs(value).unwrap_or(&[]) {
        walk(p, key, seen);
        walk(p, item, seen);
    }
}

fuzz_target!(|data: &[u8]| {
    for ids in [PersistentIds::Refuse, PersistentIds::TorchStorages] {
        if let Ok((p, _)) = pickle::load(data, ids) {
            walk(&p, p.root(), &mut HashSet::new());
        }
    }
});
