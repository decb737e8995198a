//! Deciding what a run gets: its grants (what the front end grants
//! explicitly, a policy file's entry, and the manifest's requests when
//! approved) and its limits (overrides, else the manifest, else the
//! defaults). The CLI, a server and an MCP server all decide here, so they
//! decide alike; each only renders the outcome (flags, JSON, a tool error).

use std::time::Duration;

use anyhow::Context as _;

use super::manifest::Manifest;
use super::{Grant, Grants, PolicyFile};
use crate::limits::Limits;

/// What a run is granted, and what its manifest asked for that was not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approval {
    pub grants: Grants,
    /// Requests of the manifest left ungranted.
    pub ungranted: Vec<Grant>,
}

/// Grants for the spell (or plugin) known as `key` in the policy file:
/// `explicit` (flags, a server's configuration), plus the policy entry's
/// grants, plus the manifest's requests when `grant_requested` or the
/// entry says so.
pub fn approve(
    explicit: Grants,
    grant_requested: bool,
    policy: Option<&PolicyFile>,
    key: &str,
    manifest: Option<&Manifest>,
) -> Approval {
    let mut grants = explicit;
    let entry = policy.and_then(|p| p.spells.get(key));
    if let Some(entry) = entry {
        grants.extend(&entry.grants);
    }
    let grant_requested = grant_requested || entry.is_some_and(|e| e.grant_requested);
    let mut ungranted = Vec::new();
    if let Some(manifest) = manifest {
        if grant_requested {
            grants.extend(&manifest.requests);
        } else {
            ungranted = manifest.requests.missing_from(&grants);
        }
    }
    Approval { grants, ungranted }
}

/// The policy key of the plugin in file `name` (its file stem): a plugin
/// is named by its file, never by what its manifest claims, so it cannot
/// pick up a spell's policy entry.
pub fn plugin_key(name: &str) -> String {
    format!("plugin:{name}")
}

/// Grants of a plugin: only what its own manifest asks for (when approved)
/// and the policy's `plugin:NAME` entry — never the spell's.
pub fn plugin_grants(
    name: &str,
    grant_requested: bool,
    policy: Option<&PolicyFile>,
    manifest: Option<&Manifest>,
) -> Grants {
    approve(
        Grants::default(),
        grant_requested,
        policy,
        &plugin_key(name),
        manifest,
    )
    .grants
}

/// Limits a front end sets; `None` leaves each to the manifest, then the
/// default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LimitOverrides {
    pub fuel: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub timeout: Option<Duration>,
    pub max_output_bytes: Option<u64>,
    pub max_llm_tokens: Option<u64>,
    pub max_llm_cost_usd: Option<f64>,
    pub max_handles: Option<u32>,
    pub state_bytes: Option<u64>,
    pub state_keys: Option<u64>,
    pub max_log_bytes: Option<u64>,
    pub max_event_rate: Option<u32>,
}

impl LimitOverrides {
    /// Each limit from the override, else the manifest, else the default.
    pub fn resolve(&self, manifest: Option<&Manifest>) -> anyhow::Result<Limits> {
        let declared = match manifest {
            Some(m) => m.limits.overrides().context("the manifest's [limits]")?,
            None => LimitOverrides::default(),
        };
        let defaults = Limits::default();
        Ok(Limits {
            fuel: self.fuel.or(declared.fuel).unwrap_or(defaults.fuel),
            memory_bytes: self
                .memory_bytes
                .or(declared.memory_bytes)
                .unwrap_or(defaults.memory_bytes),
            timeout: self
                .timeout
                .or(declared.timeout)
                .unwrap_or(defaults.timeout),
            max_output_bytes: self
                .max_output_bytes
                .or(declared.max_output_bytes)
                .unwrap_or(defaults.max_output_bytes),
            max_llm_tokens: self
                .max_llm_tokens
                .or(declared.max_llm_tokens)
                .or(defaults.max_llm_tokens),
            max_llm_cost_usd: self.max_llm_cost_usd.or(declared.max_llm_cost_usd),
            max_handles: self
                .max_handles
                .or(declared.max_handles)
                .unwrap_or(defaults.max_handles),
            state_bytes: self
                .state_bytes
                .or(declared.state_bytes)
                .unwrap_or(defaults.state_bytes),
            state_keys: self
                .state_keys
                .or(declared.state_keys)
                .unwrap_or(defaults.state_keys),
            max_log_bytes: self
                .max_log_bytes
                .or(declared.max_log_bytes)
                .unwrap_or(defaults.max_log_bytes),
            max_event_rate: self
                .max_event_rate
                .or(declared.max_event_rate)
                .unwrap_or(defaults.max_event_rate),
        })
    }

