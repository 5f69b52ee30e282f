//! The JetStream backend's own checks: the stream it creates or refuses, the headers a third
//! party reads, both read paths, and what happens when the server is away.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::stream::{Config, StorageType};
use futures::StreamExt;
use relance_log::conformance::request;
use relance_log::{EventLog, LogError};
use relance_log_nats::{headers, setup, ConnectError, JetStreamConfig, JetStreamLog};

use crate::server::{current_binary, legacy_binary, NatsServer};
use crate::{connect, coop, STREAM};

/// Creates `config`'s stream where a stream of that name was just deleted. The server removes a
/// deleted stream's store in the background, and under load a creation right after it fails
/// with "error creating store for stream" (10049) for a moment: that one is tried again, for
/// at most 10 s.
async fn create_anew(js: &async_nats::jetstream::Context, config: Config) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match js.create_stream(config.clone()).await {
            Ok(_) => return,
            Err(e) if e.to_string().contains("10049") && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("pre-existing stream: {e:?}"),
        }
    }
}

async fn refused(config: JetStreamConfig) -> ConnectError {
    match JetStreamLog::connect(config).await {
        Ok(_) => panic!("connect should have been refused"),
        Err(e) => e,
    }
}

/// A plain async-nats JetStream context, as a third party would use.
async fn plain(server: &NatsServer) -> async_nats::jetstream::Context {
    let client = async_nats::connect(server.url())
        .await
        .expect("plain connect");
    async_nats::jetstream::new(client)
}

#[tokio::test]
async fn created_stream_is_immutable() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    assert_eq!(log.backend(), "jetstream");
    let a = log.append(request("REH-1", 0, "r1")).await.expect("append");

    let js = plain(&server).await;
    let mut stream = js.get_stream(STREAM).await.expect("stream exists");
    let config = stream.info().await.expect("info").config.clone();
    assert_eq!(config.subjects, vec!["relance.v1.coop.>".to_owned()]);
    assert!(config.deny_delete, "deny_delete");
    assert!(config.deny_purge, "deny_purge");
    assert!(!config.allow_rollup, "allow_rollup");
    assert_eq!(config.storage, StorageType::File);
    assert_eq!(
        config.retention,
        async_nats::jetstream::stream::RetentionPolicy::Limits
    );
    assert_eq!(config.duplicate_window, Duration::from_secs(600));
    assert_eq!(config.num_replicas, 1);
    assert!(config.max_messages <= 0 && config.max_bytes <= 0 && config.max_age.is_zero());

    // And the server enforces it.
    assert!(
        stream.delete_message(a.position).await.is_err(),
        "a delete must be refused"
    );
    assert!(stream.purge().await.is_err(), "a purge must be refused");
    assert_eq!(log.read_from(0, 10).await.expect("read").len(), 1);
}

async fn refuses_unsafe_streams(binary: &Path) {
    let server = NatsServer::start(binary).await;
    let js = plain(&server).await;
    let good = setup::stream_config(&JetStreamConfig::new(server.url()));
    let cases: Vec<(&str, Config)> = vec![
        // The server only allows roll-ups together with purges.
        (
            "allow_rollup",
            Config {
                allow_rollup: true,
                deny_purge: false,
                ..good.clone()
            },
        ),
        (
            "deny_delete",
            Config {
                deny_delete: false,
                ..good.clone()
            },
        ),
        (
            "deny_purge",
            Config {
                deny_purge: false,
                ..good.clone()
            },
        ),
        (
            "subjects",
            Config {
                subjects: vec!["relance.v1.coop.>".into(), "other.>".into()],
                ..good.clone()
            },
        ),
        (
            "subjects",
            Config {
                subjects: vec!["relance.v1.coop.*".into()],
                ..good.clone()
            },
        ),
        (
            "max_age",
            Config {
                max_age: Duration::from_secs(3600),
                ..good.clone()
            },
        ),
        (
            "max_msgs",
            Config {
                max_messages: 1000,
                ..good.clone()
            },
        ),
        (
            "storage",
            Config {
                storage: StorageType::Memory,
                ..good.clone()
            },
        ),
    ];
    for (setting, config) in cases {
        create_anew(&js, config).await;
        let err = refused(JetStreamConfig::new(server.url())).await;
        let text = err.to_string();
        assert!(
            matches!(&err, ConnectError::UnsafeStream { setting: s, .. } if s.starts_with(setting)),
            "{setting}: {text}"
        );
        assert!(text.contains(setting) && text.contains("Fix:"), "{text}");
        if setting != "storage" {
            assert!(
                text.contains(&format!("nats stream edit {STREAM}")),
                "{text}"
            );
        }
        js.delete_stream(STREAM)
            .await
            .expect("remove the case's stream");
    }
    // A safe stream made by someone else is used as it is.
    let theirs = Config {
        duplicate_window: Duration::from_secs(120),
        ..good
    };
    create_anew(&js, theirs).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    log.append(request("REH-1", 0, "r1")).await.expect("append");
    let info = js
        .get_stream(STREAM)
        .await
        .expect("stream")
        .cached_info()
        .clone();
    assert_eq!(
        info.config.duplicate_window,
        Duration::from_secs(120),
        "left untouched"
    );
}

