//! `spellhost run`.

use crate::sandbox::stdio::GuestStdout;
use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;

use super::artifacts::{self, LazyMarket, MarketArgs, ReviewContext};
use super::events::EventPrinter;
use super::sandbox::{self, SandboxArgs, effective_limits, report_error, report_load_error};
use super::{HostArgs, exit};
use crate::market::ArtifactRef;
use crate::policy::PolicyFile;
use crate::policy::manifest::PackageKind;
use crate::runtime::RunError;

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

    #[command(flatten)]
    pub(super) sandbox: SandboxArgs,

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
        .runtime_and_settings(args.sandbox.model.as_deref(), stdout)?;
    let input = read_input(&args)?;
    let policy = args
        .sandbox
        .policy
        .as_deref()
        .map(PolicyFile::load)
        .transpose()?;
    let review = |expect| ReviewContext {
        grant_requested: args.sandbox.grant_requested,
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
        .sandbox
        .name
        .clone()
        .or_else(|| manifest.and_then(|m| m.spell.name.clone()))
        .unwrap_or_else(|| loaded.name.clone());
    let identity = sandbox::Identity {
        name: &name,
        manifest,
        grant_requested: loaded.grant_requested,
    };
    let config = match sandbox::spell_config(
        &args.sandbox,
        &runtime,
        net,
        &market,
        policy.as_ref(),
        identity,
    )
    .await?
    {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let json = args.output == OutputFormat::Json;
    let spell = match runtime.load_bytes(&name, &loaded.path, loaded.bytes, config, loaded.modules)
    {
        Ok(spell) => spell,
        Err(err) if json => return Ok(print_json(Err(&err), None, &[])),
        Err(err) => return Ok(report_error(&loaded.shown, &err)),
    };
    let pulled = matches!(args.spell, ArtifactRef::Oci(_));
    let limits = effective_limits(&args.sandbox, manifest, pulled)?;

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
