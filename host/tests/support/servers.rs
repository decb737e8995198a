//! Real Redis and PostgreSQL servers for the store tests: each test starts
//! its own on a free port of 127.0.0.1, with its data in a temporary
//! directory, and stops it when dropped. The programs come from Debian's
//! `redis-server` and `postgresql` packages (`just services` installs them;
//! `just test` runs it first).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until something accepts connections on `port`.
fn until_listening(port: u16, child: &mut Child, what: &str) {
    if let Err(status) = listening_or_exit(port, child, what) {
        panic!("{what} exited before listening: {status}");
    }
}

/// Waits (bounded) until something accepts connections on `port`, or the
/// process exits (its status).
fn listening_or_exit(
    port: u16,
    child: &mut Child,
    what: &str,
) -> Result<(), std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(status);
        }
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A `redis-server` of its own.
pub struct Redis {
    child: Child,
    pub port: u16,
    password: Option<String>,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(None, None)
    }

    /// With `requirepass`, or on a given port (to come back where it was).
    pub fn start_with(password: Option<&str>, port: Option<u16>) -> Redis {
        let program = which("redis-server").unwrap_or_else(|| {
            panic!(
                "redis-server is not installed: `just services` installs it (Debian's redis-server)"
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let port = port.unwrap_or_else(free_port);
        let mut command = Command::new(program);
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let mut child = command.spawn().expect("starting redis-server");
        until_listening(port, &mut child, "redis-server");
        Redis {
            child,
            port,
            password: password.map(str::to_owned),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Stops it now (as a crash would: SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL cluster of its own: user `spellhost`, password `secret`,
/// database `spellhost`.
pub struct Postgres {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    _root: tempfile::TempDir,
}

pub const POSTGRES_PASSWORD: &str = "secret";

impl Postgres {
    pub fn start() -> Postgres {
        let bin = postgres_bin().unwrap_or_else(|| {
            panic!("PostgreSQL is not installed: `just services` installs it (Debian's postgresql)")
        });
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        let pwfile = root.path().join("pw");
        std::fs::write(&pwfile, POSTGRES_PASSWORD).unwrap();
        give_to_postgres(root.path());
        let status = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&dir)
            .args(["-U", "spellhost", "--auth=scram-sha-256", "--pwfile"])
            .arg(&pwfile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("running initdb");
        assert!(status.success(), "initdb failed: {status}");
        let mut postgres = Postgres {
            child: None,
            port: free_port(),
            dir,
            bin,
            _root: root,
        };
        postgres.resume();
        // Its database.
        let status = Command::new(postgres.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &postgres.port.to_string(),
                "-U",
                "spellhost",
            ])
            .arg("spellhost")
            .env("PGPASSWORD", POSTGRES_PASSWORD)
            .status()
            .expect("running createdb");
        assert!(status.success(), "createdb failed: {status}");
        postgres
    }

    pub fn url(&self) -> String {
        format!(
            "postgres://spellhost:{POSTGRES_PASSWORD}@127.0.0.1:{}/spellhost",
            self.port
        )
    }

    /// Starts (again) on the same port and data. After a crash the killed
    /// server's backends take a moment to exit; until they have, a new
    /// server refuses to start, so it is tried again (bounded).
    pub fn resume(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let child = loop {
            let mut child = as_postgres(&self.bin.join("postgres"))
                .arg("-D")
                .arg(&self.dir)
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-c",
                    "listen_addresses=127.0.0.1",
                ])
                .arg("-k")
                .arg(self.dir.parent().unwrap())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting postgres");
            match listening_or_exit(self.port, &mut child, "postgres") {
                Ok(()) => break child,
                Err(status) => {
                    assert!(
                        Instant::now() < deadline,
                        "postgres would not start: {status}"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        // Listening is not ready: it refuses connections while it starts
        // up (or recovers from a crash).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .expect("running pg_isready");
            if ready.success() {
                break;
            }
            assert!(Instant::now() < deadline, "postgres never became ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Stops it now, as a crash would: the postmaster and every backend
    /// it forked are killed. A backend outlives a killed postmaster for a
    /// while and would still answer on its open connection.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            // Frozen, the postmaster forks no backend while its children go.
            let _ = Command::new("kill").args(["-STOP", &pid]).status();
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A clean stop, so no backend outlives the test.
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// Debian's server programs: /usr/lib/postgresql/<newest>/bin.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("postgres").is_file() && bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// PostgreSQL refuses to run as root: as root, its files and processes
/// belong to the `postgres` user Debian's package creates.
fn give_to_postgres(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn as_postgres(program: &Path) -> Command {
    if is_root() {
        // setpriv execs the program (runuser would fork, and killing it
        // would leave the server running).
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A server that can hold state, events and the run queue: the same tests
/// run on each.
pub enum Shared {
    Redis(Redis),
    Postgres(Postgres),
}

impl Shared {
    /// `redis` or `postgres`.
    pub fn start(kind: &str) -> Shared {
        match kind {
            "redis" => Shared::Redis(Redis::start()),
            "postgres" => Shared::Postgres(Postgres::start()),
            other => panic!("no server `{other}`"),
        }
    }

    pub fn url(&self) -> String {
        match self {
            Shared::Redis(redis) => redis.url(),
            Shared::Postgres(postgres) => postgres.url(),
        }
    }
}

/// A real OCI registry of its own: Debian's `docker-registry` (CNCF
/// distribution 2.8), storing under a temporary directory, on a free port
/// of 127.0.0.1, plain HTTP.
pub struct Registry {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_on(None)
    }

    /// On a given port (to come back where it was, with the same storage).
    fn start_on(previous: Option<(u16, tempfile::TempDir)>) -> Registry {
        let program = which("docker-registry").unwrap_or_else(|| {
            panic!("docker-registry is not installed: `just services` installs it (Debian's docker-registry)")
        });
        let (port, dir) = previous.unwrap_or_else(|| (free_port(), tempfile::tempdir().unwrap()));
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(program)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        until_listening(port, &mut child, "docker-registry");
        Registry { child, port, dir }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps the blob `digest` (`sha256:…`).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Stops the server (its data stays for [`Registry::restart`]).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port with the same storage (the
    /// registry caches blob descriptors in memory: a restart forgets them).
    pub fn restart(mut self) -> Registry {
        self.stop();
        let port = self.port;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        drop(self);
        Registry::start_on(Some((port, dir)))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
