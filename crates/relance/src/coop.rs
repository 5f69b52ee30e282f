//! `relance coop …`: the write commands built from flags, and show, list, history.

use anyhow::{anyhow, bail, Result};
use relance_domain as d;
use relance_proto::v1;
use relance_proto::v1::envelope::Event;

use crate::cli::{AtArgs, ClientArgs, CoopCommand, WriteArgs};
use crate::client::{status_error, Client};
use crate::output;

fn meta(id: &str, w: &WriteArgs) -> v1::CommandMeta {
    v1::CommandMeta {
        request_id: w
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        cooperative_id: id.to_owned(),
        expected_version: w.expected_version,
        correlation_id: w.correlation_id.clone(),
    }
}

fn pick<T: Copy>(
    what: &str,
    raw: &str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T> {
    parse(raw).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
        anyhow!("--{what} {raw:?} is not one of: {}", names.join(", "))
    })
}

/// `fn NAME(raw) -> wire value`: parses a flag's snake_case value of a domain enum.
macro_rules! flag_enum {
    ($($name:ident: $flag:literal, $domain:ident => $to_wire:ident;)+) => {$(
        fn $name(raw: &str) -> Result<i32> {
            let v = pick($flag, raw, d::$domain::parse, d::$domain::ALL, d::$domain::as_str)?;
            Ok(relance_proto::$to_wire(v) as i32)
        }
    )+};
}

flag_enum! {
    sector: "sector", Sector => sector_to_wire;
    scope: "scope", HaltScope => scope_to_wire;
    support_kind: "kind", SupportKind => support_kind_to_wire;
    channel: "channel", ChannelKind => channel_to_wire;
    standing: "standing", Standing => standing_to_wire;
}

/// `relance coop …`
pub async fn coop(args: &ClientArgs, cmd: CoopCommand) -> Result<()> {
    let mut c = Client::open(args).await?;
    match cmd {
        CoopCommand::Show {
            id,
            min_position,
            at,
        } => show(args, &mut c, id, min_position, &at).await,
        CoopCommand::List {
            sector,
            status,
            commune,
            page_size,
        } => list(args, &mut c, sector, status, commune, page_size).await,
        CoopCommand::History { id } => history(args, &mut c, id).await,
        write => {
            let (id, write, event) = write_command(write)?;
            let reply = c
                .record_as(meta(&id, &write), event, &args.principal, &args.org)
                .await?;
            output::reply(args.output, &reply)
        }
    }
}

/// The event data a write command asks for: registration, halt, reorientation, authorisation,
/// support (the others in [`more_write_commands`]).
fn write_command(cmd: CoopCommand) -> Result<(String, WriteArgs, Event)> {
    Ok(match cmd {
        CoopCommand::Register {
            id,
            name,
            court,
            number,
            sector: s,
            activity,
            commune,
            members,
            employees,
            registered_on,
            write,
        } => {
            let data = v1::CooperativeRegistered {
                name,
                registry_court: court,
                registry_number: number,
                sector: sector(&s)?,
                activity,
                commune,
                members: members.into(),
                employees: employees.into(),
                registered_on,
            };
            (id, write, Event::CooperativeRegistered(data))
        }
        CoopCommand::Halt {
            id,
            authority,
            decision_ref,
            legal_instrument,
            legal_issued_on,
            effective_on,
            reason,
            scope: sc,
            workers,
            write,
        } => {
            let event = halt_event(
                v1::ActivityHalted {
                    authority,
                    decision_ref,
                    effective_on,
                    reason,
                    scope: scope(&sc)?,
                    workers_affected: workers.into(),
                },
                legal_instrument,
                legal_issued_on,
            )?;
            (id, write, event)
        }
        CoopCommand::Reorient {
            id,
            from,
            to,
            product,
            capacity_min,
            capacity_max,
            notes,
            effective_on,
            write,
        } => {
            let data = v1::ReorientationDeclared {
                from_activity: from,
                to_activity: to,
                product,
                capacity_min_per_day: capacity_min,
                capacity_max_per_day: capacity_max,
                notes,
                effective_on,
            };
            (id, write, Event::ReorientationDeclared(data))
        }
        CoopCommand::Authorize {
            id,
            body,
            reference,
            product,
            obtained_on,
            valid_until,
            write,
        } => {
            let data = v1::AuthorizationObtained {
                issuing_body: body,
                reference,
                product,
                obtained_on,
                valid_until,
            };
            (id, write, Event::AuthorizationObtained(data))
        }
        CoopCommand::Support {
            id,
            partner,
            kind,
            amount_centimes,
            description,
            granted_on,
            write,
        } => {
            let data = v1::SupportGranted {
                partner,
                kind: support_kind(&kind)?,
                amount_centimes,
                description,
                granted_on,
            };
            (id, write, Event::SupportGranted(data))
        }
        other => return more_write_commands(other),
    })
}

