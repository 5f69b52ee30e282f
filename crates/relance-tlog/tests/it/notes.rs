//! Signed notes, checkpoints and cosignatures, including the published vectors of
//! golang.org/x/mod/sumdb/note (`note_test.go`), c2sp.org/signed-note (its vkey example) and
//! transparency-dev/formats (`note/note_cosigv1_test.go`), so that our notes interoperate.

use relance_tlog::note::key_id;
use relance_tlog::{
    Checkpoint, CheckpointError, Cosignature, CosignatureSigner, CosignatureVerifier,
    Ed25519Signer, Ed25519Verifier, KeyError, Note, NoteError, NoteVerifier, SignatureLine,
};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> Ed25519Verifier {
    Ed25519Verifier::from_vkey(PETER_VKEY).expect("vkey")
}

fn enoch() -> Ed25519Verifier {
    Ed25519Verifier::from_vkey(ENOCH_VKEY).expect("vkey")
}

#[test]
fn go_signer_key_signs_exactly_like_go() {
    let signer = Ed25519Signer::from_skey(PETER_SKEY).expect("skey");
    assert_eq!(signer.to_skey(), PETER_SKEY);
    assert_eq!(signer.verifier().to_vkey(), PETER_VKEY);
    let mut note = Note::new(TEXT).expect("note");
    note.sign(&signer);
    assert_eq!(note.to_text(), format!("{TEXT}\n{PETER_SIG}"));
    // Signing again replaces the signature, it does not add one.
    note.sign(&signer);
    assert_eq!(note.signatures().len(), 1);
}

#[test]
fn go_open_vectors() {
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let note = Note::parse(&both).expect("parse");
    assert_eq!(note.text(), TEXT);
    assert_eq!(note.signatures().len(), 2);
    assert_eq!(note.signatures()[0].key_id, 0xc74f20a3);
    assert_eq!(note.signatures()[1].key_id, 0xaf0cfe78);
    let (p, e) = (peter(), enoch());
    // One known key: its line verifies, the other is kept but ignored.
    let ok = note.verify(&[&p]).expect("peter verifies");
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].name, "PeterNeumann");
    assert_eq!(note.verify(&[&p, &e]).expect("both").len(), 2);
    assert_eq!(note.verify(&[]), Err(NoteError::NoVerifiedSignature));
    assert_eq!(note.to_text(), both, "unknown lines are kept");
    // A corrupted known signature refuses the whole note.
    let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(
        Note::parse(&bad).expect("parse").verify(&[&p]),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    // Too many signatures.
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
    assert_eq!(Note::parse(&many), Err(NoteError::TooManySignatures));
}

#[test]
fn go_malformed_notes() {
    let bad = [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for msg in bad {
        assert!(Note::parse(&msg).is_err(), "accepted {msg:?}");
    }
}

#[test]
fn go_vkey_manglings_are_refused() {
    peter();
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            let s = &PETER_VKEY[i..j];
            assert!(Ed25519Verifier::from_vkey(s).is_err(), "accepted {s:?}");
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let s = String::from_utf8(m).expect("ascii");
        assert!(Ed25519Verifier::from_vkey(&s).is_err(), "accepted {s:?}");
    }
    // Wrong key length with an adjusted key ID; unknown algorithm with an adjusted key ID.
    assert!(Ed25519Verifier::from_vkey(
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    )
    .is_err());
    assert_eq!(
        Ed25519Verifier::from_vkey(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ),
        Err(KeyError::WrongAlgorithm(0x65))
    );
}

#[test]
fn c2sp_signed_note_example() {
    let v = Ed25519Verifier::from_vkey(
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    )
    .expect("vkey");
    let note = Note::parse("This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n").expect("parse");
    assert_eq!(note.verify(&[&v]).expect("verifies").len(), 1);
    assert_eq!(key_id("example.com/foo", 1, &v.public_key()), 0x530d903a);
}

const ORIGIN: &str = "relance.prefecture-rehamna.ma/RELANCE_EVENTS";

fn log_signer() -> Ed25519Signer {
    Ed25519Signer::from_seed(ORIGIN, &[7; 32]).expect("signer")
}

#[test]
fn checkpoint_round_trips_and_tampering_fails() {
    let mut cp = Checkpoint::new(ORIGIN, 458, [9; 32]);
    let body = cp.to_body();
    assert_eq!(body.lines().count(), 3);
    assert_eq!(Checkpoint::parse_body(&body), Ok(cp.clone()));
    cp.extensions.push("ext one".into());
    let signed = cp.sign(&log_signer()).expect("sign").to_text();
    let v = log_signer().verifier();
    let (back, _) = Checkpoint::open_for(&signed, ORIGIN, &v).expect("open");
    assert_eq!(back, cp);
    // Tampered size.
    let tampered = signed.replacen("458", "459", 1);
    assert!(matches!(
        Checkpoint::open(&tampered, &v),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));
    // Another log key.
    let other = Ed25519Signer::from_seed(ORIGIN, &[8; 32]).expect("signer");
    assert_eq!(
        Checkpoint::open(&signed, &other.verifier()),
        Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
    );
    assert!(matches!(
        Checkpoint::open_for(&signed, "other.example/log", &v),
        Err(CheckpointError::WrongOrigin { .. })
    ));
}

