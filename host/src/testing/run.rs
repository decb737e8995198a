//! Runs a suite's tests: each a real run of the spell in the sandbox, with
//! the model replaced by the test's replies (or, recording, by the real
//! provider), its own empty state, and its events and requests watched.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use tokio::sync::broadcast;

use super::expect::{Observed, check};
use super::file::{Suite, TestCase};
use crate::bridges::event::{Event, EventBus};
use crate::bridges::llm::ModelRouter;
use crate::bridges::llm::replay::{RecordingProvider, ReplayProvider, ReplySpec, Tape};
use crate::bridges::state::{Condition, MemoryStore, StateStore};
use crate::limits::StateQuota;
use crate::policy::audit::Recorder;
use crate::policy::manifest::{self, Manifest};
use crate::policy::resolve;
use crate::runtime::plugin::{PluginConfig, default_plugin_limits};
use crate::runtime::{Runtime, SpellConfig};

/// The model a test's run defaults to when nothing is configured.
pub const REPLAY_MODEL: &str = "test/replay";

/// Where the model's answers come from.
pub enum Answers {
    /// Each test's replies (or its recording).
    Replay,
    /// The configured providers; each test's answers are written down as
    /// its recording.
    Record(ModelRouter),
}

/// How to run the tests.
pub struct TestOptions {
    /// Only tests whose name contains this.
    pub filter: Option<String>,
    pub answers: Answers,
    /// The configured aliases and default model (replaying keeps them, so a
    /// spell names models as it would in a real run).
    pub configured: ModelRouter,
}

/// How one test went.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub name: String,
    pub passed: bool,
    /// Each expectation that did not hold, as a sentence.
    pub failures: Vec<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// Where the recording was written (`--record`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<std::path::PathBuf>,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// How a suite went: its tests' results, or why none could run.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteResult {
    pub file: std::path::PathBuf,
    pub spell: std::path::PathBuf,
    /// Why the suite could not run at all (the spell does not load).
    pub error: Option<String>,
    pub tests: Vec<TestResult>,
}

/// Runs `suite`'s tests on `runtime` (each with its own router, state and
/// events), answering from `replay` unless recording.
pub async fn run_suite(
    runtime: &Runtime,
    replay: &Arc<ReplayProvider>,
    suite: &Suite,
    options: &TestOptions,
) -> SuiteResult {
    let mut result = SuiteResult {
        file: suite.path.clone(),
        spell: suite.spell.clone(),
        error: None,
        tests: Vec::new(),
    };
    let chosen = suite
        .tests
        .iter()
        .filter(|t| options.filter.as_deref().is_none_or(|f| t.name.contains(f)));
    for test in chosen {
        match run_test(runtime, replay, suite, test, options).await {
            Ok(outcome) => result.tests.push(outcome),
            Err(err) => {
                // The suite cannot go on (the spell is missing or broken,
                // a test is malformed): said once, not once per test.
                result.error = Some(format!("test `{}`: {err:#}", test.name));
                return result;
            }
        }
    }
    result
}

/// Runs one test. An `Err` is a problem with the suite, not the test.
async fn run_test(
    runtime: &Runtime,
    replay: &Arc<ReplayProvider>,
    suite: &Suite,
    test: &TestCase,
    options: &TestOptions,
) -> anyhow::Result<TestResult> {
    let started = Instant::now();
    let bytes = std::fs::read(&suite.spell).with_context(|| {
        format!(
            "reading the spell {} (named by {}){}",
            suite.spell.display(),
            suite.path.display(),
            if suite.spell.extension().is_some_and(|e| e == "wasm") {
                "; build it first (`spellhost build`)"
            } else {
                ""
            }
        )
    })?;
    let manifest = manifest::load_for(&suite.spell)?.map(|(m, _)| m);
    let name = manifest
        .as_ref()
        .and_then(|m| m.spell.name.clone())
        .unwrap_or_else(|| crate::runtime::name_from_path(&suite.spell));

    // What the model answers with.
    let mut setup_failures = Vec::new();
    let tape: Tape = Arc::default();
    // A test with replies of its own replays them, recording or not.
    let recording_run = matches!(options.answers, Answers::Record(_)) && test.replies.is_none();
    let (router, recording) = match &options.answers {
        Answers::Record(router) if recording_run => {
            replay.load(&[]);
            let default = test.model.clone().or(router.default_model());
            let router = router
                .clone()
                .wrap_providers(|p| RecordingProvider::wrap(p, tape.clone()))
                .with_default_model(default);
            (router, Some(suite.recording(test)))
        }
        _ => {
            let replies = match &test.replies {
                Some(replies) => replies.clone(),
                None => read_recording(&suite.recording(test)).unwrap_or_else(|why| {
                    setup_failures.push(why);
                    Vec::new()
                }),
            };
            replay.load(&replies);
            let default = test
                .model
                .clone()
                .or(options.configured.default_model())
                .unwrap_or_else(|| REPLAY_MODEL.to_owned());
            let router = options
                .configured
                .clone()
                .replaced_by(replay.clone())
                .with_default_model(Some(default));
            (router, None)
        }
    };

    // Its own state and events.
    let store = Arc::new(MemoryStore::new());
    let namespace = format!("spell/{name}");
    for (key, value) in &test.state {
        store
            .write(
                &namespace,
                key,
                stored(value),
                Condition::Any,
                StateQuota::UNLIMITED,
            )
            .await
            .with_context(|| format!("setting state `{key}` for test `{}`", test.name))?;
    }
    let bus = EventBus::default();
    let mut events = bus.receiver();
    let runtime = runtime
        .with_state_and_events(store.clone(), bus)
        .with_router(router);

    let config = spell_config(&runtime, suite, test, &name, manifest.as_ref()).await?;
    let spell = runtime
        .load_file(&name, &suite.spell, bytes, config)
        .map_err(|err| anyhow::anyhow!("{}: {err}", suite.spell.display()))?;
    let limits = test
        .limits
        .overrides()
        .context("the test's [limits]")?
        .resolve(manifest.as_ref())?;

    let report = runtime.run(&spell, &test.input, &limits).await;
    let seen = drain(&mut events);
    let state = read_state(store.as_ref(), &namespace).await?;
    // A failed run keeps the recording there was.
    let recorded = match &recording {
        Some(path) if report.result.is_ok() => {
            let replies = tape.lock().unwrap_or_else(|e| e.into_inner()).clone();
            write_recording(path, &replies)?;
            Some(path.clone())
        }
        _ => None,
    };
    let observed = Observed {
        result: &report.result,
        state: &state,
        events: &seen,
        denials: &report.denials,
        asked: &replay.asked(),
        unused: &replay.unused(),
        unanswered: &replay.unanswered(),
        replaying: recording.is_none(),
    };
    let mut failures = setup_failures;
    failures.extend(check(&test.expect, &observed));
    Ok(TestResult {
        name: test.name.clone(),
        passed: failures.is_empty(),
        failures,
        output: report.result.as_ref().ok().cloned(),
        error: report.result.as_ref().err().map(ToString::to_string),
        duration: started.elapsed(),
        recorded,
    })
}

