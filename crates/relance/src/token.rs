//! `relance token new`: a fresh bearer token, shown once, and the auth-file line with its hash.

use anyhow::{bail, Context as _, Result};
use relance_server::auth::{token_hash, Role};

use crate::cli::TokenCommand;

/// A new token: `rlc_` and 64 hex characters (256 random bits from the OS).
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).context("the operating system gave no random bytes")?;
    Ok(format!("rlc_{}", hex::encode(bytes)))
}

pub fn run(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::New { id, org, roles } => {
            for r in &roles {
                if Role::parse(r).is_none() {
                    let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                    bail!("--role {r:?} is not one of: {}", known.join(", "));
                }
            }
            if id.trim().is_empty() || org.trim().is_empty() {
                bail!("--id and --org must not be empty");
            }
            let token = new_token()?;
            let entry = serde_json::json!({
                "id": id,
                "organisation": org,
                "roles": roles,
                "token_sha256": hex::encode(token_hash(&token)),
            });
            println!("token for {id} (shown once; relance stores only its SHA-256):");
            println!("{token}");
            println!();
            println!("add this entry to the \"principals\" list of the --auth file:");
            println!("{entry}");
            Ok(())
        }
    }
}
