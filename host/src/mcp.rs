//! `spellhost mcp`: spells as tools of a Model Context Protocol server, on
//! the official Rust SDK (`rmcp`), over stdio (how MCP clients launch
//! servers).
//!
//! Each served spell is one tool: its name, its manifest's description,
//! and its input schema (the manifest's `[spell] input_schema`, else
//! `{input: string}`). A call runs the spell exactly as `spellhost serve`
//! does — the same loading, grants, limits, admission and metrics
//! (`crate::serve::Server`) — as the local tenant, or over HTTP with
//! tokens configured, as the tenant of the request's token. A spell's own error, a
//! limit or a denial is a tool error (`isError: true`) whose text names the
//! grant or limit; an unknown tool or bad arguments are protocol errors.
//!
//! While a call runs, the client hears of it (`crate::serve::follow`):
//! - the spell's log lines and the host's denials as log notifications
//!   (`notifications/message`, at or above the level the request names in
//!   its `_meta`, else the one the client set with `logging/setLevel`,
//!   else `info`);
//! - when the call has a progress token, progress notifications: one step
//!   per event of the run (an LLM call completed, a tool called, an event
//!   the spell emitted, …) with the event's topic as the message — or, once
//!   the spell reports its own progress by emitting an event on topic
//!   `progress` with `{progress, total?, message?}`, only those (a figure
//!   not above the last one sent is dropped: progress only goes up).
//!
//! A cancelled request (`notifications/cancelled`) cancels its run.

// MCP logging is deprecated by SEP-2577, but it is still in the protocol
// clients speak and in its conformance suite.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, JsonObject, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ServerCapabilities,
    SetLevelRequestParams, Tool,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use crate::bridges::run::RunSignal;
use crate::policy::resolve::LimitOverrides;
use crate::runtime::{RunError, RunReport};
use crate::serve::follow::Seen;
use crate::serve::{RequestError, Server, Tenant};

/// The tenant MCP calls run as (a local, single-user front end).
pub const TENANT: &str = "local";

/// The tenant an HTTP request's token names (put there by
/// [`authenticate`]).
#[derive(Clone)]
pub struct Caller(pub Arc<Tenant>);

/// For MCP over HTTP with tokens configured: every request needs a known
/// bearer token (`[[serve.tokens]]`, as for `spellhost serve`), and its
/// calls run as the token's tenant. No or a wrong token: 401.
pub async fn authenticate(
    axum::extract::State(server): axum::extract::State<Arc<Server>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match server.authenticate(header) {
        Ok(tenant) => {
            request.extensions_mut().insert(Caller(tenant));
            next.run(request).await
        }
        Err(refused) => {
            server.metrics.rejected("unauthorized");
            let message = refused.message();
            let body = serde_json::json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": { "code": -32001, "message": format!("unauthorized: {message}") },
            });
            (
                http::StatusCode::UNAUTHORIZED,
                [(http::header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(body),
            )
                .into_response()
        }
    }
}

/// The MCP server of one session: the spells of a [`Server`], as tools.
#[derive(Clone)]
pub struct SpellTools {
    server: Arc<Server>,
    tenant: Arc<Tenant>,
    /// The least severe log notification the client wants.
    level: Arc<Mutex<LoggingLevel>>,
}

impl SpellTools {
    pub fn new(server: Arc<Server>) -> Self {
        let tenant = server.tenant(TENANT);
        Self {
            server,
            tenant,
            level: Arc::new(Mutex::new(LoggingLevel::Info)),
        }
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
            // Each says how to grant it, in the server's configuration.
            for denial in &report.denials {
                text.push_str(&format!("\ndenied: {}", denial.message));
            }
            CallToolResult::error(vec![ContentBlock::text(text)])
        }
    }
}

