//! The Python proof checker of docs/audit-format.md ("Checking Merkle proofs") accepts the
//! proofs this crate makes and refuses tampered ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use relance_tlog::{prove_consistency, prove_inclusion, Hash, MemoryStore};

use super::{event_hash, store_of};

/// The checker, extracted from the doc and written to `dir`.
fn script(dir: &Path) -> PathBuf {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit-format.md"),
    )
    .expect("docs/audit-format.md");
    let section = doc.find("## Checking Merkle proofs").expect("the section");
    let start =
        section + doc[section..].find("```python\n").expect("a python block") + "```python\n".len();
    let len = doc[start..].find("```").expect("the block's end");
    let text = &doc[start..start + len];
    assert!(
        text.lines().count() <= 70,
        "the script is meant to stay short"
    );
    let path = dir.join("check_proofs.py");
    std::fs::write(&path, text).expect("write the script");
    path
}

fn run(script: &Path, proofs: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg(script)
        .arg(proofs)
        .output()
        .expect("python3");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn root(store: &MemoryStore, size: u64) -> Hash {
    relance_tlog::subtree_hash(store, 0, size).expect("root")
}

fn event(i: u64) -> Hash {
    event_hash(i).try_into().expect("32 bytes")
}

#[test]
fn the_documented_python_checker_agrees() {
    let dir = std::env::temp_dir().join(format!("relance-tlog-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = script(&dir);
    let log = store_of(100, event_hash);

    let mut good = Vec::new();
    for (index, size) in [(0, 1), (0, 100), (37, 100), (99, 100), (63, 64), (5, 17)] {
        let p = prove_inclusion(&log, index, size).expect("prove");
        good.push(p.to_json(&event(index), &root(&log, size)));
    }
    for (old, new) in [
        (1, 100),
        (37, 100),
        (64, 100),
        (99, 100),
        (100, 100),
        (0, 5),
        (6, 7),
    ] {
        let p = prove_consistency(&log, old, new).expect("prove");
        good.push(p.to_json(&root(&log, old), &root(&log, new)));
    }
    let file = dir.join("good.jsonl");
    std::fs::write(&file, good.join("\n") + "\n").expect("write");
    let (ok, text) = run(&script, &file);
    assert!(ok, "the checker refuses good proofs:\n{text}");
    assert_eq!(text.matches(" ok").count(), good.len(), "{text}");

    // Another event at position 38; a changed hash in a consistency path; a truncated path.
    let inclusion = prove_inclusion(&log, 37, 100).expect("prove");
    let consistency = prove_consistency(&log, 37, 100).expect("prove");
    let mut bent = consistency.clone();
    bent.path[1][0] ^= 1;
    let mut truncated = consistency.clone();
    truncated.path.pop();
    let bad = [
        inclusion.to_json(&event(38), &root(&log, 100)),
        bent.to_json(&root(&log, 37), &root(&log, 100)),
        truncated.to_json(&root(&log, 37), &root(&log, 100)),
    ];
    for (i, line) in bad.iter().enumerate() {
        let file = dir.join(format!("bad{i}.jsonl"));
        std::fs::write(&file, format!("{line}\n")).expect("write");
        let (ok, text) = run(&script, &file);
        assert!(
            !ok && text.contains("FAILED"),
            "accepted bad proof {i}:\n{text}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
