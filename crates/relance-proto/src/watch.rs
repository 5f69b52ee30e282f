//! The `Watch` RPC's request and items: a start position, a filter and a heartbeat period from
//! the wire (each bad part named with its field and rule), and a stored event as the item sent.

use relance_domain as d;
use relance_domain::{Rejection, Rule};

use crate::convert::{decode_wire_envelope, envelope_from_wire, DecodeError};
use crate::v1;

/// Seconds without an item after which a heartbeat is sent, when the request names none.
pub const DEFAULT_HEARTBEAT_SECONDS: u32 = 15;
/// The longest heartbeat period a request may ask for.
pub const MAX_HEARTBEAT_SECONDS: u32 = 300;

/// What a `Watch` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchQuery {
    /// The first position to consider; `None`: from now.
    pub from: Option<u64>,
    pub filter: d::EventFilter,
    pub heartbeat_seconds: u32,
}

/// A `WatchRequest` checked.
pub fn watch_query_from_wire(r: &v1::WatchRequest) -> Result<WatchQuery, Rejection> {
    let filter = d::EventFilter::parse(&r.cooperative_ids, &r.event_types, &r.partner)?;
    if r.heartbeat_seconds > MAX_HEARTBEAT_SECONDS {
        return Err(Rejection::invalid(
            "heartbeat_seconds",
            Rule::NumberTooLarge,
            format!(
                "is {}, at most {MAX_HEARTBEAT_SECONDS}",
                r.heartbeat_seconds
            ),
        ));
    }
    Ok(WatchQuery {
        from: (r.from_position != 0).then_some(r.from_position),
        filter,
        heartbeat_seconds: match r.heartbeat_seconds {
            0 => DEFAULT_HEARTBEAT_SECONDS,
            s => s,
        },
    })
}

/// The item to send for the stored event at `position`, or `None` when `filter` leaves it out.
pub fn watch_item(
    payload: &[u8],
    position: u64,
    filter: &d::EventFilter,
) -> Result<Option<v1::WatchResponse>, DecodeError> {
    let mut envelope = decode_wire_envelope(payload)?;
    if !filter.is_everything() {
        let (domain, _) = envelope_from_wire(envelope.clone())?;
        if !filter.matches(&domain) {
            return Ok(None);
        }
    }
    envelope.position = position;
    Ok(Some(v1::WatchResponse {
        item: Some(v1::watch_response::Item::Event(envelope)),
    }))
}

/// The type name of a wire event, as in [`d::Event::TYPE_NAMES`] and the headers.
pub fn event_type_name(e: &v1::envelope::Event) -> &'static str {
    use v1::envelope::Event as W;
    d::Event::TYPE_NAMES[match e {
        W::CooperativeRegistered(_) => 0,
        W::ActivityHalted(_) | W::ActivityHaltedV2(_) => 1,
        W::ReorientationDeclared(_) => 2,
        W::AuthorizationObtained(_) => 3,
        W::SupportGranted(_) => 4,
        W::SalesChannelOpened(_) => 5,
        W::ActivityResumed(_) => 6,
        W::HeadcountReported(_) => 7,
        W::EventRetracted(_) => 8,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_from_now_and_the_default_heartbeat() {
        let q = watch_query_from_wire(&v1::WatchRequest::default()).expect("valid");
        assert_eq!(q.from, None);
        assert_eq!(q.heartbeat_seconds, DEFAULT_HEARTBEAT_SECONDS);
        assert!(q.filter.is_everything());
        let q = watch_query_from_wire(&v1::WatchRequest {
            from_position: 7,
            heartbeat_seconds: 2,
            ..Default::default()
        })
        .expect("valid");
        assert_eq!((q.from, q.heartbeat_seconds), (Some(7), 2));
    }

    #[test]
    fn wire_events_have_the_domain_type_names() {
        use v1::envelope::Event as W;
        let names = [
            event_type_name(&W::CooperativeRegistered(Default::default())),
            event_type_name(&W::ActivityHalted(Default::default())),
            event_type_name(&W::ActivityHaltedV2(Default::default())),
            event_type_name(&W::ReorientationDeclared(Default::default())),
            event_type_name(&W::AuthorizationObtained(Default::default())),
            event_type_name(&W::SupportGranted(Default::default())),
            event_type_name(&W::SalesChannelOpened(Default::default())),
            event_type_name(&W::ActivityResumed(Default::default())),
            event_type_name(&W::HeadcountReported(Default::default())),
            event_type_name(&W::EventRetracted(Default::default())),
        ];
        let mut versions_merged = names.to_vec();
        versions_merged.dedup();
        assert_eq!(versions_merged, d::Event::TYPE_NAMES);
    }

    #[test]
    fn a_heartbeat_too_rare_is_refused_naming_the_field() {
        let r = watch_query_from_wire(&v1::WatchRequest {
            heartbeat_seconds: MAX_HEARTBEAT_SECONDS + 1,
            ..Default::default()
        })
        .expect_err("refused");
        assert_eq!(
            (r.rule(), r.field()),
            (Rule::NumberTooLarge, Some("heartbeat_seconds"))
        );
    }

    #[test]
    fn an_unknown_event_type_is_refused_naming_the_field() {
        let r = watch_query_from_wire(&v1::WatchRequest {
            event_types: vec!["Nope".into()],
            ..Default::default()
        })
        .expect_err("refused");
        assert_eq!(
            (r.rule(), r.field()),
            (Rule::InvalidEnum, Some("event_types"))
        );
    }
}
