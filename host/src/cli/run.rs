//! `spellhost run`.

use crate::sandbox::stdio::GuestStdout;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::artifacts::{self, LazyMarket, LoadError, Loaded, MarketArgs, ReviewContext};
use super::events::EventPrinter;
use super::{HostArgs, exit};
use crate::limits::{Limits, parse_size};
use crate::market::ArtifactRef;
use crate::policy::audit::{Audit, Recorder};
use crate::policy::manifest::Manifest;
use crate::policy::manifest::PackageKind;
use crate::policy::resolve::{self, LimitOverrides};
use crate::policy::{Grant, Grants, PolicyFile};
use crate::runtime::plugin::{PluginConfig, default_plugin_limits};
use crate::runtime::{RunError, SpellConfig};

pub const AFTER_HELP: &str = "\
Exit codes:
  0 ok · 1 the spell returned an error · 2 bad command line
  3 not a runnable spell · 4 the spell crashed · 5 host error
  6 refused: a package not verified or its grants not approved
  10 out of fuel · 11 memory limit · 12 timeout · 13 output too large · 14 stack overflow
  15 too many handles held at once · 16 too much logged

Sizes take KiB/MiB/GiB (256MiB); durations take ms/s/m/h (30s, 2m).";

#[derive(clap::Args)]
pub struct RunArgs {
    /// The spell: a WebAssembly component (.wasm), a Lua script (.lua), a
    /// JavaScript module (.js, .mjs), or a package in an OCI registry
    /// (oci://HOST/NS/NAME:TAG — pulled, verified and reviewed).
    #[arg(value_name = "SPELL")]
    spell: ArtifactRef,

    /// Input text passed to the spell's `run`.
    #[arg(long, value_name = "TEXT", conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the input from a file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    input_file: Option<PathBuf>,

    /// Fuel: roughly the number of WebAssembly instructions the spell may run
    /// [default: the manifest's, else 10_000_000_000].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    fuel: Option<u64>,
    /// Memory the spell may use [default: the manifest's, else 256MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Wall-clock time the run may take, LLM calls included [default: the
    /// manifest's, else 5m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Largest output the spell may return [default: the manifest's, else 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_output: Option<u64>,

    /// LLM tokens (input + output) the run may use in all [default: the
    /// manifest's, else 200_000].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    max_llm_tokens: Option<u64>,
    /// US dollars the run may spend on LLMs (prices from the model catalog, or spellhost.toml's [prices]).
    #[arg(long, value_name = "USD", value_parser = parse_cost)]
    max_llm_cost: Option<f64>,
    /// Resource handles (timers, streams, pending calls, buckets…) the
    /// spell may hold at once [default: the manifest's, else 10_000].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    max_handles: Option<u32>,
    /// Bytes (keys and values) a state namespace may hold when this spell
    /// writes to it [default: the manifest's, else 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    state_quota: Option<u64>,
    /// Keys a state namespace may hold when this spell writes to it
    /// [default: the manifest's, else 100_000].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    state_keys: Option<u64>,
    /// Bytes of log lines and printed output (`print`, `console.log`,
    /// stdout and stderr) the run may write [default: the manifest's, else
    /// 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_log: Option<u64>,
    /// Events the run may publish per second, and at once in a burst
    /// [default: the manifest's, else 1000].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    max_event_rate: Option<u32>,

    /// Default model for the spell's LLM calls (provider/model or an alias).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// Also allow models matching PATTERN (e.g. 'openai/*'). Repeatable.
    #[arg(long = "allow-model", value_name = "PATTERN")]
    allow_model: Vec<String>,
    /// Allow the shared state namespace NAME (`*` for all). Repeatable.
    #[arg(long = "allow-state-ns", value_name = "NAME")]
    allow_state_ns: Vec<String>,
    /// Let the spell read files under PATH (a directory). Repeatable.
    #[arg(long = "allow-read", value_name = "PATH")]
    allow_read: Vec<PathBuf>,
    /// Let the spell read and write files under PATH (a directory). Repeatable.
    #[arg(long = "allow-write", value_name = "PATH")]
    allow_write: Vec<PathBuf>,
    /// Let the spell make HTTP requests to HOST (`example.com`, `api.test:8443`,
    /// `*.example.com`, `10.0.0.5:5432`, `*`); IP literals also open raw TCP.
    /// Names never reach private addresses unless those are granted too. Repeatable.
    #[arg(long = "allow-net", value_name = "HOST[:PORT]", value_parser = parse_net_grant)]
    allow_net: Vec<String>,
    /// Pass the host environment variable NAME to the spell. Repeatable.
    #[arg(long = "allow-env", value_name = "NAME")]
    allow_env: Vec<String>,
    /// Load a tool plugin (a component exporting tool-provider) for the spell
    /// and its agents. It runs in its own sandbox with only the grants its
    /// manifest requests and you approve (--grant-requested, --policy). Repeatable.
    #[arg(long = "tool", value_name = "PLUGIN.wasm|oci://…")]
    tools: Vec<ArtifactRef>,
    /// Load a hook plugin (a component exporting hook-handler) that sees,
    /// may change or cancel every LLM and tool call. Repeatable.
    #[arg(long = "hook", value_name = "PLUGIN.wasm|oci://…")]
    hooks: Vec<ArtifactRef>,
    /// Grant everything the spell's manifest (<name>.spell.toml) requests.
    #[arg(long)]
    grant_requested: bool,
    /// Pre-approved grants per spell, for unattended runs (TOML).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Append every capability use and denial to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,
    /// A setting the spell reads through the config bridge. Repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// The spell's identity for state (default: the file name without extension).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Print every event as a JSON line on stderr.
    #[arg(long)]
    events: bool,
    /// Print timings, fuel, memory and LLM usage as JSON on stderr at the end.
    #[arg(long)]
    stats: bool,
    /// How to print the outcome: `text` (what the spell prints, then its
    /// output, on stdout; errors and denials on stderr) or `json` (one
    /// object on stdout: output, error, stats, denied; what the spell
    /// prints goes to stderr; the exit code is the same).
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    output: OutputFormat,

