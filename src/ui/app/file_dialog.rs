//! Native file dialogs that keep their titles. Through the desktop portal (rfd) where one runs;
//! where none does, rfd falls back to zenity but drops the title and the starting folder (every
//! dialog was titled "zenity"), so zenity is run here with both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What a dialog asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pick {
    Folder,
    File,
    Save,
}

/// A dialog being set up: `FileDialog::new("Open dataset folder").pick_folder()`.
#[derive(Clone, Debug)]
pub struct FileDialog {
    title: String,
    directory: Option<PathBuf>,
    file_name: Option<String>,
    /// (name, extensions without the dot)
    filters: Vec<(String, Vec<String>)>,
}

impl FileDialog {
    pub fn new(title: &str) -> Self {
        Self { title: title.to_owned(), directory: None, file_name: None, filters: Vec::new() }
    }

    /// The folder the dialog starts in.
    pub fn directory(mut self, directory: impl AsRef<Path>) -> Self {
        self.directory = Some(directory.as_ref().to_path_buf());
        self
    }

    /// The name a save dialog proposes.
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    pub fn filter(mut self, name: &str, extensions: &[&str]) -> Self {
        self.filters.push((name.to_owned(), extensions.iter().map(|&e| e.to_owned()).collect()));
        self
    }

    pub fn pick_folder(self) -> Option<PathBuf> {
        self.show(Pick::Folder)
    }

    pub fn pick_file(self) -> Option<PathBuf> {
        self.show(Pick::File)
    }

    pub fn save_file(self) -> Option<PathBuf> {
        self.show(Pick::Save)
    }

    fn show(self, pick: Pick) -> Option<PathBuf> {
        if !portal_runs() && zenity_installed() {
            return self.zenity(pick);
        }
        let mut dialog = rfd::FileDialog::new().set_title(&self.title);
        if let Some(directory) = &self.directory {
            dialog = dialog.set_directory(directory);
        }
        if let Some(name) = &self.file_name {
            dialog = dialog.set_file_name(name);
        }
        for (name, extensions) in &self.filters {
            dialog = dialog.add_filter(name, extensions);
        }
        match pick {
            Pick::Folder => dialog.pick_folder(),
            Pick::File => dialog.pick_file(),
            Pick::Save => dialog.save_file(),
        }
    }

    fn zenity(&self, pick: Pick) -> Option<PathBuf> {
        let output = Command::new("zenity").args(self.zenity_args(pick)).output();
        match output {
            Ok(output) if output.status.success() => {
                let chosen = String::from_utf8_lossy(&output.stdout).trim_end_matches('\n').to_owned();
                (!chosen.is_empty()).then(|| PathBuf::from(chosen))
            }
            // Cancelled (exit 1), or zenity could not show itself.
            Ok(_) => None,
            Err(error) => {
                tracing::warn!("could not run zenity for the file dialog: {error}");
                None
            }
        }
    }

    /// zenity's arguments for this dialog.
    fn zenity_args(&self, pick: Pick) -> Vec<String> {
        let mut args = vec!["--file-selection".to_owned(), format!("--title={}", self.title)];
        match pick {
            Pick::Folder => args.push("--directory".to_owned()),
            Pick::File => {}
            Pick::Save => args.extend(["--save".to_owned(), "--confirm-overwrite".to_owned()]),
        }
        // zenity starts in the folder of --filename; a trailing slash names the folder itself.
        let start = match (&self.directory, &self.file_name) {
            (Some(dir), Some(name)) => Some(dir.join(name).display().to_string()),
            (Some(dir), None) => Some(format!("{}/", dir.display().to_string().trim_end_matches('/'))),
            (None, Some(name)) => Some(name.clone()),
            (None, None) => None,
        };
        if let Some(start) = start {
            args.push(format!("--filename={start}"));
        }
        for (name, extensions) in &self.filters {
            let globs: Vec<String> = extensions.iter().map(|e| format!("*.{e}")).collect();
            args.push(format!("--file-filter={name} | {}", globs.join(" ")));
        }
        args
    }
}

/// Whether the session bus has a desktop portal (running or startable), asked once.
fn portal_runs() -> bool {
    static PORTAL: OnceLock<bool> = OnceLock::new();
    *PORTAL.get_or_init(|| {
        ["ListNames", "ListActivatableNames"].iter().any(|method| {
            Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    &format!("org.freedesktop.DBus.{method}"),
                ])
                .output()
                .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(PORTAL_NAME))
        })
    })
}

const PORTAL_NAME: &str = "org.freedesktop.portal.Desktop";

fn zenity_installed() -> bool {
    static ZENITY: OnceLock<bool> = OnceLock::new();
    *ZENITY.get_or_init(|| Command::new("zenity").arg("--version").output().is_ok_and(|o| o.status.success()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zenity_gets_the_title_start_folder_and_filters() {
        let folder = FileDialog::new("Open dataset folder").directory("/data/sets/").zenity_args(Pick::Folder);
        assert_eq!(
            folder,
            ["--file-selection", "--title=Open dataset folder", "--directory", "--filename=/data/sets/"]
        );
        let save = FileDialog::new("Save the case card")
            .directory("/tmp")
            .file_name("u1.md")
            .filter("Markdown", &["md"])
            .zenity_args(Pick::Save);
        assert_eq!(
            save,
            [
                "--file-selection",
                "--title=Save the case card",
                "--save",
                "--confirm-overwrite",
                "--filename=/tmp/u1.md",
                "--file-filter=Markdown | *.md"
            ]
        );
    }
}
