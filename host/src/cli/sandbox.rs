//! The flags that decide a spell's sandbox — limits, grants, plugins,
//! policy, audit, vars — shared by `spellhost run` and `spellhost repl`,
//! and how they combine with a manifest and a policy file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::limits::{Limits, parse_size};
use crate::market::ArtifactRef;
use crate::policy::audit::{Audit, Recorder};
use crate::policy::manifest::Manifest;
use crate::policy::resolve::{self, LimitOverrides};
use crate::policy::{Grant, Grants, PolicyFile};
use crate::runtime::plugin::{PluginConfig, default_plugin_limits};

use super::artifacts::{self, LazyMarket, LoadError, Loaded, ReviewContext};
use super::exit;
use crate::policy::manifest::PackageKind;
use crate::runtime::{RunError, Runtime, SpellConfig};
use crate::settings::NetSettings;
use std::path::Path;

/// Limits, grants and plugins of a run (`run`, `repl`).
#[derive(clap::Args)]
pub struct SandboxArgs {
    /// Fuel: roughly the number of WebAssembly instructions the spell may run
    /// [default: the manifest's, else 10_000_000_000].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub fuel: Option<u64>,
    /// Memory the spell may use [default: the manifest's, else 256MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,
    /// Wall-clock time the run may take, LLM calls included [default: the
    /// manifest's, else 5m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Largest output the spell may return [default: the manifest's, else 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_output: Option<u64>,

    /// LLM tokens (input + output) the run may use in all [default: the
    /// manifest's, else 200_000].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub max_llm_tokens: Option<u64>,
    /// US dollars the run may spend on LLMs (prices from the model catalog, or spellhost.toml's [prices]).
    #[arg(long, value_name = "USD", value_parser = parse_cost)]
    pub max_llm_cost: Option<f64>,
    /// Resource handles (timers, streams, pending calls, buckets…) the
    /// spell may hold at once [default: the manifest's, else 10_000].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub max_handles: Option<u32>,
    /// Bytes (keys and values) a state namespace may hold when this spell
    /// writes to it [default: the manifest's, else 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub state_quota: Option<u64>,
    /// Keys a state namespace may hold when this spell writes to it
    /// [default: the manifest's, else 100_000].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub state_keys: Option<u64>,
    /// Bytes of log lines and printed output (`print`, `console.log`,
    /// stdout and stderr) the run may write [default: the manifest's, else
    /// 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_log: Option<u64>,
    /// Events the run may publish per second, and at once in a burst
    /// [default: the manifest's, else 1000].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub max_event_rate: Option<u32>,

    /// Default model for the spell's LLM calls (provider/model or an alias).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Also allow models matching PATTERN (e.g. 'openai/*'). Repeatable.
    #[arg(long = "allow-model", value_name = "PATTERN")]
    pub allow_model: Vec<String>,
    /// Allow the shared state namespace NAME (`*` for all). Repeatable.
    #[arg(long = "allow-state-ns", value_name = "NAME")]
    pub allow_state_ns: Vec<String>,
    /// Let the spell read files under PATH (a directory). Repeatable.
    #[arg(long = "allow-read", value_name = "PATH")]
    pub allow_read: Vec<PathBuf>,
    /// Let the spell read and write files under PATH (a directory). Repeatable.
    #[arg(long = "allow-write", value_name = "PATH")]
    pub allow_write: Vec<PathBuf>,
    /// Let the spell make HTTP requests to HOST (`example.com`, `api.test:8443`,
    /// `*.example.com`, `10.0.0.5:5432`, `*`); IP literals also open raw TCP.
    /// Names never reach private addresses unless those are granted too. Repeatable.
    #[arg(long = "allow-net", value_name = "HOST[:PORT]", value_parser = parse_net_grant)]
    pub allow_net: Vec<String>,
    /// Pass the host environment variable NAME to the spell. Repeatable.
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,
    /// Load a tool plugin (a component exporting tool-provider) for the spell
    /// and its agents. It runs in its own sandbox with only the grants its
    /// manifest requests and you approve (--grant-requested, --policy). Repeatable.
    #[arg(long = "tool", value_name = "PLUGIN.wasm|oci://…")]
    pub tools: Vec<ArtifactRef>,
    /// Load a hook plugin (a component exporting hook-handler) that sees,
    /// may change or cancel every LLM and tool call. Repeatable.
    #[arg(long = "hook", value_name = "PLUGIN.wasm|oci://…")]
    pub hooks: Vec<ArtifactRef>,
    /// Grant everything the spell's manifest (<name>.spell.toml) requests.
    #[arg(long)]
    pub grant_requested: bool,
    /// Pre-approved grants per spell, for unattended runs (TOML).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Append every capability use and denial to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// A setting the spell reads through the config bridge. Repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// The spell's identity for state (default: the file name without extension).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// Flags, plus what `--grant-requested` or the policy file approve. Requests
/// that stay ungranted are listed, with the flags that would grant them.
fn effective_grants(
    args: &SandboxArgs,
    name: &str,
    manifest: Option<&Manifest>,
    policy: Option<&PolicyFile>,
    grant_requested: bool,
) -> Grants {
    let flags = Grants {
        models: args.allow_model.clone(),
        state_namespaces: args.allow_state_ns.clone(),
        read: args.allow_read.clone(),
        write: args.allow_write.clone(),
        env: args.allow_env.clone(),
        net: args.allow_net.clone(),
    };
    let approval = resolve::approve(flags, grant_requested, policy, name, manifest);
    if !approval.ungranted.is_empty() {
        let flags: Vec<String> = approval.ungranted.iter().map(Grant::flag).collect();
        eprintln!(
            "note: the spell's manifest asks for {}; not granted (grant with those flags, or --grant-requested)",
            flags.join(" ")
        );
    }
    approval.grants
}

/// A plugin's sandbox (see [`resolve::plugin_grants`]).
pub(super) fn plugin_config(
    plugin: &Loaded,
    policy: Option<&PolicyFile>,
    audit: &Option<Audit>,
) -> PluginConfig {
    let grants = resolve::plugin_grants(
        &plugin.name,
        plugin.grant_requested,
        policy,
        plugin.manifest.as_ref(),
    );
    // The spell's --vars are the spell's: a third-party plugin gets none.
    PluginConfig {
        grants,
        vars: BTreeMap::new(),
        limits: default_plugin_limits(),
        recorder: Recorder::new(audit.clone()),
    }
}

/// Each limit from its flag, else the manifest, else the default. A pulled
/// package's manifest may only lower them: a stranger does not choose how
/// much of your machine and budget it gets.
pub(super) fn effective_limits(
    args: &SandboxArgs,
    manifest: Option<&Manifest>,
    pulled: bool,
) -> anyhow::Result<Limits> {
    let flags = LimitOverrides {
        fuel: args.fuel,
        memory_bytes: args.memory,
        timeout: args.timeout,
        max_output_bytes: args.max_output,
        max_llm_tokens: args.max_llm_tokens,
        max_llm_cost_usd: args.max_llm_cost,
        max_handles: args.max_handles,
        state_bytes: args.state_quota,
        state_keys: args.state_keys,
        max_log_bytes: args.max_log,
        max_event_rate: args.max_event_rate,
    };
    if pulled {
        let base = flags.resolve(None)?;
        return Ok(match manifest {
            Some(manifest) => manifest.limits.overrides()?.lower(&base),
            None => base,
        });
    }
    flags.resolve(manifest)
}

/// What a spell is loaded as: its name for state and policy, the manifest
/// beside it, and whether its requests were approved.
pub(super) struct Identity<'a> {
    pub name: &'a str,
    pub manifest: Option<&'a Manifest>,
    pub grant_requested: bool,
}

