//! The agent loop: model turn, tool calls (concurrently when the model asks
//! for several), results and errors fed back, until an answer or
//! `max-steps` turns.
//!
//! It runs on a host task. What only the spell can do — run a tool the
//! spell registered, decide at a hook point when the agent has `hooks` on —
//! goes to the spell as an [`AgentEvent`] through a [`SpellLink`], and the
//! loop waits for the answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument as _;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::bindings::agent::{
    AgentConfig, AgentEvent, AgentResult, Error, Step, StopReason, ToolResult,
};
use crate::bindings::hooks::{Decision, HookCall, HookPoint};
use crate::bindings::llm::{
    ChatRequest, ContentPart, Message, Options, Role, ToolCall, ToolDefinition, Usage,
};
use crate::bridges::event::EventBus;
use crate::bridges::hooks::{self, HookOutcome};
use crate::bridges::llm::provider::text_message;
use crate::bridges::llm::{LlmCtx, hook_cancellation, hook_json};
use crate::bridges::run::RunCtx;
use crate::bridges::tool::{Provider, ToolCallError, ToolCtx};

/// Model turns when the config says nothing.
pub const DEFAULT_MAX_STEPS: u32 = 8;

/// What an agent run uses in the host.
#[derive(Clone)]
pub struct AgentEnv {
    pub llm: LlmCtx,
    pub tools: ToolCtx,
    pub events: EventBus,
    pub run: RunCtx,
}

/// Replies the loop is waiting for from the spell.
#[derive(Default)]
pub struct Pending {
    pub tools: HashMap<String, oneshot::Sender<Result<String, String>>>,
    pub hooks: HashMap<u64, oneshot::Sender<Decision>>,
}

/// The loop's side of the conversation with the spell.
#[derive(Clone)]
pub struct SpellLink {
    pub events: mpsc::UnboundedSender<AgentEvent>,
    pub pending: Arc<Mutex<Pending>>,
}

impl SpellLink {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a call of the spell's own tool to the spell, under an id the
    /// host makes (a model may repeat its own call ids).
    async fn call_tool(&self, call: ToolCall) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        let id = format!("spellhost-{}", hooks::next_id());
        self.pending().tools.insert(id.clone(), tx);
        let call = ToolCall { id, ..call };
        if self.events.send(AgentEvent::CallTool(call)).is_err() {
            return Err("the spell is gone".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the spell dropped the agent run without answering".into()))
    }

    /// Asks the spell to decide at a hook point.
    async fn hook(&self, point: HookPoint, payload: Value) -> HookOutcome {
        let id = hooks::next_id();
        let (tx, rx) = oneshot::channel();
        self.pending().hooks.insert(id, tx);
        let call = HookCall {
            id,
            point,
            payload_json: payload.to_string(),
        };
        if self.events.send(AgentEvent::Hook(call)).is_err() {
            return HookOutcome::Cancel("the spell is gone".into());
        }
        let decision = rx.await.unwrap_or(Decision::Proceed);
        hooks::apply(decision, payload.clone()).unwrap_or_else(|(why, _)| {
            tracing::warn!("the spell's hook decision: {why}; ignoring it");
            HookOutcome::Proceed(payload)
        })
    }
}

fn add(total: &mut Usage, usage: &Usage) {
    total.input_tokens += usage.input_tokens;
    total.output_tokens += usage.output_tokens;
}

/// The tool definitions the model gets; unknown names are an error.
fn definitions(env: &AgentEnv, config: &AgentConfig) -> Result<Vec<ToolDefinition>, Error> {
    config
        .tools
        .iter()
        .map(|name| match env.tools.lookup(name) {
            Some(entry) => Ok(ToolDefinition {
                name: entry.info.name,
                description: entry.info.description,
                parameters_schema: entry.info.parameters_schema,
            }),
            None => {
                let known: Vec<String> =
                    env.tools.list().into_iter().map(|e| e.info.name).collect();
                Err(Error::Invalid(format!(
                    "the agent's tool `{name}` does not exist; available tools: {}",
                    known.join(", ")
                )))
            }
        })
        .collect()
}

/// Runs the agent on `input` from `history`; returns the outcome and the
/// conversation to keep.
pub async fn run_agent(
    env: &AgentEnv,
    config: &AgentConfig,
    mut history: Vec<Message>,
    input: String,
    link: &SpellLink,
) -> (Result<AgentResult, Error>, Vec<Message>) {
    let result = run_steps(env, config, &mut history, input, link).await;
    (result, history)
}

async fn run_steps(
    env: &AgentEnv,
    config: &AgentConfig,
    history: &mut Vec<Message>,
    input: String,
    link: &SpellLink,
) -> Result<AgentResult, Error> {
    let definitions = definitions(env, config)?;
    let max_steps = config.max_steps.unwrap_or(DEFAULT_MAX_STEPS).max(1);
    let name = config.name.clone().unwrap_or_else(|| "agent".into());
    history.push(text_message(Role::User, &input));
    let mut steps = Vec::new();
    let mut usage = Usage {
        input_tokens: 0,
        output_tokens: 0,
    };
    let mut last_text = String::new();
    for index in 0..max_steps {
        let span = tracing::info_span!(
            target: crate::telemetry::TARGET,
            "agent.step",
            run_id = %env.run.run_id(),
            agent = %name,
            step = index,
        );
        let answered = one_step(
            Turn {
                env,
                config,
                link,
                definitions: &definitions,
                name: &name,
                index,
            },
            history,
            &mut usage,
            &mut last_text,
            &mut steps,
        )
        .instrument(span)
        .await?;
        if answered {
            return Ok(AgentResult {
                answer: last_text,
                steps,
                usage,
                stop_reason: StopReason::Answered,
            });
        }
    }
    Ok(AgentResult {
        answer: last_text,
        steps,
        usage,
        stop_reason: StopReason::MaxSteps,
    })
}

/// What one step of an agent works with.
struct Turn<'a> {
    env: &'a AgentEnv,
    config: &'a AgentConfig,
    link: &'a SpellLink,
    definitions: &'a [ToolDefinition],
    name: &'a str,
    index: u32,
}

