//! The files in `deploy/nats/` as shipped: every configuration parses (`nats-server -t`), the
//! three-host template parses once filled in, and the three cluster node configurations form a
//! JetStream cluster with `sync_interval: always` on which relance runs an R3 stream with the
//! users of `permissions.conf`; the `backup` user's snapshot of that stream, restored on a node
//! started from `single.conf`, replays to the same projection digest.
//!
//! The cluster test runs copies of the node configurations in a temporary directory, with the
//! loopback ports rewritten to free ones and the stores moved there, so it never collides with
//! another test or a trial cluster on the usual ports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use relance_tests::nats::current_binary;
use relance_tests::{cli, wait, RelanceProcess};
use serde_json::Value as Json;

/// How long the cluster may take to elect a meta leader and see all three peers.
const CLUSTER_WITHIN: Duration = Duration::from_secs(60);

/// The users of `deploy/nats/permissions.conf`, with its placeholder passwords.
const COMMAND: (&str, &str) = ("command", "change-me-command");
const PROJECTION: (&str, &str) = ("projection", "change-me-projection");
const ADMIN: (&str, &str) = ("admin", "change-me-admin");
const BACKUP: (&str, &str) = ("backup", "change-me-backup");

/// The ports the node configurations use, node by node: (client, monitoring, cluster).
const NODE_PORTS: [(u16, u16, u16); 3] =
    [(4222, 8222, 6222), (4223, 8223, 6223), (4224, 8224, 6224)];

fn deploy_nats() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats")
}

/// Every `*.conf` under `dir`, recursively, sorted.
fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(conf_files(&path));
        } else if path.extension().is_some_and(|e| e == "conf") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// `nats-server -t -c FILE`: whether it parses, and what the server said.
