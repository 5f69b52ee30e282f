//! Cell → value: text, dates (ISO, day-first, spreadsheet dates), whole numbers with spaced
//! thousands, MAD amounts with a decimal comma. Errors carry the rule and a sentence.

use relance_domain::{limits, Date, Rule};

use crate::table::{number_text, Cell};
use crate::RowRule;

/// A refused value: the rule and a sentence (the caller adds where and which column).
pub(crate) type Bad = (RowRule, String);

fn bad(rule: impl Into<RowRule>, msg: impl Into<String>) -> Bad {
    (rule.into(), msg.into())
}

/// The characters a spreadsheet program would take for the start of a formula; the export
/// neutralises them with a leading `'`, which the importer takes off again.
pub(crate) const FORMULA_LEAD: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// Checks every read cell: no formula, no error value, bounded, no control characters.
pub(crate) fn check_cell(cell: &Cell) -> Result<(), Bad> {
    match cell {
        Cell::Formula(f) => Err(bad(
            RowRule::FormulaCell,
            format!("the cell holds the formula {}: the importer never evaluates formulas; paste its value instead", Cell::Formula(f.clone()).display()),
        )),
        Cell::Error(e) => Err(bad(RowRule::CellError, format!("the cell holds the error value {e}"))),
        Cell::Text(s) => {
            let n = s.chars().count();
            if n > limits::LONG_TEXT {
                return Err(bad(
                    Rule::TextTooLong,
                    format!("has {n} characters, at most {} are allowed", limits::LONG_TEXT),
                ));
            }
            if let Some(c) = s.chars().find(|c| c.is_control()) {
                return Err(bad(
                    Rule::ControlCharacter,
                    format!("contains the control character U+{:04X}", u32::from(c)),
                ));
            }
            Ok(())
        }
        Cell::Empty | Cell::Number(_) | Cell::Date(..) | Cell::Bool(_) => Ok(()),
    }
}

/// The cell as stored text: surrounding spaces trimmed, the export's neutralising `'` taken
/// off; nothing else changes (Arabic and every other script kept byte for byte).
pub(crate) fn text(cell: &Cell) -> String {
    let s = cell.display();
    let t = s.trim();
    match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_LEAD) => rest.to_owned(),
        _ => t.to_owned(),
    }
}

/// A date as `YYYY-MM-DD`, `None` when the cell is empty.
pub(crate) fn date(cell: &Cell) -> Result<Option<String>, Bad> {
    let parts = match cell {
        Cell::Empty => return Ok(None),
        Cell::Date(y, m, d) => (*y, *m, *d),
        Cell::Number(serial) => serial_date(*serial)?,
        _ => {
            let t = text(cell);
            if t.is_empty() {
                return Ok(None);
            }
            text_date(&t).ok_or_else(|| {
                bad(
                    Rule::InvalidDate,
                    format!("{t:?} is not a date: write YYYY-MM-DD or DD/MM/YYYY"),
                )
            })?
        }
    };
    let (y, m, d) = parts;
    match Date::from_ymd(y, m, d) {
        Some(date) => Ok(Some(date.to_string())),
        None => Err(bad(
            Rule::InvalidDate,
            format!("{d:02}/{m:02}/{y:04} is not a calendar date between 1900 and 2999"),
        )),
    }
}

/// Excel's serial date (1900 system): days since 1899-12-30.
fn serial_date(serial: f64) -> Result<(i32, u32, u32), Bad> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return Err(bad(
            Rule::InvalidDate,
            format!("{} is not a spreadsheet date", number_text(serial)),
        ));
    }
    // 25 569 is the serial of 1970-01-01.
    let (y, m, d) = Date::from_ymd(1970, 1, 1)
        .map(|epoch| epoch.add_days(serial.floor() as i32 - 25_569).ymd())
        .unwrap_or((0, 0, 0));
    Ok((y, m, d))
}

/// `YYYY-MM-DD` (optionally followed by a midnight time), `D/M/YYYY`, `D-M-YYYY`, `D.M.YYYY`.
fn text_date(t: &str) -> Option<(i32, u32, u32)> {
    let day = t.split([' ', 'T']).next()?;
    let rest = &t[day.len()..];
    if !rest.is_empty()
        && !rest
            .trim_start_matches(['T', ' '])
            .chars()
            .all(|c| c == '0' || c == ':')
    {
        return None;
    }
    let parts: Vec<&str> = day.split(['/', '-', '.']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(a) && digits(b) && digits(c)) {
        return None;
    }
    if a.len() == 4 && b.len() <= 2 && c.len() <= 2 {
        Some((a.parse().ok()?, b.parse().ok()?, c.parse().ok()?))
    } else if c.len() == 4 && a.len() <= 2 && b.len() <= 2 {
        Some((c.parse().ok()?, b.parse().ok()?, a.parse().ok()?))
    } else {
        None
    }
}

/// An amount in centimes (may be negative: the domain refuses it), `None` when empty.
pub(crate) fn amount(cell: &Cell) -> Result<Option<i64>, Bad> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Number(n) => {
            let c = (n * 100.0).round();
            if (n * 100.0 - c).abs() > 1e-6 {
                return Err(bad(
                    RowRule::InvalidNumber,
                    format!("{} has more than two decimals", number_text(*n)),
                ));
            }
            if c.abs() > 9.0e18 {
                return Err(bad(
                    Rule::AmountTooLarge,
                    format!("{} is too large", number_text(*n)),
                ));
            }
            Ok(Some(c as i64))
        }
        _ => {
            let t = text(cell);
            if t.is_empty() {
                return Ok(None);
            }
            text_amount(&t).map(Some)
        }
    }
}

const NOT_A_NUMBER: &str =
    "write digits, thousands separated by spaces, decimals after a comma (1 953 875,00)";

