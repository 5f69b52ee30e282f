//! Audit, as an auditor uses it: `relance audit export` from a running node (embedded and
//! JetStream), `verify` on intact and damaged exports (every kind of damage named, with the
//! cooperative, version and position), the Python script of docs/audit-format.md, `replay`
//! giving the live `digest`, and time travel checked against the article's story.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use relance_tests::{cli, NatsServer, RelanceProcess};
use serde_json::Value;
use sha2::{Digest, Sha256};

const IBDAAT: &str = "REH-0001";
const ANNOUR: &str = "REH-0002";

use relance_tests::{cli_ok as ok, cli_on as run, cli_register};

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Canonical JSON as docs/audit-format.md defines it (sorted keys, compact, UTF-8).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

fn rehash(envelope: &mut Value) {
    let mut body = envelope.clone();
    body.as_object_mut().unwrap().remove("hash");
    let mut h = Sha256::new();
    h.update(hex::decode(envelope["prev_hash"].as_str().unwrap()).unwrap());
    h.update(canonical(&body).as_bytes());
    envelope["hash"] = Value::String(hex::encode(h.finalize()));
}

/// One event line of an export.
#[derive(Debug, Clone)]
struct At {
    line: usize,
    version: u64,
    position: u64,
}

struct Export {
    lines: Vec<String>,
}

impl Export {
    fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        Self {
            lines: text.lines().map(str::to_owned).collect(),
        }
    }

    fn json(&self, i: usize) -> Value {
        serde_json::from_str(&self.lines[i]).unwrap()
    }

    /// The events of `coop`, in version order.
    fn chain(&self, coop: &str) -> Vec<At> {
        let mut out = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let v: Value = serde_json::from_str(l).unwrap();
            if v["kind"] == "event" && v["envelope"]["cooperative_id"] == coop {
                out.push(At {
                    line: i,
                    version: v["envelope"]["version"].as_u64().unwrap(),
                    position: v["position"].as_u64().unwrap(),
                });
            }
        }
        out
    }

    /// The cooperative with the longest chain.
    fn longest_chain(&self) -> (String, Vec<At>) {
        let mut best: (String, Vec<At>) = (String::new(), Vec::new());
        for l in &self.lines {
            let v: Value = serde_json::from_str(l).unwrap();
            if v["kind"] != "event" {
                continue;
            }
            let coop = v["envelope"]["cooperative_id"].as_str().unwrap().to_owned();
            let chain = self.chain(&coop);
            if chain.len() > best.1.len() {
                best = (coop, chain);
            }
        }
        best
    }

    fn write(&self, dir: &Path, name: &str, lines: &[String]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p
    }
}

fn verify(server: &str, file: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify", path_str(file)];
    args.extend_from_slice(extra);
    let (success, out, err) = run(server, &args);
    (success, format!("{out}\n{err}"))
}

fn expect_damage(server: &str, file: &Path, extra: &[&str], kind: &str, coop: &str, at: &At) {
    let (success, text) = verify(server, file, extra);
    assert!(!success, "verify passed a damaged export ({kind}):\n{text}");
    let named = format!(
        "first bad event: {kind}: cooperative {coop} version {} position {}",
        at.version, at.position
    );
    assert!(text.contains(&named), "expected «{named}» in:\n{text}");
}

