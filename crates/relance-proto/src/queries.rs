//! Query requests from the wire (a past point, list filters and paging, an export range) and
//! their answers to the wire (a timeline, chain heads, export records). Page tokens are bound
//! to the filter they page through, so a token this node never issued is refused.

use relance_domain as d;
use relance_domain::{Rejection, Rule};
use sha2::{Digest, Sha256};

use crate::convert::{envelope_to_wire, DecodeError};
use crate::v1;

/// Rows of a list page when the request names no size.
pub const DEFAULT_PAGE: usize = 50;
/// Largest list page.
pub const MAX_PAGE: usize = 500;

/// A list request, checked: its filter, page size and the cooperative to continue after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: d::Filter,
    pub page_size: usize,
    pub after: Option<d::CoopId>,
}

/// The request's past point; it must name a recorded time or a position.
pub fn as_of_from_wire(raw: Option<v1::AsOf>) -> Result<d::AsOf, Rejection> {
    let raw = raw.ok_or_else(|| Rejection::invalid("as_of", Rule::RequiredField, "is missing"))?;
    let mut as_of = d::AsOf::default();
    match raw.point {
        Some(v1::as_of::Point::RecordedAtUnixMs(ms)) => as_of.recorded_at_ms = Some(ms),
        Some(v1::as_of::Point::Position(p)) => as_of.position = Some(p),
        None => {
            return Err(Rejection::invalid(
                "as_of.point",
                Rule::RequiredField,
                "must be a recorded time or a position",
            ))
        }
    }
    if !raw.business_date.is_empty() {
        as_of.business_date = Some(crate::convert::req_date(
            "as_of.business_date",
            &raw.business_date,
        )?);
    }
    Ok(as_of)
}

/// A list request's filter, page size and page token.
pub fn list_query_from_wire(r: &v1::ListRequest) -> Result<ListQuery, Rejection> {
    let sector = match r.sector.as_str() {
        "" => None,
        s => Some(d::Sector::parse(s).ok_or_else(|| {
            let known: Vec<&str> = d::Sector::ALL.iter().map(|s| s.as_str()).collect();
            Rejection::invalid(
                "sector",
                Rule::InvalidEnum,
                format!("{s:?} is not one of {}", known.join(", ")),
            )
        })?),
    };
    let status = match r.status.as_str() {
        "" => None,
        s => Some(d::Status::parse(s).ok_or_else(|| {
            Rejection::invalid(
                "status",
                Rule::InvalidEnum,
                format!("{s:?} is not one of active, halted, reoriented, resumed"),
            )
        })?),
    };
    let page_size = match r.page_size {
        0 => DEFAULT_PAGE,
        n if n > MAX_PAGE as u64 => {
            return Err(Rejection::invalid(
                "page_size",
                Rule::NumberTooLarge,
                format!("is {n}, at most {MAX_PAGE}"),
            ))
        }
        n => n as usize,
    };
    let filter = d::Filter {
        sector,
        status,
        commune: (!r.commune.is_empty()).then(|| r.commune.clone()),
    };
    let after = match r.page_token.as_str() {
        "" => None,
        token => Some(page_token_after(&filter, token)?),
    };
    Ok(ListQuery {
        filter,
        page_size,
        after,
    })
}

/// The token that continues a list after cooperative `after` under `filter`: the id and a
/// check binding it to the filter (not a secret: it tells issued tokens from made-up ones and
/// from tokens of another filter).
pub fn page_token(filter: &d::Filter, after: &str) -> String {
    format!("{after}.{}", token_check(filter, after))
}

fn token_check(filter: &d::Filter, after: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"relance page token v1\0");
    h.update(filter.sector.map_or("", |s| s.as_str()));
    h.update(b"\0");
    h.update(filter.status.map_or("", |s| s.as_str()));
    h.update(b"\0");
    h.update(filter.commune.as_deref().unwrap_or(""));
    h.update(b"\0");
    h.update(after);
    h.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn page_token_after(filter: &d::Filter, token: &str) -> Result<d::CoopId, Rejection> {
    let refused = || {
        Rejection::invalid(
            "page_token",
            Rule::PageTokenInvalid,
            format!("{token:?} was not issued for this filter: pass back the next_page_token of the previous page unchanged"),
        )
    };
    let (id, check) = token.rsplit_once('.').ok_or_else(refused)?;
    if check != token_check(filter, id) {
        return Err(refused());
    }
    d::CoopId::parse(id).map_err(|_| refused())
}

/// The positions an export covers: `from` (at least 1) to `to` (0: the head), refused when
/// `from` is after a given `to`.
pub fn export_range_from_wire(r: &v1::ExportRequest) -> Result<(u64, Option<u64>), Rejection> {
    let from = r.from.max(1);
    if r.to != 0 && from > r.to {
        return Err(Rejection::invalid(
            "from",
            Rule::RangeReversed,
            format!("is {from}, after to ({})", r.to),
        ));
    }
    Ok((from, (r.to != 0).then_some(r.to)))
}

