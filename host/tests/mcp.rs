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

#[tokio::test]
async fn streamable_http_serves_the_same_tools_on_loopback_only() {
    let home = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spellhost"));
    command
        .args(["mcp", "--transport", "http", "--listen", "127.0.0.1:0"])
        .arg(guest("echo"))
        .env("SPELLHOST_DATA_DIR", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .current_dir(home.path())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let (url, _log) = support::listening::listening_url(child.stderr.take().unwrap());
    let client = reqwest::Client::new();
    let post = |body: serde_json::Value, session: Option<&str>| {
        let mut request = client
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let init = post(
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": { "name": "test", "version": "1" } } }),
        None,
    )
    .await
    .unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let init = jsonrpc_of(&init.text().await.unwrap());
    assert_eq!(init["result"]["serverInfo"]["name"], "spellhost");
    post(
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        Some(&session),
    )
    .await
    .unwrap();
    let called = post(
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": { "name": "echo", "arguments": { "input": "over HTTP" } } }),
        Some(&session),
    )
    .await
    .unwrap();
    let called = jsonrpc_of(&called.text().await.unwrap());
    assert_eq!(
        called["result"]["content"][0]["text"], "over HTTP",
        "{called}"
    );
    let _ = child.kill();
    let _ = child.wait();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spellhost"))
        .args(["mcp", "--transport", "http", "--listen", "0.0.0.0:0"])
        .arg(guest("echo"))
        .env("SPELLHOST_DATA_DIR", home.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}
