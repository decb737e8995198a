//! `spellhost serve`: the CLI front of `crate::serve`.

use crate::sandbox::stdio::GuestStdout;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::{HostArgs, exit};
use crate::serve::config::{self, ServeSettings};
use crate::serve::{Server, ServerOptions, SpellSpec, load_spell};
use crate::settings::Settings;

/// The spells a long-lived front end (`serve`, `mcp`, `worker`) offers, as
/// its command line names them, and the host options.
#[derive(clap::Args)]
pub(super) struct ServedSpells {
    /// Spells: component, Lua or JavaScript files, directories of them, or
    /// packages (oci://HOST/NS/NAME:TAG, pulled and verified at start);
    /// added to the `[serve.spells]` of the config file.
    #[arg(value_name = "SPELL|DIR|oci://…")]
    spells: Vec<PathBuf>,
    /// Grant the spells given on the command line what their manifests ask for.
    #[arg(long)]
    grant_requested: bool,
    /// Default model for the spells' LLM calls.
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    #[command(flatten)]
    pub(super) market: super::artifacts::MarketArgs,
    #[command(flatten)]
    pub(super) host: HostArgs,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub(super) served: ServedSpells,
    /// Address to listen on [default: `[serve] listen`, else 127.0.0.1:8787].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Serve requests without a token (as tenant `anonymous`).
    #[arg(long)]
    anonymous: bool,
    /// Reload a spell when its file or manifest changes (runs already going
    /// finish on the version they started with).
    #[arg(long)]
    watch: bool,
}

pub async fn serve(args: ServeArgs) -> u8 {
    exit::report(serve_inner(args).await)
}

