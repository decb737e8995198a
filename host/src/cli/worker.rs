//! `spellhost worker` and `spellhost submit`: runs through a queue that
//! several processes share (`[queue] url`, see `crate::queue`). A worker
//! serves spells as `spellhost serve` does — the same loading, grants,
//! limits and metrics (`crate::serve::Server`), as tenant `local` — but
//! takes its runs from the queue instead of from HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::exit;
use crate::bridges::run::RunCtx;
use crate::queue::{Job, QueueBackend, RunQueue, Taken};
use crate::serve::{RequestError, Server};
use crate::settings::Settings;

#[derive(clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub(super) served: super::serve::ServedSpells,
    /// Runs at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    concurrency: usize,
    /// How long a run stays with a worker that stopped renewing it before
    /// another worker takes it.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    lease: Duration,
}

#[derive(clap::Args)]
pub struct SubmitArgs {
    /// The spell, by the name workers serve it under.
    spell: String,
    /// The spell's input.
    #[arg(long, default_value = "")]
    input: String,
    /// Wait for the result and print the output (else print the run id).
    #[arg(long)]
    wait: bool,
    /// With --wait: print the whole result as JSON (output or error,
    /// stats, the worker that ran it, retries).
    #[arg(long)]
    json: bool,
    /// How long --wait waits.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Config file (default: ./spellhost.toml, then ~/.config/spellhost/spellhost.toml).
    #[arg(long, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
}

/// The queue the configuration names.
fn queue(config: Option<&std::path::Path>, lease: Duration) -> anyhow::Result<Arc<dyn RunQueue>> {
    let (settings, _) = Settings::load(config)?;
    configured_queue(&settings, lease)?.context(
        "no run queue: add [queue] url = \"redis://…\" or \"postgres://…\" to spellhost.toml (workers and submitters name the same one)",
    )
}

/// The queue `[queue] url` names, if it names one.
pub(super) fn configured_queue(
    settings: &Settings,
    lease: Duration,
) -> anyhow::Result<Option<Arc<dyn RunQueue>>> {
    settings
        .queue
        .url
        .as_deref()
        .map(|url| Ok(QueueBackend::parse(url)?.open(lease)?))
        .transpose()
}

pub async fn worker(args: WorkerArgs) -> u8 {
    exit::report(worker_inner(args).await)
}

