//! A real `relance serve` process: started on `127.0.0.1:0`, ready when it prints the address
//! it listens on, killed (SIGKILL) on `Drop` or stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use relance_proto::v1::cooperative_queries_client::CooperativeQueriesClient;
use tonic::transport::Channel;

const READY_WITHIN: Duration = Duration::from_secs(60);

/// The `relance` binary: `RELANCE_BIN`, else `relance` in `CARGO_TARGET_DIR` (a relative one
/// is the workspace's), else in the workspace's `target`, under this test's profile.
pub fn relance_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RELANCE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → <profile>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map_or_else(|| "debug".into(), std::ffi::OsStr::to_os_string);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), |d| workspace.join(d));
    let bin = target.join(profile).join("relance");
    assert!(
        bin.is_file(),
        "{} is missing: build it first with `cargo build --bins` (scripts/test.sh does), or set RELANCE_BIN",
        bin.display()
    );
    bin
}

/// One `relance serve` process.
pub struct RelanceProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Where the dashboard listens, when started with `--web`.
    pub web: Option<SocketAddr>,
    /// Everything the process wrote on stderr (its log), for failure messages.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl RelanceProcess {
    /// Runs `relance serve --listen 127.0.0.1:0 <args…>` (unless `args` has its own
    /// `--listen`) and waits until it listens.
    pub async fn serve(args: &[&str]) -> Self {
        Self::serve_env(args, &[]).await
    }

    /// Like [`serve`](Self::serve) with extra environment variables.
    pub async fn serve_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(relance_bin());
        cmd.arg("serve");
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start relance");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut web = None;
        let addr = tokio::time::timeout(READY_WITHIN, async {
            while let Some(line) = rx.recv().await {
                // `--web` prints its address before the gRPC one.
                if let Some(a) = line.strip_prefix("relance web on http://") {
                    web = a.trim().trim_end_matches('/').parse::<SocketAddr>().ok();
                }
                if let Some(a) = line.strip_prefix("relance listening on ") {
                    return a.trim().parse::<SocketAddr>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let mut process = Self {
            child: Some(child),
            addr: "127.0.0.1:1".parse().unwrap(),
            web,
            log,
        };
        match addr {
            // A process on 0.0.0.0 is reached on loopback.
            Some(a) if a.ip().is_unspecified() => process.addr = ([127, 0, 0, 1], a.port()).into(),
            Some(a) => process.addr = a,
            None => {
                process.kill();
                panic!(
                    "relance serve {args:?} did not start:\n{}",
                    process.log_text()
                );
            }
        }
        process
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .expect("connect to relance")
    }

    pub async fn commands(&self) -> CooperativeCommandsClient<Channel> {
        CooperativeCommandsClient::new(self.channel().await)
    }

    pub async fn queries(&self) -> CooperativeQueriesClient<Channel> {
        CooperativeQueriesClient::new(self.channel().await)
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// SIGTERM, then waits for a graceful exit (at most 30 s, then SIGKILL).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pid = libc::pid_t::try_from(child.id()).ok()?;
        // SAFETY-free: libc::kill with a pid we own.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        for _ in 0..300 {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.kill().ok();
        child.wait().ok()
    }
}

impl Drop for RelanceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `relance --server SERVER ARGS…`: whether it succeeded, its stdout and its stderr.
pub fn cli_on(server: &str, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--server", server];
    all.extend_from_slice(args);
    cli(&all, &[])
}

/// `relance coop register ID` with fixed illustrative details, through the CLI; must succeed.
pub fn cli_register(server: &str, id: &str) -> String {
    cli_ok(
        server,
        &[
            "coop",
            "register",
            id,
            "--name",
            "Coopérative",
            "--court",
            "TPI Benguérir",
            "--number",
            "1/2011",
            "--sector",
            "artisanat",
            "--activity",
            "couture",
            "--commune",
            "Benguérir",
            "--registered-on",
            "2011-03-29",
        ],
    )
}

/// [`cli_on`] that must succeed: its stdout.
pub fn cli_ok(server: &str, args: &[&str]) -> String {
    let (success, out, err) = cli_on(server, args);
    assert!(success, "relance {args:?} failed:\n{out}\n{err}");
    out
}

/// Runs the `relance` CLI with `args` and returns (exit success, stdout, stderr).
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(relance_bin());
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run relance");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