fn text_amount(t: &str) -> Result<i64, Bad> {
    let mut s: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{202f}')
        .collect();
    for unit in ["dirhams", "dhs", "mad", "dh"] {
        if s.to_lowercase().ends_with(unit) {
            s.truncate(s.len() - unit.len());
            break;
        }
    }
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.as_str()),
    };
    let (commas, dots) = (s.matches(',').count(), s.matches('.').count());
    let decimal = match (commas, dots) {
        (0, 0) => None,
        (1, 0) => Some(','),
        (0, 1) => Some('.'),
        (_, 0) => None,
        (0, _) => None,
        _ => s.rfind([',', '.']).and_then(|i| s[i..].chars().next()),
    };
    let (int, frac) = match decimal.and_then(|d| s.rsplit_once(d)) {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let int: String = int.chars().filter(|c| *c != ',' && *c != '.').collect();
    let is_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !is_digits(&int) || !is_digits(frac) {
        return Err(bad(
            RowRule::InvalidNumber,
            format!("{t:?} is not a number: {NOT_A_NUMBER}"),
        ));
    }
    if frac.len() > 2 {
        return Err(bad(
            RowRule::InvalidNumber,
            format!("{t:?} has more than two decimals: {NOT_A_NUMBER}"),
        ));
    }
    let too_large = || bad(Rule::AmountTooLarge, format!("{t:?} is too large"));
    let units: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_large())?
    };
    let cents: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    let total = units
        .checked_mul(100)
        .and_then(|u| u.checked_add(cents))
        .ok_or_else(too_large)?;
    Ok(if negative { -total } else { total })
}

/// A whole non-negative number (`1 200`), `None` when empty. A leading `-` is refused with
/// the domain's `amount_negative`.
pub(crate) fn count(cell: &Cell) -> Result<Option<u64>, Bad> {
    let Some(centimes) = amount(cell).map_err(|(rule, msg)| match rule {
        RowRule::Domain(Rule::AmountTooLarge) => (Rule::NumberTooLarge.into(), msg),
        _ => (rule, msg),
    })?
    else {
        return Ok(None);
    };
    let shown = text(cell);
    if centimes < 0 {
        return Err(bad(Rule::AmountNegative, format!("{shown} is negative")));
    }
    if centimes % 100 != 0 {
        return Err(bad(
            RowRule::InvalidNumber,
            format!("{shown:?} is not a whole number"),
        ));
    }
    Ok(Some((centimes / 100) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn dates_in_every_accepted_shape() {
        for (raw, want) in [
            ("2020-03-20", "2020-03-20"),
            ("20/03/2020", "2020-03-20"),
            ("5/4/2020", "2020-04-05"),
            ("05.04.2020", "2020-04-05"),
            ("2020-03-20 00:00:00", "2020-03-20"),
        ] {
            assert_eq!(date(&t(raw)).expect(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(
            date(&Cell::Number(43910.0)).expect("serial").as_deref(),
            Some("2020-03-20")
        );
        assert_eq!(
            date(&Cell::Date(2020, 3, 20)).expect("cell").as_deref(),
            Some("2020-03-20")
        );
        assert_eq!(
            date(&t("31/02/2020")).expect_err("feb").0,
            RowRule::Domain(Rule::InvalidDate)
        );
        assert_eq!(
            date(&t("mars 2020")).expect_err("words").0,
            RowRule::Domain(Rule::InvalidDate)
        );
        assert_eq!(
            date(&t("2020-03-20 14:00")).expect_err("time").0,
            RowRule::Domain(Rule::InvalidDate)
        );
        assert_eq!(date(&t("  ")).expect("blank"), None);
    }

    #[test]
    fn amounts_and_counts() {
        assert_eq!(amount(&t("1 953 875,00")).expect("fr"), Some(195_387_500));
        assert_eq!(
            amount(&t("1\u{202f}953\u{a0}875,5 MAD")).expect("nbsp"),
            Some(195_387_550)
        );
        assert_eq!(amount(&t("1,953,875.00")).expect("en"), Some(195_387_500));
        assert_eq!(amount(&t("1.953.875,00")).expect("dots"), Some(195_387_500));
        assert_eq!(amount(&t("-5")).expect("neg"), Some(-500));
        assert_eq!(
            amount(&Cell::Number(1953875.5)).expect("cell"),
            Some(195_387_550)
        );
        assert_eq!(
            amount(&t("1,234")).expect_err("3 decimals").0,
            RowRule::InvalidNumber
        );
        assert_eq!(
            amount(&t("douze")).expect_err("words").0,
            RowRule::InvalidNumber
        );
        assert_eq!(
            amount(&t("99999999999999999999")).expect_err("big").0,
            RowRule::Domain(Rule::AmountTooLarge)
        );
        assert_eq!(count(&t("1 200")).expect("count"), Some(1200));
        assert_eq!(count(&Cell::Number(45.0)).expect("n"), Some(45));
        assert_eq!(
            count(&t("-3")).expect_err("neg").0,
            RowRule::Domain(Rule::AmountNegative)
        );
        assert_eq!(
            count(&t("4,5")).expect_err("frac").0,
            RowRule::InvalidNumber
        );
    }

    #[test]
    fn text_keeps_formula_leads_and_takes_off_the_neutraliser() {
        assert_eq!(text(&t("=SUM(A1)")), "=SUM(A1)");
        assert_eq!(text(&t("'=SUM(A1)")), "=SUM(A1)");
        assert_eq!(text(&t("'quoted")), "'quoted");
        assert_eq!(text(&t("  تعاونية  ")), "تعاونية");
        assert!(check_cell(&t("a\u{7}b")).is_err());
        assert!(check_cell(&Cell::Formula("SUM(A1)".into())).is_err());
    }
}
