//! Running script spells (Lua, JavaScript) in tests: a runtime wired to a
//! fake OpenAI-compatible server on 127.0.0.1 and temporary state, and
//! the scripts under `tests/lua/` and `tests/js/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spellhost::bridges::llm::ModelRouter;
use spellhost::bridges::llm::openai::{OpenAiConfig, OpenAiProvider};
use spellhost::bridges::state::SqliteStore;
use spellhost::limits::Limits;
use spellhost::runtime::{RunError, RunReport, Runtime, Spell, SpellConfig};
use spellhost::scripts::{Language, Modules, ScriptSource};

use super::fake_llm::FakeLlm;

pub struct ScriptHost {
    pub runtime: Runtime,
    pub language: Language,
    _fake: FakeLlm,
    _dir: tempfile::TempDir,
}

impl ScriptHost {
    /// A host whose fake model waits `delay` before each answer.
    pub fn with_delay(language: Language, delay: Duration) -> Self {
        let fake = FakeLlm::start(delay);
        let mut config = OpenAiConfig::new("fake", fake.base_url());
        config.http.request_timeout = Duration::from_secs(10);
        let router = ModelRouter::new()
            .with_provider(Arc::new(OpenAiProvider::new(config).unwrap()))
            .with_default_model(Some("fake/fake-model".into()));
        let dir = tempfile::tempdir().unwrap();
        Self {
            runtime: super::test_runtime()
                .router(router)
                .state(SqliteStore::new(dir.path().join("state.sqlite3")))
                .build()
                .unwrap(),
            language,
            _fake: fake,
            _dir: dir,
        }
    }

    pub fn new(language: Language) -> Self {
        Self::with_delay(language, Duration::ZERO)
    }

    /// Loads `code` as the script `name` (a single file: no modules).
    pub fn load(&self, name: &str, code: &str, config: SpellConfig) -> Spell {
        self.load_with(name, code, config, Modules::None)
    }

    /// Loads `code` as the script `name`, its modules from `modules`.
    pub fn load_with(
        &self,
        name: &str,
        code: &str,
        config: SpellConfig,
        modules: Modules,
    ) -> Spell {
        let source = ScriptSource {
            name: name.into(),
            code: code.into(),
            modules,
            purpose: Default::default(),
        };
        let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
        self.runtime
            .load_script(stem, self.language, source, config)
            .unwrap()
    }

    /// Runs `code` as the script `name`.
    pub async fn run(
        &self,
        name: &str,
        code: &str,
        config: SpellConfig,
        limits: Limits,
    ) -> RunReport {
        let spell = self.load(name, code, config);
        self.runtime.run(&spell, "", &limits).await
    }

    /// The error of `code` run as the script `name` with no grants and the
    /// default limits (the run must fail).
    pub async fn fails(&self, name: &str, code: &str) -> RunError {
        failure(
            self.run(name, code, SpellConfig::default(), Limits::default())
                .await,
        )
    }

    /// Runs `tests/<lang>/<name>`, which checks itself and returns "ok".
    pub async fn check(&self, name: &str, config: SpellConfig) {
        let dir = match self.language {
            Language::Lua => "lua",
            Language::JavaScript => "js",
        };
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests")
            .join(dir)
            .join(name);
        let code = std::fs::read_to_string(&path).unwrap();
        // Named as `spellhost run` names it: by its file name, its modules
        // by their paths in its directory.
        let file = path.file_name().unwrap().to_str().unwrap();
        let spell = self.load_with(file, &code, config, Modules::beside(&path));
        let report = self.runtime.run(&spell, "", &Limits::default()).await;
        match report.result {
            Ok(out) => assert_eq!(out, "ok", "{name} returned something else"),
            Err(e) => panic!("{name} failed:\n{e}"),
        }
    }
}

/// The error of a run that must fail.
pub fn failure(report: RunReport) -> RunError {
    match report.result {
        Ok(out) => panic!("expected a failure, got output {out:?}"),
        Err(e) => e,
    }
}

