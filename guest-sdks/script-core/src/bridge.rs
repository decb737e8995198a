//! Every spellhost bridge as a named operation on JSON values.
//!
//! A language binds one native function, `call(op, args) -> value`, and
//! writes its idiomatic API in its own prelude on top of it. Arguments are
//! a JSON object (fields named below); results are JSON; failures are
//! [`ScriptError`]s. Agents and operations in flight stay in this table
//! and scripts hold their numbers; state buckets are opened once per scope.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::bindings::spellhost::spell::{agent, config, event, llm, log, state, tool, workflow};
use crate::bindings::wasi::clocks::monotonic_clock;
use crate::convert::{self, Fields, from_json_text};
use crate::error::{OpResult, ScriptError};
use crate::ops::{Op, Ops};

/// Agents a run may keep alive at once (each holds its conversation in
/// the host, outside the guest's memory limit).
const MAX_AGENTS: usize = 256;
/// `state.read` tokens kept for a `state.commit`.
const MAX_PENDING_READS: usize = 1024;

/// The bridge table of one run.
#[derive(Default)]
pub struct Bridge {
    ops: Ops,
    buckets: HashMap<String, state::Bucket>,
    agents: HashMap<u32, agent::Agent>,
    next_agent: u32,
    /// Raw values read by `state.read`, kept for `state.commit`'s
    /// compare-and-swap (the bytes, not a re-encoding of them).
    reads: HashMap<u32, Option<Vec<u8>>>,
    next_read: u32,
}

impl Bridge {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs operation `op` on `args`.
    pub fn call(&mut self, op: &str, args: Value) -> OpResult {
        let mut f = Fields::new("arguments", args)?;
        let out = self.dispatch(op, &mut f)?;
        f.finish()
            .map_err(|e| ScriptError::invalid(format!("{op}: {}", e.message)))?;
        Ok(out)
    }

    fn dispatch(&mut self, op: &str, f: &mut Fields) -> OpResult {
        match op {
            // ---- log and config
            "log" => {
                let level = match f.string("level")?.as_deref().unwrap_or("info") {
                    "trace" => log::Level::Trace,
                    "debug" => log::Level::Debug,
                    "info" => log::Level::Info,
                    "warn" => log::Level::Warn,
                    "error" => log::Level::Error,
                    other => {
                        return Err(ScriptError::invalid(format!("unknown log level `{other}`")));
                    }
                };
                log::log(level, &f.string("message")?.unwrap_or_default());
                Ok(Value::Null)
            }
            "config.get" => Ok(config::get(&f.req_string("key")?)
                .map(Value::String)
                .unwrap_or(Value::Null)),
            "config.all" => Ok(Value::Object(
                config::get_all()
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )),

            // ---- llm
            "llm.chat" => {
                let request = convert::chat_request(f.take("request").unwrap_or(Value::Null))?;
                llm::chat(&request)
                    .map(convert::chat_response)
                    .map_err(convert::llm_error)
            }
            "llm.start" => {
                let request = convert::chat_request(f.take("request").unwrap_or(Value::Null))?;
                Ok(json!(self.ops.insert(Op::Chat(llm::start_chat(&request)))))
            }
            "llm.stream" => {
                let request = convert::chat_request(f.take("request").unwrap_or(Value::Null))?;
                let stream = llm::stream_chat(&request).map_err(convert::llm_error)?;
                Ok(json!(self.ops.insert(Op::Stream {
                    stream,
                    finished: false
                })))
            }
            "llm.embed" => {
                let request = llm::EmbedRequest {
                    model: f.string("model")?,
                    inputs: f.strings("inputs")?,
                };
                let e = llm::embed(&request).map_err(convert::llm_error)?;
                Ok(
                    json!({ "vectors": e.vectors, "usage": convert::usage(e.usage), "model": e.model }),
                )
            }
            "llm.models" => {
                let models = llm::list_models().map_err(convert::llm_error)?;
                Ok(Value::Array(
                    models
                        .into_iter()
                        .map(|m| json!({ "id": m.id, "aliases": m.aliases, "default": m.is_default }))
                        .collect(),
                ))
            }

            // ---- operations in flight
            "ops.wait" => {
                let ids = f
                    .list("ops")?
                    .iter()
                    .map(op_id)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(json!(self.ops.wait(&ids)?))
            }
            "ops.take" => {
                let id = op_id(&f.take("op").unwrap_or(Value::Null))?;
                self.ops.take(id)
            }
            "ops.drop" => {
                self.ops
                    .remove(op_id(&f.take("op").unwrap_or(Value::Null))?);
                Ok(Value::Null)
            }

            // ---- http (`fetch`)
            "http.start" => {
                let request = f.take("request").unwrap_or(Value::Null);
                let fetch = crate::fetch::Fetch::start(&request)?;
                Ok(json!(self.ops.insert(Op::Fetch(Box::new(fetch)))))
            }

            // ---- timers
            "timer.start" => {
                let ms = f.u64("ms")?.unwrap_or(0);
                let timer = monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000));
                Ok(json!(self.ops.insert(Op::Timer(timer))))
            }

