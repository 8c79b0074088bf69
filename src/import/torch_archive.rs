//! Files written by `torch.save`, read without Python: the zip archive of torch ≥ 1.6
//! (`<name>/data.pkl` plus one `<name>/data/<key>` entry per storage) and the older format
//! (a run of pickles followed by the raw storages). Both pickles go through the restricted
//! unpickler, so loading one never executes code.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

use super::ImportError;
use super::pickle::{self, Object, PersistentIds, Unpickled};

/// The pickle of a `torch.save` file and the bytes of its storages.
#[derive(Debug)]
pub struct TorchArchive {
    /// The object pickle (the legacy format keeps the whole file and an offset).
    pickle: Vec<u8>,
    pickle_start: usize,
    storages: HashMap<String, Vec<u8>>,
}

/// `0x1950a86a20f9469cfc6c`, the first pickle of a legacy `torch.save` file.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

impl TorchArchive {
    pub fn read(path: &Path) -> Result<Self, ImportError> {
        let mut file = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
        let mut magic = [0u8; 4];
        let starts_as_zip = file.read_exact(&mut magic).is_ok() && magic == *b"PK\x03\x04";
        if starts_as_zip {
            Self::read_zip(path)
        } else {
            let bytes = std::fs::read(path).map_err(|e| ImportError::io(path, e))?;
            Self::read_legacy(path, bytes)
        }
    }

    /// Unpickles the object pickle, tensors resolved lazily through [`Self::storage`].
    pub fn unpickle(&self) -> Result<Unpickled<'_>, pickle::PickleError> {
        pickle::load(&self.pickle[self.pickle_start..], PersistentIds::TorchStorages).map(|(p, _)| p)
    }

    /// Bytes of the pickle and all storages: what the file can honestly expand to.
    pub fn len(&self) -> usize {
        self.pickle.len() - self.pickle_start + self.storages.values().map(Vec::len).sum::<usize>()
    }

    pub fn storage(&self, key: &str) -> Option<&[u8]> {
        self.storages.get(key).map(Vec::as_slice)
    }

    fn read_zip(path: &Path) -> Result<Self, ImportError> {
        let bad = |problem: String| ImportError::invalid(path, None, problem);
        let file = std::fs::File::open(path).map_err(|e| ImportError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| ImportError::io(path, e))?.len();
        let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|e| bad(format!("not a readable torch.save archive: {e}")))?;
        let names: Vec<String> = archive.file_names().filter_map(Result::ok).map(|n| n.into_owned()).collect();
        let Some(pickle_name) = names.iter().find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1) else {
            return Err(bad("is a zip file but not a torch.save archive (no <name>/data.pkl entry)".to_owned()));
        };
        let prefix = pickle_name.trim_end_matches("data.pkl").to_owned();
        let mut read_entry = |name: &str| -> Result<Vec<u8>, ImportError> {
            let mut entry = archive.by_name(name).map_err(|e| bad(format!("entry {name:?}: {e}")))?;
            if entry.size() > file_len {
                return Err(bad(format!("entry {name:?} claims {} bytes, more than the whole file", entry.size())));
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes).map_err(|e| bad(format!("entry {name:?}: {e}")))?;
            Ok(bytes)
        };
        let pickle = read_entry(pickle_name)?;
        let mut storages = HashMap::new();
        let data_prefix = format!("{prefix}data/");
        for name in &names {
            if let Some(key) = name.strip_prefix(&data_prefix)
                && !key.is_empty()
                && !key.contains('/')
            {
                storages.insert(key.to_owned(), read_entry(name)?);
            }
        }
        Ok(Self { pickle, pickle_start: 0, storages })
    }

    fn read_legacy(path: &Path, bytes: Vec<u8>) -> Result<Self, ImportError> {
        let at = |offset: usize, e: pickle::PickleError| ImportError::pickle(path, offset, e);
        let bad = |problem: &str| ImportError::invalid(path, None, problem.to_owned());
        // magic number, protocol version, system info, then the object pickle.
        let mut pos = 0;
        {
            let (magic, used) = pickle::load(&bytes, PersistentIds::Refuse).map_err(|e| at(0, e))?;
            let is_magic =
                matches!(magic.object(magic.root()), Some(Object::BigInt(b)) if b.as_slice() == LEGACY_MAGIC);
            if !is_magic {
                return Err(bad("is neither a torch.save zip archive nor a legacy torch.save file"));
            }
            pos += used;
        }
        for _ in 0..2 {
            let (_, used) = pickle::load(&bytes[pos..], PersistentIds::Refuse).map_err(|e| at(pos, e))?;
            pos += used;
        }
        let pickle_start = pos;
        let (storage_sizes, used) = {
            let (object, used) = pickle::load(&bytes[pos..], PersistentIds::TorchStorages).map_err(|e| at(pos, e))?;
            let sizes: HashMap<String, usize> = object.storages().map(|s| (s.key.clone(), s.element.size())).collect();
            (sizes, used)
        };
        pos += used;
        let (keys, used) = pickle::load(&bytes[pos..], PersistentIds::Refuse).map_err(|e| at(pos, e))?;
        pos += used;
        let Some(key_values) = keys.as_items(keys.root()) else {
            return Err(bad("legacy torch.save file: the storage key list is missing"));
        };
        let keys: Vec<String> = key_values.iter().filter_map(|&k| keys.as_str(k).map(str::to_owned)).collect();
        let mut storages = HashMap::new();
        for key in keys {
            let Some(&element_size) = storage_sizes.get(&key) else {
                return Err(bad(&format!("legacy torch.save file lists storage {key:?} that no tensor uses")));
            };
            let Some(count) = bytes.get(pos..pos + 8) else {
                return Err(bad("legacy torch.save file ends inside a storage header"));
            };
            let mut count_bytes = [0u8; 8];
            count_bytes.copy_from_slice(count);
            let count = u64::from_le_bytes(count_bytes);
            let len = usize::try_from(count).ok().and_then(|c| c.checked_mul(element_size));
            let Some(data) = len.and_then(|len| bytes.get(pos + 8..(pos + 8).checked_add(len)?)) else {
                return Err(bad(&format!("legacy torch.save file ends inside storage {key:?}")));
            };
            storages.insert(key, data.to_vec());
            pos += 8 + data.len();
        }
        Ok(Self { pickle: bytes, pickle_start, storages })
    }
}
