//! Who may do what: bearer tokens (stored as SHA-256 in a file) map to a principal with an
//! organisation and roles; [`permission`] is the one table that gives every RPC its
//! permission; [`AuthLayer`] checks both, and a per-principal rate limit, before any service
//! sees a request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use relance_domain::Rule;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::status::refuse;

/// A role of docs/design.md "Security".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Registrations, halts, resumes, reorientations, authorisations, headcounts,
    /// retractions, reads.
    Prefecture,
    /// Support in its own organisation's name, reads.
    Partner,
    /// Reads everything, exports, verifies, digests.
    Auditor,
    /// Queries.
    Reader,
}

impl Role {
    pub const ALL: &'static [Role] =
        &[Role::Prefecture, Role::Partner, Role::Auditor, Role::Reader];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "prefecture" => Some(Role::Prefecture),
            "partner" => Some(Role::Partner),
            "auditor" => Some(Role::Auditor),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Prefecture => "prefecture",
            Role::Partner => "partner",
            Role::Auditor => "auditor",
            Role::Reader => "reader",
        }
    }

    /// What this role may do.
    pub fn grants(self, p: Permission) -> bool {
        matches!(
            (self, p),
            (_, Permission::Public)
                | (
                    Role::Prefecture,
                    Permission::Record | Permission::Batch | Permission::Read | Permission::Operate
                )
                | (
                    Role::Partner,
                    Permission::Support | Permission::Batch | Permission::Read
                )
                | (Role::Auditor, Permission::Read | Permission::Audit)
                | (Role::Reader, Permission::Read)
        )
    }
}

/// What an RPC requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Anyone, without a token (health checks).
    Public,
    /// The prefecture's writes.
    Record,
    /// A partner's support grant.
    Support,
    /// A batch of commands: whoever may record or support may send one; each entry is then
    /// checked against `Record` or `Support` as its own RPC would be.
    Batch,
    /// Queries (and reflection).
    Read,
    /// Export, verify, digest.
    Audit,
    /// Running the node: rebuilding its views (`Node/Rebuild`).
    Operate,
}

/// The permission of every RPC, by exact method path or by service prefix (ending in `/`).
pub const PERMISSIONS: &[(&str, Permission)] = &[
    ("/grpc.health.v1.Health/", Permission::Public),
    ("/grpc.reflection.v1.ServerReflection/", Permission::Read),
    (
        "/grpc.reflection.v1alpha.ServerReflection/",
        Permission::Read,
    ),
    (
        "/relance.v1.CooperativeCommands/Register",
        Permission::Record,
    ),
    ("/relance.v1.CooperativeCommands/Halt", Permission::Record),
    (
        "/relance.v1.CooperativeCommands/Reorient",
        Permission::Record,
    ),
    (
        "/relance.v1.CooperativeCommands/Authorize",
        Permission::Record,
    ),
    (
        "/relance.v1.CooperativeCommands/GrantSupport",
        Permission::Support,
    ),
    (
        "/relance.v1.CooperativeCommands/OpenSalesChannel",
        Permission::Record,
    ),
    ("/relance.v1.CooperativeCommands/Resume", Permission::Record),
    (
        "/relance.v1.CooperativeCommands/ReportHeadcount",
        Permission::Record,
    ),
    (
        "/relance.v1.CooperativeCommands/Retract",
        Permission::Record,
    ),
    // Counts per day, week or month: a read like every query, named for the record.
    ("/relance.v1.CooperativeQueries/Series", Permission::Read),
    ("/relance.v1.CooperativeCommands/Batch", Permission::Batch),
    ("/relance.v1.CooperativeQueries/", Permission::Read),
    ("/relance.v1.Audit/", Permission::Audit),
    // Rebuilding the views is the operators' (the prefecture's division) and changes no fact.
    ("/relance.v1.Node/Rebuild", Permission::Operate),
    ("/relance.v1.Node/", Permission::Read),
    // Following the history live is reading it (docs/design.md "Security").
    ("/relance.v1.Subscriptions/", Permission::Read),
];