/// Sales channel, resumption, headcount and retraction.
fn more_write_commands(cmd: CoopCommand) -> Result<(String, WriteArgs, Event)> {
    Ok(match cmd {
        CoopCommand::SalesChannel {
            id,
            channel: ch,
            city,
            standing: st,
            opened_on,
            write,
        } => {
            let data = v1::SalesChannelOpened {
                channel: channel(&ch)?,
                city,
                standing: standing(&st)?,
                opened_on,
            };
            (id, write, Event::SalesChannelOpened(data))
        }
        CoopCommand::Resume {
            id,
            authority,
            decision_ref,
            effective_on,
            workers_back,
            write,
        } => {
            let data = v1::ActivityResumed {
                authority,
                decision_ref,
                effective_on,
                workers_back: workers_back.into(),
            };
            (id, write, Event::ActivityResumed(data))
        }
        CoopCommand::Headcount {
            id,
            members,
            employees,
            as_of,
            write,
        } => {
            let data = v1::HeadcountReported {
                members: members.into(),
                employees: employees.into(),
                as_of,
            };
            (id, write, Event::HeadcountReported(data))
        }
        CoopCommand::Retract {
            id,
            event,
            reason,
            write,
        } => {
            let data = v1::EventRetracted {
                retracted_event_id: event,
                reason,
            };
            (id, write, Event::EventRetracted(data))
        }
        _ => bail!("not a write command"),
    })
}

/// `relance coop show`: now, or at a past point.
async fn show(
    args: &ClientArgs,
    c: &mut Client,
    id: String,
    min_position: u64,
    at: &AtArgs,
) -> Result<()> {
    if let Some(as_of) = crate::time::as_of(at)? {
        let view = c
            .queries
            .state_at(c.request(v1::StateAtRequest {
                cooperative_id: id,
                as_of: Some(as_of),
                min_position,
            })?)
            .await
            .map_err(status_error)?
            .into_inner();
        return output::view(args.output, &view);
    }
    let view = c
        .queries
        .get(c.request(v1::GetRequest {
            cooperative_id: id,
            min_position,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    output::view(args.output, &view)
}

/// `relance coop list`: every page.
async fn list(
    args: &ClientArgs,
    c: &mut Client,
    sector: String,
    status: String,
    commune: String,
    page_size: u32,
) -> Result<()> {
    let mut all = Vec::new();
    let mut token = String::new();
    let total = loop {
        let page = c
            .queries
            .list(c.request(v1::ListRequest {
                sector: sector.clone(),
                status: status.clone(),
                commune: commune.clone(),
                page_size: page_size.into(),
                page_token: token.clone(),
                min_position: 0,
            })?)
            .await
            .map_err(status_error)?
            .into_inner();
        all.extend(page.cooperatives);
        if page.next_page_token.is_empty() {
            break page.total;
        }
        token = page.next_page_token;
    };
    output::list(args.output, &all, total)
}

/// `relance coop history`.
async fn history(args: &ClientArgs, c: &mut Client, id: String) -> Result<()> {
    let h = c
        .queries
        .history(c.request(v1::HistoryRequest {
            cooperative_id: id,
            min_position: 0,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    output::history(args.output, &h)
}

/// A halt as the CLI records it: version 1's data with --decision-ref as free text, or, with
/// --legal-instrument or --legal-issued-on, a structured legal basis whose reference it is.
fn halt_event(
    data: v1::ActivityHalted,
    instrument: Option<String>,
    issued_on: Option<String>,
) -> Result<Event> {
    if instrument.is_none() && issued_on.is_none() {
        return Ok(Event::ActivityHalted(data));
    }
    let instrument = match instrument.as_deref() {
        None => 0,
        Some(raw) => relance_domain::LegalInstrument::parse(raw)
            .map(|i| relance_proto::legal_instrument_to_wire(i) as i32)
            .ok_or_else(|| {
                anyhow!(
                    "--legal-instrument {raw:?}: one of dahir, decree, order, circular, decision"
                )
            })?,
    };
    Ok(Event::ActivityHaltedV2(v1::ActivityHaltedV2 {
        authority: data.authority,
        legal_basis: Some(v1::LegalBasis {
            instrument,
            reference: data.decision_ref,
            issued_on: issued_on.unwrap_or_default(),
        }),
        effective_on: data.effective_on,
        reason: data.reason,
        scope: data.scope,
        workers_affected: data.workers_affected,
    }))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Each event type has a `relance coop` subcommand that records it (its help names the
    /// type): a type added to the domain without one fails here.
    #[test]
    fn every_event_type_has_a_coop_subcommand() {
        let cli = crate::cli::Cli::command();
        let coop = cli.find_subcommand("coop").expect("coop subcommand");
        for name in relance_domain::Event::TYPE_NAMES {
            let recorded_by = coop.get_subcommands().find(|c| {
                c.get_about()
                    .is_some_and(|about| about.to_string().contains(&format!("({name})")))
            });
            assert!(
                recorded_by.is_some(),
                "no `relance coop` subcommand records {name}"
            );
        }
    }
}
