//! One partner: what it granted, to whom, when and how much.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use relance_projection::Filter;
use relance_server::auth::Permission;
use serde::Deserialize;

use super::blocking;
use crate::session::{encode, Ctx};
use crate::table::{csv_of, Cell, Table};
use crate::{layout, Web, WebError};

#[derive(Deserialize, Default)]
pub struct Params {
    name: Option<String>,
    csv: Option<String>,
}

pub async fn page(
    State(web): State<Web>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    if let Some(r) = ctx.refusal(Permission::Read) {
        return Ok(r);
    }
    let l = ctx.lang;
    let p = web.projection.current();
    let summary = p.summary();
    let Some(name) = q.name.clone().filter(|n| summary.support.contains_key(n)) else {
        let body = html! {
            ul.partners {
                @for partner in summary.support.keys() {
                    li { a href={ "/partner?name=" (encode(partner)) } { (partner) } }
                }
            }
        };
        return Ok(layout::page(&ctx, l.t("partner.all"), body));
    };
    let wanted = name.clone();
    let mut lines = blocking(move || {
        let all = p.list(&Filter::default(), usize::MAX, None)?;
        Ok(all
            .items
            .into_iter()
            .flat_map(|c| {
                let (id, coop) = (c.id.to_string(), c.name.clone());
                c.support
                    .into_iter()
                    .filter(|s| s.partner == wanted)
                    .map(move |s| (id.clone(), coop.clone(), s))
            })
            .collect::<Vec<_>>())
    })
    .await?;
    lines.sort_by(|a, b| a.2.granted_on.cmp(&b.2.granted_on).then(a.0.cmp(&b.0)));
    let mut t = Table::new(
        "grants",
        &format!("{} — {}", l.t("partner.grants"), name),
        &[
            l.t("col.date"),
            l.t("col.name"),
            l.t("col.kind"),
            l.t("col.amount"),
            l.t("col.description"),
        ],
    );
    let mut total = 0i64;
    for (id, coop, s) in &lines {
        total = total.saturating_add(s.amount_centimes.unwrap_or(0));
        t.rows.push(vec![
            Cell::text(l.date(s.granted_on)),
            Cell::link(coop, format!("/coop/{}", encode(id))),
            Cell::text(super::kind(l, s.kind)),
            s.amount_centimes
                .map_or(Cell::text(""), |a| Cell::mad(l, a)),
            Cell::text(&s.description),
        ]);
    }
    if let Some(id) = &q.csv {
        return Ok(csv_of(&[&t], id));
    }
    let body = html! {
        p.total { (l.t("partner.total")) " " strong { (l.mad(total)) } " · " (l.int(lines.len() as u64)) " " (l.t("col.grants")) }
        (t.html(l, &ctx.with_param("csv", "grants")))
    };
    Ok(layout::page(&ctx, &name, body))
}
