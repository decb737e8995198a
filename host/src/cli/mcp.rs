//! `spellhost mcp`: the spells of `spellhost serve`, as the tools of an
//! MCP server on stdio (see `crate::mcp`).

use std::path::PathBuf;

use rmcp::ServiceExt as _;

use super::{HostArgs, exit};
use crate::mcp::SpellTools;

#[derive(clap::Args)]
pub struct McpArgs {
    /// Spells to offer as tools: component, Lua or JavaScript files, or
    /// directories of them; added to the `[serve.spells]` of the config file.
    #[arg(value_name = "SPELL|DIR")]
    spells: Vec<PathBuf>,
    /// Grant the spells given on the command line what their manifests ask for.
    #[arg(long)]
    grant_requested: bool,
    /// Default model for the spells' LLM calls.
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    #[command(flatten)]
    host: HostArgs,
}

pub async fn mcp(args: McpArgs) -> u8 {
    match mcp_inner(args).await {
        Ok(()) => exit::OK,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::HOST
        }
    }
}

async fn mcp_inner(args: McpArgs) -> anyhow::Result<()> {
    // The caller is the local user: no tokens on stdio.
    let (server, _) = super::serve::build_server(
        &args.host,
        &args.spells,
        args.model.as_deref(),
        args.grant_requested,
        true,
    )
    .await?;
    tracing::info!(
        "spellhost mcp: {} tools on stdio: {}",
        server.spells().len(),
        server
            .spells()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    let service = SpellTools::new(server)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("starting the MCP session: {e}"))?;
    service
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("the MCP session ended badly: {e}"))?;
    Ok(())
}