fn check_config(file: &Path) -> (bool, String) {
    let out = Command::new(current_binary())
        .arg("-t")
        .arg("-c")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", current_binary().display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_nats_config_under_deploy_parses() {
    let root = deploy_nats();
    let files = conf_files(&root);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    for expected in [
        "single.conf",
        "permissions.conf",
        "cluster/node-1.conf",
        "cluster/node-2.conf",
        "cluster/node-3.conf",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "deploy/nats/{expected} is missing (found {names:?})"
        );
    }
    let mut failures = Vec::new();
    for (file, name) in files.iter().zip(&names) {
        let (ok, text) = check_config(file);
        if !ok {
            failures.push(format!("deploy/nats/{name}:\n{text}"));
        }
        let body = std::fs::read_to_string(file).unwrap();
        // Every server configuration (everything that listens) syncs each write and shuts
        // down in lame-duck mode.
        if body.lines().any(|l| l.trim_start().starts_with("listen:")) {
            for setting in [
                "sync_interval: always",
                "lame_duck_duration:",
                "lame_duck_grace_period:",
            ] {
                assert!(body.contains(setting), "deploy/nats/{name} lacks {setting}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "configurations nats-server rejects:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_three_host_template_parses_once_filled_in() {
    let template =
        std::fs::read_to_string(deploy_nats().join("cluster/host.conf.template")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // The client TLS block loads its certificates when the configuration is checked.
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir(&tls_dir).unwrap();
    relance_tests::pki::pki(&tls_dir);
    let values = [
        ("NODE_NAME", "relance-2"),
        ("NODE_HOST", "10.0.0.12"),
        ("HOST_1", "10.0.0.11"),
        ("HOST_2", "10.0.0.12"),
        ("HOST_3", "10.0.0.13"),
        ("STORE_DIR", store.to_str().unwrap()),
        ("ROUTE_PASSWORD", "0123456789abcdef"),
        ("TLS_DIR", tls_dir.to_str().unwrap()),
    ];
    let mut filled = template;
    for (name, value) in values {
        let placeholder = format!("${{{name}}}");
        assert!(
            filled.contains(&placeholder),
            "the template has no {placeholder}"
        );
        filled = filled.replace(&placeholder, value);
    }
    // What is left is the comment that prints the list for envsubst.
    let left: Vec<&str> = filled
        .lines()
        .filter(|l| l.contains("${") && !l.trim_start().starts_with('#'))
        .collect();
    assert!(left.is_empty(), "placeholders not documented: {left:?}");
    let conf = dir.path().join("relance.conf");
    std::fs::write(&conf, filled).unwrap();
    std::fs::copy(
        deploy_nats().join("permissions.conf"),
        dir.path().join("permissions.conf"),
    )
    .unwrap();
    let (ok, text) = check_config(&conf);
    assert!(ok, "the filled-in template does not parse:\n{text}");
}

// ------------------------------------------------------------------ the cluster on loopback

/// Three nats-server processes, killed (and waited for) on drop.
struct Cluster {
    children: Vec<Child>,
    logs: Vec<PathBuf>,
    client_ports: Vec<u16>,
}

impl Cluster {
    fn urls(&self, (user, password): (&str, &str)) -> String {
        self.client_ports
            .iter()
            .map(|p| format!("nats://{user}:{password}@127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn addrs(&self) -> Vec<String> {
        self.client_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect()
    }

    fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|l| {
                format!(
                    "--- {}\n{}",
                    l.display(),
                    std::fs::read_to_string(l).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Panics with every node's log.
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.logs())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// Nine distinct free loopback ports, below the ephemeral range (nodes restart on them).
fn free_ports() -> Vec<u16> {
    (0..9).map(|_| relance_tests::ports::free_port()).collect()
}

/// Every `127.0.0.1:PORT` whose whole port is in `mapping`, replaced in one pass: replacing one
/// port after another could rewrite a new port that starts with an old one (42231 → "4223" + "1").
fn replace_ports(conf: &str, mapping: &[(u16, u16)]) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::with_capacity(conf.len());
    let mut rest = conf;
    while let Some(at) = rest.find(HOST) {
        let (before, after) = rest.split_at(at + HOST.len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let (port, tail) = after.split_at(digits);
        match port
            .parse::<u16>()
            .ok()
            .and_then(|p| mapping.iter().find(|(o, _)| *o == p))
        {
            Some((_, new)) => out.push_str(&new.to_string()),
            None => out.push_str(port),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[test]
fn ports_are_replaced_whole_in_one_pass() {
    let mapping = [(4222, 42231), (4223, 5000)];
    assert_eq!(
        replace_ports(
            "a 127.0.0.1:4222 b 127.0.0.1:4223 c 127.0.0.1:42220 d 10.0.0.1:4222",
            &mapping
        ),
        "a 127.0.0.1:42231 b 127.0.0.1:5000 c 127.0.0.1:42220 d 10.0.0.1:4222"
    );
}

/// Copies `deploy/nats/cluster/node-*.conf` and `permissions.conf` into `dir` (keeping the
/// relative include), with every loopback port replaced by a free one and each store in `dir`,
/// and starts the three servers.
fn start_cluster(dir: &Path) -> Cluster {
    let source = deploy_nats();
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    std::fs::copy(
        source.join("permissions.conf"),
        dir.join("permissions.conf"),
    )
    .unwrap();
    let fresh = free_ports();
    let mapping: Vec<(u16, u16)> = NODE_PORTS
        .iter()
        .flat_map(|&(c, h, r)| [c, h, r])
        .zip(fresh)
        .collect();
    let new_port = |old: u16| mapping.iter().find(|(o, _)| *o == old).unwrap().1;
    let mut cluster = Cluster {
        children: Vec::new(),
        logs: Vec::new(),
        client_ports: NODE_PORTS.iter().map(|&(c, _, _)| new_port(c)).collect(),
    };
    for (i, &(client, http, route)) in NODE_PORTS.iter().enumerate() {
        let n = i + 1;
        let original =
            std::fs::read_to_string(source.join(format!("cluster/node-{n}.conf"))).unwrap();
        // The node's own ports and its routes to the two others must all be there, so a change
        // of layout fails here instead of running on the fixed ports.
        let mut expected = vec![
            format!("listen: 127.0.0.1:{client}"),
            format!("http: 127.0.0.1:{http}"),
            format!("listen: 127.0.0.1:{route}"),
        ];
        for (j, &(_, _, other)) in NODE_PORTS.iter().enumerate() {
            if j != i {
                expected.push(format!("nats-route://127.0.0.1:{other}"));
            }
        }
        for e in &expected {
            assert!(original.contains(e.as_str()), "node-{n}.conf lacks `{e}`");
        }
        let mut conf = replace_ports(&original, &mapping);
        let store = dir.join(format!("store-{n}"));
        let store_lines = conf
            .lines()
            .filter(|l| l.trim_start().starts_with("store_dir:"))
            .count();
        assert_eq!(store_lines, 1, "node-{n}.conf has one store_dir");
        conf = conf
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("store_dir:") {
                    format!("  store_dir: \"{}\"", store.display())
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let path = dir.join(format!("cluster/node-{n}.conf"));
        std::fs::write(&path, conf).unwrap();
        let log = dir.join(format!("node-{n}.log"));
        let child = Command::new(current_binary())
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", current_binary().display()));
        cluster.children.push(child);
        cluster.logs.push(log);
    }
    cluster
}

/// Runs a copy of `deploy/nats/single.conf` (with `permissions.conf`) in `dir` on free ports.
fn start_single(dir: &Path) -> Cluster {
    let source = deploy_nats();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(
        source.join("permissions.conf"),
        dir.join("permissions.conf"),
    )
    .unwrap();
    let original = std::fs::read_to_string(source.join("single.conf")).unwrap();
    let ports = free_ports();
    let mut conf = String::new();
    for line in original.lines() {
        let t = line.trim_start();
        let line = if t.starts_with("listen:") {
            format!("listen: 127.0.0.1:{}", ports[0])
        } else if t.starts_with("http:") {
            format!("http: 127.0.0.1:{}", ports[1])
        } else if t.starts_with("store_dir:") {
            format!("  store_dir: \"{}\"", dir.join("store").display())
        } else {
            line.to_owned()
        };
        conf.push_str(&line);
        conf.push('\n');
    }
    let path = dir.join("single.conf");
    std::fs::write(&path, conf).unwrap();
    let log = dir.join("single.log");
    let child = Command::new(current_binary())
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", current_binary().display()));
    Cluster {
        children: vec![child],
        logs: vec![log],
        client_ports: vec![ports[0]],
    }
}

/// Connects as `user` to any of the nodes, retrying for at most `CLUSTER_WITHIN`.
async fn connect(cluster: &Cluster, (user, password): (&str, &str)) -> async_nats::Client {
    let connected = wait::within(CLUSTER_WITHIN).try_until(|| {
        async_nats::ConnectOptions::new()
            .user_and_password(user.to_owned(), password.to_owned())
            .request_timeout(Some(Duration::from_secs(2)))
            .connect(cluster.addrs())
    });
    match connected.await {
        Ok(client) => client,
        Err(timed_out) => cluster.fail(&format!("cannot connect as {user}: {timed_out}")),
    }
}

/// Sends `payload` to `subject` until `accept` takes the JSON reply, for at most
/// `CLUSTER_WITHIN`.
async fn poll(
    cluster: &Cluster,
    client: &async_nats::Client,
    subject: &'static str,
    payload: &'static str,
    accept: impl Fn(&Json) -> bool,
) -> Json {
    let answered = wait::within(CLUSTER_WITHIN).try_until(|| async {
        match client.request(subject, payload.into()).await {
            Ok(msg) => {
                let reply: Json = serde_json::from_slice(&msg.payload).unwrap_or(Json::Null);
                if accept(&reply) {
                    Ok(reply)
                } else {
                    Err(reply.to_string())
                }
            }
            Err(e) => Err(e.to_string()),
        }
    });
    match answered.await {
        Ok(reply) => reply,
        Err(timed_out) => cluster.fail(&format!(
            "{subject} never answered as expected: {timed_out}"
        )),
    }
}

#[tokio::test]
async fn the_cluster_configs_run_relance_on_r3_and_a_snapshot_restores_on_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(dir.path());

    // JetStream answers the service user once the meta group has a leader.
    let command = connect(&cluster, COMMAND).await;
    poll(&cluster, &command, "$JS.API.INFO", "", |r| {
        r.get("type").is_some() && r.get("error").is_none()
    })
    .await;

    // The meta leader (system account) sees a cluster of three, every peer current, and
    // syncs every write.
    let admin = connect(&cluster, ADMIN).await;
    let jsz = poll(
        &cluster,
        &admin,
        "$SYS.REQ.SERVER.PING.JSZ",
        r#"{"leader_only": true}"#,
        |r| {
            let meta = &r["data"]["meta_cluster"];
            let peers = meta["replicas"]
                .as_array()
                .map_or(&[][..], |v| v.as_slice());
            meta["cluster_size"] == 3
                && meta["leader"].as_str().is_some_and(|l| !l.is_empty())
                && peers.len() == 2
                && peers.iter().all(|p| p["current"] == true)
        },
    )
    .await;
    let data = &jsz["data"];
    assert_eq!(data["meta_cluster"]["name"], "relance", "{jsz}");
    assert_eq!(
        data["config"]["sync_always"], true,
        "sync_interval: always: {jsz}"
    );

    // relance, as deploy/README.md runs it: the command service creates the R3 stream as
    // `command`, a projection reads it as `projection`.
    let command_urls = cluster.urls(COMMAND);
    let mut command_node = RelanceProcess::serve(&[
        "--nats",
        &command_urls,
        "--role",
        "command",
        "--replicas",
        "3",
    ])
    .await;
    let projection_urls = cluster.urls(PROJECTION);
    let data_dir = dir.path().join("projection-1");
    let mut projection_node = RelanceProcess::serve(&[
        "--nats",
        &projection_urls,
        "--role",
        "projection",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ])
    .await;

    let js = jetstream::new(command.clone());
    let mut stream = js.get_stream("RELANCE_EVENTS").await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.num_replicas, 3);
    let placement = info.cluster.clone().expect("a clustered stream");
    assert!(placement.leader.is_some(), "{placement:?}");
    assert_eq!(placement.replicas.len(), 2, "{placement:?}");

    let server = command_node.url();
    let query_server = projection_node.url();
    let env = [
        ("RELANCE_SERVER", server.as_str()),
        ("RELANCE_QUERY_SERVER", query_server.as_str()),
    ];
    let (ok, out, err) = cli(
        &[
            "coop",
            "register",
            "REH-0002",
            "--name",
            "Annour",
            "--court",
            "TPI Benguérir",
            "--number",
            "102/2011",
            "--sector",
            "commerce_services",
            "--activity",
            "électricité du bâtiment",
            "--commune",
            "Benguérir",
            "--members",
            "40",
            "--registered-on",
            "2011-03-29",
        ],
        &env,
    );
    assert!(
        ok,
        "register on the cluster: {out}{err}\n{}",
        command_node.log_text()
    );
    let (ok, out, err) = cli(
        &[
            "coop",
            "show",
            "REH-0002",
            "--min-position",
            "1",
            "--output",
            "json",
        ],
        &env,
    );
    assert!(
        ok,
        "show from the projection: {out}{err}\n{}",
        projection_node.log_text()
    );
    assert!(out.contains("Annour"), "{out}");

    // Backups (deploy/README.md): the `backup` user snapshots the R3 stream; the server
    // refuses to restore over the existing stream; a service user may not snapshot.
    let backup = connect(&cluster, BACKUP).await;
    let (data, first) = snapshot(&backup).await;
    assert!(!data.is_empty(), "an empty snapshot");
    assert_eq!(first["state"]["messages"], 1, "{first}");
    let over_live = restore(&backup, &first["config"], &first["state"], &data).await;
    assert!(
        over_live.get("error").is_some(),
        "a restore over the live stream must be refused: {over_live}"
    );
    let denied = command
        .request(
            "$JS.API.STREAM.SNAPSHOT.RELANCE_EVENTS",
            r#"{"deliver_subject": "_INBOX.denied"}"#.into(),
        )
        .await;
    assert!(
        denied.is_err(),
        "the command user must not snapshot the stream: {denied:?}"
    );

    // The snapshot restored on a fresh single node (R1: deploy/nats/single.conf) holds the
    // same history: a projection there reports the digest the cluster's projection reports.
    let (ok, live_digest, err) = cli(
        &[
            "audit",
            "digest",
            "--min-position",
            "1",
            "--output",
            "json",
            "--server",
            &query_server,
        ],
        &[],
    );
    assert!(ok, "digest on the cluster: {err}");
    projection_node.kill();
    command_node.kill();
    drop(cluster);

    let single = start_single(&dir.path().join("restored"));
    let backup = connect(&single, BACKUP).await;
    let mut config = first["config"].clone();
    config["num_replicas"] = 1.into();
    let restored = restore(&backup, &config, &first["state"], &data).await;
    assert!(
        restored.get("error").is_none(),
        "restore refused: {restored}"
    );
    assert_eq!(
        restored["state"]["messages"], first["state"]["messages"],
        "{restored}"
    );
    assert_eq!(restored["config"]["deny_delete"], true, "{restored}");
    assert_eq!(restored["config"]["deny_purge"], true, "{restored}");
    let urls = single.urls(PROJECTION);
    let restored_dir = dir.path().join("projection-restored");
    let restored_node = RelanceProcess::serve(&[
        "--nats",
        &urls,
        "--role",
        "projection",
        "--data-dir",
        restored_dir.to_str().unwrap(),
    ])
    .await;
    let (ok, restored_digest, err) = cli(
        &[
            "audit",
            "digest",
            "--min-position",
            "1",
            "--output",
            "json",
            "--server",
            &restored_node.url(),
        ],
        &[],
    );
    assert!(ok, "digest on the restored node: {err}");
    eprintln!(
        "snapshot of the R3 stream: {} bytes; restored on one node, digest {}",
        data.len(),
        restored_digest.trim()
    );
    assert_eq!(
        restored_digest, live_digest,
        "the restored stream replays to the same views"
    );
}

/// Takes a snapshot of RELANCE_EVENTS over the JetStream API (what `nats stream backup`
/// does): the snapshot's bytes and the server's first answer (config and state).
async fn snapshot(client: &async_nats::Client) -> (Vec<u8>, Json) {
    use futures::StreamExt as _;
    let inbox = client.new_inbox();
    let mut chunks = client.subscribe(inbox.clone()).await.unwrap();
    let request = serde_json::json!({"deliver_subject": inbox, "no_consumers": true});
    let answer = client
        .request(
            "$JS.API.STREAM.SNAPSHOT.RELANCE_EVENTS",
            serde_json::to_vec(&request).unwrap().into(),
        )
        .await
        .expect("the backup user may snapshot");
    let answer: Json = serde_json::from_slice(&answer.payload).unwrap();
    assert!(answer.get("error").is_none(), "snapshot refused: {answer}");
    let mut data = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = chunks.next().await {
            // An empty message ends the snapshot; every chunk is acknowledged (flow control).
            if chunk.payload.is_empty() {
                return;
            }
            data.extend_from_slice(&chunk.payload);
            if let Some(reply) = chunk.reply {
                client.publish(reply, "".into()).await.unwrap();
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the snapshot did not end ({} bytes read)",
        data.len()
    );
    (data, answer)
}

/// Restores `data` as RELANCE_EVENTS with `config` over the JetStream API (what
/// `nats stream restore` does): the server's final answer.
async fn restore(client: &async_nats::Client, config: &Json, state: &Json, data: &[u8]) -> Json {
    let request = serde_json::json!({"config": config, "state": state});
    let answer = client
        .request(
            "$JS.API.STREAM.RESTORE.RELANCE_EVENTS",
            serde_json::to_vec(&request).unwrap().into(),
        )
        .await
        .expect("the backup user may restore");
    let answer: Json = serde_json::from_slice(&answer.payload).unwrap();
    let deliver = match answer["deliver_subject"].as_str() {
        Some(d) if answer.get("error").is_none() && !d.is_empty() => d,
        _ => return answer,
    };
    // Each chunk is acknowledged; an empty message ends the upload and gets the stream's info.
    for chunk in data.chunks(64 * 1024) {
        client
            .request(deliver.to_owned(), chunk.to_vec().into())
            .await
            .expect("a restore chunk is acknowledged");
    }
    let done = client
        .request(deliver.to_owned(), "".into())
        .await
        .expect("the restore ends with the stream's info");
    serde_json::from_slice(&done.payload).unwrap()
}