#[tokio::test]
async fn unsafe_existing_streams_are_refused() {
    refuses_unsafe_streams(current_binary()).await;
}

#[tokio::test]
async fn unsafe_existing_streams_are_refused_on_2_9_10() {
    let Some(binary) = legacy_binary() else {
        eprintln!("{}", crate::server::LEGACY_MISSING);
        return;
    };
    refuses_unsafe_streams(binary).await;
}

#[tokio::test]
async fn replicated_stream_is_refused_on_2_9_10() {
    let Some(binary) = legacy_binary() else {
        eprintln!("{}", crate::server::LEGACY_MISSING);
        return;
    };
    let server = NatsServer::start(binary).await;
    let err = refused(JetStreamConfig {
        replicas: 3,
        ..JetStreamConfig::new(server.url())
    })
    .await;
    assert!(
        matches!(err, ConnectError::ServerTooOld { replicas: 3, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("2.9.10") && text.contains("2.11.0") && text.contains("nats-server#4320"),
        "{text}"
    );
    // Refused before anything was created.
    let js = plain(&server).await;
    assert!(
        js.get_stream(STREAM).await.is_err(),
        "no stream was created"
    );
    // One replica is fine on that server.
    connect(JetStreamConfig::new(server.url())).await;
}

#[tokio::test]
async fn replicated_stream_passes_the_version_check_on_a_current_server() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    let version = relance_log_nats::ServerVersion::parse(log.server_version()).expect("version");
    assert!(version.supports_replicas(3), "{version}");
    drop(log);
    let js = plain(&server).await;
    js.delete_stream(STREAM).await.expect("remove");
    // A single server cannot hold R3: the server says so, not the version check.
    let err = refused(JetStreamConfig {
        replicas: 3,
        ..JetStreamConfig::new(server.url())
    })
    .await;
    assert!(matches!(err, ConnectError::JetStream(_)), "{err}");
}

#[tokio::test]
async fn messages_carry_headers_a_third_party_can_read() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    log.append(request("REH-7", 0, "r1")).await.expect("append");
    let second = log.append(request("REH-7", 1, "r2")).await.expect("append");

    let js = plain(&server).await;
    let stream = js.get_stream(STREAM).await.expect("stream");
    let message = stream
        .direct_get(second.position)
        .await
        .expect("direct get");
    assert_eq!(message.subject.as_str(), "relance.v1.coop.REH-7");
    assert_eq!(message.payload.as_ref(), b"payload REH-7 r2");
    let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
    let expected = [
        ("Relance-Event-Type", "HeadcountReported".to_owned()),
        ("Relance-Schema-Version", "1".to_owned()),
        ("Relance-Event-Id", "evt-REH-7-r2".to_owned()),
        ("Relance-Cooperative-Id", "REH-7".to_owned()),
        ("Relance-Version", "2".to_owned()),
        ("Relance-Request-Id", "r2".to_owned()),
        (
            "Content-Type",
            "application/protobuf; proto=relance.v1.Envelope".to_owned(),
        ),
        ("Nats-Msg-Id", headers::message_id(&coop("REH-7"), "r2")),
    ];
    for (name, value) in expected {
        assert_eq!(header(name), Some(value), "header {name}");
    }

    // Ids that NATS headers cannot carry verbatim are percent-encoded and read back intact.
    let awkward = " padded 100% ";
    let a = log
        .append(request("REH-8", 0, awkward))
        .await
        .expect("append");
    let message = stream.direct_get(a.position).await.expect("direct get");
    assert_eq!(
        message
            .headers
            .get("Relance-Request-Id")
            .map(|v| v.as_str().to_owned()),
        Some("%20padded 100%25%20".to_owned())
    );
    let events = log.read_cooperative(&coop("REH-8")).await.expect("read");
    assert_eq!(events[0].request_id, awkward);
    let again = log
        .append(request("REH-8", 0, awkward))
        .await
        .expect("retry");
    assert!(again.duplicate && again.position == a.position);
}

