//! Schema evolution on a live node, both backends: the history written by relance's first
//! release (crates/relance-audit/tests/fixtures/v1-history.jsonl, halts of schema version 1)
//! is imported unchanged, new halts are recorded as version 2 beside them (one on a chain that
//! already holds version-1 halts), and then: the stored version-1 events come back as they were
//! written, the export verifies, and the offline replay of that mixed export gives the digest
//! the live node reports.

use std::path::{Path, PathBuf};

use relance_proto::v1;
use relance_proto::v1::envelope::Event as E;
use relance_proto::v1::subscriptions_client::SubscriptionsClient;
use relance_tests::nats::current_binary;
use relance_tests::requests::{self, prefecture};
use relance_tests::{cli, cli_ok, NatsServer, RelanceProcess};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/relance-audit/tests/fixtures/v1-history.jsonl")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A halt with a structured legal basis (schema version 2).
fn structured_halt(coop: &str, request_id: &str) -> v1::HaltRequest {
    let mut r = requests::halt(coop, request_id);
    if let Some(d) = r.data.as_mut() {
        d.decision_ref.clear();
        d.effective_on = "2020-07-01".to_owned();
    }
    r.legal_basis = Some(v1::LegalBasis {
        instrument: v1::LegalInstrument::Order as i32,
        reference: "Arrêté gubernatorial n° 31/2020".to_owned(),
        issued_on: "2020-06-30".to_owned(),
    });
    r
}

/// Every stored envelope, from position 1 to `head`, through Watch (the bytes as stored).
async fn stored(node: &RelanceProcess, head: u64) -> Vec<v1::Envelope> {
    let mut stream = SubscriptionsClient::new(node.channel().await)
        .watch(prefecture(v1::WatchRequest {
            from_position: 1,
            ..Default::default()
        }))
        .await
        .expect("Watch starts")
        .into_inner();
    let mut out = Vec::new();
    while out.len() < usize::try_from(head).expect("small") {
        let message = stream.message().await.expect("no error").expect("more");
        if let Some(v1::watch_response::Item::Event(e)) = message.item {
            out.push(e);
        }
    }
    out
}

async fn both_versions_replay_to_the_live_digest(nats: Option<&NatsServer>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let url = nats.map(NatsServer::url);
    let mut target = vec!["--data-dir", s(&data)];
    if let Some(url) = &url {
        target.extend(["--nats", url.as_str()]);
    }
    let fixture = fixture();
    let mut import = vec!["audit", "import", s(&fixture)];
    import.extend_from_slice(&target);
    let (ok, out, err) = cli(&import, &[]);
    assert!(ok, "import of the v1 fixture:\n{out}\n{err}");
    let node = RelanceProcess::serve(&target).await;
    let server = node.url();

    // Version 2 beside version 1: on REH-0001 (whose chain holds a v1 halt, resumed since) and
    // through the CLI on a new cooperative.
    let mut c = node.commands().await;
    c.halt(prefecture(structured_halt("REH-0001", "v2-halt-1")))
        .await
        .expect("a v2 halt on a chain of v1 events");
    relance_tests::cli_register(&server, "REH-0004");
    cli_ok(
        &server,
        &[
            "coop",
            "halt",
            "REH-0004",
            "--authority",
            "Autorités locales",
            "--decision-ref",
            "Décret n° 2.20.293",
            "--legal-instrument",
            "decree",
            "--legal-issued-on",
            "2020-03-24",
            "--effective-on",
            "2020-03-25",
            "--reason",
            "état d'urgence",
            "--workers",
            "12",
        ],
    );
    let head = 18;

    // The v1 halts are stored as written; the new ones are version 2.
    let envelopes = stored(&node, head).await;
    let halts: Vec<(u64, u32, bool)> = envelopes
        .iter()
        .filter_map(|e| match &e.event {
            Some(E::ActivityHalted(_)) => Some((e.position, e.schema_version, false)),
            Some(E::ActivityHaltedV2(_)) => Some((e.position, e.schema_version, true)),
            _ => None,
        })
        .collect();
    assert_eq!(
        halts,
        [
            (4, 1, false),
            (5, 1, false),
            (6, 1, false),
            (12, 1, false),
            (16, 2, true),
            (18, 2, true)
        ]
    );
    let show = cli_ok(&server, &["coop", "show", "REH-0001", "--output", "json"]);
    let view: serde_json::Value = serde_json::from_str(&show).expect("JSON");
    assert_eq!(
        view["past_halts"][0]["decision_ref"], "Arrêté gubernatorial n° 12/2020 du 19 mars 2020",
        "the v1 halt, upcast: {view}"
    );
    assert_eq!(
        view["open_halt"]["decision_ref"],
        "Arrêté gubernatorial n° 31/2020"
    );

    // The mixed export verifies and replays offline to the live digest.
    let export = dir.path().join("mixed.jsonl");
    cli_ok(&server, &["audit", "export", "-o", s(&export)]);
    let text = std::fs::read_to_string(&export).expect("export");
    assert!(text.contains("\"schema_version\":1") && text.contains("\"schema_version\":2"));
    let verified = cli_ok(&server, &["audit", "verify", s(&export)]);
    assert!(verified.contains("intact: 18 events"), "{verified}");
    let live = cli_ok(&server, &["audit", "digest", "--min-position", "18"]);
    let replayed = cli_ok(&server, &["audit", "replay", s(&export)]);
    let digest = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("digest "))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no digest in {out}"))
    };
    assert_eq!(digest(&replayed), digest(&live));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_of_both_schema_versions_replays_to_the_live_digest_embedded() {
    both_versions_replay_to_the_live_digest(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_of_both_schema_versions_replays_to_the_live_digest_jetstream() {
    let nats = NatsServer::start(current_binary()).await;
    both_versions_replay_to_the_live_digest(Some(&nats)).await;
}
