//! The gRPC requests the end-to-end tests send, with sensible defaults (the article's
//! cooperatives in Benguérir, spring 2020) and builder-style overrides:
//!
//! ```ignore
//! use relance_tests::requests::{self, Overrides as _};
//! c.register(requests::prefecture(requests::register("REH-0001", "reg-1")
//!     .with(|d| d.name = "Ibdaat Rehamna".into())));
//! c.halt(requests::halt("REH-0001", "halt-1").expected_version(1));
//! ```
//!
//! The defaults make a valid history in any order of register → halt → reorient → authorise →
//! support → sales channel → resume → headcount: every date is after the registration and
//! before today.
//!
//! Request metadata: [`meta`] (the `CommandMeta` of a command), [`as_org`]/[`prefecture`]
//! (who is calling, when authentication is off) and [`with_token`] (when it is on).

use relance_proto::v1;
use tonic::Request;

/// The correlation id every test command carries.
pub const CORRELATION_ID: &str = "e2e";

pub const COMMUNE: &str = "Benguérir";
pub const COURT: &str = "Tribunal de première instance de Benguérir";
pub const AUTHORITY: &str = "Autorités publiques (Province de Rehamna)";
pub const MASKS: &str = "fabrication de masques de protection";
pub const MASK_NOTES: &str = "haute qualité, lavables cinq fois au maximum";

/// A command's metadata: no expected version, the shared correlation id.
pub fn meta(coop: &str, request_id: &str) -> Option<v1::CommandMeta> {
    Some(v1::CommandMeta {
        request_id: request_id.to_owned(),
        cooperative_id: coop.to_owned(),
        expected_version: None,
        correlation_id: CORRELATION_ID.to_owned(),
    })
}

// ------------------------------------------------------------------ who is calling

/// `msg` sent by `principal` of organisation `org`: the metadata the server reads when
/// authentication is off.
pub fn as_principal<T>(msg: T, principal: &str, org: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let md = r.metadata_mut();
    md.insert("x-relance-principal", principal.parse().expect("ascii"));
    md.insert("x-relance-org", org.parse().expect("ascii"));
    r
}

/// `msg` sent by the staff of `org` (principal `<org>-staff`), authentication off.
pub fn as_org<T>(msg: T, org: &str) -> Request<T> {
    as_principal(msg, &format!("{}-staff", org.to_lowercase()), org)
}

/// `msg` sent by the prefecture's staff (`m.najah`), authentication off.
pub fn prefecture<T>(msg: T) -> Request<T> {
    as_principal(msg, "m.najah", "prefecture")
}

/// `msg` with a bearer token, authentication on.
pub fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

// ------------------------------------------------------------------ overrides

/// Builder-style overrides shared by every command request.
pub trait Overrides: Sized {
    /// The event the command carries.
    type Data;
    fn meta_mut(&mut self) -> &mut Option<v1::CommandMeta>;
    fn data_mut(&mut self) -> &mut Option<Self::Data>;

    /// Changes the event's data: `.with(|d| d.workers_affected = 5)`.
    #[must_use]
    fn with(mut self, change: impl FnOnce(&mut Self::Data)) -> Self {
        change(self.data_mut().as_mut().expect("the request has data"));
        self
    }

    /// Changes the metadata: `.with_meta(|m| m.request_id.clear())`.
    #[must_use]
    fn with_meta(mut self, change: impl FnOnce(&mut v1::CommandMeta)) -> Self {
        change(self.meta_mut().as_mut().expect("the request has meta"));
        self
    }

    /// The version the caller expects the cooperative to be at.
    #[must_use]
    fn expected_version(self, version: u64) -> Self {
        self.with_meta(|m| m.expected_version = Some(version))
    }

    /// The same command with another correlation id.
    #[must_use]
    fn correlation_id(self, id: &str) -> Self {
        self.with_meta(|m| id.clone_into(&mut m.correlation_id))
    }

    /// The request without its metadata (a malformed request).
    #[must_use]
    fn without_meta(mut self) -> Self {
        *self.meta_mut() = None;
        self
    }

    /// The request without its data (a malformed request).
    #[must_use]
    fn without_data(mut self) -> Self {
        *self.data_mut() = None;
        self
    }
}

macro_rules! overrides {
    ($($request:ident => $data:ident),* $(,)?) => {$(
        impl Overrides for v1::$request {
            type Data = v1::$data;
            fn meta_mut(&mut self) -> &mut Option<v1::CommandMeta> {
                &mut self.meta
            }
            fn data_mut(&mut self) -> &mut Option<v1::$data> {
                &mut self.data
            }
        }
    )*};
}

overrides! {
    RegisterRequest => CooperativeRegistered,
    HaltRequest => ActivityHalted,
    ReorientRequest => ReorientationDeclared,
    AuthorizeRequest => AuthorizationObtained,
    GrantSupportRequest => SupportGranted,
    OpenSalesChannelRequest => SalesChannelOpened,
    ResumeRequest => ActivityResumed,
    ReportHeadcountRequest => HeadcountReported,
    RetractRequest => EventRetracted,
}

// ------------------------------------------------------------------ the commands