            // ---- state
            "state.get" => {
                let key = f.req_string("key")?;
                let bytes = self.bucket(f)?.get(&key).map_err(state_error)?;
                Ok(bytes.map(|b| decode_state(&b)).unwrap_or(Value::Null))
            }
            "state.set" => {
                let key = f.req_string("key")?;
                let value = encode_state(f.take("value"));
                self.bucket(f)?.set(&key, &value).map_err(state_error)?;
                Ok(Value::Null)
            }
            "state.delete" => {
                let key = f.req_string("key")?;
                self.bucket(f)?.delete(&key).map_err(state_error)?;
                Ok(Value::Null)
            }
            "state.exists" => {
                let key = f.req_string("key")?;
                Ok(Value::Bool(
                    self.bucket(f)?.exists(&key).map_err(state_error)?,
                ))
            }
            "state.keys" => {
                let prefix = f.string("prefix")?.unwrap_or_default();
                Ok(json!(
                    self.bucket(f)?.list_keys(&prefix).map_err(state_error)?
                ))
            }
            // An atomic read-modify-write in two steps: `state.read` returns
            // the value and a token; `state.commit` swaps in the new value
            // only if the stored bytes are still the ones read.
            "state.read" => {
                let key = f.req_string("key")?;
                let bytes = self.bucket(f)?.get(&key).map_err(state_error)?;
                let value = bytes.as_deref().map(decode_state).unwrap_or(Value::Null);
                // Reads whose update never committed (the function raised)
                // are dropped once there are many.
                if self.reads.len() >= MAX_PENDING_READS {
                    let oldest = *self.reads.keys().min().expect("not empty");
                    self.reads.remove(&oldest);
                }
                self.next_read += 1;
                self.reads.insert(self.next_read, bytes);
                Ok(json!({ "value": value, "token": self.next_read }))
            }
            "state.commit" => {
                let token = op_id(&f.take("token").unwrap_or(Value::Null))?;
                let expected = self.reads.remove(&token).ok_or_else(|| {
                    ScriptError::invalid(format!("state.commit: unknown token {token}"))
                })?;
                self.swap(f, expected)
            }
            "state.cas" => {
                let expected = f.take("expected").map(|v| encode_state(Some(v)));
                self.swap(f, expected)
            }

            // ---- events
            "event.emit" => {
                let topic = f.req_string("topic")?;
                let payload = f.take("payload").unwrap_or(Value::Null);
                event::emit(&topic, &payload.to_string()).map_err(event_error)?;
                Ok(Value::Null)
            }
            "event.subscribe" => {
                let patterns = f.strings("patterns")?;
                let sub = event::subscribe(&patterns).map_err(event_error)?;
                Ok(json!(self.ops.insert(Op::Subscription(sub))))
            }
            "event.next" => {
                let id = op_id(&f.take("sub").unwrap_or(Value::Null))?;
                let timeout = f.u64("timeout_ms")?;
                match self.ops.get(id)? {
                    Op::Subscription(sub) => Ok(sub
                        .next(timeout)
                        .map(convert::event_json)
                        .unwrap_or(Value::Null)),
                    _ => Err(ScriptError::invalid(format!(
                        "operation {id} is not a subscription"
                    ))),
                }
            }

