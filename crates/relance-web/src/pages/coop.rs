//! One cooperative: its state and its timeline (every event, who recorded it and when;
//! retractions struck through with their reason), as of a business date and as known at a
//! recording date.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::html;
use relance_domain::{CoopState, Date, Event};
use relance_projection::{AsOf, HistoryItem};
use relance_server::auth::Permission;
use serde::Deserialize;

use super::{blocking, date_param, describe};
use crate::i18n::Lang;
use crate::session::{encode, Ctx};
use crate::table::{csv_of, Cell, Table};
use crate::{layout, Web, WebError};

#[derive(Deserialize, Default)]
pub struct Params {
    /// Business date: facts about days after it are left out.
    as_of: Option<String>,
    /// Recording date: facts recorded after that day (UTC) are left out.
    known_at: Option<String>,
    csv: Option<String>,
}

pub async fn page(
    State(web): State<Web>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    if let Some(r) = ctx.refusal(Permission::Read) {
        return Ok(r);
    }
    let l = ctx.lang;
    let as_of_date = date_param("as_of", &q.as_of)?;
    let known_at = date_param("known_at", &q.known_at)?;
    let at = AsOf {
        recorded_at_ms: known_at.map(|d| d.add_days(1).start_unix_ms() - 1),
        position: None,
        business_date: as_of_date,
    };
    let p = web.projection.current();
    let key = id.clone();
    let travelling = as_of_date.is_some() || known_at.is_some();
    let (state, history, quarantine) = blocking(move || {
        let state = if travelling {
            p.state_at(&key, &at)?
        } else {
            p.get(&key)?
        };
        Ok((state, p.history(&key)?, p.quarantine(&key)?))
    })
    .await?;
    let Some(state) = state else {
        if history.is_empty() {
            return Err(WebError::NotFound);
        }
        let body = html! { p.notice { (l.t("coop.not_yet")) } (travel_form(l, &id, &q)) };
        return Ok(layout::page(&ctx, &id, body));
    };
    let facts = facts_table(l, &state);
    let support = support_table(l, &state);
    let timeline = timeline_table(l, &history, &at);
    if let Some(t) = &q.csv {
        return Ok(csv_of(&[&facts, &support, &timeline], t));
    }
    let body = html! {
        @if let Some(qr) = &quarantine {
            p.error role="alert" { (l.t("coop.quarantined")) " — " (qr.reason) }
        }
        (travel_form(l, &id, &q))
        @if travelling {
            p.notice {
                (l.t("coop.travel"))
                @if let Some(d) = as_of_date { " " (l.t("coop.as_of")) " " (l.date(d)) }
                @if let Some(d) = known_at { " " (l.t("coop.known_at")) " " (l.date(d)) }
                " — " a href={ "/coop/" (encode(&id)) } { (l.t("coop.now")) }
            }
        }
        div.pair {
            section { (facts.html(l, &ctx.with_param("csv", "facts"))) }
            section { (support.html(l, &ctx.with_param("csv", "support"))) }
        }
        section { (timeline.html(l, &ctx.with_param("csv", "timeline"))) }
    };
    Ok(layout::page(&ctx, &state.name, body))
}

fn travel_form(l: Lang, id: &str, q: &Params) -> maud::Markup {
    html! {
        form.travel method="get" action={ "/coop/" (encode(id)) } {
            label for="as_of" { (l.t("coop.as_of_label")) }
            input #as_of type="date" name="as_of" value=(q.as_of.clone().unwrap_or_default());
            label for="known_at" { (l.t("coop.known_at_label")) }
            input #known_at type="date" name="known_at" value=(q.known_at.clone().unwrap_or_default());
            button type="submit" { (l.t("coop.travel_submit")) }
        }
    }
}

