//! The workflow engine: runs a JSON workflow definition in the host.
//!
//! A step is an object with one kind key and an optional `id`:
//!
//! | kind | shape | output |
//! |---|---|---|
//! | `llm` | `{"prompt": T, "system"?: T, "model"?: S, "max_tokens"?: N}` | the answer text |
//! | `tool` | `{"name": S, "arguments": {…}}` (string values are templates) | the tool's JSON result |
//! | `agent` | `{"input": T, "system"?, "tools"?, "model"?, "max_steps"?}` | the agent's answer |
//! | `spell` | `{"path": S, "input": T}` (a `.wasm` under a read grant) | the spell's output |
//! | `sequence` | `[step, …]` | the last step's output |
//! | `parallel` | `[step, …]` — run concurrently | the list of outputs |
//! | `map` | `{"over": E, "step": step}` — `step` once per item, concurrently | the list of outputs |
//! | `if` | `{"condition": E, "then": step, "else"?: step}` | the branch's output (or null) |
//! | `loop` | `{"max": N ≤ 100, "step": step, "until"?: E}` | the last iteration's output |
//!
//! Bounds: at most [`MAX_STEPS`] steps per workflow (nested ones count),
//! [`MAX_LOOP`] iterations per loop, [`MAX_MAP_ITEMS`] items per map,
//! [`MAX_IN_FLIGHT`] LLM/tool/agent/spell steps at once, and a fuel budget
//! per template; every step yields to the scheduler, so the run's
//! wall-clock limit always applies.
//!
//! `T` is a minijinja template and `E` a minijinja expression (with a
//! `fromjson` filter besides minijinja's built-ins), both seeing
//! `input`, `steps` (outputs by `id`), `last` (the previous output in a
//! sequence), `item`/`index` (in a map) and `iteration` (in a loop).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::Instrument as _;

use futures::future::{BoxFuture, FutureExt as _, join_all};
use serde_json::{Map, Value, json};

use crate::bindings::agent::{AgentConfig, Error as AgentError};
use crate::bindings::llm::{ChatRequest, ContentPart, Message, Options, Role};
use crate::bridges::agent::{AgentEnv, SpellLink, run_agent};
use crate::bridges::llm::hook_cancellation;

/// Iterations a loop may ask for.
pub const MAX_LOOP: u64 = 100;
/// Steps (of every kind, nested ones included) one workflow may run.
pub const MAX_STEPS: u64 = 1000;
/// Items a `map` may run over.
pub const MAX_MAP_ITEMS: usize = 100;
/// LLM, tool, agent and spell steps in flight at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Template fuel per render (minijinja's instruction budget).
const TEMPLATE_FUEL: u64 = 100_000;

/// Why a workflow stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("invalid workflow at {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("step {path} failed: {message}")]
    StepFailed { path: String, message: String },
    #[error("step {path} was cancelled by a hook: {message}")]
    Cancelled { path: String, message: String },
}

/// Runs other spells for `spell` steps.
#[async_trait::async_trait]
pub trait SpellRunner: Send + Sync {
    async fn run_spell(&self, path: &str, input: &str) -> Result<String, String>;
}

/// What a workflow uses in the host.
#[derive(Clone)]
pub struct WorkflowEnv {
    pub agents: AgentEnv,
    pub spells: Option<Arc<dyn SpellRunner>>,
}

struct Run {
    env: WorkflowEnv,
    input: Value,
    outputs: Mutex<BTreeMap<String, Value>>,
    templates: minijinja::Environment<'static>,
    steps_left: std::sync::atomic::AtomicU64,
    in_flight: tokio::sync::Semaphore,
}

/// Runs `definition` on `input`; returns `{"output", "steps"}`.
pub async fn run(
    env: WorkflowEnv,
    definition: &Value,
    input: &str,
) -> Result<Value, WorkflowError> {
    let mut templates = minijinja::Environment::new();
    templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    templates.set_fuel(Some(TEMPLATE_FUEL));
    templates.add_filter("fromjson", |text: &str| {
        serde_json::from_str::<Value>(text)
            .map(|v| minijinja::Value::from(minijinja::value::Serde(v)))
            .map_err(|e| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("fromjson: {e}"),
                )
            })
    });
    let run = Arc::new(Run {
        env,
        input: Value::String(input.to_owned()),
        outputs: Mutex::default(),
        templates,
        steps_left: MAX_STEPS.into(),
        in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
    });
    let scope = Scope::default();
    let output = step(run.clone(), definition.clone(), "$".into(), scope).await?;
    let steps = run
        .outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(json!({ "output": output, "steps": steps }))
}