            // ---- tools
            "tool.list" => Ok(Value::Array(
                tool::list_tools()
                    .into_iter()
                    .map(|(info, source)| {
                        json!({
                            "name": info.name,
                            "description": info.description,
                            "parameters": from_json_text(&info.parameters_schema),
                            "source": source,
                        })
                    })
                    .collect(),
            )),
            "tool.start" => {
                let name = f.req_string("name")?;
                let args = tool_arguments(f.take("args"));
                let pending = tool::start_call(&name, &args.to_string());
                Ok(json!(self.ops.insert(Op::ToolCall(pending))))
            }
            "tool.register" => {
                let def = convert::tool_definition(f.take("tool").unwrap_or(Value::Null))?;
                let info = tool::ToolInfo {
                    name: def.name,
                    description: def.description,
                    parameters_schema: def.parameters_schema,
                };
                tool::register(&info).map_err(convert::tool_error)?;
                Ok(Value::Null)
            }

            // ---- agents
            "agent.new" => {
                let config = convert::agent_config(f.take("config").unwrap_or(Value::Null))?;
                if self.agents.len() >= MAX_AGENTS {
                    return Err(ScriptError::invalid(format!(
                        "{MAX_AGENTS} agents are alive in this run: close the ones you are done with (agent:close() in Lua, agent.close() in JS)"
                    )));
                }
                self.next_agent += 1;
                self.agents
                    .insert(self.next_agent, agent::Agent::new(&config));
                Ok(json!(self.next_agent))
            }
            "agent.start" => {
                let input = text_arg(f.take("input"));
                let run = self.agent(f)?.start(&input);
                Ok(json!(self.ops.insert(Op::AgentRun(run))))
            }
            "agent.history" => Ok(Value::Array(
                self.agent(f)?
                    .history()
                    .into_iter()
                    .map(message_json)
                    .collect(),
            )),
            "agent.reset" => {
                self.agent(f)?.reset();
                Ok(Value::Null)
            }
            "agent.drop" => {
                let id = op_id(&f.take("agent").unwrap_or(Value::Null))?;
                self.agents.remove(&id);
                Ok(Value::Null)
            }
            "agent.reply" => {
                let id = op_id(&f.take("op").unwrap_or(Value::Null))?;
                let call_id = f.req_string("call_id")?;
                let output = match (f.take("output"), f.string("error")?) {
                    (_, Some(error)) => Err(error),
                    (output, None) => Ok(output.unwrap_or(Value::Null).to_string()),
                };
                match self.ops.get(id)? {
                    Op::AgentRun(run) => {
                        run.reply_tool(&call_id, output.as_deref().map_err(String::as_str))
                    }
                    _ => {
                        return Err(ScriptError::invalid(format!(
                            "operation {id} is not an agent run"
                        )));
                    }
                }
                Ok(Value::Null)
            }
            "agent.decide" => {
                let id = op_id(&f.take("op").unwrap_or(Value::Null))?;
                let hook_id = f
                    .u64("hook_id")?
                    .ok_or_else(|| ScriptError::invalid("agent.decide needs `hook_id`"))?;
                let decision = convert::decision(f.take("decision").unwrap_or(Value::Null))?;
                match self.ops.get(id)? {
                    Op::AgentRun(run) => run.decide(hook_id, &decision),
                    _ => {
                        return Err(ScriptError::invalid(format!(
                            "operation {id} is not an agent run"
                        )));
                    }
                }
                Ok(Value::Null)
            }

            // ---- workflows
            "workflow.run" => {
                let definition = match f.take("definition") {
                    Some(Value::String(text)) => text,
                    Some(other) => other.to_string(),
                    None => return Err(ScriptError::invalid("workflow.run needs a definition")),
                };
                let input = text_arg(f.take("input"));
                let out = workflow::run(&definition, &input).map_err(|e| match e {
                    workflow::Error::Invalid(m) => ScriptError::new("invalid", m),
                    workflow::Error::StepFailed(m) => ScriptError::new("step-failed", m),
                    workflow::Error::Cancelled(m) => ScriptError::new("cancelled", m),
                })?;
                Ok(from_json_text(&out))
            }

