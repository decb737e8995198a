//! `spellhost serve` over real sockets: the binary as a process on
//! 127.0.0.1, a real HTTP client. What a server must do — run spells for
//! many callers, keep tenants apart, turn away what it cannot take with a
//! clear error, stream a run's events, cancel a run whose client left,
//! drain on SIGTERM.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_llm::FakeLlm;
use support::guest;

/// A running `spellhost serve`; killed when dropped.
struct Serve {
    child: Child,
    url: String,
    /// What it printed on stderr after its address.
    log: support::listening::Log,
    _home: tempfile::TempDir,
}

impl Serve {
    /// Starts the server with `args` and `config` (spellhost.toml text),
    /// `env` added; waits for its "listening on" line.
    fn start(args: &[&str], config: &str, env: &[(&str, &str)]) -> Serve {
        let home = tempfile::tempdir().unwrap();
        let config_path = home.path().join("spellhost.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut command = support::spellhost_command(home.path());
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("starting spellhost serve");
        let (url, log) = support::listening::listening_url(child.stderr.take().unwrap());
        Serve {
            child,
            url,
            log,
            _home: home,
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    async fn run(&self, spell: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        // A bound, so a limit the server failed to enforce fails the test
        // instead of hanging it.
        let mut request = reqwest::Client::new()
            .post(self.at(&format!("/v1/spells/{spell}/runs")))
            .timeout(Duration::from_secs(60))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Runs `spell` with `Accept: text/event-stream`: each SSE event's
    /// name and data, and the stream's text (for messages).
    async fn stream(&self, spell: &str, body: Value) -> (Vec<(String, Value)>, String) {
        let text = reqwest::Client::new()
            .post(self.at(&format!("/v1/spells/{spell}/runs")))
            .header("accept", "text/event-stream")
            .timeout(Duration::from_secs(60))
            .json(&body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let events = text
            .split("\n\n")
            .filter_map(|block| {
                let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
                let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
                Some((name.to_owned(), serde_json::from_str(data).unwrap()))
            })
            .collect();
        (events, text)
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(self.at("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Waits until `runs_in_flight` is `n` (polling the server, bounded).
    async fn until_in_flight(&self, n: f64, within: Duration) {
        let deadline = Instant::now() + within;
        while self.metric("spellhost_runs_in_flight ").await != n {
            assert!(Instant::now() < deadline, "runs in flight never became {n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn g(name: &str) -> String {
    guest(name).display().to_string()
}

fn sha256(token: &str) -> String {
    spellhost::serve::config::token_digest(token)
}

#[tokio::test]
async fn serves_components_and_scripts_and_lists_them() {
    let lua = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spells/hello.lua");
    let dir = tempfile::tempdir().unwrap();
    let shout = dir.path().join("shout.js");
    std::fs::write(
        &shout,
        "export default function run(input) { return input.toUpperCase() + '!'; }\n",
    )
    .unwrap();
    let serve = Serve::start(
        &[
            "--anonymous",
            &g("echo"),
            lua.to_str().unwrap(),
            shout.to_str().unwrap(),
        ],
        "",
        &[],
    );
    // Many JS runs at once: the interpreter's instances come from the
    // server's instance pool and go back to it.
    let runs: Vec<_> = (0..24)
        .map(|i| serve.run("shout", None, json!({ "input": format!("run {i}") })))
        .collect();
    for (i, (status, out)) in futures::future::join_all(runs)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            (status, out["output"].clone()),
            (200, json!(format!("RUN {i}!"))),
            "{out}"
        );
    }
    assert_eq!(
        reqwest::get(serve.at("/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok\n"
    );
    let (status, out) = serve
        .run("echo", None, json!({ "input": "hi there" }))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (out["ok"].clone(), out["output"].clone()),
        (json!(true), json!("hi there"))
    );
    assert_eq!(out["run_id"], out["stats"]["run_id"]);
    let (_, out) = serve
        .run("echo", None, json!({ "input": { "a": 1 } }))
        .await;
    assert_eq!(
        out["output"], r#"{"a":1}"#,
        "JSON input arrives as its text"
    );
    let list: Value = reqwest::get(serve.at("/v1/spells"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["spells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "hello", "shout"]);
    assert_eq!(
        list["spells"][0]["input_schema"]["properties"]["input"]["type"],
        "string"
    );
    let metrics = reqwest::get(serve.at("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("spellhost_runs_total{spell=\"echo\",outcome=\"ok\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_run_nothing() {
    let config = format!(
        "[serve]\nmax_body = \"1KiB\"\n[[serve.tokens]]\ntenant = \"acme\"\nsha256 = \"{}\"\n[serve.spells.echo]\npath = \"{}\"\nallowed_vars = [\"lang\"]\n",
        sha256("acme-token"),
        g("echo")
    );
    let serve = Serve::start(&[], &config, &[]);
    let token = Some("acme-token");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = {
        let client = reqwest::Client::new();
        let post = |spell: &str| client.post(serve.at(&format!("/v1/spells/{spell}/runs")));
        vec![
            (
                post("echo").json(&json!({ "input": "x" })),
                401,
                "unauthorized",
            ),
            (
                post("echo").bearer_auth("wrong").json(&json!({})),
                401,
                "unauthorized",
            ),
            (
                post("echo").bearer_auth("acme-token").body("{not json"),
                400,
                "bad-request",
            ),
            (
                post("echo")
                    .bearer_auth("acme-token")
                    .json(&json!({ "inptu": "x" })),
                400,
                "bad-request",
            ),
            (
                post("nope").bearer_auth("acme-token").json(&json!({})),
                404,
                "unknown-spell",
            ),
            (
                post("echo")
                    .bearer_auth("acme-token")
                    .json(&json!({ "vars": { "admin": "1" } })),
                400,
                "var-not-allowed",
            ),
            (
                post("echo")
                    .bearer_auth("acme-token")
                    .json(&json!({ "input": "x".repeat(4096) })),
                413,
                "too-large",
            ),
            (
                post("echo")
                    .bearer_auth("acme-token")
                    .json(&json!({ "limits": { "timeout": "soon" } })),
                400,
                "bad-request",
            ),
        ]
    };
    for (request, status, kind) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{kind}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["kind"], kind, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 10,
            "{body}"
        );
    }
    let (status, out) = serve
        .run(
            "echo",
            token,
            json!({ "input": "ok", "vars": { "lang": "en" } }),
        )
        .await;
    assert_eq!((status, out["output"].clone()), (200, json!("ok")));
    assert_eq!(
        serve
            .metric("spellhost_runs_total{spell=\"echo\",outcome=\"ok\"} ")
            .await,
        1.0,
        "nothing else ran"
    );
}

#[tokio::test]
async fn tenants_keep_their_own_state() {
    let config = format!(
        "[[serve.tokens]]\ntenant = \"acme\"\nsha256 = \"{}\"\n[[serve.tokens]]\ntenant = \"globex\"\nsha256 = \"{}\"\n",
        sha256("a"),
        sha256("g")
    );
    let serve = Serve::start(&[&g("state_counter")], &config, &[]);
    for expected in ["1", "2", "3"] {
        let (_, out) = serve.run("state_counter", Some("a"), json!({})).await;
        assert_eq!(out["output"], expected);
    }
    let (_, out) = serve.run("state_counter", Some("g"), json!({})).await;
    assert_eq!(out["output"], "1", "globex does not see acme's counter");
}

#[tokio::test]
async fn runs_beyond_the_bound_get_429_and_a_client_that_leaves_cancels_its_run() {
    let serve = Serve::start(
        &["--anonymous", &g("hostile_sleep")],
        "[serve]\nmax_concurrent_runs = 1\n",
        &[],
    );
    let client = reqwest::Client::new();
    let sleeper = tokio::spawn(
        client
            .post(serve.at("/v1/spells/hostile_sleep/runs"))
            .json(&json!({ "limits": { "timeout": "60s" } }))
            .send(),
    );
    serve.until_in_flight(1.0, Duration::from_secs(20)).await;
    let response = client
        .post(serve.at("/v1/spells/hostile_sleep/runs"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "busy");
    // The first client goes away: its run is cancelled, long before its
    // 60 s deadline, and the slot is free again.
    sleeper.abort();
    serve.until_in_flight(0.0, Duration::from_secs(10)).await;
    assert_eq!(
        serve
            .metric("spellhost_runs_total{spell=\"hostile_sleep\",outcome=\"cancelled\"} ")
            .await,
        1.0
    );
    let (status, out) = serve
        .run(
            "hostile_sleep",
            None,
            json!({ "limits": { "timeout": "50ms" } }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(out["error"]["kind"], "limit");
    assert_eq!(out["error"]["limit"], "timeout");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server's limits"),
        "{out}"
    );
}

#[tokio::test]
async fn a_request_may_lower_limits_but_not_raise_them() {
    let config = format!(
        "[serve]\nanonymous = true\n[serve.spells.sleepy]\npath = \"{}\"\nlimits = {{ timeout = \"200ms\" }}\n",
        g("hostile_sleep")
    );
    let serve = Serve::start(&[], &config, &[]);
    let started = Instant::now();
    let (_, out) = serve
        .run("sleepy", None, json!({ "limits": { "timeout": "1h" } }))
        .await;
    assert_eq!(out["error"]["limit"], "timeout", "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the server's 200 ms held"
    );
}

#[tokio::test]
async fn sse_streams_the_runs_events_in_order_then_the_result() {
    let fake = FakeLlm::start(Duration::ZERO);
    let serve = Serve::start(
        &[
            "--anonymous",
            "--model",
            "openai/fake-model",
            &g("llm_chat"),
        ],
        "",
        &[
            ("OPENAI_BASE_URL", &fake.base_url()),
            ("OPENAI_API_KEY", "sk-test"),
        ],
    );
    let (events, text) = serve.stream("llm_chat", json!({ "input": "hello" })).await;
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "spellhost.run.started",
            "spellhost.llm.completed",
            "spellhost.run.finished",
            "result"
        ],
        "{text}"
    );
    let data: Vec<Value> = events.into_iter().map(|(_, data)| data).collect();
    let result = data.last().unwrap();
    let output: Value = serde_json::from_str(result["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["text"], "echo: hello");
    for event in &data[..3] {
        assert_eq!(event["run_id"], result["run_id"], "{event}");
        assert_eq!(event["payload"]["tenant"], "anonymous");
    }
}

/// SSE also carries what a run shows besides events: its log lines, the
/// pieces of a streamed answer, and its denials — each naming the run, the
/// denial in the server's terms (its config key, never a CLI flag).
#[tokio::test]
async fn sse_streams_log_lines_streamed_text_and_denials() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("shows.lua");
    std::fs::write(
        &script,
        r#"log.info("starting on " .. ...)
print("printed", 1)
local text = ""
for piece in llm.stream { prompt = ... } do text = text .. piece end
log.warn("streamed " .. #text .. " bytes")
local ok, err = pcall(State.shared("team").get, "k")
assert(not ok and err.kind == "denied")
io.write("unterminated")
return text .. " | " .. err.message
"#,
    )
    .unwrap();
    let serve = Serve::start(
        &[
            "--anonymous",
            "--model",
            "openai/fake-model",
            script.to_str().unwrap(),
        ],
        "",
        &[
            ("OPENAI_BASE_URL", &fake.base_url()),
            ("OPENAI_API_KEY", "sk-test"),
        ],
    );
    let (events, text) = serve
        .stream("shows", json!({ "input": "one two three" }))
        .await;
    let (last, result) = events.last().unwrap();
    assert_eq!(last, "result", "{text}");
    let of = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|(name, _)| *name == kind)
            .map(|(_, data)| data)
            .collect()
    };
    // What the spell prints becomes log lines of its run, line by line
    // (the last, unterminated one when the run ends).
    let logs = of("log");
    let lines: Vec<(&str, &str)> = logs
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        [
            ("info", "starting on one two three"),
            ("info", "printed\t1"),
            ("warn", "streamed 19 bytes"),
            ("info", "unterminated"),
        ],
        "{text}"
    );
    let streamed: String = of("token")
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "echo: one two three", "{text}");
    assert!(of("token").len() > 1, "streamed in pieces: {text}");
    assert!(
        of("token")
            .iter()
            .all(|t| t["model"] == "openai/fake-model")
    );
    let denials = of("denial");
    assert_eq!(denials.len(), 1, "{text}");
    assert_eq!(
        denials[0]["grant"],
        json!({ "kind": "state-namespace", "value": "team" })
    );
    let message = denials[0]["message"].as_str().unwrap();
    assert!(
        message.contains(r#"[serve.spells.shows] grants, state_namespaces = ["team"]"#)
            && !message.contains("--allow"),
        "{message}"
    );
    // The spell got the same words.
    let output = result["output"].as_str().unwrap();
    assert!(output.ends_with(message), "{output}");
    for (_, data) in &events[..events.len() - 1] {
        assert_eq!(data["run_id"], result["run_id"], "{data}");
    }
}

/// A server's log lines name their run, so the log of many runs can be
/// split by run.
#[tokio::test]
async fn log_lines_name_their_run() {
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("chatty.lua");
    std::fs::write(&script, "log.info('hello from ' .. ...)\nreturn 'done'\n").unwrap();
    let serve = Serve::start(&["--anonymous", script.to_str().unwrap()], "", &[]);
    let (_, out) = serve.run("chatty", None, json!({ "input": "a run" })).await;
    assert_eq!(out["output"], "done", "{out}");
    let run_id = out["run_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = serve.log.lock().unwrap().clone();
        if let Some(line) = log.iter().find(|l| l.contains("hello from a run")) {
            assert!(line.contains(&format!("run_id={run_id}")), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "no log line: {log:?}");
        drop(log);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `--watch`: a spell file that changes is served in its new version
/// without a restart; one that no longer loads leaves the old one serving.
#[tokio::test]
async fn a_changed_spell_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let spell = dir.path().join("live.wasm");
    std::fs::copy(guest("echo"), &spell).unwrap();
    let serve = Serve::start(
        &["--anonymous", "--watch", spell.to_str().unwrap()],
        "",
        &[],
    );
    let (_, out) = serve.run("live", None, json!({ "input": "v1" })).await;
    assert_eq!(out["output"], "v1");
    let wait_for = |what: &'static str| {
        let log = serve.log.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !log.lock().unwrap().iter().any(|l| l.contains(what)) {
                assert!(Instant::now() < deadline, "the server never said `{what}`");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    std::fs::write(&spell, b"not a component").unwrap();
    wait_for("still serving the previous version").await;
    let (_, out) = serve.run("live", None, json!({ "input": "still" })).await;
    assert_eq!(out["output"], "still", "the old version serves on");
    std::fs::copy(guest("config_vars"), &spell).unwrap();
    wait_for("reloaded `live`").await;
    let (_, out) = serve.run("live", None, json!({ "input": "x" })).await;
    assert_eq!(out["output"], "[]", "the new version answers: {out}");
}

#[tokio::test]
async fn denials_come_back_as_data() {
    let serve = Serve::start(&["--anonymous", &g("hostile_http_unlisted")], "", &[]);
    let (_, out) = serve
        .run("hostile_http_unlisted", None, json!({ "input": "9" }))
        .await;
    assert!(
        out["output"].as_str().unwrap().starts_with("blocked"),
        "{out}"
    );
    assert_eq!(
        out["denials"][0]["grant"],
        json!({ "kind": "net", "value": "localhost:9" }),
        "{out}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_running_runs_finish_then_exits() {
    let mut serve = Serve::start(&["--anonymous", &g("hostile_sleep")], "", &[]);
    let client = reqwest::Client::new();
    let running = tokio::spawn(
        client
            .post(serve.at("/v1/spells/hostile_sleep/runs"))
            .json(&json!({ "limits": { "timeout": "4s" } }))
            .send(),
    );
    serve.until_in_flight(1.0, Duration::from_secs(20)).await;
    let pid = serve.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // While the run drains, new requests are not taken.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let probe = client
            .get(serve.at("/healthz"))
            .timeout(Duration::from_millis(500))
            .send()
            .await;
        if probe.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still taking requests after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!running.is_finished(), "the run was still draining");
    let response = running
        .await
        .unwrap()
        .expect("the running request was answered");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["limit"], "timeout",
        "it ran to its own end: {body}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_tenant_name_that_could_reach_another_tenants_state_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("spellhost.toml");
    for tenant in ["acme/shared/x", "", "anonymous"] {
        std::fs::write(
            &config,
            format!(
                "[[serve.tokens]]\ntenant = \"{tenant}\"\nsha256 = \"{}\"\n",
                sha256("t")
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_spellhost"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg(g("echo"))
            .env("SPELLHOST_DATA_DIR", home.path().join("data"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5), "{tenant}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("tenant `{tenant}`")), "{stderr}");
    }
}
