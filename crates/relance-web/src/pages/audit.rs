//! The audit page (auditors only): the log's head, the projection's checkpoint and digest,
//! quarantined cooperatives, and the export of the whole log as JSON Lines.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::html;
use relance_audit::{ExportHeader, Line, FORMAT};
use relance_server::auth::Permission;

use super::blocking;
use crate::session::{encode, Ctx};
use crate::table::{csv_of, Cell, Table};
use crate::{layout, Web, WebError};

#[derive(serde::Deserialize, Default)]
pub struct Params {
    csv: Option<String>,
}

pub async fn page(
    State(web): State<Web>,
    ctx: Ctx,
    axum::extract::Query(q): axum::extract::Query<Params>,
) -> Result<Response, WebError> {
    if let Some(r) = ctx.refusal(Permission::Audit) {
        return Ok(r);
    }
    let l = ctx.lang;
    let head = match &web.log {
        Some(log) => Some(log.last_position().await?),
        None => None,
    };
    let p = web.projection.current();
    let (digest, quarantined) =
        blocking(move || Ok((p.digest_at_checkpoint()?, p.quarantined()?))).await?;
    let mut figures = Table::new(
        "integrity",
        l.t("audit.integrity"),
        &[l.t("col.figure"), l.t("col.value")],
    );
    if let Some(h) = head {
        figures
            .rows
            .push(vec![Cell::text(l.t("audit.head")), Cell::int(l, h)]);
    }
    figures.rows.push(vec![
        Cell::text(l.t("audit.checkpoint")),
        Cell::int(l, digest.position),
    ]);
    figures.rows.push(vec![
        Cell::text(l.t("audit.digest")),
        Cell::text(&digest.digest),
    ]);
    let mut q_table = Table::new(
        "quarantined",
        l.t("audit.quarantined"),
        &[
            l.t("col.id"),
            l.t("col.version"),
            l.t("audit.position"),
            l.t("col.details"),
        ],
    );
    for c in &quarantined {
        q_table.rows.push(vec![
            Cell::link(
                &c.cooperative_id,
                format!("/coop/{}", encode(&c.cooperative_id)),
            ),
            Cell::int(l, c.quarantine.version),
            Cell::int(l, c.quarantine.position),
            Cell::text(&c.quarantine.reason),
        ]);
    }
    if let Some(id) = &q.csv {
        return Ok(csv_of(&[&figures, &q_table], id));
    }
    let body = html! {
        section { (figures.html(l, &ctx.with_param("csv", "integrity"))) }
        section { (q_table.html(l, &ctx.with_param("csv", "quarantined"))) }
        @if web.log.is_some() {
            p { a.download href="/audit/export.jsonl" download { (l.t("audit.export")) } }
            p.note { (l.t("audit.export_note")) }
        }
    };
    Ok(layout::page(&ctx, l.t("audit.title"), body))
}

/// Events read from the log per chunk of the export.
const CHUNK: usize = 1000;

/// The whole log as an audit export (JSON Lines), streamed a chunk at a time.
pub async fn export(State(web): State<Web>, ctx: Ctx) -> Result<Response, WebError> {
    if let Some(r) = ctx.refusal(Permission::Audit) {
        return Ok(r);
    }
    let Some(log) = web.log.clone() else {
        return Err(WebError::NotFound);
    };
    let head = log.last_position().await?;
    let mut first = Vec::new();
    let header = Line::Export(ExportHeader {
        format: FORMAT.to_owned(),
        from: 1,
        to: head,
    });
    relance_audit::write_line(&mut first, &header)?;
    let chunks = futures::stream::unfold(Some(1u64), move |next| {
        let log = log.clone();
        async move {
            let from = next?;
            if from > head {
                return None;
            }
            let chunk = async {
                let events = log.read_from(from, CHUNK).await?;
                let mut out = Vec::new();
                let mut last = from;
                for e in events.iter().filter(|e| e.position <= head) {
                    let envelope = relance_proto::decode_envelope(&e.payload).map_err(|err| {
                        WebError::Internal(format!("position {}: {err}", e.position))
                    })?;
                    relance_audit::write_line(
                        &mut out,
                        &Line::Event {
                            position: e.position,
                            envelope,
                        },
                    )?;
                    last = e.position;
                }
                let next = (!events.is_empty() && last < head).then_some(last + 1);
                Ok::<_, WebError>((out, next))
            };
            match chunk.await {
                Ok((out, next)) => Some((Ok::<_, std::io::Error>(out), next)),
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(chunks);
    Ok((
        [
            (header::CONTENT_TYPE, "application/jsonl; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"relance-export.jsonl\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

use futures::StreamExt as _;