/// One export record: the stored envelope as it is, with the log position it was read at.
pub fn export_record(
    payload: &[u8],
    position: u64,
    head: u64,
) -> Result<v1::ExportRecord, DecodeError> {
    let mut envelope = crate::convert::decode_wire_envelope(payload)?;
    envelope.position = position;
    Ok(v1::ExportRecord {
        envelope: Some(envelope),
        head,
    })
}

/// A cooperative's timeline on the wire.
pub fn history_to_wire(items: Vec<d::HistoryItem>) -> v1::HistoryReply {
    v1::HistoryReply {
        events: items
            .into_iter()
            .map(|item| {
                let r = item.retracted_by.unwrap_or(d::Retraction {
                    event_id: String::new(),
                    reason: String::new(),
                    principal: String::new(),
                    recorded_at_ms: 0,
                });
                v1::HistoryEntry {
                    envelope: Some(envelope_to_wire(
                        &item.recorded.envelope,
                        item.recorded.position,
                    )),
                    retracted_by_event_id: r.event_id,
                    retraction_reason: r.reason,
                    retracted_by_principal: r.principal,
                    retracted_at_unix_ms: r.recorded_at_ms,
                }
            })
            .collect(),
    }
}

/// Every chain head at a checkpoint on the wire.
pub fn heads_to_wire(position: u64, chains: Vec<d::ChainHead>) -> v1::HeadsReply {
    v1::HeadsReply {
        position,
        count: chains.iter().map(|h| h.version).sum(),
        heads: chains
            .into_iter()
            .map(|h| v1::ChainHead {
                cooperative_id: h.cooperative_id,
                version: h.version,
                position: h.last_position,
                hash: h.hash.0.to_vec(),
            })
            .collect(),
    }
}

/// The transparency log's head on the wire.
pub fn tree_head_to_wire(h: d::TreeHead) -> v1::TreeHead {
    v1::TreeHead {
        size: h.size,
        root: h.root.to_vec(),
    }
}

/// An inclusion proof on the wire.
pub fn inclusion_to_wire(p: d::Inclusion) -> v1::InclusionProofReply {
    v1::InclusionProofReply {
        position: p.position,
        leaf_hash: p.leaf_hash.to_vec(),
        tree: Some(tree_head_to_wire(p.head)),
        path: p.path.iter().map(|h| h.to_vec()).collect(),
    }
}

/// A consistency proof on the wire.
pub fn consistency_to_wire(p: d::Consistency) -> v1::ConsistencyProofReply {
    v1::ConsistencyProofReply {
        old: Some(tree_head_to_wire(p.old)),
        new: Some(tree_head_to_wire(p.new)),
        path: p.path.iter().map(|h| h.to_vec()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(filter_sector: &str, token: &str) -> v1::ListRequest {
        v1::ListRequest {
            sector: filter_sector.into(),
            page_token: token.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_page_token_reads_back_only_under_the_filter_it_was_issued_for() {
        let agri = list_query_from_wire(&list("agriculture", "")).expect("valid");
        let token = page_token(&agri.filter, "REH-0042");
        let next = list_query_from_wire(&list("agriculture", &token)).expect("issued token");
        assert_eq!(next.after.as_ref().map(|a| a.as_str()), Some("REH-0042"));
        for bad in [
            "REH-0042".to_owned(),
            format!("REH-0043.{}", token.rsplit_once('.').expect("dot").1),
            "garbage".to_owned(),
        ] {
            let err = list_query_from_wire(&list("agriculture", &bad)).expect_err("refused");
            assert_eq!(err.rule(), Rule::PageTokenInvalid, "{bad}");
            assert_eq!(err.field(), Some("page_token"));
        }
        let other = list_query_from_wire(&list("artisanat", &token)).expect_err("other filter");
        assert_eq!(other.rule(), Rule::PageTokenInvalid);
    }

    #[test]
    fn an_export_range_from_after_to_is_refused() {
        let r = |from, to| v1::ExportRequest { from, to };
        assert_eq!(export_range_from_wire(&r(0, 0)), Ok((1, None)));
        assert_eq!(export_range_from_wire(&r(5, 5)), Ok((5, Some(5))));
        let err = export_range_from_wire(&r(9, 3)).expect_err("reversed");
        assert_eq!(err.rule(), Rule::RangeReversed);
    }

    #[test]
    fn a_page_size_beyond_32_bits_is_refused_not_wrapped() {
        let mut r = list("", "");
        r.page_size = (1 << 32) + 5;
        let err = list_query_from_wire(&r).expect_err("too large");
        assert_eq!(err.rule(), Rule::NumberTooLarge);
    }
}
