//! Where a job runs: this machine, a host reached over SSH, or a Slurm cluster (here, or through
//! a login node over SSH). The system `ssh`, `rsync` and Slurm commands do the work as child
//! processes, always with `BatchMode=yes`: keys or an agent, never a password prompt, and nothing
//! secret is stored.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::shell::{quote, shell_path};

/// A host reached over SSH.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHost {
    pub user: String,
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// `ssh -i`; none: the agent or the user's default keys.
    #[serde(default)]
    pub identity: Option<PathBuf>,
    /// `ssh -F`: an ssh config file (host aliases, known hosts, jump hosts); none: the user's.
    #[serde(default)]
    pub ssh_config: Option<PathBuf>,
    /// The `univa` executable there (a path, or a name on its `PATH`).
    #[serde(default = "default_univa")]
    pub univa: String,
    /// The folder there that holds copied datasets and run folders (relative: to the home folder).
    #[serde(default = "default_work_dir")]
    pub work_dir: String,
    /// A dataset folder that already exists there; none: the local dataset is copied (rsync,
    /// only what changed).
    #[serde(default)]
    pub dataset: Option<String>,
}

fn default_univa() -> String {
    "univa".to_owned()
}

fn default_work_dir() -> String {
    "univa-jobs".to_owned()
}

/// What a Slurm job asks for, and how the cluster is reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlurmTarget {
    /// The login node, when the Slurm commands are not on this machine.
    #[serde(default)]
    pub login: Option<SshHost>,
    /// `--partition`; empty: the cluster's default.
    #[serde(default)]
    pub partition: String,
    /// `--gres=gpu:N`; 0: none.
    #[serde(default)]
    pub gpus: u32,
    /// `--time`, e.g. `02:00:00`; empty: the partition's limit.
    #[serde(default)]
    pub time: String,
    /// `--mem`, e.g. `16G`; empty: the cluster's default.
    #[serde(default)]
    pub mem: String,
    /// `--account`; empty: the user's default.
    #[serde(default)]
    pub account: String,
    /// `--cpus-per-task`; 0: the cluster's default.
    #[serde(default)]
    pub cpus: u32,
    /// `SLURM_CONF` for the Slurm commands; empty: the cluster's default configuration.
    #[serde(default)]
    pub slurm_conf: String,
    /// The `univa` executable on the compute nodes (locally: empty means this executable).
    #[serde(default)]
    pub univa: String,
}

impl Default for SlurmTarget {
    fn default() -> Self {
        Self {
            login: None,
            partition: String::new(),
            gpus: 0,
            time: "01:00:00".to_owned(),
            mem: String::new(),
            account: String::new(),
            cpus: 0,
            slurm_conf: String::new(),
            univa: String::new(),
        }
    }
}

/// Where a job trains.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A child process on this machine.
    #[default]
    Local,
    Ssh(SshHost),
    Slurm(SlurmTarget),
}

/// Why a target could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target {0:?}: expected local, ssh://user@host[:port], slurm or slurm+ssh://user@host[:port]")]
    Scheme(String),
    #[error("target {0:?}: write the host as user@host or user@host:port")]
    Host(String),
    #[error("target {text:?}: the port {port:?} is not a number from 1 to 65535")]
    Port { text: String, port: String },
}

