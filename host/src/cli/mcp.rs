//! `spellhost mcp`: the spells of `spellhost serve`, as the tools of an
//! MCP server on stdio or streamable HTTP (see `crate::mcp`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;

use rmcp::ServiceExt as _;

use super::exit;
use crate::mcp::SpellTools;

#[derive(clap::Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub(super) served: super::serve::ServedSpells,
    /// `stdio` (how MCP clients launch servers) or `http` (streamable HTTP
    /// at `/mcp`).
    #[arg(long, value_enum, default_value = "stdio")]
    transport: Transport,
    /// Address for `--transport http`: loopback only, unless the
    /// configuration has `[[serve.tokens]]` (then callers need one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8788")]
    listen: String,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Transport {
    Stdio,
    Http,
}

pub async fn mcp(args: McpArgs) -> u8 {
    exit::report(mcp_inner(args).await)
}

async fn mcp_inner(args: McpArgs) -> anyhow::Result<()> {
    // On stdio the caller is the local user; over HTTP, the tenant of its
    // token when the configuration has tokens, else the local user.
    let (server, _, _) = super::serve::build_server(&args.served, false).await?;
    let tools = server
        .spells()
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if args.transport == Transport::Http {
        return serve_http(server, &args.listen, &tools).await;
    }
    tracing::info!(
        "spellhost mcp: {} tools on stdio: {tools}",
        server.spells().len()
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

/// MCP over streamable HTTP at `/mcp`, until Ctrl-C.
async fn serve_http(
    server: Arc<crate::serve::Server>,
    listen: &str,
    tools: &str,
) -> anyhow::Result<()> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen}: not an address (e.g. 127.0.0.1:8788)"))?;
    let tokens = !server.options().tokens.is_empty();
    if !addr.ip().is_loopback() && !tokens {
        anyhow::bail!(
            "--listen {addr}: without tokens MCP over HTTP answers anyone who can connect, so it \
             listens on loopback addresses only (127.0.0.1, ::1); add [[serve.tokens]] to the \
             configuration to listen on {}",
            addr.ip()
        );
    }
    // The default Host check admits loopback names only (DNS rebinding); a
    // server that takes tokens elsewhere is reached by other names, and a
    // rebinding page has no token.
    let mut config = StreamableHttpServerConfig::default()
        .with_max_request_body_bytes(server.options().max_body);
    if !addr.ip().is_loopback() {
        config = config.disable_allowed_hosts();
    }
    let tools_server = server.clone();
    let service = StreamableHttpService::new(
        move || Ok(SpellTools::new(tools_server.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mut app = axum::Router::new().nest_service("/mcp", service);
    if tokens {
        app = app.layer(axum::middleware::from_fn_with_state(
            server,
            crate::mcp::authenticate,
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    eprintln!(
        "spellhost mcp: listening on http://{}/mcp (tools: {tools})",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving MCP over HTTP")
}
