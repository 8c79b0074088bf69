//! Real servers for the tests, on loopback only: for the remote-jobs tests, started once per
//! test binary, an `sshd` on a free port with throwaway host and client keys, and a one-node
//! Slurm cluster (`munged`, `slurmctld`, `slurmd` on 127.0.0.1, no GPU), all as the user
//! running the tests (root or not); for the server store tests, PostgreSQL ([`Postgres`]).
//! Each daemon runs in the foreground under a shell that stops it once the test binary's end
//! of a pipe closes, so none outlives the tests. A missing sshd or Slurm fails the test with
//! the Debian package to install.

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

/// The test user's password on the test PostgreSQL servers.
pub const POSTGRES_PASSWORD: &str = "univa-it-secret";

/// A PostgreSQL server of a test's own: `initdb` into a folder under the target's temporary
/// folder, listening on a free port of 127.0.0.1 only (no Unix socket), password logins for its
/// one user, `univa`. PostgreSQL refuses to run as root, so as root the server runs as the
/// `postgres` user Debian's package makes (else as `nobody`). A test can stop it and start it
/// again (the connection cut); dropped, it stops and its folder goes.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    /// The user and group it runs as, when the tests run as root.
    run_as: Option<(u32, u32)>,
    /// The shell the server runs under; closing its input stops the server (fast shutdown).
    server: Mutex<Option<(Child, ChildStdin)>>,
}

/// Where Debian's PostgreSQL binaries are (the newest version installed).
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("postgres").is_file() && bin.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn id_of(user: &str, flag: &str) -> Option<u32> {
    let out = Command::new("id").arg(flag).arg(user).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|_| out.status.success())
}

impl Postgres {
    /// A new server, or `None` (saying why) where PostgreSQL is not installed. On CI (`CI`
    /// set) a missing PostgreSQL fails the test instead: there it must run.
    pub fn start() -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            let why = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres), so the server store \
                       tests are skipped; install the Debian package postgresql (packaging/debian-setup.sh does)";
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("{why}");
            return None;
        };
        let started = Instant::now();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_dead_servers_folders(root);
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = root.join(format!("postgres-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let run_as = (user() == "root").then(|| {
            let who = if id_of("postgres", "-u").is_some() { "postgres" } else { "nobody" };
            (id_of(who, "-u").unwrap(), id_of(who, "-g").unwrap())
        });
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let password_file = dir.join("password");
        std::fs::write(&password_file, POSTGRES_PASSWORD).unwrap();
        let port = free_port();
        let server = Self { bin, dir, port, run_as, server: Mutex::new(None) };
        let initdb = server.as_server_user(&server.bin.join("initdb"));
        let initdb = Command::new(&initdb[0])
            .args(&initdb[1..])
            .args(["--no-sync", "--no-locale", "--encoding=UTF8", "--username=univa", "--auth=scram-sha-256"])
            .arg(format!("--pwfile={}", password_file.display()))
            .arg(server.dir.join("data"))
            .output()
            .unwrap();
        assert!(initdb.status.success(), "initdb: {}", String::from_utf8_lossy(&initdb.stderr));
        server.resume();
        eprintln!("PostgreSQL on 127.0.0.1:{port} answered after {:.2} s", started.elapsed().as_secs_f64());
        Some(server)
    }

    /// `program` as the server's user: under `setpriv` when the tests run as root.
    fn as_server_user(&self, program: &Path) -> Vec<std::ffi::OsString> {
        match self.run_as {
            Some((uid, gid)) => vec![
                "setpriv".into(),
                format!("--reuid={uid}").into(),
                format!("--regid={gid}").into(),
                "--clear-groups".into(),
                program.into(),
            ],
            None => vec![program.into()],
        }
    }

    /// Starts the server (again, on the same port) and waits until it takes logins.
    pub fn resume(&self) {
        let mut server = self.server.lock().unwrap();
        assert!(server.is_none(), "the server runs already");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("log")).unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("\"$0\" \"$@\" & pid=$!; read _; kill -INT $pid; wait $pid")
            .args(self.as_server_user(&self.bin.join("postgres")))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="])
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        *server = Some((child, stdin));
        drop(server);
        let url = self.url_with_password("public");
        let url = url.split('?').next().unwrap().to_owned();
        wait_until(
            "PostgreSQL",
            Duration::from_secs(30),
            || postgres::Client::connect(&url, postgres::NoTls).is_ok(),
            &self.dir.join("log"),
        );
    }

    /// Stops the server (a fast shutdown: connected sessions are cut) and waits until it has.
    pub fn stop(&self) {
        if let Some((mut child, stdin)) = self.server.lock().unwrap().take() {
            drop(stdin);
            child.wait().unwrap();
        }
    }

    /// The address of `schema` on this server, without a password (that comes from
    /// [`Postgres::password_file`]).
    pub fn url(&self, schema: &str) -> String {
        format!("postgres://univa@127.0.0.1:{}/postgres?schema={schema}", self.port)
    }

    /// The address of `schema` with the password in it, for the tests' own connections.
    pub fn url_with_password(&self, schema: &str) -> String {
        format!("postgres://univa:{POSTGRES_PASSWORD}@127.0.0.1:{}/postgres?schema={schema}", self.port)
    }

    /// A password file (`PGPASSFILE`) for `univa` processes the tests start.
    pub fn password_file(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.join("pgpass");
        if !path.exists() {
            std::fs::write(&path, format!("127.0.0.1:{}:*:univa:{POSTGRES_PASSWORD}\n", self.port)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }

    /// A connection of the tests' own, to look under the store.
    pub fn client(&self) -> postgres::Client {
        let url = self.url_with_password("public");
        postgres::Client::connect(url.split('?').next().unwrap(), postgres::NoTls).unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the folders of servers whose test binary has ended (the shared server's is never
/// dropped).
fn remove_dead_servers_folders(root: &Path) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix("postgres-").and_then(|rest| rest.split('-').next()?.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The test binary's shared PostgreSQL server (no test stops it), or `None` where PostgreSQL
/// is not installed.
pub fn postgres() -> Option<&'static Postgres> {
    static POSTGRES: OnceLock<Option<Postgres>> = OnceLock::new();
    POSTGRES.get_or_init(Postgres::start).as_ref()
}