    #[command(flatten)]
    pub(super) market: MarketArgs,

    #[command(flatten)]
    pub(super) host: HostArgs,
}

pub async fn run(args: RunArgs) -> u8 {
    match run_inner(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::HOST
        }
    }
}

async fn run_inner(args: RunArgs) -> anyhow::Result<u8> {
    // Printed output passes through to stdout, before the spell's output;
    // with --output json, stdout is the JSON alone and printing goes to
    // stderr.
    let stdout = match args.output {
        OutputFormat::Json => GuestStdout::Stderr,
        OutputFormat::Text => GuestStdout::Stdout,
    };
    let (runtime, net) = args
        .host
        .runtime_and_settings(args.model.as_deref(), stdout)?;
    let input = read_input(&args)?;
    let policy = args.policy.as_deref().map(PolicyFile::load).transpose()?;
    let review = |expect| ReviewContext {
        grant_requested: args.grant_requested,
        policy: policy.as_ref(),
        expect,
    };
    let market = LazyMarket::new(&args.market, args.host.config.as_deref());
    let loaded = match artifacts::load(&args.spell, &market, &review(PackageKind::Spell)).await {
        Ok(loaded) => loaded,
        Err(err) => return Ok(report_load_error(&args.spell, err)),
    };
    let manifest = loaded.manifest.as_ref();
    let name = args
        .name
        .clone()
        .or_else(|| manifest.and_then(|m| m.spell.name.clone()))
        .unwrap_or_else(|| loaded.name.clone());
    let grants = effective_grants(
        &args,
        &name,
        manifest,
        policy.as_ref(),
        loaded.grant_requested,
    );
    let audit = args.audit.as_deref().map(Audit::open).transpose()?;
    let vars = args.vars.iter().cloned().collect::<BTreeMap<_, _>>();
    let mut tool_plugins = Vec::new();
    for reference in &args.tools {
        let plugin = match artifacts::load(reference, &market, &review(PackageKind::Tool)).await {
            Ok(plugin) => plugin,
            Err(err) => return Ok(report_load_error(reference, err)),
        };
        let config = plugin_config(&plugin, policy.as_ref(), &audit);
        match runtime
            .load_tool_plugin(&plugin.name, &plugin.bytes, config)
            .await
        {
            Ok(plugin) => tool_plugins.push(plugin),
            Err(err) => return Ok(report_error(&plugin.shown, &err)),
        }
    }
    let mut hook_plugins = Vec::new();
    for reference in &args.hooks {
        let plugin = match artifacts::load(reference, &market, &review(PackageKind::Hook)).await {
            Ok(plugin) => plugin,
            Err(err) => return Ok(report_load_error(reference, err)),
        };
        let config = plugin_config(&plugin, policy.as_ref(), &audit);
        match runtime.load_hook_plugin(&plugin.name, &plugin.bytes, config) {
            Ok(plugin) => hook_plugins.push(plugin),
            Err(err) => return Ok(report_error(&plugin.shown, &err)),
        }
    }
    let config = SpellConfig {
        grants,
        vars,
        audit,
        net_pins: net.hosts,
        net_secrets: net.secrets,
        tool_plugins,
        hook_plugins,
        grant_wording: Default::default(),
    };
    let json = args.output == OutputFormat::Json;
    let spell = match runtime.load_bytes(&name, &loaded.path, loaded.bytes, config, loaded.modules)
    {
        Ok(spell) => spell,
        Err(err) if json => return Ok(print_json(Err(&err), None, &[])),
        Err(err) => return Ok(report_error(&loaded.shown, &err)),
    };
    let pulled = matches!(args.spell, ArtifactRef::Oci(_));
    let limits = effective_limits(&args, manifest, pulled)?;

    let printer = args
        .events
        .then(|| EventPrinter::start(&runtime.services().bus));
    let report = runtime.run(&spell, &input, &limits).await;
    if let Some(printer) = printer {
        printer.finish().await;
    }
    // Events and audit records other processes should see leave before
    // this one does.
    runtime
        .flush_shared(std::time::Duration::from_secs(5))
        .await;
    if json {
        return Ok(print_json(
            report.result.as_ref().map(String::as_str),
            Some(&report.stats),
            &report.denials,
        ));
    }
    if args.stats {
        eprintln!("{}", serde_json::to_string(&report.stats)?);
    }
    for denial in &report.denials {
        eprintln!("denied: {}", denial.message);
    }
    Ok(match report.result {
        Ok(mut output) => {
            // The output follows what the spell printed, on a line of its
            // own; a spell that printed and returned nothing adds nothing.
            let printed = crate::sandbox::stdio::printed_to_stdout();
            if !(output.is_empty() && printed.is_some()) {
                if printed == Some(true) {
                    output.insert(0, '\n');
                }
                if !output.ends_with('\n') {
                    output.push('\n');
                }
                super::emit(&output)?;
            }
            exit::OK
        }
        Err(err) => report_error(&loaded.shown, &err),
    })
}

