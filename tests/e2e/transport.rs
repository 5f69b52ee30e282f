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
    let at = relance_tests::ports::free_addr().to_string();
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
    let at = relance_tests::ports::free_addr().to_string();
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

/// A nats-server (JetStream) that requires TLS, verifies client certificates of `pki`'s CA
/// and admits one nkey user; the user's seed is written to `dir/relance.nk`.
async fn nats_with_tls_and_nkey(
    dir: &Path,
    pki: &relance_tests::pki::Pki,
) -> (relance_tests::NatsServer, PathBuf, String) {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let seed_file = dir.join("relance.nk");
    std::fs::write(&seed_file, format!("{seed}\n")).expect("write seed");
    let config = dir.join("nats.conf");
    std::fs::write(
        &config,
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}\n\
             authorization {{ users: [ {{ nkey: {} }} ] }}\n",
            s(&pki.server_cert),
            s(&pki.server_key),
            s(&pki.ca),
            user.public_key(),
        ),
    )
    .expect("write nats config");
    let nats = relance_tests::NatsServer::start_with_config(
        relance_tests::nats::current_binary(),
        &config,
    )
    .await;
    (nats, seed_file, seed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relance_reaches_nats_over_mutual_tls_with_an_nkey_and_refuses_without_either() {
    use relance_tests::requests::{self, prefecture};
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = relance_tests::pki::pki(dir.path());
    let (nats, seed_file, seed) = nats_with_tls_and_nkey(dir.path(), &pki).await;
    let url = nats.url();
    let data = dir.path().join("data");
    let tls = [
        "--nats-ca",
        s(&pki.ca),
        "--nats-cert",
        s(&pki.client_cert),
        "--nats-key",
        s(&pki.client_key),
    ];
    let mut args = vec!["--nats", url.as_str(), "--data-dir", s(&data)];
    args.extend(tls);
    args.extend(["--nats-nkey", s(&seed_file)]);
    let node = RelanceProcess::serve(&args).await;
    let reply = node
        .commands()
        .await
        .register(prefecture(requests::register("REH-0001", "tls-1")))
        .await
        .expect("a command over TLS to NATS")
        .into_inner();
    let view = node
        .queries()
        .await
        .get(relance_proto::v1::GetRequest {
            cooperative_id: "REH-0001".into(),
            min_position: reply.position,
        })
        .await
        .expect("a query of the event read back over TLS")
        .into_inner();
    assert_eq!(view.cooperative_id, "REH-0001");
    assert!(!node.log_text().contains(&seed), "the seed is in the log");
    drop(node);

    // The admin commands that take --nats take the same flags.
    let mut rebuild = vec![
        "projection",
        "rebuild",
        "--data-dir",
        s(&data),
        "--nats",
        &url,
    ];
    rebuild.extend(tls);
    rebuild.extend(["--nats-nkey", s(&seed_file)]);
    let (ok, out, err) = cli(&rebuild, &[]);
    assert!(ok, "projection rebuild over TLS to NATS failed: {out}{err}");

    let start = |args: &[&str]| {
        let out = refused(
            Command::new(relance_bin())
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(dir.path().join("refused"))
                .args(args),
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "not refused: {stderr}");
        assert!(
            !stderr.contains(&seed),
            "the seed is in the error: {stderr}"
        );
        eprintln!(
            "refused as expected: {}",
            stderr.lines().last().unwrap_or("")
        );
        stderr
    };
    // No client certificate: the server's TLS handshake refuses relance.
    let err = start(&[
        "--nats",
        &url,
        "--nats-ca",
        s(&pki.ca),
        "--nats-nkey",
        s(&seed_file),
    ]);
    assert!(
        err.contains("NATS refused the connection") && err.contains("--nats-cert"),
        "{err}"
    );
    // No credentials: the server refuses the connection.
    let mut no_nkey = vec!["--nats", url.as_str()];
    no_nkey.extend(tls);
    let err = start(&no_nkey);
    assert!(
        err.contains("NATS refused the connection") && err.contains("--nats-nkey"),
        "{err}"
    );
    // Not trusting the server's CA: relance refuses the server.
    let err = start(&["--nats", &url, "--nats-tls", "--nats-nkey", s(&seed_file)]);
    assert!(err.contains("TLS") && err.contains("--nats-ca"), "{err}");
    // A seed file that holds no seed is named, its content is not.
    let bad = dir.path().join("bad.nk");
    std::fs::write(&bad, "not a seed").expect("write");
    let mut bad_seed = vec!["--nats", url.as_str(), "--nats-nkey", s(&bad)];
    bad_seed.extend(tls);
    let err = start(&bad_seed);
    assert!(
        err.contains("bad.nk does not hold a user nkey seed"),
        "{err}"
    );
    let err = start(&["--nats", &url, "--nats-creds", "/nonexistent/relance.creds"]);
    assert!(
        err.contains("cannot read the NATS credentials file /nonexistent/relance.creds"),
        "{err}"
    );
}
