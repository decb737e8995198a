//! `spellhost mcp`: spells as tools of a Model Context Protocol server, on
//! the official Rust SDK (`rmcp`), over stdio (how MCP clients launch
//! servers).
//!
//! Each served spell is one tool: its name, its manifest's description,
//! and its input schema (the manifest's `[spell] input_schema`, else
//! `{input: string}`). A call runs the spell exactly as `spellhost serve`
//! does — the same loading, grants, limits, admission and metrics
//! (`crate::serve::Server`) — as the local tenant. A spell's own error, a
//! limit or a denial is a tool error (`isError: true`) whose text names the
//! grant or limit; an unknown tool or bad arguments are protocol errors.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use crate::policy::resolve::LimitOverrides;
use crate::runtime::{RunError, RunReport};
use crate::serve::{RequestError, Server, Tenant};

/// The tenant MCP calls run as (a local, single-user front end).
pub const TENANT: &str = "local";

/// The MCP server: the spells of a [`Server`], as tools.
#[derive(Clone)]
pub struct SpellTools {
    server: Arc<Server>,
    tenant: Arc<Tenant>,
}

impl SpellTools {
    pub fn new(server: Arc<Server>) -> Self {
        let tenant = server.tenant(TENANT);
        Self { server, tenant }
    }

    /// The tools: one per spell.
    pub fn tools(&self) -> Vec<Tool> {
        self.server
            .spells()
            .iter()
            .map(|(name, served)| {
                let schema = served
                    .input_schema
                    .clone()
                    .unwrap_or_else(crate::serve::default_input_schema);
                let schema: JsonObject = match schema {
                    Value::Object(map) => map,
                    _ => JsonObject::new(),
                };
                let description = served
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("Runs the spell `{name}`."));
                Tool::new(name.clone(), description, Arc::new(schema))
            })
            .collect()
    }

    /// What a spell's tool call passes as the spell's input: the `input`
    /// argument of the default schema, else all arguments as JSON text.
    fn input(&self, name: &str, arguments: Option<JsonObject>) -> String {
        let declared = self
            .server
            .spells()
            .get(name)
            .is_some_and(|s| s.input_schema.is_some());
        match arguments {
            None => String::new(),
            Some(arguments) if !declared => match arguments.get("input") {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
            Some(arguments) => Value::Object(arguments).to_string(),
        }
    }
}

/// A finished run as a tool result.
pub fn tool_result(report: &RunReport) -> CallToolResult {
    match &report.result {
        Ok(output) => CallToolResult::success(vec![ContentBlock::text(output.clone())]),
        Err(err) => {
            let mut text = match err {
                RunError::Limit(limit) => format!(
                    "{}; the server's limits for this spell set it ([serve.spells.NAME.limits])",
                    limit.summary()
                ),
                other => other.to_string(),
            };
            for denial in &report.denials {
                text.push_str(&format!("\ndenied: {}", denial.message));
                if let Some(grant) = &denial.grant {
                    text.push_str(&format!(
                        " (grant it in [serve.spells.NAME] grants: {})",
                        grant.config_key()
                    ));
                }
            }
            CallToolResult::error(vec![ContentBlock::text(text)])
        }
    }
}

impl ServerHandler for SpellTools {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("spellhost", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Each tool runs one spellhost spell — an LLM program in a WebAssembly sandbox — \
                 with the grants and limits its server configuration gives it.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let input = self.input(&name, request.arguments);
        let pending = match self.server.prepare_run(
            self.tenant.clone(),
            &name,
            input,
            &Default::default(),
            LimitOverrides::default(),
        ) {
            Ok(pending) => pending,
            Err(RequestError::UnknownSpell(message)) => {
                return Err(McpError::invalid_params(message, None));
            }
            Err(RequestError::VarNotAllowed(message)) => {
                return Err(McpError::invalid_params(message, None));
            }
            Err(RequestError::Refused(refused)) => {
                let message = match refused {
                    crate::serve::Refusal::Busy(m) | crate::serve::Refusal::Unauthorized(m) => m,
                };
                return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
            }
        };
        let report = self.server.execute(pending).await;
        Ok(tool_result(&report).into())
    }
}
