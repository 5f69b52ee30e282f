//! The transparency log from the CLI: an export ends with a C2SP tree checkpoint, `audit prove`
//! makes inclusion and consistency proofs from a node's history that the Python checker of
//! docs/audit-format.md and `audit check-proof` accept offline, and a witness cosigns a log's
//! checkpoints only while they extend the one it holds (a forked log is refused).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use relance_tests::{cli, RelanceProcess};
use serde_json::Value;

const ORIGIN: &str = "relance.prefecture-rehamna.ma/RELANCE_EVENTS";

use relance_tests::{cli_ok as ok, cli_on as run, cli_register};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// The proof checker of docs/audit-format.md ("Checking Merkle proofs"), written to `dir`.
fn proof_script(dir: &Path) -> PathBuf {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit-format.md"),
    )
    .unwrap();
    let section = doc.find("## Checking Merkle proofs").unwrap();
    let start = section + doc[section..].find("```python\n").unwrap() + "```python\n".len();
    let len = doc[start..].find("```").unwrap();
    let path = dir.join("check_proofs.py");
    std::fs::write(&path, &doc[start..start + len]).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn proofs_from_the_node_are_checked_offline_by_python_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let (success, _, err) = cli(&["demo", "--data-dir", p(&data)], &[]);
    assert!(success, "demo failed:\n{err}");
    let node = RelanceProcess::serve(&["--data-dir", p(&data)]).await;
    let url = node.url();
    let key = d.join("log.key");
    let public = ok(&url, &["audit", "keygen", "--out", p(&key)])
        .trim()
        .to_owned();
    let file = d.join("export.jsonl");
    let origin = ["--origin", ORIGIN];
    let mut args = vec!["audit", "export", "--out", p(&file), "--sign-key", p(&key)];
    args.extend_from_slice(&origin);
    ok(&url, &args);
    let text = std::fs::read_to_string(&file).unwrap();
    let tree_line: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["kind"] == "tlog_checkpoint")
        .expect("a tree checkpoint line");
    let note = tree_line["note"].as_str().unwrap();
    assert!(note.starts_with(&format!("{ORIGIN}\n458\n")), "{note}");
    assert!(note.contains(&format!("\n\n— {ORIGIN} ")), "{note}");
    let out = ok(
        &url,
        &["audit", "verify", p(&file), "--public-key", &public],
    );
    assert!(out.contains("1 tree checkpoint(s)"), "{out}");

    // Proofs from the node's history, under the export's checkpoint or the latest one.
    let event_259 = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["position"] == 259 && v["kind"] == "event")
        .unwrap()["envelope"]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let under = ["--checkpoint", p(&file)];
    let mut proofs = String::new();
    for extra in [
        vec!["--position", "1"],
        vec!["--position", "37"],
        vec!["--position", "458"],
        vec!["--event-id", event_259.as_str()],
        vec!["--consistency-from", "100"],
        vec!["--consistency-from", "458"],
    ] {
        let mut args = vec!["audit", "prove"];
        args.extend_from_slice(&extra);
        args.extend_from_slice(&under);
        proofs += &ok(&url, &args);
    }
    let mut args = vec!["audit", "prove", "--position", "5", "--sign-key", p(&key)];
    args.extend_from_slice(&origin);
    proofs += &ok(&url, &args);
    let by_id: Value = serde_json::from_str(proofs.lines().nth(3).unwrap()).unwrap();
    assert_eq!(by_id["index"], 258);
    let proofs_file = d.join("proofs.jsonl");
    std::fs::write(&proofs_file, &proofs).unwrap();

    let py = std::process::Command::new("python3")
        .arg(proof_script(d))
        .arg(&proofs_file)
        .output()
        .unwrap();
    let py_out = String::from_utf8_lossy(&py.stdout);
    assert!(py.status.success(), "{py_out}");
    assert_eq!(py_out.matches(" ok").count(), 7, "{py_out}");
    let out = ok(
        &url,
        &[
            "audit",
            "check-proof",
            p(&proofs_file),
            "--public-key",
            &public,
        ],
    );
    assert_eq!(out.matches(": ok: ").count(), 7, "{out}");
    assert!(
        out.contains("the event at position 259 is in the tree of 458 events"),
        "{out}"
    );

    // Another key, a changed event hash, a position past the tree: refused.
    let other = d.join("other.key");
    let other_public = ok(&url, &["audit", "keygen", "--out", p(&other)]);
    let (success, out, _) = run(
        &url,
        &[
            "audit",
            "check-proof",
            p(&proofs_file),
            "--public-key",
            other_public.trim(),
        ],
    );
    assert!(!success && out.contains("FAILED"), "{out}");
    let first: Value = serde_json::from_str(proofs.lines().next().unwrap()).unwrap();
    let hash = first["event_hash"].as_str().unwrap();
    let forged = proofs
        .lines()
        .next()
        .unwrap()
        .replace(hash, &"0".repeat(64))
        + "\n";
    let forged_file = d.join("forged.jsonl");
    std::fs::write(&forged_file, forged).unwrap();
    let (success, out, _) = run(
        &url,
        &[
            "audit",
            "check-proof",
            p(&forged_file),
            "--public-key",
            &public,
        ],
    );
    assert!(!success && out.contains("line 1: FAILED"), "{out}");
    let py = std::process::Command::new("python3")
        .arg(proof_script(d))
        .arg(&forged_file)
        .output()
        .unwrap();
    assert!(!py.status.success());
    let (success, _, err) = run(&url, &["audit", "prove", "--position", "459"]);
    assert!(!success && err.contains("past the tree"), "{err}");

    // The node's tree, as `audit checkpoint` signs it, is the export's tree.
    let cps = d.join("checkpoints.jsonl");
    let mut args = vec![
        "audit",
        "checkpoint",
        "--sign-key",
        p(&key),
        "--out",
        p(&cps),
    ];
    args.extend_from_slice(&origin);
    let (success, _, err) = run(&url, &args);
    assert!(
        success && err.contains(&format!("tree checkpoint {ORIGIN}: size 458")),
        "{err}"
    );
    let first = std::fs::read_to_string(&cps).unwrap();
    let recorded: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(recorded["note"].as_str().unwrap(), note);

    // The Audit service refuses a position or a size past the tree, naming the rule.
    use relance_proto::v1;
    let mut audit = v1::audit_client::AuditClient::new(node.channel().await);
    let err = audit
        .inclusion_proof(v1::InclusionProofRequest {
            position: 459,
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(
        err.message().contains("position_past_tree"),
        "{}",
        err.message()
    );
    let err = audit
        .consistency_proof(v1::ConsistencyProofRequest {
            old_size: 10,
            new_size: 500,
        })
        .await
        .unwrap_err();
    assert!(
        err.message().contains("position_past_tree"),
        "{}",
        err.message()
    );
    let head = audit
        .checkpoint(v1::TreeCheckpointRequest { min_position: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((head.position, head.tree.unwrap().size), (458, 458));
}

fn register(url: &str, id: &str) {
    cli_register(url, id);
}

/// A signed export of the node at `url`.
fn signed_export(url: &str, key: &Path, out: &Path) {
    ok(
        url,
        &[
            "audit",
            "export",
            "--out",
            p(out),
            "--sign-key",
            p(key),
            "--origin",
            ORIGIN,
        ],
    );
}

/// The witness, given the signed checkpoint of `export`; the consistency proof comes from
/// the export itself (`offline`) or from the node at `url`.
struct W<'a> {
    state: &'a Path,
    public: &'a str,
    key: &'a Path,
}

impl W<'_> {
    fn run(&self, url: &str, export: &Path, out: &Path, offline: bool) -> (bool, String) {
        let mut args = vec![
            "audit",
            "witness",
            "--state-dir",
            p(self.state),
            "--log-key",
            self.public,
            "--key",
            p(self.key),
            "--name",
            "witness.example",
            "--origin",
            ORIGIN,
            "--checkpoint",
            p(export),
            "--out",
            p(out),
        ];
        if offline {
            args.extend_from_slice(&["--export", p(export)]);
        }
        let (success, _, err) = run(url, &args);
        (success, err)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_witness_refuses_a_forked_log_and_verify_requires_its_cosignature() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a_dir, b_dir) = (d.join("a"), d.join("b"));
    let a = RelanceProcess::serve(&["--data-dir", p(&a_dir)]).await;
    let url = a.url();
    let key = d.join("log.key");
    let public = ok(&url, &["audit", "keygen", "--out", p(&key)])
        .trim()
        .to_owned();
    let wkey = d.join("witness.key");
    ok(&url, &["audit", "keygen", "--out", p(&wkey)]);
    for id in ["REH-0001", "REH-0002", "REH-0003"] {
        register(&url, id);
    }
    // B starts as a copy of A's three events, then each goes its own way.
    let prefix = d.join("prefix.jsonl");
    signed_export(&url, &key, &prefix);
    let (success, _, err) = cli(
        &["audit", "import", p(&prefix), "--data-dir", p(&b_dir)],
        &[],
    );
    assert!(success, "import: {err}");
    let b = RelanceProcess::serve(&["--data-dir", p(&b_dir)]).await;
    register(&url, "REH-0004");
    register(&b.url(), "REH-0104");
    register(&b.url(), "REH-0105");

    let state = d.join("witness");
    let (a4, b5, cosigned) = (
        d.join("a4.jsonl"),
        d.join("b5.jsonl"),
        d.join("cosigned.note"),
    );
    signed_export(&url, &key, &a4);
    signed_export(&b.url(), &key, &b5);
    // The witness sees A first (size 4): accepted on first use, cosigned.
    let w = W {
        state: &state,
        public: &public,
        key: &wkey,
    };
    let (success, err) = w.run(&url, &a4, &cosigned, true);
    assert!(
        success && err.contains("cosigned") && err.contains("at size 4"),
        "{err}"
    );
    let vkey = err
        .lines()
        .find_map(|l| l.strip_prefix("witness key: "))
        .unwrap()
        .to_owned();
    // B's checkpoint (size 5) does not extend A's size-4 tree: refused, state unchanged.
    let refused = d.join("refused.note");
    for offline in [true, false] {
        // The proof from B's export, or asked of B's node: refused either way.
        let (success, err) = w.run(&b.url(), &b5, &refused, offline);
        assert!(!success && err.contains("refused: inconsistent"), "{err}");
    }
    // A goes on: its size-5 checkpoint extends size 4, accepted.
    register(&url, "REH-0005");
    let a5 = d.join("a5.jsonl");
    signed_export(&url, &key, &a5);
    let cosigned5 = d.join("cosigned5.note");
    let (success, err) = w.run(&url, &a5, &cosigned5, false);
    assert!(
        success && err.contains("at size 5 (held before: size 4)"),
        "{err}"
    );
    // A smaller or equal-size fork is refused too.
    let (success, err) = w.run(&b.url(), &b5, &refused, true);
    assert!(!success && err.contains("refused: fork"), "{err}");

    // verify requires the witness's cosignature: A's export with the cosigned checkpoint passes,
    // B's does not match it.
    let needs = [
        "--public-key",
        public.as_str(),
        "--witness-key",
        vkey.as_str(),
    ];
    let (success, out, err) = run(&url, &[&["audit", "verify", p(&a5)][..], &needs].concat());
    assert!(
        !success && err.contains("missing_cosignature"),
        "{out}{err}"
    );
    let with = ["--checkpoint", p(&cosigned5)];
    let out = ok(
        &url,
        &[&["audit", "verify", p(&a5)][..], &needs, &with].concat(),
    );
    assert!(
        out.contains("cosigned up to position 5 by witness witness.example+"),
        "{out}"
    );
    let (success, out, err) = run(
        &url,
        &[&["audit", "verify", p(&b5)][..], &needs, &with].concat(),
    );
    assert!(!success && err.contains("tree_mismatch"), "{out}{err}");
    // verify --live asks the node for a consistency proof from each tree checkpoint given:
    // A's tree extends the shared prefix, and B's does too, but B's does not extend A's.
    for node in [&url, &b.url()] {
        let (success, out, err) = run(
            node,
            &["audit", "verify", "--live", "--checkpoint", p(&prefix)],
        );
        assert!(
            success
                && err
                    .contains("the node's tree of 5 events extends the tree checkpoint of size 3"),
            "{out}{err}"
        );
    }
    let (success, out, err) = run(
        &b.url(),
        &["audit", "verify", "--live", "--checkpoint", p(&a5)],
    );
    assert!(!success && err.contains("tree_mismatch"), "{out}{err}");
    // An old tree checkpoint (size 3) is consistent with A's export of size 5.
    let out = ok(
        &url,
        &[
            "audit",
            "verify",
            p(&a5),
            "--checkpoint",
            p(&prefix),
            "--public-key",
            &public,
        ],
    );
    assert!(out.contains("complete up to position 5"), "{out}");
}