impl SshHost {
    /// Reads `user@host[:port]` (the user may be left out: then the local user's name).
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let text = text.trim();
        let (user, rest) = match text.split_once('@') {
            Some((user, rest)) => (user.to_owned(), rest),
            None => (std::env::var("USER").unwrap_or_default(), text),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| TargetError::Port { text: text.to_owned(), port: port.to_owned() })?;
                (host, Some(port))
            }
            None => (rest, None),
        };
        let valid = |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || "/@'\"".contains(c));
        if !valid(host) || !(user.is_empty() || valid(&user)) {
            return Err(TargetError::Host(text.to_owned()));
        }
        Ok(Self {
            user,
            host: host.to_owned(),
            port,
            identity: None,
            ssh_config: None,
            univa: default_univa(),
            work_dir: default_work_dir(),
            dataset: None,
        })
    }

    /// `user@host[:port]`.
    pub fn address(&self) -> String {
        let at = if self.user.is_empty() { String::new() } else { format!("{}@", self.user) };
        match self.port {
            Some(port) => format!("{at}{}:{port}", self.host),
            None => format!("{at}{}", self.host),
        }
    }

    /// `user@host` as ssh and rsync take it.
    fn destination(&self) -> String {
        if self.user.is_empty() { self.host.clone() } else { format!("{}@{}", self.user, self.host) }
    }

    /// The options every ssh call gets (before the destination). The calls of a job (copies,
    /// the session, the stop file, Slurm's polling through a login node) share one connection
    /// to the host, kept open for a minute after the last (OpenSSH connection sharing).
    fn options(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> =
            vec!["-o".into(), "BatchMode=yes".into(), "-o".into(), "ConnectTimeout=15".into()];
        if let Some(dir) = control_dir() {
            args.extend(["-o".into(), "ControlMaster=auto".into(), "-o".into()]);
            let mut path = OsString::from("ControlPath=");
            path.push(dir.join("%C"));
            args.push(path);
            args.extend(["-o".into(), "ControlPersist=60".into()]);
        }
        if let Some(config) = &self.ssh_config {
            args.push("-F".into());
            args.push(config.into());
        }
        if let Some(port) = self.port {
            args.push("-p".into());
            args.push(port.to_string().into());
        }
        if let Some(identity) = &self.identity {
            args.push("-i".into());
            args.push(identity.into());
            args.push("-o".into());
            args.push("IdentitiesOnly=yes".into());
        }
        args
    }

    /// `ssh … user@host -- sh -c 'remote_command'`: the command is a POSIX shell script, whatever
    /// the user's login shell there is.
    pub fn command(&self, remote_command: &str) -> Command {
        let mut command = Command::new("ssh");
        command.args(self.options()).arg(self.destination()).args(["--", "sh", "-c"]).arg(quote(remote_command));
        command
    }

    /// rsync's `-e`: ssh with the same options, as one string that rsync splits like a shell.
    fn rsync_shell(&self) -> String {
        let words: Vec<String> = std::iter::once("ssh".to_owned())
            .chain(self.options().iter().map(|o| quote(&o.to_string_lossy())))
            .collect();
        words.join(" ")
    }

    /// `rsync -a` from this machine to `remote` there (a folder's contents when `local` ends in
    /// `/`), making the folder `make` there first. Only what changed travels; `excludes` are
    /// names not to copy.
    pub fn upload(&self, local: &Path, make: &str, remote: &str, excludes: &[&str]) -> Command {
        let mut command = self.rsync(excludes);
        // Any rsync version: the remote rsync is started by a shell that makes the folder first.
        command.arg(format!("--rsync-path=mkdir -p {} && rsync", shell_path(make)));
        command.arg(local).arg(format!("{}:{remote}", self.destination()));
        command
    }

    /// `rsync -a` from `remote` there to `local` here.
    pub fn download(&self, remote: &str, local: &Path, excludes: &[&str]) -> Command {
        let mut command = self.rsync(excludes);
        command.arg(format!("{}:{remote}", self.destination())).arg(local);
        command
    }

    fn rsync(&self, excludes: &[&str]) -> Command {
        let mut command = Command::new("rsync");
        command.args(["-a", "--partial"]).arg("-e").arg(self.rsync_shell());
        for exclude in excludes {
            command.arg(format!("--exclude={exclude}"));
        }
        command
    }

    /// The work folder as a path the remote shell takes (`~/x` and `x` are both under home).
    pub fn work_dir(&self) -> String {
        let dir = self.work_dir.trim().trim_end_matches('/');
        let dir = dir.strip_prefix("~/").unwrap_or(dir);
        if dir.is_empty() || dir == "~" { ".".to_owned() } else { dir.to_owned() }
    }
}