/// The permission an RPC requires; `None` for a method the table does not know (refused).
pub fn permission(path: &str) -> Option<Permission> {
    PERMISSIONS
        .iter()
        .find(|(p, _)| {
            if p.ends_with('/') {
                path.starts_with(p)
            } else {
                path == *p
            }
        })
        .map(|(_, perm)| *perm)
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub organisation: String,
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn may(&self, p: Permission) -> bool {
        self.roles.iter().any(|r| r.grants(p))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the auth file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the auth file {path} is not valid: {detail}")]
    Invalid { path: String, detail: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    principals: Vec<Entry>,
}

/// One line of the auth file's `principals` (what `relance token new` prints).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    organisation: String,
    roles: Vec<String>,
    /// SHA-256 of the token, 64 hex characters: tokens are never stored in clear.
    token_sha256: String,
}

/// SHA-256 of a token, as stored in the auth file.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Known principals by token hash, and the rate limiter.
pub struct Authenticator {
    by_hash: HashMap<[u8; 32], Arc<Principal>>,
}

impl Authenticator {
    /// Reads an auth file: `{"principals": [{"id", "organisation", "roles", "token_sha256"}]}`.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|detail| AuthError::Invalid {
            path: path.display().to_string(),
            detail,
        })
    }

    /// Parses an auth file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: AuthFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut by_hash = HashMap::new();
        for (i, e) in file.principals.into_iter().enumerate() {
            let at = format!("principals[{i}] ({})", e.id);
            if e.id.trim().is_empty() || e.organisation.trim().is_empty() {
                return Err(format!("{at}: id and organisation must not be empty"));
            }
            let mut roles = Vec::new();
            for r in &e.roles {
                roles.push(Role::parse(r).ok_or_else(|| {
                    format!("{at}: unknown role {r:?} (prefecture, partner, auditor, reader)")
                })?);
            }
            if roles.is_empty() {
                return Err(format!("{at}: no role"));
            }
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&e.token_sha256, &mut hash)
                .map_err(|_| format!("{at}: token_sha256 must be 64 hex characters"))?;
            let principal = Arc::new(Principal {
                id: e.id,
                organisation: e.organisation,
                roles,
            });
            if by_hash.insert(hash, principal).is_some() {
                return Err(format!("{at}: the same token hash appears twice"));
            }
        }
        Ok(Self { by_hash })
    }

    /// The principal a bearer token belongs to.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Arc<Principal>, Status> {
        let header = authorization.ok_or_else(|| {
            refuse(
                Rule::MissingToken,
                "missing `authorization: Bearer <token>` metadata",
            )
        })?;
        let token = header.strip_prefix("Bearer ").ok_or_else(|| {
            refuse(
                Rule::MalformedToken,
                "the authorization metadata must be `Bearer <token>`",
            )
        })?;
        self.by_hash
            .get(&token_hash(token.trim()))
            .cloned()
            .ok_or_else(|| refuse(Rule::UnknownToken, "unknown token"))
    }
}

