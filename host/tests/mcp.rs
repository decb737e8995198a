//! `spellhost mcp` over stdio, driven by the official Rust SDK's client
//! (`rmcp`) as an MCP client application would: the binary is a child
//! process, each spell a tool.

mod support;

use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use support::fake_llm::FakeLlm;
use support::guest;

fn command(
    home: &std::path::Path,
    spells: &[String],
    env: &[(&str, String)],
) -> tokio::process::Command {
    let mut command = support::spellhost_command(home);
    command.arg("mcp").args(spells);
    let mut command = tokio::process::Command::from(command);
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn spells_are_tools_that_an_mcp_client_lists_and_calls() {
    let home = tempfile::tempdir().unwrap();
    let fake = FakeLlm::start(Duration::ZERO);
    let spells = [
        guest("echo"),
        guest("llm_chat"),
        guest("state_counter"),
        guest("hostile_sleep"),
    ]
    .map(|p| p.display().to_string());
    let env = [
        ("OPENAI_BASE_URL", fake.base_url()),
        ("OPENAI_API_KEY", "sk-test".to_owned()),
        ("SPELLHOST_MODEL", "openai/fake-model".to_owned()),
    ];
    let transport = TokioChildProcess::new(command(home.path(), &spells, &env)).unwrap();
    let client = ().serve(transport).await.expect("the MCP handshake");
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "spellhost");

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        ["echo", "hostile_sleep", "llm_chat", "state_counter"]
    );
    assert_eq!(
        serde_json::Value::Object((*tools[0].input_schema).clone()),
        json!({ "type": "object", "properties": { "input": { "type": "string" } } })
    );

    let call = |name: &str, input: &str| {
        CallToolRequestParams::new(name.to_owned())
            .with_arguments(json!({ "input": input }).as_object().unwrap().clone())
    };
    let echoed = client.call_tool(call("echo", "over MCP")).await.unwrap();
    assert_eq!(
        (text(&echoed), echoed.is_error),
        ("over MCP".to_owned(), Some(false))
    );

    let answer = client.call_tool(call("llm_chat", "hi")).await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(&text(&answer)).unwrap();
    assert_eq!(
        answer["text"], "echo: hi",
        "the spell reached the model through the host"
    );

    for expected in ["1", "2"] {
        let counted = client.call_tool(call("state_counter", "")).await.unwrap();
        assert_eq!(text(&counted), expected, "state persists between calls");
    }

    let unknown = client.call_tool(call("nope", "")).await.unwrap_err();
    assert!(unknown.to_string().contains("no spell `nope`"), "{unknown}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_limit_is_a_tool_error_that_names_it() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config/spellhost")).unwrap();
    std::fs::write(
        home.path().join("config/spellhost/spellhost.toml"),
        format!(
            "[serve.spells.sleepy]\npath = \"{}\"\nlimits = {{ timeout = \"100ms\" }}\n",
            guest("hostile_sleep").display()
        ),
    )
    .unwrap();
    let transport = TokioChildProcess::new(command(home.path(), &[], &[])).unwrap();
    let client = ().serve(transport).await.unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("sleepy"))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(
        message.contains("did not finish within 100ms") && message.contains("limits"),
        "{message}"
    );
    client.cancel().await.unwrap();
}

/// The JSON-RPC message in a streamable-HTTP answer (SSE or JSON).
fn jsonrpc_of(body: &str) -> serde_json::Value {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .chain(std::iter::once(body))
        .find_map(|d| {
            serde_json::from_str::<serde_json::Value>(d)
                .ok()
                .filter(|v| v.get("jsonrpc").is_some())
        })
        .unwrap_or_else(|| panic!("no JSON-RPC message in {body}"))
}

/// A JSON-RPC session over streamable HTTP, as a client without an SDK
/// speaks it (with a bearer token, if it has one).
struct HttpSession {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    session: Option<String>,
}

