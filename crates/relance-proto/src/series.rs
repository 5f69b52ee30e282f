//! The `Series` query on the wire: its request checked field by field, its reply.

use relance_domain::{Bucket, Date, Rejection, Rule, SeriesPoint};

use crate::v1;

/// Most buckets one reply holds (ten years of days).
pub const MAX_SERIES_BUCKETS: usize = 3660;

/// A checked `SeriesRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesQuery {
    pub from: Date,
    pub to: Date,
    pub bucket: Bucket,
}

/// Checks a `SeriesRequest`, naming the field at fault.
pub fn series_query_from_wire(r: &v1::SeriesRequest) -> Result<SeriesQuery, Rejection> {
    let date = |field: &'static str, raw: &str| {
        Date::parse(raw).ok_or_else(|| {
            Rejection::invalid(
                field,
                Rule::InvalidDate,
                format!("{raw:?} is not a date YYYY-MM-DD (1900-2999)"),
            )
        })
    };
    let from = date("from", &r.from)?;
    let to = date("to", &r.to)?;
    if to < from {
        return Err(Rejection::invalid(
            "to",
            Rule::RangeReversed,
            format!("{to} is before from {from}"),
        ));
    }
    let bucket = if r.bucket.is_empty() {
        Bucket::Month
    } else {
        Bucket::parse(&r.bucket).ok_or_else(|| {
            Rejection::invalid(
                "bucket",
                Rule::InvalidEnum,
                format!("{:?} is not day, week or month", r.bucket),
            )
        })?
    };
    let buckets = match bucket {
        Bucket::Day => (to.days() - from.days()) as usize + 1,
        Bucket::Week => (to.days() - from.days()) as usize / 7 + 2,
        Bucket::Month => {
            let ((fy, fm, _), (ty, tm, _)) = (from.ymd(), to.ymd());
            ((ty - fy) * 12 + tm as i32 - fm as i32) as usize + 1
        }
    };
    if buckets > MAX_SERIES_BUCKETS {
        return Err(Rejection::invalid(
            "to",
            Rule::NumberTooLarge,
            format!("{buckets} buckets asked for; at most {MAX_SERIES_BUCKETS}"),
        ));
    }
    Ok(SeriesQuery { from, to, bucket })
}

/// A series as a reply, read at checkpoint `position`.
pub fn series_to_wire(points: &[SeriesPoint], position: u64) -> v1::SeriesReply {
    v1::SeriesReply {
        points: points
            .iter()
            .map(|p| v1::SeriesPoint {
                start: p.start.to_string(),
                halts: p.halts,
                resumptions: p.resumptions,
                reorientations: p.reorientations,
                workers_idled: p.workers_idled,
                support_grants: p.support_grants,
                support_amount_centimes: p.support_centimes,
            })
            .collect(),
        position,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(from: &str, to: &str, bucket: &str) -> v1::SeriesRequest {
        v1::SeriesRequest {
            from: from.into(),
            to: to.into(),
            bucket: bucket.into(),
            min_position: 0,
        }
    }

    #[test]
    fn a_series_request_is_checked_field_by_field() {
        let ok = series_query_from_wire(&req("2020-03-01", "2020-12-31", "")).expect("valid");
        assert_eq!(ok.bucket, Bucket::Month);
        let field = |r: v1::SeriesRequest| {
            let e = series_query_from_wire(&r).expect_err("refused");
            (e.field().map(str::to_owned), e.rule())
        };
        assert_eq!(
            field(req("2020-3-1", "2020-12-31", "week")),
            (Some("from".into()), Rule::InvalidDate)
        );
        assert_eq!(
            field(req("2020-03-01", "", "week")),
            (Some("to".into()), Rule::InvalidDate)
        );
        assert_eq!(
            field(req("2020-12-31", "2020-03-01", "day")),
            (Some("to".into()), Rule::RangeReversed)
        );
        assert_eq!(
            field(req("2020-03-01", "2020-12-31", "year")),
            (Some("bucket".into()), Rule::InvalidEnum)
        );
        assert_eq!(
            field(req("1900-01-01", "2999-12-31", "day")),
            (Some("to".into()), Rule::NumberTooLarge)
        );
    }
}
