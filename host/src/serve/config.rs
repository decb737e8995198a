//! `[serve]` in `spellhost.toml`: what a long-lived server offers, to whom,
//! and within which bounds. Grants, limits and the vars a caller may set
//! come from here, never from a request.
//!
//! ```toml
//! [serve]
//! listen = "127.0.0.1:8787"
//! max_concurrent_runs = 64        # all tenants together; more → 429
//! max_runs_per_tenant = 16
//! max_body = "1MiB"
//! shutdown_grace = "30s"          # running runs may finish this long after SIGTERM
//! anonymous = false               # requests without a token (tenant "anonymous")
//!
//! [[serve.tokens]]                # bearer tokens, stored as SHA-256 (hex)
//! tenant = "acme"
//! sha256 = "…"                    # printf %s "$TOKEN" | sha256sum
//!
//! [serve.spells.summarize]
//! path = "spells/summarize.wasm"  # relative to this file, or "oci://HOST/NS/NAME:TAG"
//! grant_requested = false         # grant what its manifest asks for
//! grants = { net = ["api.example.com"], models = ["openai/*"] }
//! vars = { style = "short" }      # fixed vars
//! allowed_vars = ["lang"]         # vars a request may set
//! limits = { timeout = "30s", max_llm_tokens = 20000 }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::policy::Grants;

/// Runs at once across tenants, unless configured.
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 64;
/// Largest request body, unless configured.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;
/// How long running runs may go on after a shutdown signal, unless configured.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;
/// The tenant of requests without a token, when those are allowed.
pub const ANONYMOUS: &str = "anonymous";

/// The `[serve]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    pub listen: Option<String>,
    pub max_concurrent_runs: Option<usize>,
    pub max_runs_per_tenant: Option<usize>,
    pub max_body: Option<String>,
    pub shutdown_grace: Option<String>,
    #[serde(default)]
    pub anonymous: bool,
    /// Instances from slots reserved up front (wasmtime's pooling
    /// allocator) instead of on demand.
    pub instance_pool: Option<bool>,
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    #[serde(default)]
    pub spells: BTreeMap<String, SpellEntry>,
}

/// One bearer token, by the SHA-256 of its text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub tenant: String,
    pub sha256: String,
}

/// One served spell.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpellEntry {
    pub path: PathBuf,
    #[serde(default)]
    pub grant_requested: bool,
    #[serde(default)]
    pub grants: Grants,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed_vars: Vec<String>,
    /// The most a run may use (over the defaults; a manifest may only
    /// lower them).
    #[serde(default)]
    pub limits: crate::policy::manifest::ManifestLimits,
}

/// Checks a tenant name of `[[serve.tokens]]`: letters, digits, `-` and
/// `_` only (a tenant's state lives under `tenant/<name>/`, so a `/` could
/// reach into another tenant's), and not one the server gives itself.
pub fn check_tenant_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        anyhow::bail!("[[serve.tokens]] tenant `{name}`: use 1 to 64 letters, digits, `-` or `_`");
    }
    if name == ANONYMOUS || name == crate::mcp::TENANT {
        anyhow::bail!(
            "[[serve.tokens]] tenant `{name}` is reserved (requests without a token, and `spellhost mcp`, run as it)"
        );
    }
    Ok(())
}

/// The hex SHA-256 of a token's text, as `[[serve.tokens]]` stores it.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}
