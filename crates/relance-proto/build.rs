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
    let enum_fields = [
        ("CooperativeRegistered.sector", "sector"),
        ("CooperativeView.sector", "sector"),
        ("ActivityHalted.scope", "scope"),
        ("HaltPeriod.scope", "scope"),
        ("SupportGranted.kind", "support_kind"),
        ("SupportLine.kind", "support_kind"),
        ("SupportTotal.kind", "support_kind"),
        ("SalesChannelOpened.channel", "channel"),
        ("SalesChannelOpened.standing", "standing"),
    ];
    for (field, with) in enum_fields {
        cfg = cfg.field_attribute(
            format!(".relance.v1.{field}"),
            format!("#[serde(serialize_with = \"crate::json::{with}\")]"),
        );
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