fn facts_table(l: Lang, s: &CoopState) -> Table {
    let mut t = Table::new(
        "facts",
        l.t("coop.state"),
        &[l.t("col.field"), l.t("col.value")],
    );
    let mut row = |k: &str, v: Cell| t.rows.push(vec![Cell::text(l.t(k)), v]);
    row("col.id", Cell::text(s.id.as_str()));
    row("col.name", Cell::text(&s.name));
    row(
        "col.registry",
        Cell::text(format!("{} — {}", s.registry_court, s.registry_number)),
    );
    row("col.sector", Cell::text(super::sector(l, s.sector)));
    row("col.status", Cell::text(super::status(l, s.status)));
    row("col.commune", Cell::text(&s.commune));
    row("col.registered_on", Cell::text(l.date(s.registered_on)));
    row("col.original_activity", Cell::text(&s.original_activity));
    row("col.current_activity", Cell::text(&s.current_activity));
    row("col.members", Cell::int(l, s.members.into()));
    row("col.employees", Cell::int(l, s.employees.into()));
    row("col.headcount_as_of", Cell::text(l.date(s.headcount_as_of)));
    if let Some(h) = &s.open_halt {
        row(
            "col.open_halt",
            Cell::text(format!(
                "{} · {} · {}",
                l.date(h.since),
                h.authority,
                h.reason
            )),
        );
        row("col.workers_idled", Cell::int(l, h.workers_affected.into()));
    }
    if let Some((lo, hi)) = s.current_capacity() {
        row(
            "col.capacity",
            Cell::text(format!(
                "{}–{} {}",
                l.int(lo),
                l.int(hi),
                l.t("field.per_day")
            )),
        );
    }
    for a in &s.authorizations {
        row(
            "col.authorization",
            Cell::text(format!(
                "{} · {} · {}",
                a.issuing_body,
                a.reference,
                l.date(a.obtained_on)
            )),
        );
    }
    for c in &s.sales_channels {
        let channel = l.t(&format!("channel.{}", c.channel.as_str()));
        let standing = l.t(&format!("standing.{}", c.standing.as_str()));
        row(
            "col.channel",
            Cell::text(format!("{channel} · {} · {standing}", c.city)),
        );
    }
    t
}

fn support_table(l: Lang, s: &CoopState) -> Table {
    let mut t = Table::new(
        "support",
        l.t("coop.support"),
        &[
            l.t("col.date"),
            l.t("col.partner"),
            l.t("col.kind"),
            l.t("col.amount"),
            l.t("col.description"),
        ],
    );
    for line in &s.support {
        t.rows.push(vec![
            Cell::text(l.date(line.granted_on)),
            Cell::link(
                &line.partner,
                format!("/partner?name={}", encode(&line.partner)),
            ),
            Cell::text(super::kind(l, line.kind)),
            line.amount_centimes
                .map_or(Cell::text(""), |a| Cell::mad(l, a)),
            Cell::text(&line.description),
        ]);
    }
    t
}

/// Every event known at `at`, in version order; a retraction known at `at` strikes its target.
fn timeline_table(l: Lang, history: &[HistoryItem], at: &AsOf) -> Table {
    let mut t = Table::new(
        "timeline",
        l.t("coop.timeline"),
        &[
            l.t("col.version"),
            l.t("col.date"),
            l.t("col.event"),
            l.t("col.details"),
            l.t("col.recorded_by"),
            l.t("col.recorded_at"),
        ],
    );
    let known = |ms: i64| at.recorded_at_ms.is_none_or(|t| ms <= t);
    for item in history.iter().filter(|i| at.includes(&i.recorded)) {
        let env = &item.recorded.envelope;
        let what = l.t(&format!("event.{}", env.event.type_name()));
        let details = describe(l, &env.event);
        let date = env
            .event
            .business_date()
            .unwrap_or(Date::from_unix_ms(env.recorded_at_ms));
        let mut row = vec![Cell::int(l, env.version), Cell::text(l.date(date))];
        match item
            .retracted_by
            .as_ref()
            .filter(|r| known(r.recorded_at_ms))
        {
            Some(r) => {
                let note = format!(
                    "{} {} ({}) : {}",
                    l.t("coop.retracted"),
                    l.time(r.recorded_at_ms),
                    r.principal,
                    r.reason
                );
                row.push(Cell::Struck {
                    text: what.to_owned(),
                    note: note.clone(),
                });
                row.push(Cell::Struck {
                    text: details,
                    note,
                });
            }
            None => {
                row.push(Cell::text(what));
                row.push(Cell::text(match &env.event {
                    Event::EventRetracted(r) => format!("{} · {}", details, r.retracted_event_id),
                    _ => details,
                }));
            }
        }
        row.push(Cell::text(format!(
            "{} ({})",
            env.actor.principal, env.actor.organisation
        )));
        row.push(Cell::text(l.time(env.recorded_at_ms)));
        t.rows.push(row);
    }
    t
}