#[test]
fn checkpoint_bodies_follow_the_spec() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let ok = format!("example.com/behind-the-sofa\n20852163\n{root}\n");
    assert_eq!(Checkpoint::parse_body(&ok).expect("parse").size, 20852163);
    assert_eq!(Checkpoint::parse_body(&ok).expect("parse").to_body(), ok);
    for bad in [
        format!("example.com/x\n012\n{root}\n"),
        format!("example.com/x\n-1\n{root}\n"),
        format!("example.com/x\n+1\n{root}\n"),
        format!("example.com/x\n1\n{root}"),
        format!("example.com/x\n1\n{root}\n\n"),
        format!("\n1\n{root}\n"),
        "example.com/x\n1\nAAAA\n".to_owned(),
        "example.com/x\n1\n".to_owned(),
        format!("example.com/x\n18446744073709551616\n{root}\n"),
    ] {
        assert!(Checkpoint::parse_body(&bad).is_err(), "accepted {bad:?}");
    }
    assert!(Checkpoint::parse_body(&format!("example.com/x\n0\n{root}\n")).is_ok());
}

#[test]
fn cosignature_vectors_from_c2sp_and_transparency_dev() {
    // tlog-cosignature.md's example line: key ID, then timestamp 1679315147 (its `time` line).
    let note = Note::parse("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n").expect("parse");
    let c = Cosignature::from_signature_line(&note.signatures()[1]).expect("cosignature");
    assert_eq!(c.timestamp, 1679315147);
    assert!(Cosignature::from_signature_line(&note.signatures()[0]).is_err());
    // transparency-dev/formats: a native cosignature/v1 vkey, and a timestamp.
    CosignatureVerifier::from_vkey(
        "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    )
    .expect("native cosignature vkey");
    let line = Note::parse("a\n\n— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==\n").expect("parse");
    let c = Cosignature::from_signature_line(&line.signatures()[0]).expect("cosignature");
    assert_eq!(c.timestamp, 1727964367);
}

#[test]
fn cosignature_round_trip_and_failures() {
    let w = CosignatureSigner::from_seed("witness.example/w1", &[3; 32]).expect("signer");
    let v = w.verifier();
    assert_eq!(CosignatureVerifier::from_vkey(&v.to_vkey()), Ok(v.clone()));
    assert_eq!(
        CosignatureSigner::from_skey(&w.to_skey())
            .expect("skey")
            .verifier(),
        v
    );
    let body = Checkpoint::new(ORIGIN, 10, [1; 32]).to_body();
    let c = w.cosign(&body, 1_700_000_000).expect("cosign");
    let line = c.to_signature_line();
    assert_eq!(line.signature.len(), 72);
    assert_eq!(v.verify_line(&body, &line), Ok(1_700_000_000));
    assert_eq!(Cosignature::from_signature_line(&line), Ok(c.clone()));
    // As a note verifier, on the log-signed note.
    let mut note = Checkpoint::parse_body(&body)
        .expect("body")
        .sign(&log_signer())
        .expect("sign");
    note.add_signature(line.clone());
    let reparsed = Note::parse(&note.to_text()).expect("parse");
    let vs: [&dyn NoteVerifier; 1] = [&v];
    assert_eq!(reparsed.verify(&vs).expect("cosigned")[0], &line);
    // Another body, another timestamp, another key.
    let other = Checkpoint::new(ORIGIN, 11, [1; 32]).to_body();
    assert!(v.verify_line(&other, &line).is_err());
    let mut later = line.clone();
    later.signature[7] ^= 1;
    assert!(v.verify_line(&body, &later).is_err());
    let w2 = CosignatureSigner::from_seed("witness.example/w1", &[4; 32]).expect("signer");
    assert!(w2.verifier().verify_line(&body, &line).is_err());
    // Key IDs use type 0x04, so a note key with the same seed has another ID.
    let as_note = Ed25519Signer::from_seed("witness.example/w1", &[3; 32]).expect("signer");
    assert_ne!(
        relance_tlog::NoteSigner::key_id(&as_note),
        NoteVerifier::key_id(&v)
    );
    assert!(w.cosign(&body, u64::MAX).is_err());
    let short = SignatureLine {
        name: "witness.example/w1".into(),
        key_id: NoteVerifier::key_id(&v),
        signature: vec![0; 71],
    };
    assert!(v.verify_line(&body, &short).is_err());
}
