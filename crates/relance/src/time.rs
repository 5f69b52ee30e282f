//! Time arguments of the command line: Unix milliseconds, RFC 3339 or YYYY-MM-DD, and the
//! `--as-of` / `--known-at` / `--position` point of time travel.

use anyhow::{anyhow, Context as _, Result};
use relance_domain::Date;
use relance_proto::v1;

use crate::cli::AtArgs;

/// Unix ms of a time argument: Unix milliseconds, RFC 3339, or YYYY-MM-DD (the end of that day,
/// UTC, so "as of 2020-05-01" includes everything recorded on 1 May).
pub fn parse_time(raw: &str) -> Result<i64> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse()
            .map_err(|_| anyhow!("{raw:?} is too large for Unix milliseconds"));
    }
    let bad = || {
        anyhow!("{raw:?} is not a time: use YYYY-MM-DD, RFC 3339 (2020-05-01T12:00:00Z) or Unix milliseconds")
    };
    let date = Date::parse(raw.get(..10).ok_or_else(bad)?).ok_or_else(bad)?;
    if raw.len() == 10 {
        return Ok(date.add_days(1).start_unix_ms() - 1);
    }
    // RFC 3339: T/t/space, HH:MM:SS, optional fraction, Z or ±HH:MM.
    let rest = raw.get(10..).ok_or_else(bad)?;
    let rest = rest
        .strip_prefix(['T', 't', ' '])
        .ok_or_else(bad)?
        .as_bytes();
    let num = |b: &[u8]| -> Option<i64> {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))?
            .parse()
            .ok()
    };
    if rest.len() < 8 || rest[2] != b':' || rest[5] != b':' {
        return Err(bad());
    }
    let (h, m, s) = (
        num(&rest[0..2]).ok_or_else(bad)?,
        num(&rest[3..5]).ok_or_else(bad)?,
        num(&rest[6..8]).ok_or_else(bad)?,
    );
    if h > 23 || m > 59 || s > 60 {
        return Err(bad());
    }
    let mut i = 8;
    let mut ms = 0;
    if rest.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while rest.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = &rest[start..i];
        if frac.is_empty() {
            return Err(bad());
        }
        let mut digits = [b'0'; 3];
        for (d, f) in digits.iter_mut().zip(frac) {
            *d = *f;
        }
        ms = num(&digits).ok_or_else(bad)?;
    }
    let offset_min = match &rest[i..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), a, b, b':', c, d] => {
            let oh = num(&[*a, *b]).ok_or_else(bad)?;
            let om = num(&[*c, *d]).ok_or_else(bad)?;
            let v = oh * 60 + om;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return Err(bad()),
    };
    Ok(date.start_unix_ms() + ((h * 60 + m - offset_min) * 60 + s) * 1000 + ms)
}

/// The wire `AsOf` of `coop show` / `summary` time-travel arguments; `None` = now.
pub fn as_of(at: &AtArgs) -> Result<Option<v1::AsOf>> {
    use v1::as_of::Point;
    let point = match (&at.known_at, at.position) {
        (Some(r), _) => Point::RecordedAtUnixMs(parse_time(r).context("--known-at")?),
        (None, Some(p)) => Point::Position(p),
        (None, None) => match &at.as_of {
            Some(t) => {
                return Ok(Some(v1::AsOf {
                    point: Some(Point::RecordedAtUnixMs(parse_time(t).context("--as-of")?)),
                    business_date: String::new(),
                }))
            }
            None => return Ok(None),
        },
    };
    // With a recording point, --as-of is the business date.
    let business_date = match &at.as_of {
        Some(b) => {
            let date = b.get(..10).and_then(Date::parse).ok_or_else(|| {
                anyhow!("--as-of {b:?}: with --known-at or --position it is a business date, YYYY-MM-DD")
            })?;
            date.to_string()
        }
        None => String::new(),
    };
    Ok(Some(v1::AsOf {
        point: Some(point),
        business_date,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MAY_1: i64 = 1_588_291_200_000; // 2020-05-01T00:00:00Z

    #[test]
    fn times_parse_as_dates_rfc3339_or_unix_ms() {
        assert_eq!(parse_time("2020-05-01").unwrap(), MAY_1 + 86_400_000 - 1);
        assert_eq!(parse_time("2020-05-01T00:00:00Z").unwrap(), MAY_1);
        assert_eq!(
            parse_time("2020-05-01T12:30:15.25Z").unwrap(),
            MAY_1 + 45_015_250
        );
        assert_eq!(parse_time("2020-05-01T02:00:00+02:00").unwrap(), MAY_1);
        assert_eq!(parse_time("2020-04-30T22:00:00-02:00").unwrap(), MAY_1);
        assert_eq!(parse_time("1588291200000").unwrap(), MAY_1);
        for bad in [
            "",
            "2020-13-01",
            "2020-05-01T25:00:00Z",
            "2020-05-01T00:00:00",
            "yesterday",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn as_of_alone_is_a_recorded_time_and_with_known_at_a_business_date() {
        use v1::as_of::Point;
        let at = |as_of: Option<&str>, known_at: Option<&str>, position: Option<u64>| AtArgs {
            as_of: as_of.map(str::to_owned),
            known_at: known_at.map(str::to_owned),
            position,
        };
        assert_eq!(as_of(&at(None, None, None)).unwrap(), None);
        let a = as_of(&at(Some("2020-04-30"), None, None)).unwrap().unwrap();
        assert_eq!(a.point, Some(Point::RecordedAtUnixMs(MAY_1 - 1)));
        assert_eq!(a.business_date, "");
        let a = as_of(&at(Some("2020-04-15"), Some("2020-04-30"), None))
            .unwrap()
            .unwrap();
        assert_eq!(a.point, Some(Point::RecordedAtUnixMs(MAY_1 - 1)));
        assert_eq!(a.business_date, "2020-04-15");
        let a = as_of(&at(Some("2020-04-15"), None, Some(300)))
            .unwrap()
            .unwrap();
        assert_eq!(a.point, Some(Point::Position(300)));
        assert_eq!(a.business_date, "2020-04-15");
        assert!(as_of(&at(Some("soon"), Some("2020-04-30"), None)).is_err());
    }
}
