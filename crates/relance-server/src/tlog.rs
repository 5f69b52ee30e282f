//! The `Audit` service's transparency-log calls: the Merkle tree's head (Checkpoint) and its
//! inclusion and consistency proofs, read from the projection (`relance_projection::merkle`).

use relance_domain::Rule;
use relance_projection::ProofError;
use relance_proto::v1;

use crate::audit::AuditService;
use crate::status::{internal, refuse};

fn refused(e: ProofError) -> tonic::Status {
    match e {
        ProofError::PastTheTree { .. } | ProofError::SizePastTheTree { .. } => {
            refuse(Rule::PositionPastTree, e.to_string())
        }
        ProofError::SizesDecrease { .. } => refuse(Rule::RangeReversed, e.to_string()),
        ProofError::Projection(e) => internal(e),
    }
}

impl AuditService {
    pub(crate) async fn tree_checkpoint(
        &self,
        r: v1::TreeCheckpointRequest,
    ) -> Result<v1::TreeCheckpointReply, tonic::Status> {
        let p = self.projection(r.min_position).await?;
        let (tree, position) = tokio::task::spawn_blocking(move || {
            // The head and the checkpoint with no batch in between.
            p.tree_head_at_checkpoint()
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        Ok(v1::TreeCheckpointReply {
            tree: Some(relance_proto::tree_head_to_wire(tree)),
            position,
        })
    }

    pub(crate) async fn inclusion(
        &self,
        r: v1::InclusionProofRequest,
    ) -> Result<v1::InclusionProofReply, tonic::Status> {
        let p = self.projection(0).await?;
        let proof = tokio::task::spawn_blocking(move || p.inclusion_proof(r.position, r.tree_size))
            .await
            .map_err(internal)?
            .map_err(refused)?;
        Ok(relance_proto::inclusion_to_wire(proof))
    }

    pub(crate) async fn consistency(
        &self,
        r: v1::ConsistencyProofRequest,
    ) -> Result<v1::ConsistencyProofReply, tonic::Status> {
        let p = self.projection(0).await?;
        let proof =
            tokio::task::spawn_blocking(move || p.consistency_proof(r.old_size, r.new_size))
                .await
                .map_err(internal)?
                .map_err(refused)?;
        Ok(relance_proto::consistency_to_wire(proof))
    }
}
