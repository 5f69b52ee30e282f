//! A nats-server process for the benchmark, with a generated config so that `sync_interval`
//! can be set (`-js -sd` alone cannot).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};

/// How JetStream syncs its files to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// The server's default (every 2 minutes).
    Default,
    /// `sync_interval: always`: fsync before each acknowledgement (the `deploy/` setting).
    Always,
}

impl Sync {
    pub fn label(self) -> &'static str {
        match self {
            Sync::Default => "default (2m)",
            Sync::Always => "always",
        }
    }
}

pub struct Server {
    child: Child,
    pub url: String,
    pub version: String,
    pub sync: Sync,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(binary: &Path, sync: Sync) -> Result<Self> {
        let dir = tempfile::tempdir().context("temporary directory for nats-server")?;
        let store = dir.path().join("js");
        let mut conf = format!(
            "jetstream {{\n  store_dir: {:?}\n",
            store.display().to_string()
        );
        if sync == Sync::Always {
            conf.push_str("  sync_interval: always\n");
        }
        conf.push_str("}\nmax_payload: 1MB\n");
        let conf_path = dir.path().join("nats.conf");
        std::fs::write(&conf_path, conf).context("writing nats.conf")?;
        let version = Command::new(binary)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let (child, port) = spawn_ready(
            binary,
            &[
                "-c",
                &conf_path.to_string_lossy(),
                "-a",
                "127.0.0.1",
                "-p",
                "-1",
            ],
        )?;
        let port = port.ok_or_else(|| anyhow!("nats-server did not say its port"))?;
        Ok(Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            version,
            sync,
            _dir: dir,
        })
    }
}

impl Server {
    /// CPU seconds nats-server has used so far (user + system), from /proc.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(&self.child.id().to_string())
    }
}

/// CPU seconds (user + system) the process `pid` (or `self`) has used so far, from
/// `/proc/PID/stat` (clock ticks of 1/100 s, as on every Linux this runs on).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` (a nats-server) with `args` and waits, 30 s at most, until it says it is
/// ready; returns it with the client port it said it listens on, if it said one.
pub fn spawn_ready(binary: &Path, args: &[&str]) -> Result<(Child, Option<u16>)> {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Keep draining so the server never blocks on a full pipe.
            let _ = tx.send(line);
        }
    });
    let mut port = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            bail!(
                "{} exited, stalled or was not ready in 30 s",
                binary.display()
            );
        };
        if let Some((_, addr)) = line.split_once("Listening for client connections on ") {
            port = addr
                .trim()
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok());
        }
        if line.contains("Server is ready") {
            return Ok((child, port));
        }
    }
}