/// Flags, plus what `--grant-requested` or the policy file approve. Requests
/// that stay ungranted are listed, with the flags that would grant them.
fn effective_grants(
    args: &RunArgs,
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
fn plugin_config(
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
fn effective_limits(
    args: &RunArgs,
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

/// The outcome formats of `run --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `--output json`: the outcome as one JSON object on stdout, for scripts
/// and CI — `output` (the spell's, or null), `error` (`kind`, `limit` for a
/// limit, `message`, `exit_code`; or null), `stats` (null when the spell
/// did not load) and `denied` (each refused capability, with the grant
/// that would allow it). Returns the exit code, the same as in text.
fn print_json(
    result: Result<&str, &RunError>,
    stats: Option<&crate::runtime::RunStats>,
    denied: &[crate::policy::audit::Denial],
) -> u8 {
    let (output, error, code) = match result {
        Ok(output) => (
            serde_json::Value::from(output),
            serde_json::Value::Null,
            exit::OK,
        ),
        Err(err) => {
            let code = exit::code(err);
            let error = serde_json::json!({
                "kind": error_kind(err),
                "limit": match err {
                    RunError::Limit(limit) => serde_json::Value::from(limit.name()),
                    _ => serde_json::Value::Null,
                },
                "message": err.to_string(),
                "exit_code": code,
            });
            (serde_json::Value::Null, error, code)
        }
    };
    let object = serde_json::json!({
        "output": output,
        "error": error,
        "stats": stats,
        "denied": denied,
    });
    println!("{object}");
    code
}

/// A run error's kind, as `--output json` names it.
fn error_kind(err: &RunError) -> &'static str {
    match err {
        RunError::Failed(_) => "failed",
        RunError::Limit(_) => "limit",
        RunError::Trap(_) => "crashed",
        RunError::Host(_) => "host",
        RunError::NotAComponent(_)
        | RunError::Invalid(_)
        | RunError::MissingImport { .. }
        | RunError::NotASpell(_) => "not-a-spell",
    }
}

fn report_error(path: &Path, err: &RunError) -> u8 {
    eprintln!("error: {}: {err}", path.display());
    exit::code(err)
}

fn report_load_error(reference: &ArtifactRef, err: LoadError) -> u8 {
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

fn read_input(args: &RunArgs) -> anyhow::Result<String> {
    if let Some(text) = &args.input {
        return Ok(text.clone());
    }
    match &args.input_file {
        Some(path) if path.as_os_str() == "-" => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading input from stdin")?;
            Ok(input)
        }
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading input file {}", path.display())),
        None => Ok(String::new()),
    }
}

fn parse_count(text: &str) -> Result<u64, String> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

fn parse_cost(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .map_err(|_| format!("`{text}` is not an amount of US dollars (0 or more)"))
        .and_then(crate::limits::check_cost)
}

fn parse_positive(text: &str) -> Result<u32, String> {
    let count = parse_count(text)?;
    u32::try_from(count)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{text}` is not a whole number between 1 and {}", u32::MAX))
}

fn parse_net_grant(text: &str) -> Result<String, String> {
    crate::policy::net::NetGrant::parse(text).map(|g| g.to_string())
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}
