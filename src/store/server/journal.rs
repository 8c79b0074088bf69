//! The local journal of a server store: edits made while the server cannot be reached, kept on
//! this machine until they are sent. One JSON line per edit, written and flushed to disk
//! (`fsync`) before the edit counts as saved. Each session appends to a file of its own, locked
//! while the session runs; a later session sends what an ended (or killed) one left. Sending is
//! a union by event uid, so an edit sent twice — the connection lost after the server committed
//! it, or a session killed before it emptied its file — is stored once.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::store::{Event, StoreError};

/// One journalled edit: the event as recorded here, and the uid of the edit it acts on (an
/// undo's target, say), whose number on the server is not known yet.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Entry {
    pub event: Event,
    pub target_uid: Option<String>,
}

/// This session's journal of one server store (a folder of its own on this machine).
pub(super) struct Journal {
    dir: PathBuf,
    /// This session's file, made at its first edit and locked while the session runs.
    own: Option<(PathBuf, File)>,
    /// Its edits not yet on the server.
    pending: Vec<Entry>,
}

/// A journal file an ended session left, locked while it is read and sent.
pub(super) struct LeftBehind {
    path: PathBuf,
    _lock: File,
    pub entries: Vec<Entry>,
}

impl LeftBehind {
    /// Removes the file once its edits are on the server.
    pub fn remove(self) -> Result<(), StoreError> {
        std::fs::remove_file(&self.path).map_err(|source| StoreError::Io { path: self.path.clone(), source })
    }
}

impl Journal {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, own: None, pending: Vec::new() }
    }

    /// This session's edits not yet on the server.
    pub fn pending(&self) -> &[Entry] {
        &self.pending
    }

    /// Appends an edit; it is on disk when this returns.
    pub fn append(&mut self, entry: Entry) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(&entry)
            .map_err(|e| StoreError::Invalid { path: self.dir.clone(), problem: format!("journal entry: {e}") })?;
        line.push(b'\n');
        let (path, file) = self.own_file()?;
        let io = |source| StoreError::Io { path: path.clone(), source };
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)?;
        self.pending.push(entry);
        Ok(())
    }

    /// This session's file, made (locked, and its folder entry on disk) when first needed.
    fn own_file(&mut self) -> Result<&mut (PathBuf, File), StoreError> {
        if self.own.is_none() {
            let io = |path: &Path| {
                let path = path.to_path_buf();
                move |source| StoreError::Io { path, source }
            };
            std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
            let path = self.dir.join(format!("{}.jsonl", crate::store::random_uid()));
            let file = std::fs::OpenOptions::new().append(true).create_new(true).open(&path).map_err(io(&path))?;
            file.try_lock().map_err(|e| StoreError::Io { path: path.clone(), source: e.into() })?;
            File::open(&self.dir).and_then(|dir| dir.sync_all()).map_err(io(&self.dir))?;
            self.own = Some((path, file));
        }
        self.own.as_mut().ok_or_else(|| StoreError::Invalid {
            path: self.dir.clone(),
            problem: "the journal file could not be made".to_owned(),
        })
    }

    /// This session's edits are on the server: its file is emptied.
    pub fn sent(&mut self) -> Result<(), StoreError> {
        if let Some((path, file)) = &self.own {
            let io = |source| StoreError::Io { path: path.clone(), source };
            file.set_len(0).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        self.pending.clear();
        Ok(())
    }

    /// The files of sessions that no longer run (whose lock is free), oldest first, with their
    /// edits; a file another running session holds is left to it.
    pub fn left_behind(&self) -> Result<Vec<LeftBehind>, StoreError> {
        let own = self.own.as_ref().map(|(path, _)| path.as_path());
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Io { path: self.dir.clone(), source }),
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && Some(p.as_path()) != own)
            .map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), p))
            .collect();
        files.sort();
        let mut left = Vec::new();
        for (_, path) in files {
            let io = |source| StoreError::Io { path: path.clone(), source };
            let lock = match File::options().read(true).write(true).open(&path) {
                Ok(file) => file,
                // Sent and removed by another session since the folder was read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(io(source)),
            };
            if lock.try_lock().is_err() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io)?;
            left.push(LeftBehind { entries: read_entries(&text, &path)?, path, _lock: lock });
        }
        Ok(left)
    }
}

/// The entries of a journal file. A last line without its newline was cut off by a crash
/// before its edit was saved, so it is not one.
fn read_entries(text: &str, path: &Path) -> Result<Vec<Entry>, StoreError> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| StoreError::Invalid {
                path: path.to_path_buf(),
                problem: format!("line {} is not a journalled edit ({e}); the file was left as it is", i + 1),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Va;
    use crate::modality::Modality;
    use crate::store::{EventKind, Judgment, Status};

    fn entry(uid: &str) -> Entry {
        let judgment =
            Judgment { va: Va::new(0.5, -0.25), status: Status::Corrected, unsure: true, reason: "x".into() };
        Entry {
            event: Event {
                id: -1,
                annotator: 3,
                time_utc: "2026-01-01T00:00:00.000Z".into(),
                utterance: "u1".into(),
                modality: Modality::Audio,
                kind: EventKind::FlagUnsure,
                old: None,
                new: Some(judgment),
                reason: String::new(),
                source_model: "m".into(),
                target: None,
                model: Some(Va::new(0.1, 0.2)),
                uid: uid.into(),
                origin: "o".into(),
            },
            target_uid: Some("t".into()),
        }
    }

    #[test]
    fn an_ended_sessions_edits_are_found_once_and_a_cut_off_line_is_not_an_edit() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Journal::new(dir.path().to_path_buf());
        first.append(entry("a")).unwrap();
        first.append(entry("b")).unwrap();
        let second = Journal::new(dir.path().to_path_buf());
        assert!(second.left_behind().unwrap().is_empty(), "a running session's file is its own");
        let path = first.own.as_ref().unwrap().0.clone();
        drop(first);
        // Killed in the middle of a third edit.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"event\":{\"id\"").unwrap();
        let left = second.left_behind().unwrap();
        assert_eq!(left.len(), 1);
        let uids: Vec<&str> = left[0].entries.iter().map(|e| e.event.uid.as_str()).collect();
        assert_eq!(uids, ["a", "b"]);
        assert_eq!(left[0].entries[0].event, entry("a").event);
        assert!(second.left_behind().unwrap().is_empty(), "locked while it is being sent");
        left.into_iter().for_each(|l| l.remove().unwrap());
        assert!(second.left_behind().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_line_is_reported_with_its_number() {
        let error = read_entries("{\"event\":1}\n", Path::new("j.jsonl")).unwrap_err().to_string();
        assert!(error.contains("j.jsonl") && error.contains("line 1"), "{error}");
    }
}
