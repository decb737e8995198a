//! The `spellhost` command line: argument parsing and the glue between the
//! library's pieces. Subcommands live in their own modules.

mod artifacts;
mod check;
mod events;
pub mod exit;
mod inspect;
mod market;
mod mcp;
mod models;
mod new;
mod repl;
mod run;
mod sandbox;
mod serve;
mod state;
mod test;
mod worker;

use crate::sandbox::stdio::GuestStdout;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::bridges::event::EventsBackend;
use crate::bridges::state::{SqliteStore, StateBackend};
use crate::cache::CompileCache;
use crate::runtime::Runtime;
use crate::settings::Settings;

const ABOUT: &str = "Run LLM programs (spells) as sandboxed WebAssembly components.";

const LONG_ABOUT: &str = "\
Run LLM programs (spells) as sandboxed WebAssembly components.

A spell is a WebAssembly component (wasm32-wasip2) that imports spellhost's
bridges — llm, state, event, log, config — and exports `run(input)`. It runs
deny-by-default: it can compute, use its own state, log, and call the models
it is allowed; everything else must be granted on the command line.";

const EXAMPLES: &str = "\
Examples:
  spellhost run hello.wasm --input 'What is WebAssembly?'
  spellhost run hello.wasm --model ollama/llama3.2
  spellhost run summarize.wasm --input-file notes.txt --stats
  spellhost run watch.wasm --events --timeout 30s
  spellhost inspect hello.wasm
  spellhost run oci://127.0.0.1:5000/acme/hello:1.0   # pulled, verified, reviewed

  spellhost models pull smollm2      # an offline model: the default from then on

Models are named provider/model: openai/gpt-4o-mini, anthropic/claude-sonnet-4-5,
gemini/gemini-2.5-flash, ollama/llama3.2, local/smollm2. Keys come from the
environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY) and never reach
a spell. Providers, aliases, prices and the default model go in spellhost.toml.";

#[derive(Parser)]
#[command(name = "spellhost", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
struct Cli {
    /// Level of the spell's log lines shown on stderr: trace, debug, info,
    /// warn, error or off. Host diagnostics follow $SPELLHOST_LOG.
    /// [default: info; for `test`, warn]
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a spell and print its output on stdout.
    #[command(after_help = run::AFTER_HELP)]
    Run(Box<run::RunArgs>),
    /// Show what a component imports and exports, and which bridges it uses.
    Inspect(inspect::InspectArgs),
    /// Check spells, plugins and manifests without running them: a
    /// script's syntax, a component against spellhost's worlds, the
    /// manifest beside either.
    Check(Box<check::CheckArgs>),
    /// Make a project: a spell (or plugin) in Rust, Lua, JavaScript or
    /// Python, with its manifest, tests and README.
    New(new::NewArgs),
    /// Build components with their manifests' [build] commands.
    Build(new::BuildArgs),
    /// Run a spell's tests (NAME.test.toml): the model's replies scripted,
    /// no key, no network; JUnit XML or JSON for CI.
    #[command(after_help = test::AFTER_HELP)]
    Test(Box<test::TestArgs>),
    /// An interactive Lua or JavaScript session with the whole API live
    /// (LLM calls, state, tools, agents), under run's grants and limits.
    #[command(after_help = repl::AFTER_HELP)]
    Repl(Box<repl::ReplArgs>),
    /// Manage models: list them, pull the offline default, add GGUF files.
    Models(models::ModelsArgs),
    /// Serve spells over HTTP: one long-lived host for many runs.
    Serve(Box<serve::ServeArgs>),
    /// Offer spells as the tools of an MCP server on stdio.
    Mcp(Box<mcp::McpArgs>),
    /// Take runs from the shared queue ([queue] url) and run them.
    Worker(Box<worker::WorkerArgs>),
    /// Put a run on the shared queue ([queue] url) for a worker.
    Submit(worker::SubmitArgs),
    /// Check a spell or plugin and its manifest and write it as a package
    /// (an OCI image layout).
    Package(market::PackageArgs),
    /// Publish a spell or plugin to an OCI registry.
    Publish(Box<market::PublishArgs>),
    /// Pull a package into the local store, verify it and pin it in
    /// ./spellhost.lock.
    Pull(market::RefArgs),
    /// Show a package in a registry: digest, size, signer, requested grants.
    Info(market::RefArgs),
    /// Search a registry's packages by name and description.
    Search(market::SearchArgs),
    /// Move the pins of ./spellhost.lock to what the tags point to now.
    Update(market::UpdateArgs),
    /// Make a signing key pair (cosign's format): NAME.key and NAME.pub.
    Keygen(market::KeygenArgs),
    /// Sign a published package (a cosign signature beside it).
    Sign(market::SignArgs),
    /// Check a package's signature against a key or the [trust] policy.
    Verify(market::VerifyArgs),
    /// Save credentials for a registry.
    Login(market::LoginArgs),
    /// Forget the credentials for a registry.
    Logout(market::LogoutArgs),
    /// The grants you approved for pulled packages: list or revoke.
    Grants(market::GrantsArgs),
    /// Look at the state store: `state du` shows what each namespace holds.
    State(state::StateArgs),
}