/// Runaway scripts end on the host's limits: `spin` (an endless loop) runs
/// out of fuel, and out of time when fuel is plentiful; `hog` (endless
/// allocation) hits the memory limit.
pub async fn runaway_code_hits_every_limit(language: Language, spin: &str, hog: &str) {
    use spellhost::limits::LimitExceeded;
    let host = ScriptHost::new(language);
    let fails = async |code: &str, limits: Limits| {
        failure(
            host.run("runaway", code, SpellConfig::default(), limits)
                .await,
        )
    };

    let fuel = Limits {
        fuel: 50_000_000,
        ..Limits::default()
    };
    let err = fails(spin, fuel).await;
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Fuel { .. })),
        "{err}"
    );

    let deadline = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let err = fails(spin, deadline).await;
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Timeout { .. })),
        "{err}"
    );

    let memory = Limits {
        memory_bytes: 32 * 1024 * 1024,
        ..Limits::default()
    };
    let err = fails(hog, memory).await;
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Memory { .. })),
        "{err}"
    );
}

/// A script that holds 1000 handles at once (`code`: timers, subscriptions)
/// stops at a handle limit of 200 with the limit's own error — no trap,
/// no backtrace — and runs under the default limit: the legitimate use.
pub async fn handle_leaks_stop_at_the_handle_limit(language: Language, code: &str) {
    use spellhost::limits::LimitExceeded;
    let host = ScriptHost::new(language);
    let tight = Limits {
        max_handles: 200,
        ..Limits::default()
    };
    let err = failure(host.run("leak", code, SpellConfig::default(), tight).await);
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Handles { limit: 200 })),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("--max-handles 800"), "{message}");
    assert!(!message.contains("wasm backtrace"), "{message}");
    let report = host
        .run("leak", code, SpellConfig::default(), Limits::default())
        .await;
    assert_eq!(report.result.unwrap(), "held 1000");
}

/// Floods of the host's work stop at their limits. `log_code` prints 1000
/// lines of 10 KiB and returns "logged 1000": past a 1 MiB `--max-log` the
/// run ends with the log limit, under the default it runs. `event_code`
/// emits 5000 events, returning "sent N, then: ERROR" at the first
/// refusal, else "sent 5000": at 100 a second the burst stops after 100
/// with an error naming the flag; granted 10 000 a second, all go out.
pub async fn floods_stop_at_the_log_and_event_limits(
    language: Language,
    log_code: &str,
    event_code: &str,
) {
    use spellhost::limits::LimitExceeded;
    let host = ScriptHost::new(language);
    let config = SpellConfig::default;
    let tight = Limits {
        max_log_bytes: 1 << 20,
        ..Limits::default()
    };
    let err = failure(host.run("flood", log_code, config(), tight).await);
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Log { limit }) if limit == 1 << 20),
        "{err}"
    );
    assert!(err.to_string().contains("--max-log 4MiB"), "{err}");
    let report = host
        .run("flood", log_code, config(), Limits::default())
        .await;
    assert_eq!(report.result.unwrap(), "logged 1000");

    let slow = Limits {
        max_event_rate: 100,
        ..Limits::default()
    };
    let out = host
        .run("flood", event_code, config(), slow)
        .await
        .result
        .unwrap();
    let sent: u32 = out["sent ".len()..out.find(',').unwrap_or(out.len())]
        .parse()
        .unwrap();
    assert!((100..1000).contains(&sent), "{out}");
    assert!(out.contains("denied"), "{out}");
    assert!(out.contains("--max-event-rate 400"), "{out}");
    let granted = Limits {
        max_event_rate: 10_000,
        ..Limits::default()
    };
    let report = host.run("flood", event_code, config(), granted).await;
    assert_eq!(report.result.unwrap(), "sent 5000");
}

/// Tool calls started together run together: `code` calls `http_fetch` on
/// `config.get("url")` (which answers after 400 ms) four times at once,
/// checks the pages and the errors of a denied host and an unknown tool,
/// and returns "4 pages". One after another the calls would take 1.6 s.
pub async fn tool_calls_run_together(language: Language, name: &str, code: &str) {
    let web = super::web::WebServer::start();
    let config = SpellConfig {
        vars: [("url".to_string(), web.url("/slow?ms=400"))].into(),
        grants: spellhost::policy::Grants {
            net: vec![format!("127.0.0.1:{}", web.port())],
            ..Default::default()
        },
        ..Default::default()
    };
    let host = ScriptHost::new(language);
    let spell = host.load(name, code, config);
    let started = std::time::Instant::now();
    let report = host.runtime.run(&spell, "", &Limits::default()).await;
    let elapsed = started.elapsed();
    assert_eq!(report.result.unwrap(), "4 pages");
    assert_eq!(web.hits().len(), 4, "{:?}", web.hits());
    assert!(
        elapsed < Duration::from_millis(1200),
        "four 400 ms tool calls took {elapsed:?}: not concurrent"
    );
}