/// The spells a server or MCP front end offers, loaded and prepared: those
/// of `[serve.spells]` and those named on the command line.
pub(super) async fn build_server(
    served: &ServedSpells,
    anonymous: bool,
) -> anyhow::Result<(Arc<Server>, Settings, Vec<(String, SpellSpec)>)> {
    let (host, model) = (&served.host, served.model.as_deref());
    let (settings, path) = Settings::load(host.config.as_deref())?;
    let serve = settings.serve.clone().unwrap_or_default();
    let (runtime, net) = match instance_pool(&serve)? {
        Some(pool) => host.runtime_with_pool(model, Some(pool), GuestStdout::Log).or_else(|err| {
            // Slots are address space: a process limit (ulimit -v) may not
            // allow them. Serving on demand is slower, not wrong.
            tracing::warn!(
                "instance pool of {} slots not available ({err:#}); allocating instances on demand \
                 (set [serve] instance_pool = false to skip trying)",
                pool.instances
            );
            host.runtime_and_settings(model, GuestStdout::Log)
        })?,
        None => host.runtime_and_settings(model, GuestStdout::Log)?,
    };
    let base = path
        .as_deref()
        .and_then(|p| p.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let market = super::artifacts::LazyMarket::new(&served.market, host.config.as_deref());
    let mut specs = Vec::new();
    for (name, entry) in &serve.spells {
        specs.push(SpellSpec {
            name: Some(name.clone()),
            path: match package_path(&market, &entry.path).await? {
                Some(checkout) => checkout,
                None => base.join(&entry.path),
            },
            grant_requested: entry.grant_requested,
            grants: entry.grants.clone(),
            vars: entry.vars.clone(),
            allowed_vars: entry.allowed_vars.clone(),
            limits: entry
                .limits
                .overrides()
                .with_context(|| format!("[serve.spells.{name}]"))?,
        });
    }
    for path in &served.spells {
        if let Some(checkout) = package_path(&market, path).await? {
            specs.push(SpellSpec {
                path: checkout,
                grant_requested: served.grant_requested,
                ..SpellSpec::default()
            });
            continue;
        }
        for file in crate::serve::load::spell_files(path)? {
            specs.push(SpellSpec {
                path: file,
                grant_requested: served.grant_requested,
                ..SpellSpec::default()
            });
        }
    }
    if specs.is_empty() {
        anyhow::bail!(
            "no spells to serve: name files or directories (spellhost serve spells/), or add [serve.spells.NAME] to spellhost.toml"
        );
    }
    let mut spells = BTreeMap::new();
    let mut named = Vec::new();
    for spec in specs {
        let (name, served) = load_off_executor(&runtime, &spec, &net).await?;
        if spells.insert(name.clone(), served).is_some() {
            anyhow::bail!("two spells are named `{name}`; name them in [serve.spells]");
        }
        named.push((name, spec));
    }
    let options = options(&serve, anonymous)?;
    Ok((
        Arc::new(Server::new(runtime.clone(), spells, options)),
        settings,
        named,
    ))
}

/// For an `oci://` reference: the package resolved (from the store, or
/// pulled and verified), checked out as files the loader reads. The
/// configuration that names it is the operator's review: its grants (or
/// `grant_requested`) are what the package gets.
async fn package_path(
    market: &super::artifacts::LazyMarket<'_>,
    path: &std::path::Path,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(text) = path
        .to_str()
        .filter(|t| t.starts_with(crate::market::reference::SCHEME))
    else {
        return Ok(None);
    };
    let market = market.get()?;
    let reference = crate::market::Reference::parse(text).map_err(anyhow::Error::msg)?;
    let verified = market
        .resolve(&reference)
        .await
        .with_context(|| format!("serving {text}"))?;
    if let crate::market::Signer::Unverified { why } = &verified.signer {
        tracing::warn!("serving {text} UNVERIFIED (--allow-unsigned): {why}");
    }
    if verified.artifact.kind() != crate::policy::manifest::PackageKind::Spell {
        anyhow::bail!(
            "{text} is a {} package, not a spell",
            verified.artifact.kind().as_str()
        );
    }
    Ok(Some(market.checkout(&verified)?))
}

/// Loads a spell on the blocking pool: compiling is CPU work.
async fn load_off_executor(
    runtime: &crate::runtime::Runtime,
    spec: &SpellSpec,
    net: &crate::settings::NetSettings,
) -> anyhow::Result<(String, crate::serve::Served)> {
    let (runtime, spec, net) = (runtime.clone(), spec.clone(), net.clone());
    tokio::task::spawn_blocking(move || load_spell(&runtime, &spec, &net))
        .await
        .context("loading a spell")?
}

/// When a spell's file or manifest changes, loads it again and serves the
/// new version; a version that does not load is reported and the old one
/// kept. Checks modification times twice a second.
async fn watch(
    server: Arc<Server>,
    runtime: crate::runtime::Runtime,
    net: crate::settings::NetSettings,
    spells: Vec<(String, SpellSpec)>,
) {
    let stamp = |spec: &SpellSpec| {
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (
            modified(&spec.path),
            modified(&crate::policy::manifest::path_for(&spec.path)),
        )
    };
    let mut seen: Vec<_> = spells.iter().map(|(_, spec)| stamp(spec)).collect();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        for ((name, spec), last) in spells.iter().zip(seen.iter_mut()) {
            let now = stamp(spec);
            if now == *last {
                continue;
            }
            *last = now;
            let spec = SpellSpec {
                name: Some(name.clone()),
                ..spec.clone()
            };
            match load_off_executor(&runtime, &spec, &net).await {
                Ok((_, served)) => {
                    server.replace_spell(name, served);
                    eprintln!(
                        "spellhost serve: reloaded `{name}` from {}",
                        spec.path.display()
                    );
                }
                Err(err) => eprintln!(
                    "spellhost serve: `{name}` changed but does not load ({err:#}); still serving the previous version"
                ),
            }
        }
    }
}

