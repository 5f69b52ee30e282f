//! Who is calling. With authentication, the principal the token belongs to (set by
//! [`AuthLayer`](crate::auth::AuthLayer)); without it (loopback only), the caller names itself
//! in metadata. The actor recorded in events comes from here, never from the request body.

use std::sync::Arc;

use relance_domain::Actor;
use tonic::metadata::MetadataMap;

use crate::auth::Principal;

/// The actor of a request: its authenticated principal, or (authentication off) the
/// metadata's claim.
pub fn actor_of<T>(request: &tonic::Request<T>) -> Actor {
    match request.extensions().get::<Arc<Principal>>() {
        Some(p) => Actor {
            principal: p.id.clone(),
            organisation: p.organisation.clone(),
        },
        None => actor_from_metadata(request.metadata()),
    }
}

/// Metadata key naming the calling principal when authentication is off.
pub const PRINCIPAL_HEADER: &str = "x-relance-principal";
/// Metadata key naming the calling organisation when authentication is off.
pub const ORG_HEADER: &str = "x-relance-org";

/// The actor of an unauthenticated local call: `local` of `prefecture` unless the metadata
/// says otherwise.
pub fn actor_from_metadata(md: &MetadataMap) -> Actor {
    let get = |k: &str, default: &str| {
        md.get(k)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| default.to_owned(), str::to_owned)
    };
    Actor {
        principal: get(PRINCIPAL_HEADER, "local"),
        organisation: get(ORG_HEADER, "prefecture"),
    }
}
