//! Secure by default on the wire: bearer tokens are not served in clear beyond loopback unless
//! the operator says `--insecure` (and then `relance status` and the metrics show it), and the
//! link to NATS speaks TLS (the server's certificate checked, relance's own certificate shown)
//! with nkey or `.creds` credentials read from files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use relance_server::auth::token_hash;
use relance_tests::{cli, relance_bin, RelanceProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "rlc_test_reader";

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8")
}

/// An auth file with one reader whose token is [`TOKEN`].
fn auth_file(dir: &Path) -> PathBuf {
    let file = dir.join("auth.json");
    let entry = serde_json::json!({"principals": [{
        "id": "reader-1",
        "organisation": "ODCo",
        "roles": ["reader"],
        "token_sha256": hex::encode(token_hash(TOKEN)),
    }]});
    std::fs::write(&file, entry.to_string()).expect("write auth file");
    file
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

async fn metrics(addr: SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

/// `relance status --output json` of `node`, with the reader's token.
fn status(node: &RelanceProcess) -> serde_json::Value {
    let (ok, out, err) = cli(
        &[
            "--server",
            &node.url(),
            "--token",
            TOKEN,
            "status",
            "--output",
            "json",
        ],
        &[],
    );
    assert!(ok, "status failed: {err}");
    let all: serde_json::Value = serde_json::from_str(&out).expect("json");
    all[0].clone()
}

/// Runs `cmd`, which must exit by itself within 60 s (a refusal); its output.
fn refused(cmd: &mut Command) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start relance");
    for _ in 0..600 {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().ok();
    let out = child.wait_with_output().expect("output");
    panic!(
        "still running after 60 s instead of refusing to start:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn auth_beyond_loopback_without_tls_is_refused_naming_the_insecure_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = auth_file(dir.path());
    let out = refused(
        Command::new(relance_bin())
            .args([
                "serve",
                "--listen",
                "0.0.0.0:0",
                "--auth",
                s(&auth),
                "--data-dir",
            ])
            .arg(dir.path().join("data")),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "not refused: {stderr}");
    assert!(
        stderr.contains("refusing to serve bearer tokens in clear on 0.0.0.0:0")
            && stderr.contains("--tls-cert")
            && stderr.contains("--insecure"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "it listened before refusing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_insecure_status_and_metrics_show_tokens_travel_in_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = auth_file(dir.path());
    let at = free_port().to_string();
    let insecure = RelanceProcess::serve(&[
        "--listen",
        "0.0.0.0:0",
        "--auth",
        s(&auth),
        "--insecure",
        "--metrics",
        &at,
        "--data-dir",
        s(&dir.path().join("insecure")),
    ])
    .await;
    assert!(
        insecure
            .log_text()
            .contains("--insecure: serving bearer tokens without TLS"),
        "no warning in the log:\n{}",
        insecure.log_text()
    );
    assert_eq!(status(&insecure)["insecure_transport"], true);
    let text = metrics(at.parse().expect("addr")).await;
    assert!(
        text.contains("\nrelance_insecure_transport 1\n"),
        "metrics do not show it:\n{text}"
    );

    // On loopback the same flags are not insecure: nothing crosses a network.
    let at = free_port().to_string();
    let local = RelanceProcess::serve(&[
        "--auth",
        s(&auth),
        "--insecure",
        "--metrics",
        &at,
        "--data-dir",
        s(&dir.path().join("local")),
    ])
    .await;
    assert_eq!(status(&local)["insecure_transport"], false);
    let text = metrics(at.parse().expect("addr")).await;
    assert!(text.contains("\nrelance_insecure_transport 0\n"), "{text}");
}
