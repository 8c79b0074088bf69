//! Real servers for the remote-jobs tests, started once per test binary on loopback only: an
//! `sshd` on a free port with throwaway host and client keys, and a one-node Slurm cluster
//! (`munged`, `slurmctld`, `slurmd` on 127.0.0.1, no GPU), all as the user running the tests
//! (root or not). Each daemon runs in the foreground
//! under a shell that kills it once the test binary's end of a pipe closes, so none outlives
//! the tests. A missing server fails the test with the Debian package to install.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use univa::jobs::{SlurmTarget, SshHost};

/// A daemon that lives until the test binary ends.
struct Daemon {
    _child: Child,
    _stdin: ChildStdin,
}

/// Starts `program args…` in the foreground under `sh`, which kills it when its input closes.
fn daemon(program: &str, args: &[&str], log: &Path) -> Daemon {
    let line = "\"$0\" \"$@\" & pid=$!; read _; kill $pid; wait $pid";
    let log = std::fs::File::create(log).unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(line)
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {program}: {e}"));
    let stdin = child.stdin.take().unwrap();
    Daemon { _child: child, _stdin: stdin }
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The program, or a failure that names the Debian package to install.
fn require(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(program);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "`{program}` is not installed: these tests need a real server; install the Debian package {package} (apt-get install {package}, or run packaging/debian-setup.sh)"
    );
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool, log: &Path) {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > limit {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} did not come up within {limit:?}; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn keygen(path: &Path) {
    let ok = Command::new(require("ssh-keygen", "openssh-client"))
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen {}", path.display());
}

pub struct Sshd {
    _daemon: Mutex<Daemon>,
    pub dir: PathBuf,
    host: SshHost,
}

impl Sshd {
    /// The host as a target: the throwaway key, known hosts of its own, `univa` the built one,
    /// a work folder of its own.
    pub fn host(&self) -> SshHost {
        self.host.clone()
    }
}

/// The test binary's sshd on 127.0.0.1.
pub fn sshd() -> &'static Sshd {
    static SSHD: OnceLock<Sshd> = OnceLock::new();
    SSHD.get_or_init(|| {
        let started = Instant::now();
        let sshd = require("sshd", "openssh-server");
        require("ssh", "openssh-client");
        require("rsync", "rsync");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sshd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        // sshd running as root wants its privilege-separation folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
                 StrictModes no\nPermitRootLogin prohibit-password\nPidFile {d}/sshd.pid\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let client_config = dir.join("ssh_config");
        std::fs::write(
            &client_config,
            format!(
                "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile {}/known_hosts\n  LogLevel ERROR\n",
                dir.display()
            ),
        )
        .unwrap();
        let log = dir.join("sshd.log");
        let daemon = daemon(&sshd.display().to_string(), &["-D", "-e", "-f", &config.display().to_string()], &log);
        let mut host = SshHost::parse(&format!("{}@127.0.0.1:{port}", user())).unwrap();
        host.identity = Some(dir.join("client_key"));
        host.ssh_config = Some(client_config);
        host.univa = env!("CARGO_BIN_EXE_univa").to_owned();
        host.work_dir = dir.join("remote").display().to_string();
        wait_until(
            "sshd",
            Duration::from_secs(20),
            || host.command("true").stdin(Stdio::null()).output().is_ok_and(|o| o.status.success()),
            &log,
        );
        eprintln!("sshd on 127.0.0.1:{port} answered after {:.2} s", started.elapsed().as_secs_f64());
        Sshd { _daemon: Mutex::new(daemon), dir, host }
    })
}

pub struct Slurm {
    _daemons: Mutex<Vec<Daemon>>,
    pub conf: PathBuf,
}

impl Slurm {
    /// The cluster as a target reached on this machine.
    pub fn target(&self) -> SlurmTarget {
        SlurmTarget {
            slurm_conf: self.conf.display().to_string(),
            univa: env!("CARGO_BIN_EXE_univa").to_owned(),
            time: "00:20:00".to_owned(),
            ..SlurmTarget::default()
        }
    }

    /// A Slurm command against this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }
}

/// The test binary's one-node Slurm cluster on 127.0.0.1.
pub fn slurm() -> &'static Slurm {
    static SLURM: OnceLock<Slurm> = OnceLock::new();
    SLURM.get_or_init(|| {
        let started = Instant::now();
        let munged = require("munged", "munge");
        let slurmctld = require("slurmctld", "slurm-wlm");
        let slurmd = require("slurmd", "slurm-wlm");
        require("sbatch", "slurm-wlm");
        // As root or not: the daemons run as the user running the tests, and so do the jobs.
        let user = user();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("slurm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["state", "spool", "munge", "key"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt as _;
        // munged checks these: its socket folder open to all, its key folder and key private.
        std::fs::set_permissions(dir.join("munge"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("key"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let key = dir.join("key/munge.key");
        let mut bytes = [0_u8; 1024];
        std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).unwrap();
        std::fs::File::create(&key).and_then(|mut f| f.write_all(&bytes)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let d = dir.display();
        let socket = format!("{d}/munge/socket");
        let mut daemons = vec![daemon(
            &munged.display().to_string(),
            &[
                "-F",
                "--key-file",
                &key.display().to_string(),
                "--socket",
                &socket,
                "--pid-file",
                &format!("{d}/munge/pid"),
                "--seed-file",
                &format!("{d}/munge/seed"),
                "--log-file",
                &format!("{d}/munge/log"),
            ],
            &dir.join("munged.out"),
        )];
        wait_until("munged", Duration::from_secs(10), || Path::new(&socket).exists(), &dir.join("munge/log"));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = dir.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=univa-it\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={ctld}\nSlurmdPort={slurmd_port}\n\
                 SlurmUser={user}\nSlurmdUser={user}\nAuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={socket}\n\
                 StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\nSlurmctldPidFile={d}/slurmctld.pid\n\
                 SlurmdPidFile={d}/slurmd.pid\nSlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
                 ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSchedulerType=sched/builtin\n\
                 SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\nReturnToService=2\nMpiDefault=none\n\
                 JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
                 JobCompType=jobcomp/none\nMinJobAge=600\nKillWait=5\nInactiveLimit=0\n\
                 NodeName=univa-it-node NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=500 State=UNKNOWN\n\
                 PartitionName=debug Nodes=univa-it-node Default=YES MaxTime=INFINITE State=UP\n",
                ctld = free_port(),
                slurmd_port = free_port(),
            ),
        )
        .unwrap();
        let conf_arg = conf.display().to_string();
        daemons.push(daemon(&slurmctld.display().to_string(), &["-D", "-i", "-f", &conf_arg], &dir.join("slurmctld.out")));
        daemons.push(daemon(
            &slurmd.display().to_string(),
            &["-D", "-f", &conf_arg, "-N", "univa-it-node"],
            &dir.join("slurmd.out"),
        ));
        let slurm = Slurm { _daemons: Mutex::new(daemons), conf };
        wait_until(
            "slurmctld and slurmd",
            Duration::from_secs(30),
            || {
                slurm.command("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| {
                    let state = String::from_utf8_lossy(&o.stdout);
                    o.status.success() && state.trim() == "idle"
                })
            },
            &dir.join("slurmctld.log"),
        );
        eprintln!("Slurm (one node, {cpus} CPUs) was idle after {:.2} s", started.elapsed().as_secs_f64());
        slurm
    })
}
