//! The native dataset loaders on arbitrary `manifest.toml` + `utterances.csv` text: the input is
//! split at its first NUL byte into the two files. Loading must return Ok or Err, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (manifest, table) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let dir = std::env::temp_dir().join(format!("univa-fuzz-dataset-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    if std::fs::write(dir.join("manifest.toml"), manifest).is_ok()
        && std::fs::write(dir.join("utterances.csv"), table).is_ok()
    {
        let _ = univa::dataset::Dataset::open(&dir);
    }
});
