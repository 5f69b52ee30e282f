//! Compiles proto/relance/v1/*.proto with protox (pure Rust, no system protoc).

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let files = [
        "events.proto",
        "commands.proto",
        "queries.proto",
        "audit.proto",
        "node.proto",
        "watch.proto",
    ]
    .map(|f| root.join("relance/v1").join(f));
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("relance_descriptor.bin"), fds.encode_to_vec())?;
    // JSON output (CLI `--output json`): enums by name, hashes in hex.
    let mut cfg = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .type_attribute(".relance.v1", "#[derive(serde::Serialize)]");
    // Every enum-typed field serialises by name: found in the descriptors, so a new enum field
    // needs no edit here, and a new enum type fails the build until it has a serializer.
    for file in &fds.file {
        for message in &file.message_type {
            for field in &message.field {
                let Some(enum_type) = field
                    .type_name
                    .as_deref()
                    .filter(|_| field.r#type == Some(14))
                else {
                    continue;
                };
                let with = match enum_type {
                    ".relance.v1.Sector" => "sector",
                    ".relance.v1.HaltScope" => "scope",
                    ".relance.v1.SupportKind" => "support_kind",
                    ".relance.v1.ChannelKind" => "channel",
                    ".relance.v1.Standing" => "standing",
                    ".relance.v1.LegalInstrument" => "legal_instrument",
                    other => {
                        return Err(format!(
                            "enum {other} has no JSON serializer in build.rs (crate::json)"
                        )
                        .into())
                    }
                };
                cfg = cfg.field_attribute(
                    format!(".relance.v1.{}.{}", message.name(), field.name()),
                    format!("#[serde(serialize_with = \"crate::json::{with}\")]"),
                );
            }
        }
    }
    for field in [
        "Envelope.prev_hash",
        "Envelope.hash",
        "CooperativeView.last_hash",
    ] {
        cfg = cfg.field_attribute(
            format!(".relance.v1.{field}"),
            "#[serde(serialize_with = \"crate::json::hex\")]",
        );
    }
    cfg.compile_fds(fds)?;
    Ok(())
}