impl ServerHandler for SpellTools {
    fn get_info(&self) -> InitializeResult {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_logging()
            .build();
        InitializeResult::new(capabilities)
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

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        *self.level.lock().unwrap_or_else(|e| e.into_inner()) = request.level;
        Ok(())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let input = self.input(&name, request.arguments);
        // Over HTTP with tokens, the tenant of this request's token.
        let tenant = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .map_or_else(|| self.tenant.clone(), |caller| caller.0.clone());
        let mut pending = match self.server.prepare_run(
            tenant,
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
                let message = refused.message().to_owned();
                return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
            }
        };
        let mut follow = pending.follow();
        let mut notifier = Notifier {
            peer: context.peer.clone(),
            logger: name,
            // A request may name its own level (the protocol's newer way).
            level: match context.meta.log_level() {
                Some(level) => Arc::new(Mutex::new(level)),
                None => self.level.clone(),
            },
            progress: context.meta.get_progress_token().map(|token| Progress {
                token,
                sent: None,
                own: false,
            }),
        };
        let run = self.server.execute(pending);
        tokio::pin!(run);
        let report = loop {
            tokio::select! {
                report = &mut run => break report,
                seen = follow.next() => notifier.tell(&seen).await,
                () = context.ct.cancelled() => {
                    return Err(McpError::invalid_request("the request was cancelled", None));
                }
            }
        };
        while let Some(seen) = follow.next_queued() {
            notifier.tell(&seen).await;
        }
        Ok(tool_result(&report).into())
    }
}

/// Tells an MCP client what a tool call's run does as it goes.
struct Notifier {
    peer: Peer<RoleServer>,
    /// The tool (spell) named as the logger of its log notifications.
    logger: String,
    level: Arc<Mutex<LoggingLevel>>,
    progress: Option<Progress>,
}

/// Progress of a call that asked for it.
struct Progress {
    token: ProgressToken,
    /// The last progress sent (each must be more than the one before).
    sent: Option<f64>,
    /// Whether the spell reports its own progress (`progress` events).
    own: bool,
}

impl Notifier {
    async fn tell(&mut self, seen: &Seen) {
        match seen {
            Seen::Event(event) => {
                let own = (event.topic == "progress" && event.source.starts_with("spell:"))
                    .then(|| event.payload.get("progress").and_then(Value::as_f64))
                    .flatten();
                match own {
                    Some(progress) => {
                        let total = event.payload.get("total").and_then(Value::as_f64);
                        let message = event.payload.get("message").and_then(Value::as_str);
                        self.progress(Some(progress), total, message.map(str::to_owned), true)
                            .await;
                    }
                    // The call's start and end are the request's own.
                    None if event.topic.starts_with("spellhost.run.") => {}
                    None => {
                        self.progress(None, None, Some(event.topic.clone()), false)
                            .await
                    }
                }
            }
            Seen::Watched(watched) => match &watched.signal {
                RunSignal::Log { level, message } => {
                    let level = match *level {
                        "trace" | "debug" => LoggingLevel::Debug,
                        "info" => LoggingLevel::Info,
                        "warn" => LoggingLevel::Warning,
                        _ => LoggingLevel::Error,
                    };
                    self.log(level, Value::String(message.clone())).await;
                }
                RunSignal::Denial(denial) => {
                    let text = format!("denied: {}", denial.message);
                    self.log(LoggingLevel::Warning, Value::String(text)).await;
                }
                // MCP has no partial tool results; the answer comes whole.
                RunSignal::Token { .. } => {}
            },
            Seen::Lagged { of, missed } => {
                let text = format!("this client fell behind and missed {missed} of the run's {of}");
                self.log(LoggingLevel::Warning, Value::String(text)).await;
            }
        }
    }

    /// A log notification, if the client wants this level.
    async fn log(&self, level: LoggingLevel, data: Value) {
        let wanted = *self.level.lock().unwrap_or_else(|e| e.into_inner());
        if severity(level) < severity(wanted) {
            return;
        }
        let mut param = LoggingMessageNotificationParam::new(level, data);
        param.logger = Some(self.logger.clone());
        // A client gone is the run's business (its request is cancelled).
        let _ = self.peer.notify_logging_message(param).await;
    }

    /// A progress notification: the spell's own figure (`own`), or one
    /// step more while it reports none.
    async fn progress(
        &mut self,
        figure: Option<f64>,
        total: Option<f64>,
        message: Option<String>,
        own: bool,
    ) {
        let Some(progress) = self.progress.as_mut() else {
            return;
        };
        if own {
            progress.own = true;
        } else if progress.own {
            return;
        }
        let value = figure.unwrap_or_else(|| progress.sent.map_or(1.0, |last| last + 1.0));
        if progress.sent.is_some_and(|last| value <= last) {
            // Progress must go up: a figure that does not is dropped.
            return;
        }
        progress.sent = Some(value);
        let mut param = ProgressNotificationParam::new(progress.token.clone(), value);
        param.total = total;
        param.message = message;
        let _ = self.peer.notify_progress(param).await;
    }
}

/// MCP log levels, least severe first.
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}