impl HttpSession {
    fn new(url: &str, token: Option<&str>) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: url.to_owned(),
            token: token.map(str::to_owned),
            session: None,
        }
    }

    async fn post(&self, body: serde_json::Value) -> reqwest::Response {
        let mut request = self
            .client
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// `initialize` and `notifications/initialized`; the server's answer.
    async fn initialize(&mut self) -> Result<serde_json::Value, reqwest::Response> {
        let init = self
            .post(
                json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": { "name": "test", "version": "1" } } }),
            )
            .await;
        if !init.status().is_success() {
            return Err(init);
        }
        self.session = Some(
            init.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let init = jsonrpc_of(&init.text().await.unwrap());
        self.post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        Ok(init)
    }

    /// `tools/call`; the JSON-RPC answer.
    async fn call(&self, tool: &str, input: &str) -> serde_json::Value {
        let called = self
            .post(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": { "name": tool, "arguments": { "input": input } } }))
            .await;
        jsonrpc_of(&called.text().await.unwrap())
    }
}

fn http_server(home: &std::path::Path, listen: &str, spells: &[String]) -> std::process::Command {
    let mut command = support::spellhost_command(home);
    command
        .args(["mcp", "--transport", "http", "--listen", listen])
        .args(spells)
        .stderr(std::process::Stdio::piped());
    command
}

#[tokio::test]
async fn streamable_http_serves_the_same_tools_on_loopback_only() {
    let home = tempfile::tempdir().unwrap();
    let mut child = http_server(
        home.path(),
        "127.0.0.1:0",
        &[guest("echo").display().to_string()],
    )
    .spawn()
    .unwrap();
    let (url, _log) = support::listening::listening_url(child.stderr.take().unwrap());
    let mut session = HttpSession::new(&url, None);
    let init = session.initialize().await.unwrap();
    assert_eq!(init["result"]["serverInfo"]["name"], "spellhost");
    let called = session.call("echo", "over HTTP").await;
    assert_eq!(
        called["result"]["content"][0]["text"], "over HTTP",
        "{called}"
    );
    let _ = child.kill();
    let _ = child.wait();

    let out = http_server(
        home.path(),
        "0.0.0.0:0",
        &[guest("echo").display().to_string()],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loopback") && stderr.contains("[[serve.tokens]]"),
        "{stderr}"
    );
}

/// With `[[serve.tokens]]` configured, MCP over HTTP takes only known
/// tokens, and each token's calls run as its tenant: state kept apart.
#[tokio::test]
async fn streamable_http_with_tokens_runs_each_caller_as_its_tenant() {
    use sha2::Digest as _;
    let home = tempfile::tempdir().unwrap();
    let digest = |token: &str| hex::encode(sha2::Sha256::digest(token.as_bytes()));
    std::fs::create_dir_all(home.path().join("config/spellhost")).unwrap();
    std::fs::write(
        home.path().join("config/spellhost/spellhost.toml"),
        format!(
            "[[serve.tokens]]\ntenant = \"acme\"\nsha256 = \"{}\"\n\n[[serve.tokens]]\ntenant = \"globex\"\nsha256 = \"{}\"\n",
            digest("acme-secret"),
            digest("globex-secret")
        ),
    )
    .unwrap();
    let mut child = http_server(
        home.path(),
        "127.0.0.1:0",
        &[guest("state_counter").display().to_string()],
    )
    .spawn()
    .unwrap();
    let (url, _log) = support::listening::listening_url(child.stderr.take().unwrap());

    for token in [None, Some("wrong")] {
        let refused = HttpSession::new(&url, token)
            .initialize()
            .await
            .unwrap_err();
        assert_eq!(refused.status(), 401);
        assert_eq!(refused.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unauthorized"),
            "{body}"
        );
    }
    let mut acme = HttpSession::new(&url, Some("acme-secret"));
    acme.initialize().await.unwrap();
    let mut globex = HttpSession::new(&url, Some("globex-secret"));
    globex.initialize().await.unwrap();
    let count = |answer: serde_json::Value| answer["result"]["content"][0]["text"].clone();
    assert_eq!(count(acme.call("state_counter", "").await), "1");
    assert_eq!(count(acme.call("state_counter", "").await), "2");
    assert_eq!(
        count(globex.call("state_counter", "").await),
        "1",
        "globex has its own state"
    );
    // A session opened with one token is not a way in without it.
    let hijack = HttpSession {
        token: None,
        session: acme.session.clone(),
        ..HttpSession::new(&url, None)
    };
    let refused = hijack
        .post(json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list" }))
        .await;
    assert_eq!(refused.status(), 401);
    let _ = child.kill();
    let _ = child.wait();
}

/// What a client hears while its calls run.
#[derive(Clone, Default)]
#[allow(deprecated)] // MCP logging (SEP-2577 deprecates it; clients still use it)
struct Heard {
    progress: std::sync::Arc<std::sync::Mutex<Vec<rmcp::model::ProgressNotificationParam>>>,
    logs: std::sync::Arc<std::sync::Mutex<Vec<rmcp::model::LoggingMessageNotificationParam>>>,
}

#[allow(deprecated)]
impl rmcp::ClientHandler for Heard {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.logs.lock().unwrap().push(params);
    }
}

impl Heard {
    /// Waits (bounded) until `count` of what `of` picks have arrived, and
    /// takes everything heard so far.
    async fn take<T: Clone>(list: &std::sync::Mutex<Vec<T>>, count: usize) -> Vec<T> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            {
                let mut heard = list.lock().unwrap();
                if heard.len() >= count {
                    return std::mem::take(&mut *heard);
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only heard {} of {count}",
                list.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn fixture(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/mcp-conformance/spells")
        .join(name)
        .display()
        .to_string()
}

/// Log lines and denials become log notifications at the level the client
/// asked for; progress comes from the run's events, or from the spell's own
/// `progress` events once it reports some.
#[tokio::test]
#[allow(deprecated)] // MCP logging (SEP-2577 deprecates it; clients still use it)
async fn a_call_is_heard_as_log_and_progress_notifications() {
    use rmcp::model::{LoggingLevel, NumberOrString, ProgressToken, RequestMetaObject};
    let home = tempfile::tempdir().unwrap();
    let steps = home.path().join("steps.lua");
    std::fs::write(
        &steps,
        "Event.emit('step.one', {})\nEvent.emit('step.two', {})\n\
         local ok, err = pcall(State.shared('team').get, 'k')\nreturn 'two steps'\n",
    )
    .unwrap();
    let spells = [
        fixture("test_tool_with_logging.lua"),
        fixture("test_tool_with_progress.lua"),
        steps.display().to_string(),
    ];
    let heard = Heard::default();
    let transport = TokioChildProcess::new(command(home.path(), &spells, &[])).unwrap();
    let client = heard.clone().serve(transport).await.unwrap();
    let with_progress = |tool: &'static str, token: &str| {
        let mut params = CallToolRequestParams::new(tool);
        params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            NumberOrString::String(token.to_owned().into()),
        )));
        params
    };

    // Logs at the default level (info), each naming its tool.
    let result = client
        .call_tool(CallToolRequestParams::new("test_tool_with_logging"))
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let logs = Heard::take(&heard.logs, 3).await;
    let lines: Vec<_> = logs
        .iter()
        .map(|l| (l.level, l.logger.clone().unwrap(), l.data.clone()))
        .collect();
    assert_eq!(
        lines,
        [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed"
        ]
        .map(|m| (
            LoggingLevel::Info,
            "test_tool_with_logging".to_owned(),
            json!(m)
        ))
    );

    // The spell's own progress, in order, with its total and message.
    client
        .call_tool(with_progress("test_tool_with_progress", "p1"))
        .await
        .unwrap();
    let progress = Heard::take(&heard.progress, 3).await;
    let figures: Vec<_> = progress
        .iter()
        .map(|p| (p.progress, p.total, p.message.clone()))
        .collect();
    assert_eq!(
        figures,
        [
            (0.0, Some(100.0), None),
            (50.0, Some(100.0), Some("half way".to_owned())),
            (100.0, Some(100.0), None)
        ]
    );
    // (The rmcp client puts its own token on each call.)
    let token = &progress[0].progress_token;
    assert!(progress.iter().all(|p| &p.progress_token == token));

    // No progress reported by the spell: one step per event, and the
    // denial as a warning in the server's terms.
    client
        .call_tool(with_progress("steps", "p2"))
        .await
        .unwrap();
    let progress = Heard::take(&heard.progress, 2).await;
    let steps: Vec<_> = progress
        .iter()
        .map(|p| (p.progress, p.message.clone().unwrap()))
        .collect();
    assert_eq!(
        steps[..2],
        [(1.0, "step.one".to_owned()), (2.0, "step.two".to_owned())]
    );
    let logs = Heard::take(&heard.logs, 1).await;
    assert_eq!(logs[0].level, LoggingLevel::Warning);
    let denial = logs[0].data.as_str().unwrap();
    assert!(
        denial.contains(r#"[serve.spells.steps] grants, state_namespaces = ["team"]"#),
        "{denial}"
    );

    // Above the level the client set, nothing is sent.
    client
        .set_level(rmcp::model::SetLevelRequestParams::new(LoggingLevel::Error))
        .await
        .unwrap();
    client
        .call_tool(CallToolRequestParams::new("test_tool_with_logging"))
        .await
        .unwrap();
    client
        .call_tool(CallToolRequestParams::new("steps"))
        .await
        .unwrap();
    assert!(
        heard.logs.lock().unwrap().is_empty(),
        "{:?}",
        heard.logs.lock().unwrap()
    );
    client.cancel().await.unwrap();
}