/// Variables that depend on where a step runs.
#[derive(Clone, Default)]
struct Scope {
    last: Value,
    item: Option<(Value, usize)>,
    iteration: Option<u64>,
}

impl Run {
    fn context(&self, scope: &Scope) -> Value {
        let mut context = json!({
            "input": self.input,
            "steps": *self.outputs.lock().unwrap_or_else(|e| e.into_inner()),
            "last": scope.last,
        });
        if let Some((item, index)) = &scope.item {
            context["item"] = item.clone();
            context["index"] = (*index).into();
        }
        if let Some(iteration) = scope.iteration {
            context["iteration"] = iteration.into();
        }
        context
    }

    fn render(&self, template: &str, scope: &Scope, path: &str) -> Result<String, WorkflowError> {
        self.templates
            .render_str(template, minijinja::value::Serde(self.context(scope)))
            .map_err(|e| invalid(path, format!("template: {e}")))
    }

    fn eval(&self, expression: &str, scope: &Scope, path: &str) -> Result<Value, WorkflowError> {
        let compiled = self
            .templates
            .compile_expression(expression)
            .map_err(|e| invalid(path, format!("expression `{expression}`: {e}")))?;
        let value = compiled
            .eval(minijinja::value::Serde(self.context(scope)))
            .map_err(|e| invalid(path, format!("expression `{expression}`: {e}")))?;
        serde_json::to_value(&value).map_err(|e| invalid(path, e.to_string()))
    }

    fn truthy(&self, expression: &str, scope: &Scope, path: &str) -> Result<bool, WorkflowError> {
        Ok(match self.eval(expression, scope, path)? {
            Value::Null => false,
            Value::Bool(b) => b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        })
    }
}