/// Options shared by the subcommands that load spells.
#[derive(clap::Args, Clone)]
struct HostArgs {
    /// Config file (default: ./spellhost.toml, then ~/.config/spellhost/spellhost.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// State database file (default: [state] url in the config, else
    /// ~/.local/share/spellhost/state.sqlite3, or $SPELLHOST_DATA_DIR).
    #[arg(long, value_name = "FILE")]
    state_db: Option<PathBuf>,
    /// Compile the spell even if a cached compilation exists, and do not cache it.
    #[arg(long)]
    no_cache: bool,
}

impl HostArgs {
    /// Builds the runtime these options describe.
    fn runtime(&self, model: Option<&str>) -> anyhow::Result<Runtime> {
        Ok(self.runtime_and_settings(model, GuestStdout::Stderr)?.0)
    }

    /// The state store these options name: `--state-db`, else `[state]
    /// url`, else the default SQLite file.
    fn backend(&self, settings: &Settings) -> anyhow::Result<StateBackend> {
        Ok(match (&self.state_db, &settings.state.url) {
            (Some(path), _) => StateBackend::Sqlite(path.clone()),
            (None, Some(url)) => StateBackend::parse(url)?,
            (None, None) => StateBackend::Sqlite(SqliteStore::default_path()),
        })
    }

    /// The configured state store, and how to name it (no password).
    fn state_store(
        &self,
    ) -> anyhow::Result<(
        std::sync::Arc<dyn crate::bridges::state::StateStore>,
        String,
    )> {
        let (settings, _) = Settings::load(self.config.as_deref())?;
        let backend = self.backend(&settings)?;
        let shown = match &backend {
            StateBackend::Sqlite(path) => path.display().to_string(),
            StateBackend::Redis(url) | StateBackend::Postgres(url) => {
                crate::bridges::state::backend::redact(url)
            }
        };
        Ok((backend.open()?, shown))
    }

    /// The runtime, and the settings that apply per spell; spells' stdout
    /// goes where `stdout` says.
    fn runtime_and_settings(
        &self,
        model: Option<&str>,
        stdout: GuestStdout,
    ) -> anyhow::Result<(Runtime, crate::settings::NetSettings)> {
        self.runtime_with_pool(model, None, stdout)
    }

