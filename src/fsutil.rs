//! Atomic writes: user data is never left half-written (DESIGN.md §2).

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// crash leaves either the old file or the new one, never a truncated mix. A path that names
/// something other than a file (`/dev/stdout`, a pipe) is written into, not replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new().write(true).open(path)?.write_all(bytes);
    }
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

/// Whether process `pid` runs on this machine: it exists and is not a zombie (killed, not yet
/// reaped). Read from `/proc`; where there is none, every process counts as gone.
pub fn process_runs(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")) else {
        return false;
    };
    // `pid (comm) S …`: the state follows the last `)`, since the command may hold one.
    stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
}

/// Removes the temporary files [`write_atomic`] left in `dir` when its process was killed
/// mid-write (`.<name>.tmp-<pid>` of a process that no longer runs); returns what it removed.
/// A file of a process that still runs is left to it.
pub fn remove_stale_temp_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let pid = name
            .strip_prefix('.')
            .and_then(|rest| rest.rsplit_once(".tmp-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !process_runs(pid)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed
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
    use super::{folder_name_problem, write_atomic};

    #[test]
    fn a_device_is_written_into_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let null = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &null).unwrap();
        write_atomic(&null, b"gone").unwrap();
        assert_eq!(std::fs::read_link(&null).unwrap(), std::path::Path::new("/dev/null"), "the link was replaced");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "a temporary file was left");
    }

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