/// The spell's configuration from the flags: its grants (see
/// [`effective_grants`]), vars, the audit log, and the tool and hook
/// plugins loaded, each in its own sandbox. `Ok(Err(code))` when a plugin
/// did not load (said on stderr).
pub(super) async fn spell_config(
    args: &SandboxArgs,
    runtime: &Runtime,
    net: NetSettings,
    market: &LazyMarket<'_>,
    policy: Option<&PolicyFile>,
    spell: Identity<'_>,
) -> anyhow::Result<Result<SpellConfig, u8>> {
    let grants = effective_grants(
        args,
        spell.name,
        spell.manifest,
        policy,
        spell.grant_requested,
    );
    let review = |expect| ReviewContext {
        grant_requested: args.grant_requested,
        policy,
        expect,
    };
    let audit = args.audit.as_deref().map(Audit::open).transpose()?;
    let vars = args.vars.iter().cloned().collect::<BTreeMap<_, _>>();
    let mut tool_plugins = Vec::new();
    for reference in &args.tools {
        let plugin = match artifacts::load(reference, market, &review(PackageKind::Tool)).await {
            Ok(plugin) => plugin,
            Err(err) => return Ok(Err(report_load_error(reference, err))),
        };
        let config = plugin_config(&plugin, policy, &audit);
        match runtime
            .load_tool_plugin(&plugin.name, &plugin.bytes, config)
            .await
        {
            Ok(plugin) => tool_plugins.push(plugin),
            Err(err) => return Ok(Err(report_error(&plugin.shown, &err))),
        }
    }
    let mut hook_plugins = Vec::new();
    for reference in &args.hooks {
        let plugin = match artifacts::load(reference, market, &review(PackageKind::Hook)).await {
            Ok(plugin) => plugin,
            Err(err) => return Ok(Err(report_load_error(reference, err))),
        };
        let config = plugin_config(&plugin, policy, &audit);
        match runtime.load_hook_plugin(&plugin.name, &plugin.bytes, config) {
            Ok(plugin) => hook_plugins.push(plugin),
            Err(err) => return Ok(Err(report_error(&plugin.shown, &err))),
        }
    }
    Ok(Ok(SpellConfig {
        grants,
        vars,
        audit,
        net_pins: net.hosts,
        net_secrets: net.secrets,
        tool_plugins,
        hook_plugins,
        grant_wording: Default::default(),
    }))
}

/// Says why `path` did not load or run: the exit code for it.
pub(super) fn report_error(path: &Path, err: &RunError) -> u8 {
    eprintln!("error: {}: {err}", path.display());
    exit::code(err)
}

/// Says why `reference` did not load: the exit code for it.
pub(super) fn report_load_error(reference: &ArtifactRef, err: LoadError) -> u8 {
    match err {
        LoadError::Refused(why) => {
            eprintln!("refused: {why}");
            exit::REFUSED
        }
        LoadError::Other(err) => {
            match reference {
                // The error names the file already.
                ArtifactRef::File(_) => eprintln!("error: {err:#}"),
                ArtifactRef::Oci(_) => eprintln!("error: {reference}: {err:#}"),
            }
            exit::HOST
        }
    }
}

pub(super) fn parse_count(text: &str) -> Result<u64, String> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

pub(super) fn parse_cost(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .map_err(|_| format!("`{text}` is not an amount of US dollars (0 or more)"))
        .and_then(crate::limits::check_cost)
}

pub(super) fn parse_positive(text: &str) -> Result<u32, String> {
    let count = parse_count(text)?;
    u32::try_from(count)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{text}` is not a whole number between 1 and {}", u32::MAX))
}

pub(super) fn parse_net_grant(text: &str) -> Result<String, String> {
    crate::policy::net::NetGrant::parse(text).map(|g| g.to_string())
}

pub(super) fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}