/// Every kind of damage of issue 4, on a signed export from the node at `server`.
fn damage_is_named(server: &str, dir: &Path) {
    let key = dir.join("audit.key");
    let public = ok(server, &["audit", "keygen", "--out", path_str(&key)])
        .trim()
        .to_owned();
    let file = dir.join("signed.jsonl");
    ok(
        server,
        &[
            "audit",
            "export",
            "--out",
            path_str(&file),
            "--sign-key",
            path_str(&key),
        ],
    );
    let trusted = ["--public-key", public.as_str()];
    let (success, text) = verify(server, &file, &trusted);
    assert!(
        success
            && text.contains("complete up to position ")
            && text.contains(&format!(
                "under key {public}; 1 checkpoint(s), 1 signed with it"
            )),
        "intact signed export:\n{text}"
    );
    let export = Export::read(&file);
    let (coop, chain) = export.longest_chain();
    assert!(chain.len() >= 4, "{coop} has too short a chain: {chain:?}");
    let (e2, e3, last) = (&chain[1], &chain[2], chain.last().unwrap());

    // A changed field: one character of one line.
    let mut lines = export.lines.clone();
    let at = lines[e2.line].find("\"principal\":\"").unwrap() + "\"principal\":\"".len();
    let old = lines[e2.line].as_bytes()[at];
    lines[e2.line].replace_range(at..=at, if old == b'Z' { "Y" } else { "Z" });
    let changed = export.write(dir, "changed.jsonl", &lines);
    expect_damage(server, &changed, &trusted, "changed_field", &coop, e2);

    // A removed event: the chain jumps from version 1 to 3.
    let mut lines = export.lines.clone();
    lines.remove(e2.line);
    let f = export.write(dir, "removed.jsonl", &lines);
    expect_damage(server, &f, &trusted, "removed_event", &coop, e3);

    // An inserted event, well hashed and linked after version 2: the rest of the chain links
    // to the genuine version 3, so the forged one is named.
    let mut forged = export.json(e3.line);
    forged["envelope"]["event_id"] = Value::String("01700000-0000-7000-8000-000000000000".into());
    forged["envelope"]["request_id"] = Value::String("forged".into());
    forged["position"] = Value::from(e2.position);
    rehash(&mut forged["envelope"]);
    let mut lines = export.lines.clone();
    lines.insert(e2.line + 1, forged.to_string());
    let f = export.write(dir, "inserted.jsonl", &lines);
    let forged_at = At {
        line: e2.line + 1,
        version: e3.version,
        position: e2.position,
    };
    expect_damage(server, &f, &trusted, "inserted_event", &coop, &forged_at);

    // Two events swapped.
    let mut lines = export.lines.clone();
    lines.swap(e2.line, e3.line);
    let f = export.write(dir, "swapped.jsonl", &lines);
    expect_damage(server, &f, &trusted, "swapped_events", &coop, e3);

    // A duplicated event.
    let mut lines = export.lines.clone();
    lines.insert(e2.line + 1, lines[e2.line].clone());
    let f = export.write(dir, "duplicated.jsonl", &lines);
    expect_damage(server, &f, &trusted, "duplicated_event", &coop, e2);

    // A removed tail: the cooperative's last line. Every chain is still well linked; the
    // signed checkpoint catches it.
    let mut lines = export.lines.clone();
    lines.remove(last.line);
    let tail = export.write(dir, "tail.jsonl", &lines);
    expect_damage(server, &tail, &trusted, "removed_tail", &coop, last);

    // A removed chain: every line of the cooperative holding the export's first position.
    // Each remaining chain is perfectly linked; the signed checkpoint names the missing head.
    let first = export.json(1);
    let first_coop = first["envelope"]["cooperative_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_chain = export.chain(&first_coop);
    let gone: Vec<usize> = first_chain.iter().map(|a| a.line).collect();
    let chain_lines: Vec<String> = export
        .lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, l)| l.clone())
        .collect();
    let f = export.write(dir, "chain.jsonl", &chain_lines);
    let head = first_chain.last().unwrap();
    expect_damage(server, &f, &trusted, "removed_chain", &first_coop, head);
    expect_damage(server, &f, &[], "removed_chain", &first_coop, head);

    // An unsigned tail: the last event cut together with the closing checkpoints. Without a
    // key nothing says so; with one, nothing signed covers the export.
    let mut cut_lines = export.lines.clone();
    cut_lines.truncate(cut_lines.len() - 3);
    let f = export.write(dir, "unsigned.jsonl", &cut_lines);
    let (success, text) = verify(server, &f, &[]);
    assert!(
        success && text.contains("completeness not proven"),
        "{text}"
    );
    let first_at = At {
        line: 1,
        version: first["envelope"]["version"].as_u64().unwrap(),
        position: first["position"].as_u64().unwrap(),
    };
    expect_damage(
        server,
        &f,
        &trusted,
        "unsigned_tail",
        &first_coop,
        &first_at,
    );
    let (success, text) = verify(
        server,
        &f,
        &["--public-key", &public, "--allow-unsigned-tail"],
    );
    assert!(
        success
            && text.contains(&format!(
                "no checkpoint signed with key {public} covers them"
            )),
        "{text}"
    );
    // The export's own checkpoint, kept apart, names the cut event instead.
    let cut = export.json(export.lines.len() - 3);
    let (cut_coop, cut_version) = (
        cut["envelope"]["cooperative_id"].as_str().unwrap(),
        cut["envelope"]["version"].as_u64().unwrap(),
    );
    let kind = if cut_version > 1 {
        "removed_tail"
    } else {
        "removed_chain"
    };
    let (success, text) = verify(
        server,
        &f,
        &["--checkpoint", path_str(&file), "--public-key", &public],
    );
    let named = format!(
        "first bad event: {kind}: cooperative {cut_coop} version {cut_version} position {}",
        cut["position"]
    );
    assert!(!success && text.contains(&named), "{named} in {text}");

    // …and the checkpoint rewritten to match, without the key: its root no longer matches the
    // signature.
    let cp_line = lines.len() - 1;
    let mut cp: Value = serde_json::from_str(&lines[cp_line]).unwrap();
    let prev = &chain[chain.len() - 2];
    let prev_env = export.json(prev.line)["envelope"].clone();
    cp["heads"][coop.as_str()] = serde_json::json!({
        "version": prev.version, "position": prev.position, "hash": prev_env["hash"],
    });
    cp["count"] = Value::from(cp["count"].as_u64().unwrap() - 1);
    let body =
        serde_json::json!({"count": cp["count"], "heads": cp["heads"], "position": cp["position"]});
    cp["root"] = Value::String(hex::encode(Sha256::digest(canonical(&body).as_bytes())));
    lines[cp_line] = cp.to_string();
    let rewritten = export.write(dir, "rewritten.jsonl", &lines);
    let (success, text) = verify(server, &rewritten, &trusted);
    assert!(
        !success && text.contains("first bad event: bad_checkpoint_signature"),
        "{text}"
    );
    // The original checkpoint, kept apart by the auditor, still catches the removed tail.
    let (success, text) = verify(
        server,
        &rewritten,
        &["--checkpoint", path_str(&file), "--public-key", &public],
    );
    assert!(!success && text.contains("removed_tail"), "{text}");

    // A checkpoint with a bad signature.
    let mut lines = export.lines.clone();
    let cp_line = lines.len() - 1;
    let mut cp: Value = serde_json::from_str(&lines[cp_line]).unwrap();
    let mut sig = cp["signature"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    sig.replace_range(0..1, flipped);
    cp["signature"] = Value::String(sig);
    lines[cp_line] = cp.to_string();
    let f = export.write(dir, "badsig.jsonl", &lines);
    let (success, text) = verify(server, &f, &[]);
    assert!(
        !success && text.contains("first bad event: bad_checkpoint_signature"),
        "{text}"
    );
    // A checkpoint signed by a key the auditor does not trust.
    let other = dir.join("other.key");
    let other_public = ok(server, &["audit", "keygen", "--out", path_str(&other)]);
    let (success, text) = verify(server, &file, &["--public-key", other_public.trim()]);
    assert!(
        !success
            && text.contains("bad_checkpoint_signature")
            && text.contains("not by the trusted key"),
        "{text}"
    );

    // The stand-alone Python script of docs/audit-format.md agrees.
    let script = python_script(dir);
    let run_py = |f: &Path| {
        std::process::Command::new("python3")
            .arg(&script)
            .arg(f)
            .output()
            .expect("python3")
    };
    let good = run_py(&file);
    assert!(
        good.status.success(),
        "the script rejects an intact export:\n{}",
        String::from_utf8_lossy(&good.stdout)
    );
    for (bad, name) in [(&changed, "changed"), (&tail, "tail")] {
        let out = run_py(bad);
        assert!(
            !out.status.success(),
            "the script accepts the {name} export"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("cooperative {coop}")), "{text}");
    }
}

