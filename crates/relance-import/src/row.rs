//! Reading one row's fields (with located errors) and running the domain's stateless checks
//! on the request it became.

use relance_domain::{decide, Actor, Aggregate, Context, CoopId, Date, Rejection, Rule};

use crate::columns::{Columns, Field};
use crate::error::shown;
use crate::ids::derived_coop_id;
use crate::labels::EnumColumn;
use crate::table::{Cell, RawRow, Table};
use crate::values::{self, Bad};
use crate::{Options, Request, RowError, RowRule};

/// One row being read.
pub(crate) struct RowCtx<'a> {
    pub table: &'a Table,
    pub cols: &'a Columns,
    pub row: &'a RawRow,
    pub opts: &'a Options,
}

const EMPTY: Cell = Cell::Empty;

impl RowCtx<'_> {
    pub(crate) fn cell(&self, f: Field) -> &Cell {
        self.cols
            .get(f)
            .and_then(|i| self.row.cells.get(i))
            .unwrap_or(&EMPTY)
    }

    pub(crate) fn has(&self, f: Field) -> bool {
        self.cols.get(f).is_some()
    }

    /// The header of the column holding `f`, or its usual label when the file has none.
    fn column_name(&self, f: Field) -> String {
        match self.cols.get(f).and_then(|i| self.table.headers.get(i)) {
            Some(h) => h.clone(),
            None => format!("{} (absent)", f.label()),
        }
    }

    /// An error about field `f` of this row.
    pub(crate) fn err(&self, f: Field, (rule, message): Bad) -> Box<RowError> {
        let location = match self.cols.get(f) {
            Some(i) => self.table.cell_location(self.row, i),
            None => self.table.row_location(self.row),
        };
        Box::new(RowError {
            location,
            column: Some(self.column_name(f)),
            value: shown(&self.cell(f).display()),
            rule,
            message,
        })
    }

    /// An error about the whole row.
    pub(crate) fn row_err(&self, rule: RowRule, message: String) -> Box<RowError> {
        Box::new(RowError {
            location: self.table.row_location(self.row),
            column: None,
            value: String::new(),
            rule,
            message,
        })
    }

    /// Refuses formulas, error values, over-long cells and control characters in every
    /// column the importer reads, in column order.
    pub(crate) fn precheck(&self) -> Result<(), Box<RowError>> {
        let mut fields: Vec<(usize, Field)> =
            self.cols.by_field.iter().map(|(f, i)| (*i, *f)).collect();
        fields.sort();
        for (_, f) in fields {
            values::check_cell(self.cell(f)).map_err(|b| self.err(f, b))?;
        }
        Ok(())
    }

    pub(crate) fn text(&self, f: Field) -> String {
        values::text(self.cell(f))
    }

    /// A date that must be there.
    pub(crate) fn date(&self, f: Field) -> Result<String, Box<RowError>> {
        values::date(self.cell(f))
            .map_err(|b| self.err(f, b))?
            .ok_or_else(|| {
                self.err(
                    f,
                    (
                        Rule::RequiredField.into(),
                        "is empty: a date is required".into(),
                    ),
                )
            })
    }

    pub(crate) fn opt_date(&self, f: Field) -> Result<String, Box<RowError>> {
        Ok(values::date(self.cell(f))
            .map_err(|b| self.err(f, b))?
            .unwrap_or_default())
    }

    /// A count (0 when empty).
    pub(crate) fn count_u64(&self, f: Field) -> Result<u64, Box<RowError>> {
        Ok(values::count(self.cell(f))
            .map_err(|b| self.err(f, b))?
            .unwrap_or(0))
    }

    pub(crate) fn amount(&self, f: Field) -> Result<Option<i64>, Box<RowError>> {
        values::amount(self.cell(f)).map_err(|b| self.err(f, b))
    }

    /// An enum that must be there: `required_field` when empty, `invalid_enum` when no word
    /// matches; both messages list the accepted values.
    pub(crate) fn choice<T: Copy>(
        &self,
        f: Field,
        col: &EnumColumn<T>,
    ) -> Result<T, Box<RowError>> {
        self.choice_with(f, |s| col.parse(s), &col.accepted())
    }

    pub(crate) fn choice_with<T>(
        &self,
        f: Field,
        parse: impl Fn(&str) -> Option<T>,
        accepted: &str,
    ) -> Result<T, Box<RowError>> {
        let raw = self.text(f);
        if raw.is_empty() {
            return Err(self.err(
                f,
                (
                    Rule::RequiredField.into(),
                    format!("is empty; accepted values: {accepted}"),
                ),
            ));
        }
        parse(&raw).ok_or_else(|| {
            self.err(
                f,
                (
                    Rule::InvalidEnum.into(),
                    format!("{raw:?} is not known; accepted values: {accepted}"),
                ),
            )
        })
    }

    /// The cooperative's id: the `Identifiant` cell when there is one, else derived from the
    /// court and the number ([`crate::derived_coop_id`]).
    pub(crate) fn coop_id(&self) -> Result<String, Box<RowError>> {
        let given = self.text(Field::Id);
        if !given.is_empty() {
            return CoopId::parse(&given)
                .map(|id| id.to_string())
                .map_err(|r| self.err(Field::Id, (r.rule().into(), r.detail().to_owned())));
        }
        let (court, number) = (self.text(Field::Court), self.text(Field::Number));
        for (f, v) in [(Field::Court, &court), (Field::Number, &number)] {
            if v.is_empty() {
                let id = if self.has(Field::Id) {
                    " (and Identifiant is empty)"
                } else {
                    ""
                };
                return Err(self.err(
                    f,
                    (
                        Rule::RequiredField.into(),
                        format!("is empty{id}: the cooperative cannot be named"),
                    ),
                ));
            }
        }
        Ok(derived_coop_id(&court, &number))
    }

    /// Runs `relance_proto`'s request validation and the domain's stateless rules (`decide`
    /// on an empty history: every check before the state ones) on `req`.
    pub(crate) fn validate(&self, req: &Request) -> Result<(), Box<RowError>> {
        check_with_domain(req, self.opts).map_err(|r| {
            match r.field().and_then(|f| domain_field(req, f, self)) {
                Some(f) => self.err(
                    f,
                    (
                        r.rule().into(),
                        format!("field `{}` {}", r.field().unwrap_or(""), r.detail()),
                    ),
                ),
                None => self.row_err(r.rule().into(), r.to_string()),
            }
        })
    }
}

