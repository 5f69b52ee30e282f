//! Running relance as a service: metrics, status, graceful stop, rebuild, backup and restore.

use std::net::SocketAddr;
use std::path::Path;

use std::time::Duration;

use relance_proto::v1;
use relance_tests::nats::{current_binary, NatsServer};
use relance_tests::requests::{self, Overrides as _};
use relance_tests::{cli, wait, RelanceProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

/// Cooperative `i` (every fifth in artisanat).
fn registration(i: usize) -> v1::RegisterRequest {
    requests::register(&format!("REH-{i:04}"), &format!("reg-{i}")).with(|d| {
        d.name = format!("Coopérative {i}");
        if i.is_multiple_of(5) {
            d.sector = v1::Sector::Artisanat as i32;
        }
    })
}

/// A partial halt of cooperative `i`, 5 workers idled.
fn halt(i: usize) -> v1::HaltRequest {
    requests::halt(&format!("REH-{i:04}"), &format!("halt-{i}")).with(|d| {
        d.scope = v1::HaltScope::Partial as i32;
        d.workers_affected = 5;
    })
}

/// Registers `n` cooperatives and halts every other one; the last reply's position.
async fn record(node: &RelanceProcess, n: usize) -> u64 {
    let mut c = node.commands().await;
    let mut last = 0;
    for i in 1..=n {
        last = c
            .register(registration(i))
            .await
            .expect("register")
            .into_inner()
            .position;
        if i % 2 == 0 {
            last = c.halt(halt(i)).await.expect("halt").into_inner().position;
        }
    }
    last
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_commands_latency_conflicts_lag_and_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = relance_tests::ports::free_addr();
    let node = RelanceProcess::serve(&[
        "--data-dir",
        s(dir.path()),
        "--metrics",
        &metrics.to_string(),
    ])
    .await;
    let last = record(&node, 6).await;
    let mut c = node.commands().await;
    let again = halt(2).with_meta(|m| m.request_id = "halt-2-again".into());
    let refused = c
        .halt(again)
        .await
        .expect_err("second halt of a halted cooperative");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    node.queries()
        .await
        .summary(v1::SummaryRequest { min_position: last })
        .await
        .expect("caught up");

    let text = http_get(metrics, "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for series in [
        r#"relance_commands_total{command="CooperativeRegistered",outcome="accepted"} 6"#,
        r#"relance_commands_total{command="ActivityHalted",outcome="accepted"} 3"#,
        r#"relance_commands_total{command="ActivityHalted",outcome="failed_precondition"} 1"#,
        "relance_append_seconds_count 9",
        "relance_append_seconds_bucket{",
        "relance_append_conflicts_total 0",
        "relance_projection_lag_events 0",
        "relance_projection_lag_seconds 0",
        &format!("relance_projection_checkpoint {last}"),
        &format!("relance_log_head {last}"),
        &format!("relance_projection_events_applied_total {last}"),
        "relance_projection_sled_bytes ",
        "relance_projection_quarantined_cooperatives 0",
    ] {
        assert!(text.contains(series), "missing {series:?} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_the_role_positions_and_lag_of_each_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = RelanceProcess::serve(&["--data-dir", s(dir.path())]).await;
    let last = record(&node, 3).await;
    node.queries()
        .await
        .summary(v1::SummaryRequest { min_position: last })
        .await
        .expect("caught up");
    let (ok, out, err) = cli(
        &["--server", &node.url(), "status", "--output", "json"],
        &[],
    );
    assert!(ok, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).expect("json");
    let n = &status[0];
    assert_eq!(n["health"], "Serving");
    assert_eq!(n["role"], "all");
    assert_eq!(n["backend"], "embedded");
    assert_eq!(n["log_head"], last);
    assert_eq!(n["checkpoint"], last);
    assert_eq!(n["lag_events"], 0);
    assert_eq!(
        n["atomic_batch"], "",
        "the embedded log has no atomic batches to speak of"
    );
}

/// `relance status` says whether a JetStream node groups appends into atomic batches: yes on
/// a current nats-server, no on 2.9.10 (which it still writes to, one publish per append).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_whether_jetstream_appends_leave_in_atomic_batches() {
    let mut servers = vec![(NatsServer::start(current_binary()).await, "supported")];
    match relance_tests::nats::legacy_binary() {
        Some(old) => servers.push((NatsServer::start(old).await, "not supported")),
        None => eprintln!("{}", relance_tests::nats::LEGACY_MISSING),
    }
    for (nats, expected) in &servers {
        let url = nats.url();
        let node = RelanceProcess::serve(&["--nats", &url, "--role", "command"]).await;
        let (ok, out, err) = cli(
            &["--server", &node.url(), "status", "--output", "json"],
            &[],
        );
        assert!(ok, "{err}");
        let status: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(status[0]["backend"], "jetstream");
        assert_eq!(status[0]["atomic_batch"], *expected, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_every_acknowledged_event_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = RelanceProcess::serve(&["--data-dir", s(dir.path())]).await;
    let url = node.url();
    let mut tasks = Vec::new();
    for t in 0..8usize {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let channel = tonic::transport::Channel::from_shared(url)
                .expect("url")
                .connect()
                .await
                .expect("connect");
            let mut c = v1::cooperative_commands_client::CooperativeCommandsClient::new(channel);
            let mut acked = Vec::new();
            for i in 0..200 {
                match c.register(registration(t * 1000 + i + 1)).await {
                    Ok(r) => acked.push(r.into_inner().event_id),
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    // Stop while they write: once some are acknowledged (checked back to back, so the stop
    // comes while they are still writing).
    let q = node.queries().await;
    wait::within(Duration::from_secs(60))
        .max_pause(Duration::ZERO)
        .until(|| {
            let mut q = q.clone();
            async move {
                let s = q
                    .summary(v1::SummaryRequest { min_position: 0 })
                    .await
                    .expect("summary")
                    .into_inner();
                if s.cooperatives >= 40 {
                    Ok(())
                } else {
                    Err(format!("{} cooperatives", s.cooperatives))
                }
            }
        })
        .await;
    drop(q);
    let status = tokio::task::spawn_blocking(move || {
        let status = node.terminate();
        (node, status)
    });
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("task"));
    }
    let (_, status) = status.await.expect("terminate");
    assert!(
        status.is_some_and(|s| s.success()),
        "a SIGTERM stop is a clean exit: {status:?}"
    );
    assert!(acked.len() >= 40, "{} acknowledged", acked.len());

    let node = RelanceProcess::serve(&["--data-dir", s(dir.path())]).await;
    let mut q = node.queries().await;
    let summary = q
        .summary(v1::SummaryRequest { min_position: 0 })
        .await
        .expect("summary")
        .into_inner();
    let head = summary.position;
    let summary = q
        .summary(v1::SummaryRequest { min_position: head })
        .await
        .expect("summary")
        .into_inner();
    assert!(
        summary.cooperatives as usize >= acked.len(),
        "{} kept < {} acknowledged",
        summary.cooperatives,
        acked.len()
    );
    let (ok, out, err) = cli(&["--server", &node.url(), "audit", "export"], &[]);
    assert!(ok, "{err}");
    for id in &acked {
        assert_eq!(
            out.matches(id.as_str()).count(),
            1,
            "acknowledged event {id} is in the log exactly once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_into_an_empty_stream_gives_the_same_digest_and_rebuild_agrees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    let export = dir.path().join("history.jsonl");
    let mut node = RelanceProcess::serve(&["--data-dir", s(&a)]).await;
    let last = record(&node, 12).await;
    node.queries()
        .await
        .summary(v1::SummaryRequest { min_position: last })
        .await
        .expect("caught up");
    let (ok, _, err) = cli(
        &["--server", &node.url(), "audit", "export", "-o", s(&export)],
        &[],
    );
    assert!(ok, "{err}");
    let (ok, live, err) = cli(&["--server", &node.url(), "audit", "digest"], &[]);
    assert!(ok, "{err}");
    let digest = live.split_whitespace().nth(1).expect("digest").to_owned();
    assert!(live.contains(&format!("position {last}")), "{live}");
    node.terminate();

    // The views rebuilt from the log alone.
    let (ok, out, err) = cli(&["projection", "rebuild", "--data-dir", s(&a)], &[]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("digest {digest}")), "{out}");
    assert!(out.contains("on disk, compacted from"), "{out}");

    // Restore into an empty JetStream stream, then a projection of it.
    let nats = NatsServer::start(current_binary()).await;
    let (ok, out, err) = cli(&["audit", "import", s(&export), "--nats", &nats.url()], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("imported {last} events")), "{out}");
    let (ok, _, err) = cli(&["audit", "import", s(&export), "--nats", &nats.url()], &[]);
    assert!(
        !ok && err.contains("not empty"),
        "a second import into a non-empty log is refused: {err}"
    );
    let projection = RelanceProcess::serve(&[
        "--nats",
        &nats.url(),
        "--role",
        "projection",
        "--data-dir",
        s(&dir.path().join("p")),
    ])
    .await;
    projection
        .queries()
        .await
        .summary(v1::SummaryRequest { min_position: last })
        .await
        .expect("caught up");
    let (ok, restored, err) = cli(&["--server", &projection.url(), "audit", "digest"], &[]);
    assert!(ok, "{err}");
    assert_eq!(
        restored.split_whitespace().nth(1),
        Some(digest.as_str()),
        "{restored} vs {live}"
    );
}

/// `id`'s history as `node` answers it.
async fn history_of(node: &RelanceProcess, id: &str) -> v1::HistoryReply {
    node.queries()
        .await
        .history(v1::HistoryRequest {
            cooperative_id: id.into(),
            min_position: 0,
        })
        .await
        .unwrap_or_else(|e| panic!("history of {id}: {e}"))
        .into_inner()
}

/// On JetStream the views can be rebuilt into a fresh directory while the old ones keep
/// serving (a rebuild reads the stream, not the serving node), then switched to by starting
/// the projection on the new directory: it answers at once, with the old views' digest, and
/// reads its histories from the stream (the views keep no copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_rebuilt_beside_a_serving_projection_are_switched_to_with_the_same_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nats = NatsServer::start(current_binary()).await;
    let old = dir.path().join("old");
    let new = dir.path().join("new");
    let serving = RelanceProcess::serve(&["--nats", &nats.url(), "--data-dir", s(&old)]).await;
    let last = record(&serving, 10).await;
    serving
        .queries()
        .await
        .summary(v1::SummaryRequest { min_position: last })
        .await
        .expect("caught up");
    let (ok, live, err) = cli(&["--server", &serving.url(), "audit", "digest"], &[]);
    assert!(ok, "{err}");
    let digest = live.split_whitespace().nth(1).expect("digest").to_owned();

    let (ok, out, err) = cli(
        &[
            "projection",
            "rebuild",
            "--data-dir",
            s(&new),
            "--nats",
            &nats.url(),
        ],
        &[],
    );
    assert!(ok, "a rebuild beside the serving views: {out}{err}");
    assert!(out.contains(&format!("digest {digest}")), "{out}");
    let history = history_of(&serving, "REH-0004").await;
    drop(serving);

    let switched = RelanceProcess::serve(&["--nats", &nats.url(), "--data-dir", s(&new)]).await;
    let (ok, status, err) = cli(&["--server", &switched.url(), "audit", "digest"], &[]);
    assert!(ok, "{err}");
    assert!(
        status.contains(&digest) && status.contains(&format!("position {last}")),
        "the switched views answer at once with the same digest: {status}"
    );
    let again = history_of(&switched, "REH-0004").await;
    assert_eq!(again, history);
    assert_eq!(again.events.len(), 2, "a registration and a halt");
}

/// Asks queries of `node` until `stop` is set; the number answered and every failure.
async fn ask_until(
    node: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (usize, Vec<String>) {
    let channel = tonic::transport::Channel::from_shared(node)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut q = v1::cooperative_queries_client::CooperativeQueriesClient::new(channel);
    let (mut answered, mut failures) = (0, Vec::new());
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let get = q
            .get(v1::GetRequest {
                cooperative_id: "REH-0002".into(),
                min_position: 0,
            })
            .await;
        let summary = q.summary(v1::SummaryRequest { min_position: 0 }).await;
        for r in [get.map(|_| ()), summary.map(|_| ())] {
            match r {
                Ok(()) => answered += 1,
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    (answered, failures)
}

/// The digest `node` reports, and the position it is at.
fn digest_of(node: &RelanceProcess) -> String {
    let (ok, out, err) = cli(&["--server", &node.url(), "audit", "digest"], &[]);
    assert!(ok, "{err}");
    out
}

/// `relance projection rebuild --live`: the node rebuilds its views beside the served ones
/// while queries keep being answered, switches to them (the same digest and histories), keeps
/// following the log on them, reports the rebuild in status and metrics, removes the old views
/// and serves the rebuilt ones after a restart.
async fn a_live_rebuild_switches_without_a_failed_query(nats: Option<&NatsServer>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let metrics = relance_tests::ports::free_addr();
    let mut args = vec!["--data-dir", s(&data), "--metrics"];
    let metrics_at = metrics.to_string();
    args.push(&metrics_at);
    let url = nats.map(NatsServer::url);
    if let Some(u) = &url {
        args.extend(["--nats", u]);
    }
    let node = RelanceProcess::serve(&args).await;
    let last = record(&node, 60).await;
    let before = digest_of(&node);
    assert!(before.contains(&format!("position {last}")), "{before}");
    let history = history_of(&node, "REH-0004").await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asking = tokio::spawn(ask_until(node.url(), stop.clone()));
    let (ok, out, err) = cli(
        &["--server", &node.url(), "projection", "rebuild", "--live"],
        &[],
    );
    assert!(ok, "the live rebuild: {out}{err}");
    assert!(
        out.contains(&format!("switched to the rebuilt views at position {last}")),
        "{out}"
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (answered, failures) = asking.await.expect("queries");
    assert!(
        failures.is_empty(),
        "queries failed across the switch: {failures:?}"
    );
    assert!(answered > 0);
    assert_eq!(
        digest_of(&node),
        before,
        "the rebuilt views are the same views"
    );
    assert_eq!(history_of(&node, "REH-0004").await, history);

    let (ok, status, err) = cli(&["--server", &node.url(), "status"], &[]);
    assert!(ok, "{err}");
    assert!(
        status.contains(&format!(
            "rebuild                  switched at position {last}"
        )),
        "{status}"
    );
    let text = http_get(metrics, "/metrics").await;
    for line in [
        "relance_rebuild_running 0",
        &format!("relance_rebuild_position {last}"),
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }

    // The rebuilt views follow the log.
    let mut c = node.commands().await;
    let later = c
        .register(registration(61))
        .await
        .expect("register after the switch")
        .into_inner()
        .position;
    node.queries()
        .await
        .get(v1::GetRequest {
            cooperative_id: "REH-0061".into(),
            min_position: later,
        })
        .await
        .expect("the rebuilt views apply new events");
    let served = std::fs::read_to_string(data.join("projection.current")).expect("pointer");
    let served = served.trim().to_owned();
    assert!(
        served.starts_with("projection.") && data.join(&served).is_dir(),
        "{served}"
    );
    // The rebuild compacted its views into a second fresh directory and removed the first.
    let rebuilt: Vec<String> = std::fs::read_dir(&data)
        .expect("the data directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix("projection.")
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    assert_eq!(
        rebuilt,
        vec![served.clone()],
        "only the compacted copy is left"
    );
    let old = data.join("projection");
    wait::eventually(Duration::from_secs(70), || {
        let gone = !old.exists();
        async move { gone.then_some(()) }
    })
    .await;
    let after = digest_of(&node);
    drop(node);

    let restarted = RelanceProcess::serve(&args).await;
    assert_eq!(
        digest_of(&restarted),
        after,
        "a restart serves the rebuilt views"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_rebuild_switches_an_embedded_node_without_a_failed_query() {
    a_live_rebuild_switches_without_a_failed_query(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_rebuild_switches_a_jetstream_node_without_a_failed_query() {
    let nats = NatsServer::start(current_binary()).await;
    a_live_rebuild_switches_without_a_failed_query(Some(&nats)).await;
}