fn invalid(path: &str, message: impl Into<String>) -> WorkflowError {
    WorkflowError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// A failed LLM call; a hook's cancellation stays a cancellation.
fn llm_failure(path: &str, err: &crate::bindings::llm::Error) -> WorkflowError {
    match hook_cancellation(err) {
        Some(reason) => WorkflowError::Cancelled {
            path: path.to_owned(),
            message: reason.to_owned(),
        },
        None => failed(path, err.describe()),
    }
}

fn failed(path: &str, message: impl Into<String>) -> WorkflowError {
    WorkflowError::StepFailed {
        path: path.to_owned(),
        message: message.into(),
    }
}

const KINDS: [&str; 9] = [
    "llm", "tool", "agent", "spell", "sequence", "parallel", "map", "if", "loop",
];

fn step(
    run: Arc<Run>,
    definition: Value,
    path: String,
    scope: Scope,
) -> BoxFuture<'static, Result<Value, WorkflowError>> {
    let span = tracing::info_span!(
        target: crate::telemetry::TARGET,
        "workflow.step",
        run_id = %run.env.agents.run.run_id(),
        step = tracing::field::Empty,
        kind = tracing::field::Empty,
    );
    async move {
        // Compute-only steps never wait on anything; yield so a workflow
        // cannot hold a worker thread (and the run's deadline) hostage.
        tokio::task::yield_now().await;
        let left = run.steps_left.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        );
        if left.is_err() {
            return Err(invalid(&path, format!("a workflow may run at most {MAX_STEPS} steps")));
        }
        let Value::Object(object) = &definition else {
            return Err(invalid(&path, "a step must be an object"));
        };
        let id = match object.get("id") {
            None => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => return Err(invalid(&path, "`id` must be a string")),
        };
        let kinds: Vec<&str> = KINDS
            .iter()
            .copied()
            .filter(|k| object.contains_key(*k))
            .collect();
        let [kind] = kinds[..] else {
            return Err(invalid(
                &path,
                format!(
                    "a step needs exactly one of {}; found {kinds:?}",
                    KINDS.join(", ")
                ),
            ));
        };
        if let Some(unknown) = object.keys().find(|k| *k != "id" && *k != kind) {
            return Err(invalid(&path, format!("unknown key `{unknown}`")));
        }
        let path = match &id {
            Some(id) => format!("{path}.{id}"),
            None => format!("{path}.{kind}"),
        };
        let body = object[kind].clone();
        let span = tracing::Span::current();
        span.record("step", path.as_str());
        span.record("kind", kind);
        let _permit = match kind {
            "llm" | "tool" | "agent" | "spell" => Some(
                run.in_flight
                    .acquire()
                    .await
                    .map_err(|_| failed(&path, "the workflow was stopped"))?,
            ),
            _ => None,
        };
        let output = match kind {
            "llm" => llm_step(&run, &body, &path, &scope).await?,
            "tool" => tool_step(&run, &body, &path, &scope).await?,
            "agent" => agent_step(&run, &body, &path, &scope).await?,
            "spell" => spell_step(&run, &body, &path, &scope).await?,
            "sequence" => {
                let steps = array(&body, &path)?;
                let mut scope = scope.clone();
                for (i, child) in steps.iter().enumerate() {
                    scope.last = step(
                        run.clone(),
                        child.clone(),
                        format!("{path}[{i}]"),
                        scope.clone(),
                    )
                    .await?;
                }
                scope.last
            }
            "parallel" => {
                let steps = array(&body, &path)?;
                let outputs = join_all(steps.iter().enumerate().map(|(i, child)| {
                    step(
                        run.clone(),
                        child.clone(),
                        format!("{path}[{i}]"),
                        scope.clone(),
                    )
                }))
                .await;
                Value::Array(outputs.into_iter().collect::<Result<_, _>>()?)
            }
            "map" => {
                let over = field_str(&body, "over", &path)?;
                let items = match run.eval(over, &scope, &path)? {
                    Value::Array(items) => items,
                    Value::String(text) => match serde_json::from_str(&text) {
                        Ok(Value::Array(items)) => items,
                        _ => return Err(invalid(&path, "`over` must give a list")),
                    },
                    _ => return Err(invalid(&path, "`over` must give a list")),
                };
                let child = body
                    .get("step")
                    .cloned()
                    .ok_or_else(|| invalid(&path, "`map` needs a `step`"))?;
                if items.len() > MAX_MAP_ITEMS {
                    return Err(invalid(
                        &path,
                        format!(
                            "`over` gave {} items; a map runs over at most {MAX_MAP_ITEMS}",
                            items.len()
                        ),
                    ));
                }
                if has_ids(&child) {
                    return Err(invalid(
                        &path,
                        "steps inside a `map` cannot have ids (every item would write the same one); use the map's own id",
                    ));
                }
                let outputs = join_all(items.into_iter().enumerate().map(|(i, item)| {
                    let scope = Scope {
                        item: Some((item, i)),
                        ..scope.clone()
                    };
                    step(run.clone(), child.clone(), format!("{path}[{i}]"), scope)
                }))
                .await;
                Value::Array(outputs.into_iter().collect::<Result<_, _>>()?)
            }
            "if" => {
                let condition = field_str(&body, "condition", &path)?;
                let branch = if run.truthy(condition, &scope, &path)? {
                    "then"
                } else {
                    "else"
                };
                match body.get(branch) {
                    Some(child) => {
                        step(
                            run.clone(),
                            child.clone(),
                            format!("{path}.{branch}"),
                            scope.clone(),
                        )
                        .await?
                    }
                    None if branch == "then" => return Err(invalid(&path, "`if` needs a `then`")),
                    None => Value::Null,
                }
            }
            "loop" => {
                let max = body.get("max").and_then(Value::as_u64).ok_or_else(|| {
                    invalid(&path, "`loop` needs a whole-number `max` (its bound)")
                })?;
                if max > MAX_LOOP {
                    return Err(invalid(
                        &path,
                        format!("`max` is {max}; loops are bounded at {MAX_LOOP}"),
                    ));
                }
                let child = body
                    .get("step")
                    .cloned()
                    .ok_or_else(|| invalid(&path, "`loop` needs a `step`"))?;
                let until = body.get("until").and_then(Value::as_str);
                let mut scope = scope.clone();
                for iteration in 0..max {
                    scope.iteration = Some(iteration);
                    scope.last = step(
                        run.clone(),
                        child.clone(),
                        format!("{path}[{iteration}]"),
                        scope.clone(),
                    )
                    .await?;
                    if let Some(until) = until
                        && run.truthy(until, &scope, &path)?
                    {
                        break;
                    }
                }
                scope.last
            }
            _ => unreachable!("kinds are checked above"),
        };
        if let Some(id) = id {
            run.outputs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, output.clone());
        }
        Ok(output)
    }
    .instrument(span)
    .boxed()
}

/// Whether `step` or any step nested in it has an `id`.
fn has_ids(step: &Value) -> bool {
    let Some(object) = step.as_object() else {
        return false;
    };
    if object.contains_key("id") {
        return true;
    }
    let children: Vec<&Value> = match (object.get("sequence"), object.get("parallel")) {
        (Some(Value::Array(steps)), _) | (_, Some(Value::Array(steps))) => steps.iter().collect(),
        _ => ["map", "loop", "if"]
            .iter()
            .filter_map(|k| object.get(*k))
            .flat_map(|body| ["step", "then", "else"].map(|k| body.get(k)))
            .flatten()
            .collect(),
    };
    children.into_iter().any(has_ids)
}

fn array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, WorkflowError> {
    value
        .as_array()
        .ok_or_else(|| invalid(path, "expected a list of steps"))
}