/// A token bucket per principal: `rate` requests a second, bursts of `2 × rate`.
pub struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate_per_second: u32) -> Self {
        Self {
            rate: f64::from(rate_per_second),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `who`; false when the bucket is empty.
    pub fn allow(&self, who: &str) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        let burst = self.rate * 2.0;
        let (tokens, last) = buckets.entry(who.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The checks every request passes before reaching a service.
#[derive(Clone, Default)]
pub struct AuthLayer {
    /// `None`: authentication off (loopback only); the caller names itself in metadata.
    pub authenticator: Option<Arc<Authenticator>>,
    pub limiter: Option<Arc<RateLimiter>>,
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl AuthLayer {
    /// Decides on one request: the principal to attach (if any), or the refusal.
    pub fn check(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Option<Arc<Principal>>, Status> {
        let perm = permission(path).ok_or_else(|| {
            refuse(
                Rule::RoleNotAllowed,
                format!("{path} has no declared permission"),
            )
        })?;
        if perm == Permission::Public {
            return Ok(None);
        }
        let (principal, who) = match &self.authenticator {
            Some(auth) => {
                let header = headers.get("authorization").and_then(|v| v.to_str().ok());
                let p = auth.authenticate(header)?;
                if !p.may(perm) {
                    let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
                    return Err(refuse(
                        Rule::RoleNotAllowed,
                        format!(
                            "{} ({}) with role(s) {} may not call {path}",
                            p.id,
                            p.organisation,
                            roles.join(", ")
                        ),
                    ));
                }
                let who = p.id.clone();
                (Some(p), who)
            }
            None => {
                let who = headers
                    .get(crate::PRINCIPAL_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("local")
                    .to_owned();
                (None, who)
            }
        };
        if let Some(limiter) = &self.limiter {
            if !limiter.allow(&who) {
                return Err(refuse(
                    Rule::RateLimited,
                    format!("{who} sends more requests than allowed; slow down and retry"),
                ));
            }
        }
        Ok(principal)
    }
}

/// Refusals tonic's codec makes before any service runs, brought under the refusal table:
/// a request over the size limit (tonic says OUT_OF_RANGE; gRPC's convention, and clients'
/// retry logic, expect RESOURCE_EXHAUSTED) and bytes that are not a valid message of the
/// request's type (tonic says INTERNAL, but it is bad input: INVALID_ARGUMENT). Both gain the
/// `relance-rule` metadata key like every other refusal.
fn codec_refusals(headers: &mut http::HeaderMap) {
    let code = headers.get("grpc-status").and_then(|v| v.to_str().ok());
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let rule = match code {
        Some("11") if message.contains("too%20large") || message.contains("too large") => {
            Rule::RequestTooLarge
        }
        Some("13") if message.contains("decode") && message.contains("Protobuf") => {
            Rule::MalformedRequest
        }
        _ => return,
    };
    let status = refuse(rule, percent_decode(message));
    let code = (status.code() as i32).to_string();
    if let Ok(v) = http::HeaderValue::from_str(&code) {
        headers.insert("grpc-status", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&percent_encode(status.message())) {
        headers.insert("grpc-message", v);
    }
    headers.insert("relance-rule", http::HeaderValue::from_static(rule.name()));
}

/// The grpc-message header's percent-encoding (gRPC over HTTP/2: bytes outside 0x20–0x7E and
/// `%` are written as `%XX`).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self.layer.check(req.uri().path(), req.headers()) {
            Ok(principal) => {
                if let Some(p) = principal {
                    req.extensions_mut().insert(p);
                }
                let call = self.inner.call(req);
                Box::pin(async move {
                    let mut response = call.await?;
                    codec_refusals(response.headers_mut());
                    Ok(response)
                })
            }
            Err(status) => {
                let response = status.into_http::<tonic::body::Body>();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_in_the_published_schema_has_a_declared_permission() {
        use prost::Message as _;
        let fds = prost_types::FileDescriptorSet::decode(relance_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let mut count = 0;
        for file in &fds.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    assert!(permission(&path).is_some(), "{path} has no permission");
                    count += 1;
                }
            }
        }
        assert!(count >= 13, "only {count} RPCs found");
    }

    #[test]
    fn only_the_prefecture_rebuilds_a_nodes_views_and_everyone_reads_its_status() {
        let rebuild = permission("/relance.v1.Node/Rebuild").expect("declared");
        let status = permission("/relance.v1.Node/Status").expect("declared");
        for role in [Role::Prefecture, Role::Partner, Role::Auditor, Role::Reader] {
            assert_eq!(role.grants(rebuild), role == Role::Prefecture, "{role:?}");
            assert!(role.grants(status), "{role:?}");
        }
    }

    #[test]
    fn unknown_methods_are_refused() {
        assert_eq!(permission("/relance.v1.CooperativeCommands/Delete"), None);
        assert_eq!(permission("/other.Service/Get"), None);
    }

    #[test]
    fn rate_limiter_refuses_past_the_burst() {
        let l = RateLimiter::new(5);
        let allowed = (0..100).filter(|_| l.allow("p")).count();
        assert!((10..=11).contains(&allowed), "{allowed}");
        assert!(l.allow("another principal"));
    }

    #[test]
    fn auth_file_rejects_unknown_roles_and_fields() {
        let hash = hex::encode(token_hash("t"));
        let ok = format!(
            r#"{{"principals":[{{"id":"a","organisation":"OCP","roles":["partner"],"token_sha256":"{hash}"}}]}}"#
        );
        assert!(Authenticator::parse(&ok).is_ok());
        assert!(Authenticator::parse(&ok.replace("partner", "admin")).is_err());
        assert!(
            Authenticator::parse(&ok.replace("\"roles\"", "\"token\":\"x\",\"roles\"")).is_err()
        );
    }
}