/// A cooperative's history read with batch direct gets (over more than one batch of 1,024),
/// one direct get at a time and through an ordered consumer is the same, and is what was
/// appended.
#[tokio::test]
async fn batch_gets_single_gets_and_consumers_read_the_same_history() {
    let server = NatsServer::start(current_binary()).await;
    let by_batch = connect(JetStreamConfig::new(server.url())).await;
    let by_get = connect(JetStreamConfig {
        direct_read_limit: 5000,
        batch_get: false,
        ..JetStreamConfig::new(server.url())
    })
    .await;
    let by_consumer = connect(JetStreamConfig {
        direct_read_limit: 0,
        batch_get: false,
        ..JetStreamConfig::new(server.url())
    })
    .await;
    let mut versions = [0u64; 2];
    for i in 0..2100u64 {
        let which = usize::from(i % 7 == 0);
        let id = ["REH-1", "REH-2"][which];
        let a = by_batch
            .append(request(id, versions[which], &format!("r{i}")))
            .await
            .expect("append");
        versions[which] = a.version;
    }
    for id in ["REH-1", "REH-2", "REH-3"] {
        let a = by_batch.read_cooperative(&coop(id)).await.expect("read");
        assert_eq!(
            a.iter().map(|e| e.version).collect::<Vec<_>>(),
            (1..=a.len() as u64).collect::<Vec<_>>(),
            "{id}: every version once, in order"
        );
        assert_eq!(
            a,
            by_get.read_cooperative(&coop(id)).await.expect("read"),
            "{id}"
        );
        assert_eq!(
            a,
            by_consumer.read_cooperative(&coop(id)).await.expect("read"),
            "{id}"
        );
    }
    assert_eq!(
        by_batch
            .read_cooperative(&coop("REH-1"))
            .await
            .expect("read")
            .len() as u64,
        versions[0]
    );
    assert_eq!(versions[0], 1800, "more than one batch of 1,024");
}

#[tokio::test]
async fn gets_and_consumers_read_the_same_events() {
    let server = NatsServer::start(current_binary()).await;
    let by_get = connect(JetStreamConfig {
        direct_read_limit: 1000,
        batch_get: false,
        ..JetStreamConfig::new(server.url())
    })
    .await;
    let by_consumer = connect(JetStreamConfig {
        direct_read_limit: 0,
        ..JetStreamConfig::new(server.url())
    })
    .await;
    let mut last = [(0u64, 0u64); 2];
    for i in 0..45u64 {
        let which = usize::from(i % 3 == 0);
        let id = ["REH-1", "REH-2"][which];
        let (v, _) = last[which];
        let a = by_get
            .append(request(id, v, &format!("r{i}")))
            .await
            .expect("append");
        last[which] = (a.version, a.position);
    }
    for id in ["REH-1", "REH-2", "REH-3"] {
        let a = by_get.read_cooperative(&coop(id)).await.expect("read");
        let b = by_consumer.read_cooperative(&coop(id)).await.expect("read");
        assert_eq!(a, b, "{id}");
    }
    assert_eq!(
        by_get
            .read_cooperative(&coop("REH-1"))
            .await
            .expect("read")
            .len(),
        30
    );
    assert_eq!(
        by_consumer
            .read_cooperative(&coop("REH-2"))
            .await
            .expect("read")
            .len(),
        15
    );
    for (from, max) in [(0, 100), (5, 7), (40, 10), (45, 1), (46, 5), (1, 45)] {
        let a = by_get.read_from(from, max).await.expect("read");
        let b = by_consumer.read_from(from, max).await.expect("read");
        assert_eq!(a, b, "read_from({from}, {max})");
        let want: Vec<u64> = (from.max(1)..=45).take(max).collect();
        assert_eq!(
            a.iter().map(|e| e.position).collect::<Vec<_>>(),
            want,
            "read_from({from}, {max})"
        );
    }
}

