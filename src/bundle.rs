//! Where the files that ship with the app (the demo dataset, `models/`) are found: beside the
//! executable (a bundle unpacked anywhere), in the working directory, in the system data
//! folder a package installs (`/usr/share/univa-studio`), or in the source tree it was built
//! from — so a binary copied elsewhere still finds its models. Fetched third-party base models
//! live in the user's cache ([`models`]).

pub mod models;

use std::path::{Path, PathBuf};

/// Where the .deb installs the shipped files (`packaging/`, `[package.metadata.deb]`).
pub const SYSTEM_ROOT: &str = "/usr/share/univa-studio";

/// The first root holding `relative`.
pub fn find(relative: &str) -> Option<PathBuf> {
    find_in(roots(), relative)
}

/// `relative` under the first of `roots` holding it.
pub fn find_in(roots: impl IntoIterator<Item = PathBuf>, relative: &str) -> Option<PathBuf> {
    roots.into_iter().map(|root| root.join(relative)).find(|path| path.exists())
}

/// `relative` under the first root holding it, else under the source tree (so an error names
/// where it was expected).
pub fn path(relative: &str) -> PathBuf {
    find(relative).unwrap_or_else(|| source_tree().join(relative))
}

/// The lookup order, first match wins.
pub fn roots() -> impl Iterator<Item = PathBuf> {
    let beside_exe = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
    [beside_exe, Some(PathBuf::from(".")), Some(PathBuf::from(SYSTEM_ROOT)), Some(source_tree())].into_iter().flatten()
}

fn source_tree() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_files_are_found_and_missing_ones_named_in_the_source_tree() {
        let model = find("models/text-va/config.json").expect("the shipped text model");
        assert!(model.is_file());
        assert_eq!(find("models/no-such-model"), None);
        assert_eq!(path("models/no-such-model"), source_tree().join("models/no-such-model"));
    }

    #[test]
    fn the_system_folder_comes_after_the_executable_and_before_the_source_tree() {
        let roots: Vec<PathBuf> = roots().collect();
        let at = |p: &Path| roots.iter().position(|r| r == p).expect("a root");
        assert!(at(Path::new(SYSTEM_ROOT)) > at(Path::new(".")));
        assert!(at(Path::new(SYSTEM_ROOT)) < at(&source_tree()));
        assert_eq!(at(std::env::current_exe().unwrap().parent().unwrap()), 0);
    }

    #[test]
    fn the_first_root_holding_a_file_wins() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir.path().join("models/demo")).unwrap();
        }
        std::fs::create_dir_all(b.path().join("assets/demo")).unwrap();
        let roots = || [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(find_in(roots(), "models/demo"), Some(a.path().join("models/demo")));
        assert_eq!(find_in(roots(), "assets/demo"), Some(b.path().join("assets/demo")));
        assert_eq!(find_in(roots(), "models/none"), None);
    }
}
