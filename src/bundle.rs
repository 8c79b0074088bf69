//! Where the files that ship with the app (the demo dataset, `models/`) are found: beside the
//! executable (an installed bundle), in the working directory, or in the source tree it was
//! built from — so a binary copied elsewhere still finds its models.

use std::path::{Path, PathBuf};

/// The first root holding `relative`.
pub fn find(relative: &str) -> Option<PathBuf> {
    roots().map(|root| root.join(relative)).find(|path| path.exists())
}

/// `relative` under the first root holding it, else under the source tree (so an error names
/// where it was expected).
pub fn path(relative: &str) -> PathBuf {
    find(relative).unwrap_or_else(|| source_tree().join(relative))
}

fn roots() -> impl Iterator<Item = PathBuf> {
    let beside_exe = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
    [beside_exe, Some(PathBuf::from(".")), Some(source_tree())].into_iter().flatten()
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
}