#[tokio::test]
async fn follow_from_past_the_head_starts_at_that_position() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    let a = log.append(request("REH-1", 0, "r1")).await.expect("append");
    let mut stream = log.follow(a.position + 3).await.expect("follow");
    let mut last = (a.version, a.position);
    for i in 2..=4 {
        let next = log
            .append(request("REH-1", last.0, &format!("r{i}")))
            .await
            .expect("append");
        last = (next.version, next.position);
    }
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("in time");
    let first = first.expect("item").expect("ok");
    assert_eq!(
        (first.position, first.version, first.request_id.as_str()),
        (a.position + 3, 4, "r4")
    );
}

/// The next `n` events of `stream`, each within 10 s.
async fn next_events(stream: &mut relance_log::EventStream, n: usize) -> Vec<(u64, String)> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        let e = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("the follower goes on")
            .expect("an event");
        got.push((e.position, e.request_id));
    }
    got
}

#[tokio::test]
async fn a_follower_reads_past_many_pull_requests_every_position_once_in_order() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    // More than two pull requests' worth, over many cooperatives.
    let total = 2 * relance_log_nats::FOLLOW_BATCH + 500;
    let requests: Vec<_> = (0..total)
        .map(|i| {
            request(
                &format!("REH-{}", i % 300),
                (i / 300) as u64,
                &format!("r{i}"),
            )
        })
        .collect();
    for chunk in requests.chunks(1_000) {
        for r in log.append_batch(chunk.to_vec()).await {
            r.expect("append");
        }
    }
    let mut stream = log.follow(1).await.expect("follow");
    let got = next_events(&mut stream, total).await;
    let positions: Vec<u64> = got.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, (1..=total as u64).collect::<Vec<_>>());
    assert_eq!(got[total - 1].1, format!("r{}", total - 1));
}

#[tokio::test]
async fn a_follower_asks_no_more_than_the_servers_max_request_batch() {
    // A server that refuses pull requests for more than 100 messages.
    let dir = tempfile::tempdir().expect("config directory");
    let config = dir.path().join("limits.conf");
    std::fs::write(&config, "jetstream { limits { max_request_batch: 100 } }\n")
        .expect("write the config");
    let server = NatsServer::start_with_config(current_binary(), &config).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    let requests: Vec<_> = (0..350)
        .map(|i| request(&format!("REH-{i}"), 0, "r"))
        .collect();
    for r in log.append_batch(requests).await {
        r.expect("append");
    }
    let mut stream = log.follow(1).await.expect("follow");
    let got = next_events(&mut stream, 350).await;
    let positions: Vec<u64> = got.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, (1..=350).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_follower_whose_consumer_is_deleted_goes_on_from_the_next_position() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    let mut version = 0;
    let mut append = |log: &JetStreamLog, i: u64| {
        version += 1;
        let r = request("REH-7", version - 1, &format!("r{i}"));
        let log = log.clone();
        async move { log.append(r).await.expect("append").position }
    };
    for i in 1..=3 {
        append(&log, i).await;
    }
    let mut stream = log.follow(1).await.expect("follow");
    let first = next_events(&mut stream, 3).await;
    assert_eq!(first.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [1, 2, 3]);
    // Someone deletes the follower's consumer on the server.
    let js = plain(&server).await;
    let on_server = js.get_stream(STREAM).await.expect("stream");
    let names: Vec<String> = on_server
        .consumer_names()
        .map(|n| n.expect("consumer name"))
        .collect()
        .await;
    assert_eq!(names.len(), 1, "one consumer follows: {names:?}");
    on_server
        .delete_consumer(&names[0])
        .await
        .expect("delete the consumer");
    for i in 4..=6 {
        append(&log, i).await;
    }
    let next = next_events(&mut stream, 3).await;
    assert_eq!(
        next,
        [
            (4, "r4".to_owned()),
            (5, "r5".to_owned()),
            (6, "r6".to_owned())
        ],
        "nothing skipped, nothing repeated"
    );
}