/// One step: a model call and the tool calls it asked for. Returns whether
/// the model answered (asked for no tool).
async fn one_step(
    turn: Turn<'_>,
    history: &mut Vec<Message>,
    usage: &mut Usage,
    last_text: &mut String,
    steps: &mut Vec<Step>,
) -> Result<bool, Error> {
    let Turn {
        env,
        config,
        link,
        definitions,
        name,
        index,
    } = turn;
    let mut messages = Vec::with_capacity(history.len() + 1);
    if let Some(system) = &config.system {
        messages.push(text_message(Role::System, system));
    }
    messages.extend(history.iter().cloned());
    let mut request = ChatRequest {
        messages,
        options: Options {
            model: config.model.clone(),
            temperature: config.temperature,
            top_p: None,
            max_tokens: config.max_tokens,
            stop: Vec::new(),
            response_format: None,
            tools: definitions.to_vec(),
            seed: None,
        },
    };
    if config.hooks {
        let payload = hook_json::request_to_json(&request);
        match link.hook(HookPoint::BeforeLlm, payload.clone()).await {
            HookOutcome::Proceed(value) if value == payload => {}
            HookOutcome::Proceed(value) => hook_json::apply_request_json(&mut request, &value)
                .map_err(|why| {
                    Error::Invalid(format!("the spell's hook changed the request: {why}"))
                })?,
            HookOutcome::Cancel(reason) => return Err(Error::Cancelled(reason)),
        }
    }
    let call = env.llm.route(config.model.as_deref()).map_err(Error::Llm)?;
    let mut response = call
        .chat(request)
        .await
        .map_err(|e| match hook_cancellation(&e) {
            Some(reason) => Error::Cancelled(reason.to_owned()),
            None => Error::Llm(e),
        })?;
    if config.hooks {
        let payload = hook_json::response_to_json(&response);
        match link.hook(HookPoint::AfterLlm, payload).await {
            HookOutcome::Proceed(value) => hook_json::apply_response_json(&mut response, &value),
            HookOutcome::Cancel(reason) => return Err(Error::Cancelled(reason)),
        }
    }
    add(usage, &response.usage);
    last_text.clone_from(&response.text);
    history.push(Message {
        role: Role::Assistant,
        content: if response.text.is_empty() {
            Vec::new()
        } else {
            vec![ContentPart::Text(response.text.clone())]
        },
        tool_calls: response.tool_calls.clone(),
        tool_call_id: None,
    });
    let tool_results = futures::future::join_all(
        response
            .tool_calls
            .iter()
            .map(|call| run_tool(env, config, link, call.clone())),
    )
    .await;
    for result in &tool_results {
        let content = match &result.output {
            Ok(json) => json.clone(),
            Err(error) => format!("error: {error}"),
        };
        history.push(Message {
            tool_call_id: Some(result.call.id.clone()),
            ..text_message(Role::Tool, &content)
        });
    }
    let step = Step {
        index,
        text: response.text.clone(),
        tool_results,
        usage: response.usage,
    };
    env.run.publish(
        &env.events,
        "spellhost.agent.step",
        json!({
            "agent": name,
            "step": index,
            "text": step.text,
            "tool_calls": step.tool_results.iter().map(|r| json!({
                "name": r.call.name,
                "ok": r.output.is_ok(),
                "duration_ms": r.duration_ms,
            })).collect::<Vec<_>>(),
            "input_tokens": step.usage.input_tokens,
            "output_tokens": step.usage.output_tokens,
        }),
    );
    let answered = step.tool_results.is_empty();
    steps.push(step);
    Ok(answered)
}