/// The script of docs/audit-format.md, written to `dir`.
fn python_script(dir: &Path) -> PathBuf {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit-format.md"),
    )
    .unwrap();
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let len = doc[start..].find("```").unwrap();
    let script = &doc[start..start + len];
    assert!(
        script.lines().count() <= 40,
        "the script is meant to stay short"
    );
    let path = dir.join("check_export.py");
    std::fs::write(&path, script).unwrap();
    path
}

fn digest_line(out: &str) -> (String, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with("digest "))
        .unwrap_or_else(|| panic!("no digest line in:\n{out}"));
    let parts: Vec<&str> = line.split_whitespace().collect();
    (parts[1].to_owned(), parts[3].parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_demo_export_verifies_replays_to_the_live_digest_and_damage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (success, _, err) = cli(&["demo", "--data-dir", path_str(&data)], &[]);
    assert!(success, "demo failed:\n{err}");
    let node = RelanceProcess::serve(&["--data-dir", path_str(&data)]).await;
    let url = node.url();

    let file = dir.path().join("export.jsonl");
    let (success, _, err) = run(&url, &["audit", "export", "--out", path_str(&file)]);
    assert!(success, "{err}");
    assert!(err.contains("exported 458 events"), "{err}");
    let out = ok(&url, &["audit", "verify", path_str(&file)]);
    assert!(
        out.starts_with("intact: 458 events in 256 chains, positions 1–458;"),
        "{out}"
    );
    let out = ok(&url, &["audit", "verify", "--live"]);
    assert!(out.starts_with("intact: 458 events"), "{out}");
    // A partial export verifies from where it starts.
    let part = dir.path().join("part.jsonl");
    ok(
        &url,
        &[
            "audit",
            "export",
            "--from",
            "200",
            "--to",
            "300",
            "--out",
            path_str(&part),
        ],
    );
    let out = ok(&url, &["audit", "verify", path_str(&part)]);
    assert!(out.starts_with("intact: 101 events"), "{out}");

    // The offline replay prints the live digest, at the same position.
    let live = digest_line(&ok(&url, &["audit", "digest"]));
    let replayed = ok(&url, &["audit", "replay", path_str(&file)]);
    assert_eq!(digest_line(&replayed), live, "{replayed}");
    assert!(replayed.contains("cooperatives      256"), "{replayed}");
    // A replay up to a position gives that position's province.
    let early = ok(
        &url,
        &["audit", "replay", path_str(&file), "--position", "10"],
    );
    assert!(early.contains("cooperatives      10 "), "{early}");
    assert_eq!(digest_line(&early).1, 10);

    damage_is_named(&url, dir.path());

    // A checkpoint recorded by the dedicated step (no export) has the same root as the
    // export's own checkpoint at the same position, and catches the same removed tail.
    let key = dir.path().join("audit.key");
    let cps = dir.path().join("checkpoints.jsonl");
    let (success, _, err) = run(
        &url,
        &[
            "audit",
            "checkpoint",
            "--sign-key",
            path_str(&key),
            "--out",
            path_str(&cps),
        ],
    );
    assert!(success, "{err}");
    assert!(
        err.contains("checkpoint at position 458: 256 chains, 458 events"),
        "{err}"
    );
    // One run appends the tree checkpoint, then the per-chain one.
    let recorded: Value = serde_json::from_str(
        std::fs::read_to_string(&cps)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let signed = dir.path().join("signed.jsonl");
    let exported = Export::read(&signed);
    let own = exported.json(exported.lines.len() - 1);
    assert_eq!(recorded["root"], own["root"]);
    let public = recorded["public_key"].as_str().unwrap().to_owned();
    let out = ok(
        &url,
        &[
            "audit",
            "verify",
            path_str(&signed),
            "--checkpoint",
            path_str(&cps),
            "--public-key",
            &public,
        ],
    );
    assert!(
        out.contains("complete up to position 458 under key")
            && out.contains("2 checkpoint(s), 2 signed with it"),
        "{out}"
    );
    let (success, text) = verify(
        &url,
        &dir.path().join("tail.jsonl"),
        &["--checkpoint", path_str(&cps)],
    );
    assert!(!success && text.contains("removed_tail"), "{text}");

    // A damaged export is not replayed.
    let (success, _, err) = run(
        &url,
        &[
            "audit",
            "replay",
            path_str(&dir.path().join("changed.jsonl")),
        ],
    );
    assert!(!success && err.contains("changed_field"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn time_travel_answers_what_was_known_when() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (success, _, err) = cli(&["demo", "--data-dir", path_str(&data)], &[]);
    assert!(success, "demo failed:\n{err}");
    let node = RelanceProcess::serve(&["--data-dir", path_str(&data)]).await;
    let url = node.url();
    let show = |args: &[&str]| -> Result<Value, String> {
        let mut all = vec!["--output", "json", "coop", "show"];
        all.extend_from_slice(args);
        let (success, out, err) = run(&url, &all);
        if success {
            Ok(serde_json::from_str(&out).unwrap())
        } else {
            Err(err)
        }
    };
    // Annour's halt, effective 2020-03-20, was recorded on 2020-03-24.
    let v = show(&[ANNOUR, "--as-of", "2020-04-15", "--known-at", "2020-05-01"]).unwrap();
    assert_eq!(v["status"], "halted");
    assert_eq!(v["open_halt"]["workers_affected"], 40);
    assert_eq!(v["open_halt"]["since"], "2020-03-20");
    // On 2020-03-23 the prefecture did not know yet about the halt of 2020-03-20.
    let v = show(&[ANNOUR, "--as-of", "2020-03-21", "--known-at", "2020-03-23"]).unwrap();
    assert_eq!(v["status"], "active");
    // On 2020-03-01 nothing was recorded yet (registrations were recorded on 2020-03-02).
    let err = show(&[ANNOUR, "--as-of", "2020-04-15", "--known-at", "2020-03-01"]).unwrap_err();
    assert!(err.contains("NotFound"), "{err}");
    // Known on 2020-05-01, about 2020-03-19 (before the halt took effect): active.
    let v = show(&[ANNOUR, "--as-of", "2020-03-19", "--known-at", "2020-05-01"]).unwrap();
    assert_eq!(v["status"], "active");
    // Ibdaat Rehamna: reoriented on 2020-04-08 (recorded 2020-04-09).
    let v = show(&[IBDAAT, "--as-of", "2020-04-08"]).unwrap();
    assert_eq!(v["current_activity"], "couture et broderie");
    let v = show(&[IBDAAT, "--as-of", "2020-04-09T23:00:00Z"]).unwrap();
    assert_eq!(v["status"], "reoriented");
    // By position: Ibdaat's last event and the one before it.
    let now = show(&[IBDAAT]).unwrap();
    let (version, position) = (
        now["version"].as_u64().unwrap(),
        now["last_position"].as_u64().unwrap(),
    );
    let v = show(&[IBDAAT, "--position", &position.to_string()]).unwrap();
    assert_eq!(v, now);
    let v = show(&[IBDAAT, "--position", &(position - 1).to_string()]).unwrap();
    assert_eq!(v["version"].as_u64().unwrap(), version - 1);

    let summary = |args: &[&str]| -> Value {
        let mut all = vec!["--output", "json", "summary"];
        all.extend_from_slice(args);
        serde_json::from_str(&ok(&url, &all)).unwrap()
    };
    let count = |s: &Value, list: &str, key: &str| -> u64 {
        s[list]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["key"] == key)
            .map_or(0, |c| c["count"].as_u64().unwrap())
    };
    let known_may = summary(&["--as-of", "2020-04-15", "--known-at", "2020-05-01"]);
    let known_march = summary(&["--as-of", "2020-04-15", "--known-at", "2020-03-01"]);
    assert_eq!(known_may["cooperatives"], 256);
    assert_eq!(known_march["cooperatives"].as_u64().unwrap_or(0), 0);
    assert!(count(&known_may, "by_status", "halted") > 0);
    // The halted on 2020-04-15 as known on 2020-05-01 include Annour's 40 electricians.
    let halted_may = count(&known_may, "by_status", "halted");
    let before_annour = summary(&["--as-of", "2020-03-19", "--known-at", "2020-05-01"]);
    assert_eq!(count(&before_annour, "by_status", "halted"), 0);
    assert!(known_may["workers_idled"].as_u64().unwrap() >= 40);
    // Knowledge only grows: what was known by 2020-03-24 about 2020-04-15 is a subset.
    let early = summary(&["--as-of", "2020-04-15", "--known-at", "2020-03-24"]);
    assert!(count(&early, "by_status", "halted") <= halted_may);
    assert_eq!(summary(&["--position", "10"])["cooperatives"], 10);
    // Today's summary equals the summary as of the last position.
    let now = summary(&[]);
    let at_head = summary(&["--position", &now["position"].to_string()]);
    assert_eq!(now["by_status"], at_head["by_status"]);
    assert_eq!(now["workers_idled"], at_head["workers_idled"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_jetstream_export_verify_replay_and_damage_are_the_same() {
    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("proj");
    let node = RelanceProcess::serve(&["--nats", &nats.url(), "--data-dir", path_str(&data)]).await;
    let url = node.url();
    for (id, name) in [
        (IBDAAT, "Ibdaat Rehamna"),
        (ANNOUR, "Annour"),
        ("REH-0003", "Al Amal"),
    ] {
        ok(
            &url,
            &[
                "coop",
                "register",
                id,
                "--name",
                name,
                "--court",
                "TPI Benguérir",
                "--number",
                "101/2015",
                "--sector",
                "artisanat",
                "--activity",
                "couture et broderie",
                "--commune",
                "Benguérir",
                "--members",
                "12",
                "--registered-on",
                "2011-03-29",
            ],
        );
    }
    let story: &[&[&str]] = &[
        &[
            "coop",
            "halt",
            ANNOUR,
            "--authority",
            "Autorités publiques",
            "--effective-on",
            "2020-03-20",
            "--reason",
            "Arrêt total du BTP",
            "--workers",
            "40",
        ],
        &[
            "coop",
            "authorize",
            IBDAAT,
            "--body",
            "IMANOR",
            "--reference",
            "NM/ST 21.5.201",
            "--obtained-on",
            "2020-04-07",
        ],
        &[
            "coop",
            "reorient",
            IBDAAT,
            "--from",
            "couture et broderie",
            "--to",
            "masques",
            "--capacity-min",
            "2000",
            "--capacity-max",
            "3000",
            "--effective-on",
            "2020-04-08",
        ],
        &[
            "coop",
            "sales-channel",
            IBDAAT,
            "--channel",
            "pharmacies",
            "--city",
            "Benguérir",
            "--opened-on",
            "2020-04-16",
        ],
        &[
            "coop",
            "headcount",
            IBDAAT,
            "--members",
            "12",
            "--employees",
            "20",
            "--as-of",
            "2020-05-15",
        ],
        &[
            "coop",
            "resume",
            ANNOUR,
            "--effective-on",
            "2020-06-20",
            "--workers-back",
            "40",
        ],
    ];
    for args in story {
        ok(&url, args);
    }
    // A retraction: the headcount was recorded by mistake.
    let history: Value =
        serde_json::from_str(&ok(&url, &["--output", "json", "coop", "history", IBDAAT])).unwrap();
    let headcount = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["envelope"]["event"]["HeadcountReported"].is_object())
        .unwrap_or_else(|| panic!("no headcount in {history}"));
    let headcount_id = headcount["envelope"]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before_retraction = ok(&url, &["--output", "json", "coop", "show", IBDAAT]);
    let before_retraction: Value = serde_json::from_str(&before_retraction).unwrap();
    assert_eq!(before_retraction["employees"], 20);
    let at = before_retraction["last_position"].to_string();
    ok(
        &url,
        &[
            "coop",
            "retract",
            IBDAAT,
            "--event",
            &headcount_id,
            "--reason",
            "saisie en double",
        ],
    );
    // The history marks the retracted event with the retraction's reason, actor and date.
    let table = ok(&url, &["coop", "history", IBDAAT]);
    let marked = table
        .lines()
        .find(|l| l.contains("RETRACTED"))
        .unwrap_or_else(|| panic!("no retraction mark in:\n{table}"));
    assert!(
        marked.contains("by cli: saisie en double") && marked.contains("employees"),
        "{marked}"
    );
    // Time travel: before the retraction the headcount counted, after it does not.
    let now: Value =
        serde_json::from_str(&ok(&url, &["--output", "json", "coop", "show", IBDAAT])).unwrap();
    assert_eq!(now["employees"], 0);
    let then: Value = serde_json::from_str(&ok(
        &url,
        &[
            "--output",
            "json",
            "coop",
            "show",
            IBDAAT,
            "--position",
            &at,
        ],
    ))
    .unwrap();
    assert_eq!(then["employees"], 20);
    assert_eq!(then["version"], before_retraction["version"]);

    let file = dir.path().join("export.jsonl");
    ok(&url, &["audit", "export", "--out", path_str(&file)]);
    let out = ok(&url, &["audit", "verify", path_str(&file)]);
    assert!(out.starts_with("intact: 10 events in 3 chains"), "{out}");
    let out = ok(
        &url,
        &["audit", "verify", "--live", "--checkpoint", path_str(&file)],
    );
    assert!(out.starts_with("intact: 10 events"), "{out}");
    let live = digest_line(&ok(&url, &["audit", "digest", "--min-position", "10"]));
    let replayed = ok(&url, &["audit", "replay", path_str(&file)]);
    assert_eq!(digest_line(&replayed), live);

    damage_is_named(&url, dir.path());

    // The projection keeps the Merkle tree on JetStream too: a proof from the node, checked
    // offline with the key that signed it.
    let key = dir.path().join("audit.key");
    let public = std::fs::read_to_string(dir.path().join("signed.jsonl"))
        .unwrap()
        .lines()
        .last()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["public_key"].clone())
        .unwrap();
    let proof = ok(
        &url,
        &[
            "audit",
            "prove",
            "--position",
            "4",
            "--sign-key",
            path_str(&key),
        ],
    );
    let proofs = dir.path().join("proof.jsonl");
    std::fs::write(&proofs, proof).unwrap();
    let out = ok(
        &url,
        &[
            "audit",
            "check-proof",
            path_str(&proofs),
            "--public-key",
            public.as_str().unwrap(),
        ],
    );
    assert!(
        out.contains("ok: the event at position 4 is in the tree of 10 events"),
        "{out}"
    );
}

/// Someone with publish rights on the stream slips in an event relance did not write (its
/// hash does not match its content): the projection quarantines that cooperative instead of
/// applying it, the others go on, and `verify --live` names it.
#[tokio::test(flavor = "multi_thread")]
async fn on_jetstream_a_forged_event_quarantines_its_cooperative() {
    use prost::Message;
    use relance_proto::v1;

    let nats = NatsServer::start(relance_tests::nats::current_binary()).await;
    let dir = tempfile::tempdir().unwrap();
    let node = RelanceProcess::serve(&[
        "--nats",
        &nats.url(),
        "--data-dir",
        path_str(&dir.path().join("proj")),
    ])
    .await;
    let url = node.url();
    for id in [IBDAAT, ANNOUR] {
        cli_register(&url, id);
    }
    // Annour's registration as stored, turned into a version 2 it never had.
    let mut queries = node.queries().await;
    let history = queries
        .history(v1::HistoryRequest {
            cooperative_id: ANNOUR.into(),
            min_position: 2,
        })
        .await
        .unwrap()
        .into_inner();
    let mut forged = history.events[0].envelope.clone().unwrap();
    forged.prev_hash = forged.hash.clone();
    forged.version = 2;
    forged.position = 0;
    forged.event_id = "01700000-0000-7000-8000-00000000f0f0".into();
    forged.request_id = "forged".into();
    forged.occurred_on = "2020-04-01".into();
    forged.event = Some(v1::envelope::Event::HeadcountReported(
        v1::HeadcountReported {
            members: 999,
            employees: 999,
            as_of: "2020-04-01".into(),
        },
    ));
    let mut headers = async_nats::HeaderMap::new();
    for (k, v) in [
        ("Relance-Event-Type", "HeadcountReported"),
        ("Relance-Schema-Version", "1"),
        ("Relance-Event-Id", forged.event_id.as_str()),
        ("Relance-Cooperative-Id", ANNOUR),
        ("Relance-Version", "2"),
        ("Relance-Request-Id", "forged"),
        (
            "Content-Type",
            "application/protobuf; proto=relance.v1.Envelope",
        ),
    ] {
        headers.insert(k, v);
    }
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let ack = js
        .publish_with_headers(
            format!("relance.v1.coop.{ANNOUR}"),
            headers,
            forged.encode_to_vec().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let at = ack.sequence.to_string();

    // The projection went past it, without applying it.
    let (success, out, err) = run(&url, &["coop", "show", IBDAAT, "--min-position", &at]);
    assert!(success, "{out}{err}");
    let (success, _, err) = run(&url, &["coop", "show", ANNOUR]);
    assert!(
        !success
            && err.contains("FailedPrecondition")
            && err.contains("rule cooperative_quarantined")
            && err.contains(&format!("version 2 (position {at}")),
        "{err}"
    );
    let (success, _, err) = run(&url, &["coop", "history", ANNOUR]);
    assert!(!success && err.contains("cooperative_quarantined"), "{err}");
    let summary: Value = serde_json::from_str(&ok(&url, &["--output", "json", "summary"])).unwrap();
    assert_eq!(summary["members"], 0, "the forged headcount counts nowhere");
    // The auditor's view of the log names it too.
    let (success, out, err) = run(&url, &["audit", "verify", "--live"]);
    assert!(
        !success
            && err.contains(&format!(
                "first bad event: changed_field: cooperative {ANNOUR} version 2 position {at}"
            )),
        "{out}{err}"
    );
}