async fn serve_inner(args: ServeArgs) -> anyhow::Result<()> {
    let (server, settings, spells) = build_server(&args.served, args.anonymous).await?;
    let serve = settings.serve.clone().unwrap_or_default();
    let listen = args
        .listen
        .clone()
        .or(serve.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8787".into());
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen}: not an address (e.g. 127.0.0.1:8787)"))?;
    let grace = serve
        .shutdown_grace
        .as_deref()
        .map(humantime::parse_duration)
        .transpose()
        .context("[serve] shutdown_grace")?
        .unwrap_or(Duration::from_secs(config::DEFAULT_SHUTDOWN_GRACE_SECS));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let names: Vec<String> = server.spells().keys().cloned().collect();
    if let Some(queue) = super::worker::configured_queue(&settings, Duration::from_secs(30))? {
        server.send_runs_to(queue);
        eprintln!(
            "spellhost serve: runs go to the queue at [queue] url {}, for spellhost worker to run",
            crate::bridges::state::backend::redact(
                settings.queue.url.as_deref().unwrap_or_default()
            )
        );
    }
    if args.watch {
        tokio::spawn(watch(
            server.clone(),
            server.runtime().clone(),
            settings.net.clone(),
            spells,
        ));
    }
    eprintln!(
        "spellhost serve: listening on http://{} ({} spells: {})",
        listener.local_addr()?,
        names.len(),
        names.join(", ")
    );
    let app = crate::serve::router(server.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving = axum::serve(listener, app).with_graceful_shutdown({
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    });
    let mut serving = std::pin::pin!(serving.into_future());
    tokio::select! {
        result = &mut serving => return result.context("serving"),
        () = shutdown_signal() => {}
    }
    eprintln!(
        "spellhost serve: stopping: no new runs; {} running may finish within {}",
        server.metrics.runs_in_flight(),
        humantime::format_duration(grace)
    );
    let _ = stop_tx.send(true);
    match tokio::time::timeout(grace, &mut serving).await {
        Ok(result) => result.context("serving")?,
        Err(_) => eprintln!(
            "spellhost serve: cancelled {} runs still running after the grace period",
            server.metrics.runs_in_flight()
        ),
    }
    server.flush_shared(Duration::from_secs(5)).await;
    Ok(())
}

fn options(serve: &ServeSettings, anonymous: bool) -> anyhow::Result<ServerOptions> {
    let max_concurrent_runs = serve
        .max_concurrent_runs
        .unwrap_or(config::DEFAULT_MAX_CONCURRENT_RUNS)
        .max(1);
    let max_body = serve
        .max_body
        .as_deref()
        .map(|text| crate::limits::parse_size(text).map_err(anyhow::Error::msg))
        .transpose()
        .context("[serve] max_body")?
        .unwrap_or(config::DEFAULT_MAX_BODY);
    let mut tokens = Vec::new();
    for token in &serve.tokens {
        let digest = token.sha256.trim().to_ascii_lowercase();
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            anyhow::bail!(
                "[[serve.tokens]] of tenant `{}`: sha256 must be 64 hex digits (printf %s \"$TOKEN\" | sha256sum)",
                token.tenant
            );
        }
        config::check_tenant_name(&token.tenant)?;
        tokens.push((digest, token.tenant.clone()));
    }
    Ok(ServerOptions {
        max_concurrent_runs,
        max_runs_per_tenant: serve
            .max_runs_per_tenant
            .unwrap_or(max_concurrent_runs)
            .clamp(1, max_concurrent_runs),
        max_body: usize::try_from(max_body).unwrap_or(usize::MAX),
        anonymous: anonymous || serve.anonymous,
        tokens,
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Instance slots for the server (`[serve] instance_pool`, on by default):
/// four per run it may run at once (a run's plugins and workflow steps are
/// instances too), each with room for the largest memory limit it serves.
fn instance_pool(serve: &ServeSettings) -> anyhow::Result<Option<crate::engine::InstancePool>> {
    if !serve.instance_pool.unwrap_or(true) {
        return Ok(None);
    }
    let mut max_memory_bytes = crate::limits::Limits::DEFAULT_MEMORY_BYTES;
    for (name, entry) in &serve.spells {
        let limits = entry
            .limits
            .overrides()
            .and_then(|o| o.resolve(None))
            .with_context(|| format!("[serve.spells.{name}] limits"))?;
        max_memory_bytes = max_memory_bytes.max(limits.memory_bytes);
    }
    let runs = serve
        .max_concurrent_runs
        .unwrap_or(config::DEFAULT_MAX_CONCURRENT_RUNS)
        .max(1);
    Ok(Some(crate::engine::InstancePool {
        instances: u32::try_from(runs * 4).unwrap_or(u32::MAX),
        max_memory_bytes,
    }))
}
