//! `spellhost state du`: what each state namespace holds, next to the
//! quota a run gets by default — on whichever store is configured.

use std::io::Write as _;

use anyhow::Context as _;

use super::HostArgs;
use crate::limits::{Limits, human_size};

#[derive(clap::Args)]
pub struct StateArgs {
    #[command(subcommand)]
    command: StateCommand,
}

#[derive(clap::Subcommand)]
enum StateCommand {
    /// Show the bytes and keys each namespace holds (`spell/NAME`,
    /// `shared/NAME`, `tenant/…`), largest first.
    Du(DuArgs),
}

#[derive(clap::Args)]
struct DuArgs {
    /// Only namespaces starting with PREFIX (e.g. `spell/`, `shared/team`).
    #[arg(value_name = "PREFIX", default_value = "")]
    prefix: String,
    /// Print JSON: a list of {namespace, bytes, keys}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    host: HostArgs,
}

pub async fn state(args: StateArgs) -> u8 {
    match args.command {
        StateCommand::Du(args) => super::exit::report(du(args).await),
    }
}

async fn du(args: DuArgs) -> anyhow::Result<()> {
    let (store, shown) = args.host.state_store()?;
    let mut usage = store
        .usage(&args.prefix)
        .await
        .with_context(|| format!("reading state usage from {shown}"))?;
    usage.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then_with(|| a.0.cmp(&b.0)));
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = usage
            .iter()
            .map(|(namespace, u)| {
                serde_json::json!({ "namespace": namespace, "bytes": u.bytes, "keys": u.keys })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    let defaults = Limits::default();
    writeln!(
        out,
        "state in {shown} (default quota per namespace: {} and {} keys; --state-quota, --state-keys)",
        human_size(defaults.state_bytes),
        defaults.state_keys
    )?;
    if usage.is_empty() {
        writeln!(out, "no namespace holds anything")?;
        return Ok(());
    }
    let width = usage.iter().map(|(n, _)| n.len()).max().unwrap_or(9).max(9);
    writeln!(
        out,
        "{:<width$}  {:>12}  {:>8}",
        "NAMESPACE", "BYTES", "KEYS"
    )?;
    for (namespace, u) in &usage {
        let name = super::market::clean(namespace);
        writeln!(out, "{name:<width$}  {:>12}  {:>8}", u.bytes, u.keys)?;
    }
    Ok(())
}
