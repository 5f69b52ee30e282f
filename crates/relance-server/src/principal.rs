//! Who is calling. Without authentication (loopback only), the caller names itself in
//! metadata; the actor recorded in events comes from here, never from the request body.

use relance_domain::Actor;
use tonic::metadata::MetadataMap;

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