/// Runs one tool call; every failure becomes a message for the model.
async fn run_tool(
    env: &AgentEnv,
    config: &AgentConfig,
    link: &SpellLink,
    call: ToolCall,
) -> ToolResult {
    let started = Instant::now();
    let span = env.tools.span(&call.name);
    let output = tool_output(env, config, link, &call, started)
        .instrument(span.clone())
        .await;
    if let Err(err) = &output {
        span.record("error", err.as_str());
    }
    ToolResult {
        call,
        output,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

async fn tool_output(
    env: &AgentEnv,
    config: &AgentConfig,
    link: &SpellLink,
    call: &ToolCall,
    started: Instant,
) -> Result<String, String> {
    let entry = match env.tools.lookup(&call.name) {
        Some(entry) if config.tools.contains(&call.name) => entry,
        _ => {
            return Err(format!(
                "unknown tool `{}`; the tools you can call are: {}",
                call.name,
                config.tools.join(", ")
            ));
        }
    };
    let arguments: Value = serde_json::from_str(&call.arguments_json).map_err(|e| {
        format!(
            "invalid arguments: the arguments of `{}` are not JSON: {e}",
            call.name
        )
    })?;
    // The spell's hook first, so that whatever it changes is still
    // validated and seen by the hook plugins (the run's guards).
    let arguments = if config.hooks {
        let payload = json!({ "name": call.name, "arguments": arguments });
        match link.hook(HookPoint::BeforeTool, payload).await {
            HookOutcome::Proceed(value) => value.get("arguments").cloned().unwrap_or(Value::Null),
            HookOutcome::Cancel(reason) => return Err(ToolCallError::Cancelled(reason).to_string()),
        }
    } else {
        arguments
    };
    let arguments = env
        .tools
        .prepare(&entry, arguments)
        .await
        .map_err(|e| e.to_string())?;
    let output = match &entry.provider {
        Provider::Spell => {
            let forwarded = ToolCall {
                arguments_json: arguments.to_string(),
                ..call.clone()
            };
            match link.call_tool(forwarded).await {
                Ok(text) => Ok(serde_json::from_str(&text).unwrap_or(Value::String(text))),
                Err(message) => Err(ToolCallError::Failed(message)),
            }
        }
        Provider::Builtin(_) | Provider::Plugin(_) => {
            env.tools.run(&entry, arguments.clone()).await
        }
    };
    let output = env
        .tools
        .finish(&call.name, &arguments, output, started)
        .await;
    let output = match (output, config.hooks) {
        (Ok(value), true) => {
            let payload = json!({ "name": call.name, "arguments": arguments, "output": value });
            match decide_after(link, payload).await {
                Ok(value) => Ok(value),
                Err(reason) => Err(ToolCallError::Cancelled(reason)),
            }
        }
        (output, _) => output,
    };
    output
        .map(|value| value.to_string())
        .map_err(|e| e.to_string())
}

async fn decide_after(link: &SpellLink, payload: Value) -> Result<Value, String> {
    let fallback = payload["output"].clone();
    match link.hook(HookPoint::AfterTool, payload).await {
        HookOutcome::Proceed(value) => Ok(value.get("output").cloned().unwrap_or(fallback)),
        HookOutcome::Cancel(reason) => Err(reason),
    }
}
