//! Where a store is: a file ([`StoreLocation`] finds a dataset's) or a server
//! ([`StoreAddress`] tells the two apart in what the user typed).

use std::path::{Path, PathBuf};

use super::{STORE_FILE, ServerAddress, StoreError};

/// A store's address as the user gives it (`--store`, the Audit pane): a file, or a
/// PostgreSQL connection string (`postgres://…` or `postgresql://…`). Shown (and kept in
/// settings) without a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreAddress {
    File(PathBuf),
    Server(ServerAddress),
}

impl std::str::FromStr for StoreAddress {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        if ServerAddress::is_server(text) {
            Ok(Self::Server(text.parse()?))
        } else {
            Ok(Self::File(PathBuf::from(text)))
        }
    }
}

impl std::fmt::Display for StoreAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Server(server) => server.fmt(f),
        }
    }
}

/// Where a dataset's store lives and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreLocation {
    pub path: PathBuf,
    /// The dataset folder cannot be written, so the store is in the user's data folder.
    pub fallback: bool,
    /// The store exists where it cannot be written (a dataset on a read-only share with its
    /// audits beside it): it is read, not written.
    pub read_only: bool,
}

impl StoreLocation {
    /// The store of the dataset at `dataset_root`: `explicit` if given, else beside the dataset,
    /// else (folder not writable) in the user's data folder.
    pub fn resolve(dataset_root: &Path, explicit: Option<&Path>) -> Result<Self, StoreError> {
        let data_dir =
            directories::ProjectDirs::from("org", "UniVA", "UniVA Studio").map(|d| d.data_dir().to_path_buf());
        Self::resolve_with(dataset_root, explicit, data_dir.as_deref(), is_writable_dir)
    }

    /// [`Self::resolve`] with the fallback folder and the writability check given (for tests,
    /// which may run as a user who can write anywhere).
    pub fn resolve_with(
        dataset_root: &Path,
        explicit: Option<&Path>,
        data_dir: Option<&Path>,
        writable: impl Fn(&Path) -> bool,
    ) -> Result<Self, StoreError> {
        if let Some(path) = explicit {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let read_only = path.is_file() && !writable(folder);
            return Ok(Self { path: path.to_path_buf(), fallback: false, read_only });
        }
        let beside = dataset_root.join(STORE_FILE);
        if writable(dataset_root) {
            return Ok(Self { path: beside, fallback: false, read_only: false });
        }
        // The audits that came with a dataset on a read-only share are its store.
        if beside.is_file() {
            return Ok(Self { path: beside, fallback: false, read_only: true });
        }
        Self::in_data_dir(dataset_root, data_dir)
    }

    /// Where the dataset's store goes in the user's data folder: when its own folder is
    /// read-only, and for a copy of a read-only store to go on editing in.
    pub fn in_user_data(dataset_root: &Path) -> Result<Self, StoreError> {
        let data_dir =
            directories::ProjectDirs::from("org", "UniVA", "UniVA Studio").map(|d| d.data_dir().to_path_buf());
        Self::in_data_dir(dataset_root, data_dir.as_deref())
    }

    fn in_data_dir(dataset_root: &Path, data_dir: Option<&Path>) -> Result<Self, StoreError> {
        let Some(data_dir) = data_dir else {
            return Err(StoreError::Invalid {
                path: dataset_root.to_path_buf(),
                problem: "the dataset folder is read-only and there is no user data folder; pick a store file"
                    .to_owned(),
            });
        };
        // One store per dataset folder: named after the folder and a hash of its full path.
        let absolute = std::fs::canonicalize(dataset_root).unwrap_or_else(|_| dataset_root.to_path_buf());
        let digest = <sha2::Sha256 as sha2::Digest>::digest(absolute.to_string_lossy().as_bytes());
        let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let name = absolute.file_name().map_or_else(|| "dataset".to_owned(), |n| n.to_string_lossy().into_owned());
        Ok(Self {
            path: data_dir.join("stores").join(format!("{name}-{hash}.sqlite")),
            fallback: true,
            read_only: false,
        })
    }
}

/// Whether a file can be created in `dir` (tried, not guessed from permission bits).
pub fn is_writable_dir(dir: &Path) -> bool {
    let probe = dir.join(format!(".univa-write-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => std::fs::remove_file(&probe).is_ok(),
        Err(_) => false,
    }
}
