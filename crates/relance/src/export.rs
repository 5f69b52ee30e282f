//! Reading the node's history as an export: the Export stream written as JSON Lines, closed by
//! checkpoints (the chains' heads and the Merkle tree's head).

use std::io::Write;

use anyhow::{anyhow, Context as _, Result};
use futures::StreamExt;
use relance_audit::{Checkpoint, CheckpointBuilder, ExportHeader, Line, FORMAT};
use relance_proto::v1;

use crate::cli::ClientArgs;
use crate::client::{status_error, Client};
use crate::progress::Progress;

/// One signed checkpoint of the node's chain heads.
pub(crate) async fn checkpoint(
    c: &mut Client,
    key: &relance_audit::SigningKey,
    min: u64,
) -> Result<Checkpoint> {
    let reply = c
        .audit
        .heads(c.request(v1::HeadsRequest { min_position: min })?)
        .await
        .map_err(status_error)?
        .into_inner();
    let mut heads = std::collections::BTreeMap::new();
    for h in reply.heads {
        let hash = relance_domain::Hash::from_slice(&h.hash)
            .ok_or_else(|| anyhow!("the node sent a head hash that is not 32 bytes"))?;
        heads.insert(
            h.cooperative_id,
            relance_audit::Head {
                version: h.version,
                position: h.position,
                hash,
            },
        );
    }
    let mut cp = Checkpoint::new(reply.position, reply.count, heads);
    cp.sign(key);
    Ok(cp)
}

/// The node's whole history as an export without closing checkpoints (the CLI's own, unsigned,
/// would prove nothing to itself): what `verify --live` and the tree commands read.
pub(crate) async fn export_into(args: &ClientArgs, out: &mut dyn Write) -> Result<()> {
    export(args, 1, 0, out, None).await.map(|_| ())
}

/// Streams the node's history into `out` as an export; returns the event count and the
/// closing checkpoint. `seal` (origin, key): end with the tree checkpoint and the per-chain
/// checkpoint, signed with the key when given.
pub(crate) async fn export(
    args: &ClientArgs,
    from: u64,
    to: u64,
    out: &mut dyn Write,
    seal: Option<(&str, Option<&relance_audit::SigningKey>)>,
) -> Result<(u64, Checkpoint)> {
    let mut c = Client::open(args).await?;
    let mut stream = c
        .audit
        .export(c.request(v1::ExportRequest { from, to })?)
        .await
        .map_err(status_error)?
        .into_inner();
    relance_audit::write_line(
        out,
        &Line::Export(ExportHeader {
            format: FORMAT.into(),
            from: from.max(1),
            to,
        }),
    )?;
    let mut builder = CheckpointBuilder::default();
    // The tree covers the log from position 1: a partial export carries none.
    let mut tree = (from <= 1).then(relance_audit::EventTree::new);
    let mut progress = Progress::new("exported");
    let mut n = 0u64;
    while let Some(record) = stream.next().await {
        let record = record.map_err(status_error)?;
        let wire = record
            .envelope
            .ok_or_else(|| anyhow!("the node sent a record without an envelope"))?;
        let (envelope, position) = relance_proto::envelope_from_wire(wire)
            .context("the node sent an envelope relance cannot read")?;
        builder.add(position, &envelope);
        if let Some(t) = &mut tree {
            t.push(position, &envelope.event_id, envelope.hash.0)?;
        }
        relance_audit::write_line(out, &Line::Event { position, envelope })?;
        n += 1;
        progress.tick(n, record.head.saturating_sub(from.max(1)) + 1);
    }
    progress.done();
    let mut cp = builder.finish();
    let Some((origin, key)) = seal else {
        return Ok((n, cp));
    };
    if let Some(t) = &tree {
        let note = t.checkpoint(origin, key)?;
        relance_audit::write_line(out, &Line::TlogCheckpoint { note })?;
    }
    if let Some(key) = key {
        cp.sign(key);
    }
    relance_audit::write_line(out, &Line::Checkpoint(cp.clone()))?;
    Ok((n, cp))
}
