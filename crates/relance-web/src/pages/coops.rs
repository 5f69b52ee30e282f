//! The cooperatives: filtered by sector, status and commune, searched by name in Latin or
//! Arabic script, sorted, a page at a time; each row links to its cooperative.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use relance_domain::{CoopState, Sector, Status};
use relance_projection::Filter;
use relance_server::auth::Permission;
use serde::Deserialize;

use super::{blocking, fold_name};
use crate::session::{encode, Ctx};
use crate::table::{Cell, Table};
use crate::{layout, Web, WebError};

/// Rows a page shows.
const PAGE_SIZE: usize = 50;

#[derive(Deserialize, Default)]
pub struct Params {
    sector: Option<String>,
    status: Option<String>,
    commune: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    page: Option<usize>,
    csv: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
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
    let filter = Filter {
        sector: nonempty(&q.sector).and_then(Sector::parse),
        status: nonempty(&q.status).and_then(Status::parse),
        commune: nonempty(&q.commune).map(str::to_owned),
    };
    let p = web.projection.current();
    let f = filter.clone();
    let (mut items, communes) = blocking(move || {
        let page = p.list(&f, usize::MAX, None)?;
        Ok((
            page.items,
            p.summary().by_commune.into_keys().collect::<Vec<_>>(),
        ))
    })
    .await?;
    if let Some(needle) = nonempty(&q.q).map(fold_name) {
        items.retain(|c| fold_name(&c.name).contains(&needle));
    }
    let sort = nonempty(&q.sort).unwrap_or("id");
    sort_items(&mut items, sort);
    let total = items.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    // The CSV holds every match, not one page.
    let shown: Vec<&CoopState> = if q.csv.is_some() {
        items.iter().collect()
    } else {
        items
            .iter()
            .skip((page - 1) * PAGE_SIZE)
            .take(PAGE_SIZE)
            .collect()
    };
    let mut table = Table::new(
        "coops",
        &format!("{} {}", l.int(total as u64), l.t("coops.found")),
        &[
            l.t("col.id"),
            l.t("col.name"),
            l.t("col.sector"),
            l.t("col.status"),
            l.t("col.commune"),
            l.t("col.members"),
            l.t("col.employees"),
            l.t("col.workers_idled"),
        ],
    );
    for c in shown {
        table.rows.push(vec![
            Cell::text(c.id.as_str()),
            Cell::link(&c.name, format!("/coop/{}", encode(c.id.as_str()))),
            Cell::text(super::sector(l, c.sector)),
            Cell::text(super::status(l, c.status)),
            Cell::text(&c.commune),
            Cell::int(l, c.members.into()),
            Cell::int(l, c.employees.into()),
            Cell::int(l, c.workers_idled().into()),
        ]);
    }
    if let Some(id) = &q.csv {
        return Ok(crate::table::csv_of(&[&table], id));
    }
    let sel = |v: &Option<String>, x: &str| nonempty(v) == Some(x);
    let body = html! {
        form.filters method="get" action="/coops" {
            label for="q" { (l.t("coops.search")) }
            input #q type="search" name="q" value=(q.q.clone().unwrap_or_default());
            label for="sector" { (l.t("col.sector")) }
            select #sector name="sector" {
                option value="" { (l.t("coops.any")) }
                @for s in Sector::ALL { option value=(s.as_str()) selected[sel(&q.sector, s.as_str())] { (super::sector(l, *s)) } }
            }
            label for="status" { (l.t("col.status")) }
            select #status name="status" {
                option value="" { (l.t("coops.any")) }
                @for s in Status::ALL { option value=(s.as_str()) selected[sel(&q.status, s.as_str())] { (super::status(l, *s)) } }
            }
            label for="commune" { (l.t("col.commune")) }
            select #commune name="commune" {
                option value="" { (l.t("coops.any")) }
                @for c in &communes { option value=(c) selected[sel(&q.commune, c)] { (c) } }
            }
            label for="sort" { (l.t("coops.sort")) }
            select #sort name="sort" {
                @for s in SORTS { option value=(s) selected[sort == *s] { (l.t(&format!("sort.{s}"))) } }
            }
            button type="submit" { (l.t("coops.apply")) }
        }
        (table.html(l, &ctx.with_param("csv", "coops")))
        nav.pages aria-label=(l.t("coops.pages")) {
            @if page > 1 { a rel="prev" href=(ctx.with_param("page", &(page - 1).to_string())) { (l.t("coops.prev")) } }
            span { (l.t("coops.page")) " " (l.int(page as u64)) " / " (l.int(pages as u64)) }
            @if page < pages { a rel="next" href=(ctx.with_param("page", &(page + 1).to_string())) { (l.t("coops.next")) } }
        }
    };
    Ok(layout::page(&ctx, l.t("coops.title"), body))
}

const SORTS: &[&str] = &["id", "name", "members", "employees", "idled", "status"];

fn sort_items(items: &mut [CoopState], sort: &str) {
    match sort {
        "name" => items.sort_by_cached_key(|c| fold_name(&c.name)),
        "members" => items.sort_by(|a, b| b.members.cmp(&a.members).then(a.id.cmp(&b.id))),
        "employees" => items.sort_by(|a, b| b.employees.cmp(&a.employees).then(a.id.cmp(&b.id))),
        "idled" => items.sort_by(|a, b| {
            b.workers_idled()
                .cmp(&a.workers_idled())
                .then(a.id.cmp(&b.id))
        }),
        "status" => items.sort_by(|a, b| a.status.cmp(&b.status).then(a.id.cmp(&b.id))),
        _ => {}
    }
}