/// The folder of the shared connections' sockets, private to this user (`None`: connections
/// are not shared). Short, since a socket's path has a length limit of about 100 bytes.
fn control_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "user".to_owned());
    let dir = std::env::temp_dir().join(format!("univa-ssh-{user}"));
    if !dir.is_dir() {
        std::fs::DirBuilder::new().mode(0o700).create(&dir).ok()?;
    }
    // Only a folder of ours (the owner of /proc/self is this process's user) that nobody else
    // can reach holds the sockets.
    let metadata = std::fs::symlink_metadata(&dir).ok()?;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let ours = metadata.is_dir() && metadata.uid() == uid && metadata.permissions().mode() & 0o077 == 0;
    ours.then_some(dir)
}

impl Target {
    /// Reads `local`, `ssh://user@host[:port]`, `slurm` or `slurm+ssh://user@host[:port]`.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let text = text.trim();
        if text == "local" {
            return Ok(Self::Local);
        }
        if text == "slurm" {
            return Ok(Self::Slurm(SlurmTarget::default()));
        }
        if let Some(host) = text.strip_prefix("slurm+ssh://") {
            return Ok(Self::Slurm(SlurmTarget { login: Some(SshHost::parse(host)?), ..SlurmTarget::default() }));
        }
        if let Some(host) = text.strip_prefix("ssh://") {
            return Ok(Self::Ssh(SshHost::parse(host)?));
        }
        Err(TargetError::Scheme(text.to_owned()))
    }

    /// The same words `parse` takes.
    pub fn label(&self) -> String {
        match self {
            Self::Local => "local".to_owned(),
            Self::Ssh(host) => format!("ssh://{}", host.address()),
            Self::Slurm(SlurmTarget { login: None, .. }) => "slurm".to_owned(),
            Self::Slurm(SlurmTarget { login: Some(host), .. }) => format!("slurm+ssh://{}", host.address()),
        }
    }

    /// The queue a job waits in: jobs of one queue and device run one at a time. Slurm keeps
    /// its own queue, so a Slurm job is submitted at once (`None`).
    pub fn queue(&self) -> Option<String> {
        match self {
            Self::Local => Some("local".to_owned()),
            Self::Ssh(host) => Some(format!("ssh://{}", host.address())),
            Self::Slurm(_) => None,
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_back_to_their_label() {
        for text in ["local", "ssh://ana@gpu1", "ssh://ana@127.0.0.1:2222", "slurm", "slurm+ssh://bo@login.hpc:22"] {
            assert_eq!(Target::parse(text).unwrap().label(), text);
        }
        let Target::Ssh(host) = Target::parse("ssh://ana@gpu1:2222").unwrap() else { panic!() };
        assert_eq!((host.user.as_str(), host.host.as_str(), host.port), ("ana", "gpu1", Some(2222)));
        assert!(matches!(Target::parse("ssh://ana@gpu1:0"), Err(TargetError::Port { .. })));
        assert!(matches!(Target::parse("ssh://ana@"), Err(TargetError::Host(_))));
        assert!(matches!(Target::parse("ftp://x"), Err(TargetError::Scheme(_))));
    }

    #[test]
    fn ssh_calls_share_one_connection_through_a_private_socket_folder() {
        use std::os::unix::fs::PermissionsExt as _;
        let Target::Ssh(host) = Target::parse("ssh://ana@gpu1:2222").unwrap() else { panic!() };
        let words: Vec<String> = host.command("true").get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let path = words.iter().find_map(|w| w.strip_prefix("ControlPath=")).expect("a ControlPath");
        assert!(words.iter().any(|w| w == "ControlMaster=auto") && words.iter().any(|w| w == "ControlPersist=60"));
        let dir = Path::new(path).parent().unwrap();
        assert_eq!(std::fs::metadata(dir).unwrap().permissions().mode() & 0o777, 0o700);
        // rsync's ssh shares it too.
        assert!(host.rsync_shell().contains("ControlPath="));
    }

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(quote("a/b-c_1.toml"), "a/b-c_1.toml");
        assert_eq!(quote("it's here"), r"'it'\''s here'");
        assert_eq!(quote(""), "''");
    }
}
