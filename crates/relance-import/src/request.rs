//! A ready request: one of the generated `relance_proto::v1::*Request` messages.

use relance_domain::{Command, Rejection};
use relance_proto::v1;
use relance_proto::{CommandMeta, CommandRequest};

use crate::FactKind;

/// The request one row turned into, ready for the matching `CooperativeCommands` RPC.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Register(v1::RegisterRequest),
    Halt(v1::HaltRequest),
    Resume(v1::ResumeRequest),
    Reorient(v1::ReorientRequest),
    Authorize(v1::AuthorizeRequest),
    GrantSupport(v1::GrantSupportRequest),
    OpenSalesChannel(v1::OpenSalesChannelRequest),
    ReportHeadcount(v1::ReportHeadcountRequest),
}

impl Request {
    /// The request's meta (request id, cooperative id).
    pub fn meta(&self) -> &v1::CommandMeta {
        static NONE: std::sync::OnceLock<v1::CommandMeta> = std::sync::OnceLock::new();
        let m = match self {
            Request::Register(r) => r.meta.as_ref(),
            Request::Halt(r) => r.meta.as_ref(),
            Request::Resume(r) => r.meta.as_ref(),
            Request::Reorient(r) => r.meta.as_ref(),
            Request::Authorize(r) => r.meta.as_ref(),
            Request::GrantSupport(r) => r.meta.as_ref(),
            Request::OpenSalesChannel(r) => r.meta.as_ref(),
            Request::ReportHeadcount(r) => r.meta.as_ref(),
        };
        m.unwrap_or_else(|| NONE.get_or_init(v1::CommandMeta::default))
    }

    pub fn request_id(&self) -> &str {
        &self.meta().request_id
    }

    pub fn cooperative_id(&self) -> &str {
        &self.meta().cooperative_id
    }

    /// What the row records.
    pub fn kind(&self) -> FactKind {
        match self {
            Request::Register(_) => FactKind::Registration,
            Request::Halt(_) => FactKind::Halt,
            Request::Resume(_) => FactKind::Resume,
            Request::Reorient(_) => FactKind::Reorientation,
            Request::Authorize(_) => FactKind::Authorisation,
            Request::GrantSupport(_) => FactKind::Support,
            Request::OpenSalesChannel(_) => FactKind::SalesChannel,
            Request::ReportHeadcount(_) => FactKind::Headcount,
        }
    }

    /// Sets the correlation id of the request (e.g. one per import run).
    pub fn set_correlation_id(&mut self, correlation_id: &str) {
        let meta = match self {
            Request::Register(r) => &mut r.meta,
            Request::Halt(r) => &mut r.meta,
            Request::Resume(r) => &mut r.meta,
            Request::Reorient(r) => &mut r.meta,
            Request::Authorize(r) => &mut r.meta,
            Request::GrantSupport(r) => &mut r.meta,
            Request::OpenSalesChannel(r) => &mut r.meta,
            Request::ReportHeadcount(r) => &mut r.meta,
        };
        meta.get_or_insert_with(Default::default).correlation_id = correlation_id.to_owned();
    }

    /// The domain command, through `relance_proto`'s own request validation.
    pub fn into_command(self) -> Result<(CommandMeta, Command), Rejection> {
        match self {
            Request::Register(r) => r.into_command(),
            Request::Halt(r) => r.into_command(),
            Request::Resume(r) => r.into_command(),
            Request::Reorient(r) => r.into_command(),
            Request::Authorize(r) => r.into_command(),
            Request::GrantSupport(r) => r.into_command(),
            Request::OpenSalesChannel(r) => r.into_command(),
            Request::ReportHeadcount(r) => r.into_command(),
        }
    }
}

/// A request's meta for an import: no expected version, no correlation id.
pub(crate) fn meta(request_id: String, cooperative_id: &str) -> Option<v1::CommandMeta> {
    Some(v1::CommandMeta {
        request_id,
        cooperative_id: cooperative_id.to_owned(),
        expected_version: None,
        correlation_id: String::new(),
    })
}

/// A request as an entry of `CooperativeCommands.Batch`.
impl From<Request> for v1::BatchCommand {
    fn from(r: Request) -> Self {
        use v1::batch_command::Command as C;
        let command = match r {
            Request::Register(r) => C::Register(r),
            Request::Halt(r) => C::Halt(r),
            Request::Resume(r) => C::Resume(r),
            Request::Reorient(r) => C::Reorient(r),
            Request::Authorize(r) => C::Authorize(r),
            Request::GrantSupport(r) => C::GrantSupport(r),
            Request::OpenSalesChannel(r) => C::OpenSalesChannel(r),
            Request::ReportHeadcount(r) => C::ReportHeadcount(r),
        };
        v1::BatchCommand {
            command: Some(command),
        }
    }
}