#[tokio::test]
async fn a_writer_that_never_read_the_cooperative_still_appends_at_the_right_sequence() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    let a = log.append(request("REH-1", 0, "a")).await.expect("append");
    log.append(request("REH-2", 0, "b")).await.expect("append");
    // A second process: it remembers no head, so it finds REH-1's last sequence on the stream.
    let other = connect(JetStreamConfig::new(server.url())).await;
    let next = other
        .append(request("REH-1", 1, "c"))
        .await
        .expect("appends at version 2");
    assert_eq!(next.version, 2);
    assert!(next.position > a.position);
    // Stale or future versions, from either process, are conflicts that write nothing.
    let head = log.last_position().await.expect("head");
    for (writer, expected) in [(&log, 1), (&other, 0), (&other, 3)] {
        let err = writer
            .append(request("REH-1", expected, "d"))
            .await
            .expect_err("conflict");
        assert!(
            matches!(err, LogError::Conflict { expected: e, actual: 2, .. } if e == expected),
            "{expected}: {err:?}"
        );
    }
    assert_eq!(log.last_position().await.expect("head"), head);
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let config = JetStreamConfig {
        publish_timeout: Duration::from_secs(1),
        ..JetStreamConfig::new(format!("nats://127.0.0.1:{port}"))
    };
    let err = refused(config).await;
    assert!(matches!(err, ConnectError::Unavailable(_)), "{err}");
    assert!(matches!(LogError::from(err), LogError::Unavailable(_)));
}

#[tokio::test]
async fn appends_while_the_server_is_down_are_unavailable_then_retried_once() {
    let mut server = NatsServer::start(current_binary()).await;
    let config = JetStreamConfig {
        publish_timeout: Duration::from_millis(300),
        publish_retries: 2,
        retry_backoff: Duration::from_millis(10),
        ..JetStreamConfig::new(server.url())
    };
    let log = connect(config.clone()).await;
    log.append(request("REH-1", 0, "r0")).await.expect("append");
    server.kill();
    let err = log
        .append(request("REH-2", 0, "r1"))
        .await
        .expect_err("server down");
    assert!(
        matches!(&err, LogError::Unavailable(m) if m.contains("3 attempts")),
        "{err:?}"
    );
    assert!(matches!(
        log.last_position().await,
        Err(LogError::Unavailable(_))
    ));

    server.launch().await;
    // The caller retries the same request; the first client may also deliver its buffered
    // publish when it reconnects. Either way the event is stored once.
    let again = connect(JetStreamConfig {
        publish_timeout: Duration::from_secs(5),
        ..config
    })
    .await
    .append(request("REH-2", 0, "r1"))
    .await
    .expect("retry after the restart");
    assert_eq!(again.version, 1);
    let events = log.read_cooperative(&coop("REH-2")).await;
    let events = match events {
        Ok(events) => events,
        // The first client may still be reconnecting: read with a fresh one.
        Err(_) => connect(JetStreamConfig::new(server.url()))
            .await
            .read_cooperative(&coop("REH-2"))
            .await
            .expect("read"),
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].position, again.position);
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let base = JetStreamConfig::new("nats://127.0.0.1:1");
    let cases = [
        JetStreamConfig {
            stream: "RELANCE.EVENTS".into(),
            ..base.clone()
        },
        JetStreamConfig {
            stream: String::new(),
            ..base.clone()
        },
        JetStreamConfig {
            subject_prefix: "relance..coop".into(),
            ..base.clone()
        },
        JetStreamConfig {
            subject_prefix: "relance.*".into(),
            ..base.clone()
        },
        JetStreamConfig {
            replicas: 0,
            ..base.clone()
        },
        JetStreamConfig {
            replicas: 7,
            ..base.clone()
        },
        JetStreamConfig {
            url: " , ".into(),
            ..base.clone()
        },
    ];
    for config in cases {
        let err = refused(config.clone()).await;
        assert!(
            matches!(err, ConnectError::InvalidConfig(_)),
            "{config:?}: {err}"
        );
    }
}

#[tokio::test]
async fn a_follower_whose_stream_is_deleted_reports_a_storage_error_and_ends() {
    let server = NatsServer::start(current_binary()).await;
    let log = connect(JetStreamConfig::new(server.url())).await;
    log.append(request("REH-1", 0, "r1")).await.expect("append");
    let mut stream = log.follow(1).await.expect("follow");
    next_events(&mut stream, 1).await;
    plain(&server)
        .await
        .delete_stream(STREAM)
        .await
        .expect("delete the stream");
    let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an answer in time");
    match next {
        Some(Err(LogError::Storage(m))) => assert!(m.contains("stream not found"), "{m}"),
        other => panic!("a storage error, not a wait for a stream that is gone: {other:?}"),
    }
    assert!(stream.next().await.is_none(), "the follower ends");
    assert!(matches!(log.follow(1).await, Err(LogError::Storage(_))));
}