    /// The same, with instances from `pool` (a server's).
    fn runtime_with_pool(
        &self,
        model: Option<&str>,
        pool: Option<crate::engine::InstancePool>,
        stdout: GuestStdout,
    ) -> anyhow::Result<(Runtime, crate::settings::NetSettings)> {
        let (settings, config) = Settings::load(self.config.as_deref())?;
        let router = settings.router(model)?;
        let packages: std::sync::Arc<dyn crate::market::Packages> = std::sync::Arc::new(
            crate::market::ConfiguredPackages::new(&settings, config.as_deref()),
        );
        let cache = if self.no_cache {
            CompileCache::disabled()
        } else {
            CompileCache::default_location()
        };
        let store = self.backend(&settings)?.open()?;
        let events = match &settings.events.url {
            Some(url) => EventsBackend::parse(url).map_err(anyhow::Error::msg)?,
            None => EventsBackend::Local,
        };
        let bus = events.bus(None).map_err(anyhow::Error::msg)?;
        let audit = settings
            .audit
            .url
            .as_deref()
            .map(|url| {
                crate::policy::audit_log::AuditBackend::parse(url)
                    .map_err(anyhow::Error::msg)?
                    .open()
            })
            .transpose()?;
        let runtime = Runtime::builder()
            .compile_cache(cache)
            .router(router)
            .shared_state(store)
            .events(bus)
            .events_backend(events)
            .catalog(settings.catalog())
            .audit(audit)
            .instance_pool(pool)
            .packages(Some(packages))
            .guest_stdout(stdout)
            .build()?;
        Ok((runtime, settings.net))
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return exit::exit(if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    // A test run shows its spells' log lines only when asked.
    let level = cli.log_level.clone().unwrap_or_else(|| {
        match cli.command {
            Command::Test(_) | Command::Repl(_) => "warn",
            _ => "info",
        }
        .to_owned()
    });
    let exporting = match init_logging(&level, &cli.command) {
        Ok(exporting) => exporting,
        Err(err) => {
            eprintln!("error: {err}");
            return exit::exit(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return exit::exit(exit::HOST);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(*args).await,
            Command::Inspect(args) => inspect::inspect(args).await,
            Command::Check(args) => check::check(*args).await,
            Command::Test(args) => test::test(*args).await,
            Command::Repl(args) => repl::repl(*args).await,
            Command::New(args) => new::new(args).await,
            Command::Build(args) => new::build(args).await,
            Command::Models(args) => models::models(args).await,
            Command::Serve(args) => serve::serve(*args).await,
            Command::Mcp(args) => mcp::mcp(*args).await,
            Command::Worker(args) => worker::worker(*args).await,
            Command::Submit(args) => worker::submit(args).await,
            Command::Package(args) => market::package(args).await,
            Command::Publish(args) => market::publish(*args).await,
            Command::Pull(args) => market::pull(args).await,
            Command::Info(args) => market::info(args).await,
            Command::Search(args) => market::search(args).await,
            Command::Update(args) => market::update(args).await,
            Command::Keygen(args) => market::keygen(args).await,
            Command::Sign(args) => market::sign(args).await,
            Command::Verify(args) => market::verify(args).await,
            Command::Login(args) => market::login(args).await,
            Command::Logout(args) => market::logout(args).await,
            Command::Grants(args) => market::grants(args).await,
            Command::State(args) => state::state(args).await,
        }
    });
    // The last spans go out before the process does.
    drop(exporting);
    exit::exit(code)
}

/// Writes a command's output to stdout. A reader that stopped early
/// (`spellhost inspect x.wasm | head`) is not an error.
fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

impl Command {
    /// The config file of a command that runs spells (its telemetry
    /// settings apply from the start): `Some(None)` for the default one.
    fn runs_spells_with(&self) -> Option<Option<&std::path::Path>> {
        Some(match self {
            Command::Run(args) => args.host.config.as_deref(),
            Command::Repl(args) => args.host.config.as_deref(),
            Command::Serve(args) => args.served.host.config.as_deref(),
            Command::Mcp(args) => args.served.host.config.as_deref(),
            Command::Worker(args) => args.served.host.config.as_deref(),
            Command::Submit(args) => args.config.as_deref(),
            _ => return None,
        })
    }
}

/// Logs to stderr, and exports spans over OTLP when the command runs
/// spells and `[telemetry]` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) asks for it.
fn init_logging(
    spell_level: &str,
    command: &Command,
) -> anyhow::Result<Option<crate::telemetry::Exporting>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter =
        // Workers say which runs they take (target `worker`).
        std::env::var("SPELLHOST_LOG")
            .unwrap_or_else(|_| format!("warn,guest={spell_level},worker=info"));
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,guest=info"));
    // One run per process: its id is in --stats, not on every line.
    let hide_run_id = matches!(command, Command::Run(_));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .fmt_fields(Fields { hide_run_id })
        .with_filter(filter);
    let export = match command.runs_spells_with() {
        // A config that does not load is reported by the command itself.
        Some(config) => match Settings::load(config) {
            Ok((settings, _)) => {
                crate::telemetry::Export::configured(&settings.telemetry, |name| {
                    std::env::var(name).ok().filter(|v| !v.is_empty())
                })?
            }
            Err(_) => None,
        },
        None => None,
    };
    match export {
        Some(export) => {
            let (otel, exporting) = export.start()?;
            tracing_subscriber::registry()
                .with(stderr)
                .with(otel)
                .init();
            Ok(Some(exporting))
        }
        None => {
            tracing_subscriber::registry().with(stderr).init();
            Ok(None)
        }
    }
}

/// Log fields as `message key=value…`, without empty ones, and without
/// `run_id` when `hide_run_id`.
struct Fields {
    hide_run_id: bool,
}

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for Fields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: tracing_subscriber::fmt::format::Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        struct Visit {
            hide_run_id: bool,
            message: String,
            rest: Vec<String>,
        }
        impl tracing::field::Visit for Visit {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "message" => self.message = value.to_owned(),
                    "run_id" if self.hide_run_id || value.is_empty() => {}
                    name => self.rest.push(format!("{name}={value}")),
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "message" => self.message = format!("{value:?}"),
                    "run_id" if self.hide_run_id => {}
                    name => self.rest.push(format!("{name}={value:?}")),
                }
            }
        }
        let mut visit = Visit {
            hide_run_id: self.hide_run_id,
            message: String::new(),
            rest: Vec::new(),
        };
        fields.record(&mut visit);
        write!(writer, "{}", visit.message)?;
        for field in visit.rest {
            write!(writer, " {field}")?;
        }
        Ok(())
    }
}