fn check_with_domain(req: &Request, opts: &Options) -> Result<(), Rejection> {
    let (meta, cmd) = req.clone().into_command()?;
    let now = match opts.today {
        Some(d) => d.start_unix_ms() + 86_399_999,
        None => Date::from_ymd(2999, 12, 31).map_or(i64::MAX / 2, |d| d.start_unix_ms()),
    };
    let ctx = Context {
        cooperative_id: meta.cooperative_id,
        event_id: "import-check".into(),
        request_id: meta.request_id,
        correlation_id: meta.correlation_id,
        recorded_at_ms: now,
        actor: Actor {
            principal: "import".into(),
            organisation: opts
                .importing_org
                .clone()
                .unwrap_or_else(|| "import".into()),
        },
        expected_version: None,
    };
    match decide(&Aggregate::new(), cmd, &ctx) {
        Ok(_) => Ok(()),
        // Every stateless check passed; only the (absent) history refuses.
        Err(r) if r.rule() == Rule::CooperativeNotRegistered => Ok(()),
        Err(r) => Err(r),
    }
}

/// The column a domain field name comes from.
fn domain_field(req: &Request, field: &str, ctx: &RowCtx<'_>) -> Option<Field> {
    use Field::*;
    Some(match field {
        "cooperative_id" if ctx.has(Id) => Id,
        "cooperative_id" => Number,
        "name" => Name,
        "registry_court" => Court,
        "registry_number" => Number,
        "registered_on" => RegisteredOn,
        "sector" => Sector,
        "activity" => Activity,
        "commune" => Commune,
        "members" => Members,
        "employees" => Employees,
        "effective_on" | "obtained_on" | "granted_on" | "opened_on" | "as_of" => Date,
        "authority" => Authority,
        "decision_ref" | "reference" => Reference,
        "reason" => Reason,
        "scope" => Scope,
        "workers_affected" | "workers_back" => Workers,
        "from_activity" => FromActivity,
        "to_activity" => ToActivity,
        "product" => Product,
        "capacity_min_per_day" => CapacityMin,
        "capacity_max_per_day" => CapacityMax,
        "notes" => Notes,
        "issuing_body" if !ctx.has(IssuingBody) && ctx.has(Authority) => Authority,
        "issuing_body" => IssuingBody,
        "valid_until" => ValidUntil,
        "partner" => Partner,
        "kind" if matches!(req, Request::GrantSupport(_)) => SupportKind,
        "amount_centimes" => Amount,
        "description" => Description,
        "channel" => Channel,
        "city" => City,
        "standing" => Standing,
        _ => return None,
    })
}