async fn worker_inner(args: WorkerArgs) -> anyhow::Result<()> {
    let queue = queue(args.served.host.config.as_deref(), args.lease)?;
    let (server, _, _) = super::serve::build_server(&args.served, false).await?;
    let consumer = format!(
        "worker-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().to_string()[..8]
    );
    let spells: Vec<String> = server.spells().keys().cloned().collect();
    eprintln!(
        "spellhost {consumer}: taking runs of {} from the queue ({} at once)",
        spells.join(", "),
        args.concurrency
    );
    let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut failing = false;
    loop {
        let permit = slots.clone().acquire_owned().await?;
        let taken = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            taken = queue.take(&consumer, Duration::from_secs(2)) => taken,
        };
        match taken {
            Ok(Some(taken)) => {
                failing = false;
                let (server, queue, consumer) = (server.clone(), queue.clone(), consumer.clone());
                tokio::spawn(async move {
                    run_one(&server, &queue, &consumer, taken, args.lease).await;
                    drop(permit);
                });
            }
            Ok(None) => failing = false,
            Err(err) => {
                if !failing {
                    eprintln!("warning: {err}; retrying");
                    failing = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    // Runs going finish (their results stored) before the worker exits,
    // and what they published and audited leaves with them.
    let _ = slots.acquire_many(args.concurrency.max(1) as u32).await;
    server.flush_shared(Duration::from_secs(5)).await;
    Ok(())
}

/// Runs one job, renewing its lease meanwhile, and stores its result.
async fn run_one(
    server: &Server,
    queue: &Arc<dyn RunQueue>,
    consumer: &str,
    taken: Taken,
    lease: Duration,
) {
    let job = &taken.job;
    let waited_ms = crate::queue::now_ms().saturating_sub(job.submitted_ms);
    tracing::info!(
        target: "worker",
        run_id = %job.run_id,
        "{consumer}: running `{}`{}",
        job.spell,
        if taken.retries > 0 { " (taken again: its worker went silent)" } else { "" }
    );
    let renew = {
        let (queue, consumer, taken) = (queue.clone(), consumer.to_owned(), taken.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                if let Err(err) = queue.renew(&consumer, &taken).await {
                    tracing::warn!(run_id = %taken.job.run_id, "{err}");
                }
            }
        })
    };
    // The run joins the submitter's trace.
    let span = tracing::info_span!(
        target: crate::telemetry::TARGET,
        "worker.run",
        run_id = %job.run_id,
        spell = %job.spell,
        worker = consumer,
        retries = taken.retries,
        waited_ms,
    );
    if let Some(traceparent) = &job.traceparent {
        crate::telemetry::follow(&span, traceparent);
    }
    // As the tenant that asked (serve's caller), with its vars and limits.
    let tenant = job.tenant.as_deref().unwrap_or(crate::mcp::TENANT);
    let refused = |kind: &str, message: String| {
        json!({
            "run_id": job.run_id, "spell": job.spell, "ok": false,
            "error": { "kind": kind, "message": message },
        })
    };
    let asked = job
        .limits
        .as_ref()
        .map(crate::policy::manifest::ManifestLimits::overrides)
        .transpose();
    let mut result = match asked {
        Err(err) => refused("bad-request", format!("{err:#}")),
        Ok(asked) => match server.prepare_run(
            server.tenant(tenant),
            &job.spell,
            job.input.clone(),
            &job.vars,
            asked.unwrap_or_default(),
        ) {
            Ok(mut pending) => {
                // The run keeps the id it was submitted with.
                pending.run = RunCtx::with_id(&job.spell, &job.run_id).with_tenant(tenant);
                let bus = pending.bus().clone();
                let report = server.execute(pending).instrument(span).await;
                // What the run published and audited is out before its
                // result: whoever reads the result can find them.
                bus.flush(Duration::from_secs(5)).await;
                if let Some(audit) = &server.runtime().services().audit {
                    audit.flush(Duration::from_secs(5)).await;
                }
                crate::serve::report_json(&job.spell, &report)
            }
            Err(RequestError::UnknownSpell(message)) => refused("unknown-spell", message),
            Err(RequestError::VarNotAllowed(message)) => refused("var-not-allowed", message),
            Err(RequestError::Refused(_)) => {
                // Not run: left for its lease to run out and be taken again.
                renew.abort();
                return;
            }
        },
    };
    renew.abort();
    result["tenant"] = json!(tenant);
    result["worker"] = json!(consumer);
    result["retries"] = json!(taken.retries);
    // From submit to a worker taking it, and to the result.
    result["waited_ms"] = json!(waited_ms);
    result["queued_ms"] = json!(crate::queue::now_ms().saturating_sub(job.submitted_ms));
    for attempt in 1..=3 {
        match queue.finish(&taken, &result).await {
            Ok(()) => return,
            Err(err) if attempt == 3 => {
                tracing::error!(run_id = %job.run_id, "{err}; the run will be taken again");
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

pub async fn submit(args: SubmitArgs) -> u8 {
    match submit_inner(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::HOST
        }
    }
}

async fn submit_inner(args: SubmitArgs) -> anyhow::Result<u8> {
    let queue = queue(args.config.as_deref(), Duration::from_secs(30))?;
    let mut job = Job::new(&args.spell, &args.input);
    let span = tracing::info_span!(
        target: crate::telemetry::TARGET,
        "submit",
        run_id = %job.run_id,
        spell = %job.spell,
    );
    job.traceparent = crate::telemetry::traceparent(&span);
    let waited = async {
        queue.submit(&job).await?;
        if !args.wait {
            return Ok(None);
        }
        wait_for_result(&*queue, &job.run_id, args.timeout)
            .await
            .map(Some)
    }
    .instrument(span)
    .await?;
    let Some(waited) = waited else {
        println!("{}", job.run_id);
        return Ok(exit::OK);
    };
    let Some(result) = waited else {
        anyhow::bail!(
            "no result for run {} within {}; it is queued or running (is a worker serving `{}` up?)",
            job.run_id,
            humantime::format_duration(args.timeout),
            args.spell
        );
    };
    let ok = result["ok"] == json!(true);
    if args.json {
        super::emit(&format!("{result}\n"))?;
    } else if ok {
        let mut output = result["output"].as_str().unwrap_or_default().to_owned();
        if !output.ends_with('\n') {
            output.push('\n');
        }
        super::emit(&output)?;
    }
    if ok {
        return Ok(exit::OK);
    }
    let kind = result["error"]["kind"].as_str().unwrap_or("failed");
    eprintln!(
        "error: run {} ({kind}): {}",
        job.run_id,
        result["error"]["message"].as_str().unwrap_or_default()
    );
    Ok(match kind {
        "failed" => exit::SPELL_FAILED,
        "crashed" => exit::TRAP,
        "not-a-spell" => exit::NOT_A_SPELL,
        "limit" => match result["error"]["limit"].as_str() {
            Some("fuel") => exit::FUEL,
            Some("memory") => exit::MEMORY,
            Some("output") => exit::OUTPUT,
            _ => exit::TIMEOUT,
        },
        _ => exit::HOST,
    })
}

/// The result of run `run_id`, waiting up to `within` — through outages
/// of the queue's server: the run goes on meanwhile, so the wait says what
/// is wrong once and keeps asking until its time is up.
async fn wait_for_result(
    queue: &dyn RunQueue,
    run_id: &str,
    within: Duration,
) -> anyhow::Result<Option<serde_json::Value>> {
    let deadline = tokio::time::Instant::now() + within;
    let mut failing = false;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match queue.result(run_id, left).await {
            Ok(result) => return Ok(result),
            Err(err) if left.is_zero() => return Err(err.into()),
            Err(err) => {
                if !failing {
                    eprintln!("warning: {err}; still waiting");
                    failing = true;
                }
                tokio::time::sleep(Duration::from_secs(1).min(left)).await;
            }
        }
    }
}