            other => Err(ScriptError::invalid(format!("unknown operation `{other}`"))),
        }
    }

    /// The bucket for `scope` ("spell", the default, or "run") or
    /// `shared` (a namespace name).
    fn bucket(&mut self, f: &mut Fields) -> Result<&state::Bucket, ScriptError> {
        let (key, scope) = match (f.string("scope")?, f.string("shared")?) {
            (_, Some(ns)) => (format!("shared:{ns}"), state::Scope::Shared(ns)),
            (None, None) => ("spell".to_string(), state::Scope::Spell),
            (Some(s), None) if s == "spell" => ("spell".to_string(), state::Scope::Spell),
            (Some(s), None) if s == "run" => ("run".to_string(), state::Scope::Run),
            (Some(other), None) => {
                return Err(ScriptError::invalid(format!(
                    "unknown state scope `{other}` (spell, run, or shared = NAME)"
                )));
            }
        };
        if !self.buckets.contains_key(&key) {
            let bucket = state::open(&scope).map_err(state_error)?;
            self.buckets.insert(key.clone(), bucket);
        }
        Ok(&self.buckets[&key])
    }

    /// Sets `key` to `new` if it still holds the bytes `expected` (none:
    /// absent); a missing `new` is an error (deleting is explicit).
    fn swap(&mut self, f: &mut Fields, expected: Option<Vec<u8>>) -> OpResult {
        let key = f.req_string("key")?;
        let Some(new) = f.take("new") else {
            return Err(ScriptError::invalid(
                "the new value is nil/undefined: delete the key instead",
            ));
        };
        let new = encode_state(Some(new));
        let swapped = self
            .bucket(f)?
            .compare_and_swap(&key, expected.as_deref(), &new)
            .map_err(state_error)?;
        Ok(Value::Bool(swapped))
    }

    fn agent(&mut self, f: &mut Fields) -> Result<&agent::Agent, ScriptError> {
        let id = op_id(&f.take("agent").unwrap_or(Value::Null))?;
        self.agents
            .get(&id)
            .ok_or_else(|| ScriptError::invalid(format!("no agent {id}")))
    }
}

fn op_id(value: &Value) -> Result<u32, ScriptError> {
    value
        .as_u64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| ScriptError::invalid(format!("not a handle: {value}")))
}

/// Text for a string parameter: strings as they are, anything else as JSON.
fn text_arg(value: Option<Value>) -> String {
    match value {
        None => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

/// State values are stored as JSON, like the Rust SDK's `set_json`.
fn encode_state(value: Option<Value>) -> Vec<u8> {
    value.unwrap_or(Value::Null).to_string().into_bytes()
}

/// JSON values come back as values; anything else (raw bytes a Rust spell
/// stored) as a string.
fn decode_state(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn message_json(m: llm::Message) -> Value {
    let role = match m.role {
        llm::Role::System => "system",
        llm::Role::User => "user",
        llm::Role::Assistant => "assistant",
        llm::Role::Tool => "tool",
    };
    let text: String = m
        .content
        .iter()
        .filter_map(|p| match p {
            llm::ContentPart::Text(t) => Some(t.as_str()),
            llm::ContentPart::ImageUrl(_) => None,
        })
        .collect();
    let mut v = json!({ "role": role, "content": text });
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = Value::Array(
            m.tool_calls
                .into_iter()
                .map(convert::tool_call_json)
                .collect(),
        );
    }
    if let Some(id) = m.tool_call_id {
        v["tool_call_id"] = Value::String(id);
    }
    v
}

fn state_error(e: state::Error) -> ScriptError {
    match e {
        state::Error::Denied(m) => ScriptError::new("denied", m),
        state::Error::Invalid(m) => ScriptError::new("invalid", m),
        state::Error::Storage(m) => ScriptError::new("storage", m),
        state::Error::QuotaExceeded(m) => ScriptError::new("quota-exceeded", m),
    }
}

fn event_error(e: event::Error) -> ScriptError {
    match e {
        event::Error::Invalid(m) => ScriptError::new("invalid", m),
        event::Error::Denied(m) => ScriptError::new("denied", m),
    }
}

/// A tool's arguments: an object (an empty Lua table arrives as `[]`).
fn tool_arguments(args: Option<Value>) -> Value {
    match args {
        None => Value::Object(Map::new()),
        Some(args) if args.as_array().is_some_and(Vec::is_empty) => Value::Object(Map::new()),
        Some(args) => args,
    }
}
