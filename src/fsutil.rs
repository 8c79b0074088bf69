//! Atomic writes: user data is never left half-written (DESIGN.md §2).

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// crash leaves either the old file or the new one, never a truncated mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{} has no file name", path.display()))
    })?;
    let tmp = dir.join(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

/// Why `name` cannot name one folder inside another (a job, run or sweep name under the runs
/// folder), or `None` when it can: one path component, not absolute, not `.` or `..`, not
/// hidden (the runs folder keeps its own files under `.jobs/`).
pub fn folder_name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("is empty")
    } else if name.contains('/') || name.contains('\\') {
        Some("holds a path separator")
    } else if name == "." || name == ".." {
        Some("names a folder above or itself")
    } else if name.starts_with('.') {
        Some("starts with a dot (a hidden folder)")
    } else if name.chars().any(char::is_control) {
        Some("holds a control character")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::folder_name_problem;

    #[test]
    fn only_one_plain_path_component_names_a_folder() {
        for bad in ["", " ", "../../escape", "..", ".", "/tmp/x", "a/b", ".jobs", "a\\b", "a\nb"] {
            assert!(folder_name_problem(bad).is_some(), "{bad:?} was accepted");
        }
        for good in ["run-1", "delta=0.1", "my run", "é.v2"] {
            assert_eq!(folder_name_problem(good), None, "{good:?} was refused");
        }
    }
}