fn field_str<'a>(value: &'a Value, key: &str, path: &str) -> Result<&'a str, WorkflowError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(path, format!("needs a string `{key}`")))
}

fn optional_str(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn user(text: String) -> Message {
    Message {
        role: Role::User,
        content: vec![ContentPart::Text(text)],
        tool_calls: Vec::new(),
        tool_call_id: None,
    }
}

async fn llm_step(
    run: &Run,
    body: &Value,
    path: &str,
    scope: &Scope,
) -> Result<Value, WorkflowError> {
    let prompt = run.render(field_str(body, "prompt", path)?, scope, path)?;
    let mut messages = Vec::new();
    if let Some(system) = body.get("system").and_then(Value::as_str) {
        messages.push(Message {
            role: Role::System,
            ..user(run.render(system, scope, path)?)
        });
    }
    messages.push(user(prompt));
    let model = optional_str(body, "model");
    let request = ChatRequest {
        messages,
        options: Options {
            model: model.clone(),
            temperature: body
                .get("temperature")
                .and_then(Value::as_f64)
                .map(|t| t as f32),
            top_p: None,
            max_tokens: body
                .get("max_tokens")
                .and_then(Value::as_u64)
                .map(|m| m as u32),
            stop: Vec::new(),
            response_format: None,
            tools: Vec::new(),
            seed: None,
        },
    };
    let call = run
        .env
        .agents
        .llm
        .route(model.as_deref())
        .map_err(|e| failed(path, e.describe()))?;
    let response = call
        .chat(request)
        .await
        .map_err(|e| llm_failure(path, &e))?;
    Ok(Value::String(response.text))
}

/// Renders every string inside `value` as a template.
fn render_values(
    run: &Run,
    value: &Value,
    scope: &Scope,
    path: &str,
) -> Result<Value, WorkflowError> {
    Ok(match value {
        Value::String(template) => Value::String(run.render(template, scope, path)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_values(run, v, scope, path))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_values(run, v, scope, path)?)))
                .collect::<Result<Map<_, _>, WorkflowError>>()?,
        ),
        other => other.clone(),
    })
}

async fn tool_step(
    run: &Run,
    body: &Value,
    path: &str,
    scope: &Scope,
) -> Result<Value, WorkflowError> {
    let name = field_str(body, "name", path)?;
    let arguments = render_values(
        run,
        body.get("arguments").unwrap_or(&json!({})),
        scope,
        path,
    )?;
    run.env
        .agents
        .tools
        .call(name, arguments)
        .await
        .map_err(|e| match e {
            crate::bridges::tool::ToolCallError::Cancelled(message) => WorkflowError::Cancelled {
                path: path.to_owned(),
                message,
            },
            other => failed(path, other.to_string()),
        })
}

async fn agent_step(
    run: &Run,
    body: &Value,
    path: &str,
    scope: &Scope,
) -> Result<Value, WorkflowError> {
    let input = run.render(field_str(body, "input", path)?, scope, path)?;
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let config = AgentConfig {
        model: optional_str(body, "model"),
        system: body
            .get("system")
            .and_then(Value::as_str)
            .map(|s| run.render(s, scope, path))
            .transpose()?,
        tools,
        max_steps: body
            .get("max_steps")
            .and_then(Value::as_u64)
            .map(|m| m as u32),
        memory: false,
        temperature: None,
        max_tokens: None,
        name: Some(path.to_owned()),
        hooks: false,
    };
    // No spell on the other end: a workflow's agents use host tools only.
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let link = SpellLink {
        events,
        pending: Arc::default(),
    };
    let (result, _) = run_agent(&run.env.agents, &config, Vec::new(), input, &link).await;
    match result {
        Ok(result) => Ok(Value::String(result.answer)),
        Err(AgentError::Cancelled(message)) => Err(WorkflowError::Cancelled {
            path: path.to_owned(),
            message,
        }),
        Err(AgentError::Llm(e)) => Err(llm_failure(path, &e)),
        Err(AgentError::Invalid(message)) => Err(invalid(path, message)),
    }
}

async fn spell_step(
    run: &Run,
    body: &Value,
    path: &str,
    scope: &Scope,
) -> Result<Value, WorkflowError> {
    let file = field_str(body, "path", path)?;
    let input = run.render(
        body.get("input").and_then(Value::as_str).unwrap_or(""),
        scope,
        path,
    )?;
    let Some(spells) = &run.env.spells else {
        return Err(failed(path, "this host cannot run other spells"));
    };
    spells
        .run_spell(file, &input)
        .await
        .map(Value::String)
        .map_err(|message| failed(path, message))
}