    /// `limits` lowered to these overrides where they are lower: what a
    /// caller of a server may ask for — less, never more.
    pub fn lower(&self, limits: &Limits) -> Limits {
        fn min<T: PartialOrd + Copy>(limit: T, asked: Option<T>) -> T {
            match asked {
                Some(asked) if asked < limit => asked,
                _ => limit,
            }
        }
        fn min_opt<T: PartialOrd + Copy>(limit: Option<T>, asked: Option<T>) -> Option<T> {
            match (limit, asked) {
                (Some(limit), Some(asked)) => Some(if asked < limit { asked } else { limit }),
                (None, asked) => asked,
                (limit, None) => limit,
            }
        }
        Limits {
            fuel: min(limits.fuel, self.fuel),
            memory_bytes: min(limits.memory_bytes, self.memory_bytes),
            timeout: min(limits.timeout, self.timeout),
            max_output_bytes: min(limits.max_output_bytes, self.max_output_bytes),
            max_llm_tokens: min_opt(limits.max_llm_tokens, self.max_llm_tokens),
            max_llm_cost_usd: min_opt(limits.max_llm_cost_usd, self.max_llm_cost_usd),
            max_handles: min(limits.max_handles, self.max_handles),
            state_bytes: min(limits.state_bytes, self.state_bytes),
            state_keys: min(limits.state_keys, self.state_keys),
            max_log_bytes: min(limits.max_log_bytes, self.max_log_bytes),
            max_event_rate: min(limits.max_event_rate, self.max_event_rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn requests_are_granted_only_when_approved() {
        let m = manifest(
            "[spell]\nname = \"n\"\n[requests]\nnet = [\"api.x\"]\nmodels = [\"openai/*\"]\n",
        );
        let flags = Grants {
            models: vec!["openai/*".into()],
            ..Grants::default()
        };
        let approval = approve(flags.clone(), false, None, "n", Some(&m));
        assert_eq!(approval.grants, flags);
        assert_eq!(approval.ungranted, [Grant::Net("api.x".into())]);
        let approval = approve(flags, true, None, "n", Some(&m));
        assert_eq!(approval.grants.net, ["api.x"]);
        assert!(approval.ungranted.is_empty());
        let policy: PolicyFile = toml::from_str("[spells.n]\ngrant_requested = true\n").unwrap();
        assert_eq!(
            approve(Grants::default(), false, Some(&policy), "n", Some(&m))
                .grants
                .net,
            ["api.x"]
        );
        assert!(
            plugin_grants("n", false, Some(&policy), Some(&m)).is_empty(),
            "a plugin named like a spell does not get the spell's entry"
        );
    }

    #[test]
    fn limits_come_from_overrides_then_manifest_then_defaults_and_requests_only_lower() {
        let m = manifest("[spell]\nname = \"n\"\n[limits]\nfuel = 5\ntimeout = \"10s\"\n");
        let limits = LimitOverrides {
            fuel: Some(7),
            ..Default::default()
        }
        .resolve(Some(&m))
        .unwrap();
        assert_eq!(limits.fuel, 7);
        assert_eq!(limits.timeout, Duration::from_secs(10));
        assert_eq!(limits.memory_bytes, Limits::default().memory_bytes);
        let asked = LimitOverrides {
            fuel: Some(1_000),
            timeout: Some(Duration::from_secs(1)),
            max_llm_cost_usd: Some(0.5),
            ..Default::default()
        };
        let lowered = asked.lower(&limits);
        assert_eq!(lowered.fuel, 7, "a request cannot raise a limit");
        assert_eq!(lowered.timeout, Duration::from_secs(1));
        assert_eq!(lowered.max_llm_cost_usd, Some(0.5));
    }
}