/// Registers `Coopérative <coop>`: agriculture (apiculture) in Benguérir, 10 members, 2
/// employees, registered on 2015-01-01.
pub fn register(coop: &str, request_id: &str) -> v1::RegisterRequest {
    v1::RegisterRequest {
        meta: meta(coop, request_id),
        data: Some(v1::CooperativeRegistered {
            name: format!("Coopérative {coop}"),
            registry_court: COURT.to_owned(),
            registry_number: format!("RC-{coop}"),
            sector: v1::Sector::Agriculture as i32,
            activity: "apiculture".to_owned(),
            commune: COMMUNE.to_owned(),
            members: 10,
            employees: 2,
            registered_on: "2015-01-01".to_owned(),
        }),
    }
}

/// A total halt by the public authorities with the BTP on 2020-03-20, 40 workers idled.
pub fn halt(coop: &str, request_id: &str) -> v1::HaltRequest {
    v1::HaltRequest {
        meta: meta(coop, request_id),
        data: Some(v1::ActivityHalted {
            authority: AUTHORITY.to_owned(),
            decision_ref: "Arrêt des chantiers du BTP, état d'urgence sanitaire".to_owned(),
            effective_on: "2020-03-20".to_owned(),
            reason: "Arrêt total des activités du BTP suite à une décision des autorités publiques"
                .to_owned(),
            scope: v1::HaltScope::Total as i32,
            workers_affected: 40,
        }),
        legal_basis: None,
    }
}

/// The end of the halt on 2020-06-11, 40 workers back.
pub fn resume(coop: &str, request_id: &str) -> v1::ResumeRequest {
    v1::ResumeRequest {
        meta: meta(coop, request_id),
        data: Some(v1::ActivityResumed {
            authority: AUTHORITY.to_owned(),
            decision_ref: "Levée progressive du confinement".to_owned(),
            effective_on: "2020-06-11".to_owned(),
            workers_back: 40,
        }),
    }
}

/// From sewing and embroidery to masks on 2020-04-08, 2,000 to 3,000 a day.
pub fn reorient(coop: &str, request_id: &str) -> v1::ReorientRequest {
    v1::ReorientRequest {
        meta: meta(coop, request_id),
        data: Some(v1::ReorientationDeclared {
            from_activity: "couture et broderie".to_owned(),
            to_activity: MASKS.to_owned(),
            product: "masques de protection en tissu".to_owned(),
            capacity_min_per_day: 2000,
            capacity_max_per_day: 3000,
            notes: MASK_NOTES.to_owned(),
            effective_on: "2020-04-08".to_owned(),
        }),
    }
}

/// IMANOR's authorisation for fabric masks, 2020-04-07 to 2020-05-07.
pub fn authorize(coop: &str, request_id: &str) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        meta: meta(coop, request_id),
        data: Some(v1::AuthorizationObtained {
            issuing_body: "IMANOR".to_owned(),
            reference: "NM/ST 21.5.201".to_owned(),
            product: "masques de protection en tissu".to_owned(),
            obtained_on: "2020-04-07".to_owned(),
            valid_until: "2020-05-07".to_owned(),
        }),
    }
}

/// Commercialisation support from `partner` on 2020-04-15, no amount. The caller's
/// organisation must be `partner` (support is recorded only in one's own name).
pub fn support(coop: &str, request_id: &str, partner: &str) -> v1::GrantSupportRequest {
    v1::GrantSupportRequest {
        meta: meta(coop, request_id),
        data: Some(v1::SupportGranted {
            partner: partner.to_owned(),
            kind: v1::SupportKind::Commercialisation as i32,
            amount_centimes: None,
            description: "Act4Community : accompagnement à la commercialisation des masques"
                .to_owned(),
            granted_on: "2020-04-15".to_owned(),
        }),
    }
}

/// An established groceries channel in Benguérir, opened on 2020-04-16.
pub fn sales_channel(coop: &str, request_id: &str) -> v1::OpenSalesChannelRequest {
    v1::OpenSalesChannelRequest {
        meta: meta(coop, request_id),
        data: Some(v1::SalesChannelOpened {
            channel: v1::ChannelKind::Groceries as i32,
            city: COMMUNE.to_owned(),
            standing: v1::Standing::Established as i32,
            opened_on: "2020-04-16".to_owned(),
        }),
    }
}

/// 11 members and 3 employees as of 2020-09-01.
pub fn headcount(coop: &str, request_id: &str) -> v1::ReportHeadcountRequest {
    v1::ReportHeadcountRequest {
        meta: meta(coop, request_id),
        data: Some(v1::HeadcountReported {
            members: 11,
            employees: 3,
            as_of: "2020-09-01".to_owned(),
        }),
    }
}

/// Retracts `event_id`, entered by mistake.
pub fn retract(coop: &str, request_id: &str, event_id: &str) -> v1::RetractRequest {
    v1::RetractRequest {
        meta: meta(coop, request_id),
        data: Some(v1::EventRetracted {
            retracted_event_id: event_id.to_owned(),
            reason: "saisi par erreur".to_owned(),
        }),
    }
}