/// The grants, vars and plugins the spell runs with in `test`.
async fn spell_config(
    runtime: &Runtime,
    suite: &Suite,
    test: &TestCase,
    name: &str,
    manifest: Option<&Manifest>,
) -> anyhow::Result<SpellConfig> {
    let mut grants = test.grants.clone();
    grants.resolve_paths(&suite.path);
    let approval = resolve::approve(grants, test.grant_requested, None, name, manifest);
    let mut tool_plugins = Vec::new();
    for path in &suite.tools {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading tool plugin {}", path.display()))?;
        let plugin_name = crate::runtime::name_from_path(path);
        let plugin = runtime
            .load_tool_plugin(&plugin_name, &bytes, plugin_config(&plugin_name, path)?)
            .await
            .map_err(|err| anyhow::anyhow!("tool plugin {}: {err}", path.display()))?;
        tool_plugins.push(plugin);
    }
    let mut hook_plugins = Vec::new();
    for path in &suite.hooks {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading hook plugin {}", path.display()))?;
        let plugin_name = crate::runtime::name_from_path(path);
        let plugin = runtime
            .load_hook_plugin(&plugin_name, &bytes, plugin_config(&plugin_name, path)?)
            .map_err(|err| anyhow::anyhow!("hook plugin {}: {err}", path.display()))?;
        hook_plugins.push(plugin);
    }
    Ok(SpellConfig {
        grants: approval.grants,
        vars: test.vars.clone(),
        tool_plugins,
        hook_plugins,
        ..SpellConfig::default()
    })
}

/// A plugin's sandbox in a test: what its manifest requests, granted.
fn plugin_config(name: &str, path: &std::path::Path) -> anyhow::Result<PluginConfig> {
    let manifest = manifest::load_for(path)?.map(|(m, _)| m);
    Ok(PluginConfig {
        grants: resolve::plugin_grants(name, true, None, manifest.as_ref()),
        vars: BTreeMap::new(),
        limits: default_plugin_limits(),
        recorder: Recorder::new(None),
    })
}

/// A state value as a test writes it: a string as it is, anything else as
/// JSON.
fn stored(value: &serde_json::Value) -> Vec<u8> {
    match value {
        serde_json::Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

async fn read_state(
    store: &dyn StateStore,
    namespace: &str,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut state = BTreeMap::new();
    for key in store.list_keys(namespace, "").await? {
        if let Some(value) = store.get(namespace, &key).await? {
            state.insert(key, value);
        }
    }
    Ok(state)
}

fn drain(events: &mut broadcast::Receiver<Arc<Event>>) -> Vec<Arc<Event>> {
    let mut seen = Vec::new();
    loop {
        match events.try_recv() {
            Ok(event) => seen.push(event),
            Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return seen,
        }
    }
}

fn read_recording(path: &std::path::Path) -> Result<Vec<ReplySpec>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "the test has no `replies` and no recording ({} does not exist): write its replies, or record them with `spellhost test --record`",
                path.display()
            ));
        }
        Err(err) => return Err(format!("reading {}: {err}", path.display())),
    };
    serde_json::from_str(&text)
        .map_err(|err| format!("{} is not a recording: {err}", path.display()))
}

fn write_recording(path: &std::path::Path, replies: &[ReplySpec]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(replies)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing recording {}", path.display()))
}
