//! JSON ↔ WIT records: the shapes scripts write and read.
//!
//! Field names are snake_case (`max_tokens`, `tool_calls`) in every
//! language. Unknown fields are errors, so a typo (`temprature`) is caught
//! instead of silently ignored.

use serde_json::{Map, Value, json};

use crate::bindings::spellhost::spell::{agent, event, hooks, llm, tool};
use crate::error::ScriptError;

type Res<T> = Result<T, ScriptError>;

/// Reads fields of a JSON object and rejects the ones nobody read.
pub struct Fields<'a> {
    what: &'static str,
    map: Map<String, Value>,
    _src: std::marker::PhantomData<&'a ()>,
}

impl Fields<'_> {
    pub fn new(what: &'static str, value: Value) -> Res<Self> {
        match value {
            Value::Object(map) => Ok(Self {
                what,
                map,
                _src: Default::default(),
            }),
            // An empty Lua table is indistinguishable from an empty array.
            Value::Array(a) if a.is_empty() => Ok(Self {
                what,
                map: Map::new(),
                _src: Default::default(),
            }),
            Value::Null => Ok(Self {
                what,
                map: Map::new(),
                _src: Default::default(),
            }),
            other => Err(ScriptError::invalid(format!(
                "{} must be a table/object, got {}",
                what,
                kind_of(&other)
            ))),
        }
    }

    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    pub fn string(&mut self, key: &str) -> Res<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", &other)),
        }
    }

    pub fn req_string(&mut self, key: &str) -> Res<String> {
        self.string(key)?
            .ok_or_else(|| ScriptError::invalid(format!("{} needs `{}`", self.what, key)))
    }

    pub fn bool(&mut self, key: &str) -> Res<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.wrong(key, "a boolean", &other)),
        }
    }

    pub fn f32(&mut self, key: &str) -> Res<Option<f32>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64().map(|f| f as f32)),
            Some(other) => Err(self.wrong(key, "a number", &other)),
        }
    }

    pub fn u64(&mut self, key: &str) -> Res<Option<u64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }) {
                Some(u) => Ok(Some(u)),
                None => Err(ScriptError::invalid(format!(
                    "{}.{} must be a non-negative integer, got {}",
                    self.what, key, n
                ))),
            },
            Some(other) => Err(self.wrong(key, "an integer", &other)),
        }
    }

    pub fn u32(&mut self, key: &str) -> Res<Option<u32>> {
        match self.u64(key)? {
            None => Ok(None),
            Some(u) => u32::try_from(u).map(Some).map_err(|_| {
                ScriptError::invalid(format!("{}.{} is too large: {}", self.what, key, u))
            }),
        }
    }

    /// A list of strings; a single string counts as a list of one.
    pub fn strings(&mut self, key: &str) -> Res<Vec<String>> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s]),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    other => Err(self.wrong(key, "a list of strings", &other)),
                })
                .collect(),
            Some(Value::Object(m)) if m.is_empty() => Ok(Vec::new()),
            Some(other) => Err(self.wrong(key, "a list of strings", &other)),
        }
    }

    /// A list (an empty table counts as an empty list).
    pub fn list(&mut self, key: &str) -> Res<Vec<Value>> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(Value::Object(m)) if m.is_empty() => Ok(Vec::new()),
            Some(other) => Err(self.wrong(key, "a list", &other)),
        }
    }

    /// Fails on fields nobody asked for.
    pub fn finish(self) -> Res<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(ScriptError::invalid(format!(
                "{} has no field `{}`",
                self.what, key
            ))),
        }
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> ScriptError {
        ScriptError::invalid(format!(
            "{}.{} must be {}, got {}",
            self.what,
            key,
            want,
            kind_of(got)
        ))
    }
}

pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil/null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table/object",
    }
}

/// Parses JSON text; text that is not JSON stays a string.
pub fn from_json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

// ---------------------------------------------------------------- llm

/// A chat request: `prompt`, `system`, `messages` and options.
pub fn chat_request(value: Value) -> Res<llm::ChatRequest> {
    let value = match value {
        Value::String(prompt) => json!({ "prompt": prompt }),
        other => other,
    };
    let mut f = Fields::new("chat request", value)?;
    let mut messages = Vec::new();
    if let Some(system) = f.string("system")? {
        messages.push(text_message(llm::Role::System, system));
    }
    for m in f.list("messages")? {
        messages.push(message(m)?);
    }
    if let Some(prompt) = f.string("prompt")? {
        messages.push(text_message(llm::Role::User, prompt));
    }
    if messages.is_empty() {
        return Err(ScriptError::invalid(
            "chat request needs `prompt` or `messages`",
        ));
    }
    let json_mode = f.bool("json")?.unwrap_or(false);
    let response_format = match f.take("schema") {
        Some(schema) => Some(llm::ResponseFormat::JsonSchema(schema.to_string())),
        None if json_mode => Some(llm::ResponseFormat::Json),
        None => None,
    };
    let tools = f
        .list("tools")?
        .into_iter()
        .map(tool_definition)
        .collect::<Res<_>>()?;
    let options = llm::Options {
        model: f.string("model")?,
        temperature: f.f32("temperature")?,
        top_p: f.f32("top_p")?,
        max_tokens: f.u32("max_tokens")?,
        stop: f.strings("stop")?,
        response_format,
        tools,
        seed: f.u64("seed")?,
    };
    f.finish()?;
    Ok(llm::ChatRequest { messages, options })
}

fn text_message(role: llm::Role, text: String) -> llm::Message {
    llm::Message {
        role,
        content: vec![llm::ContentPart::Text(text)],
        tool_calls: Vec::new(),
        tool_call_id: None,
    }
}

fn message(value: Value) -> Res<llm::Message> {
    let mut f = Fields::new("message", value)?;
    let role = match f.req_string("role")?.as_str() {
        "system" => llm::Role::System,
        "user" => llm::Role::User,
        "assistant" => llm::Role::Assistant,
        "tool" => llm::Role::Tool,
        other => {
            return Err(ScriptError::invalid(format!(
                "message.role must be system, user, assistant or tool, got `{other}`"
            )));
        }
    };
    let content = match f.take("content") {
        None => Vec::new(),
        Some(Value::String(text)) => vec![llm::ContentPart::Text(text)],
        Some(Value::Array(parts)) => parts.into_iter().map(content_part).collect::<Res<_>>()?,
        Some(other) => {
            return Err(ScriptError::invalid(format!(
                "message.content must be a string or a list of parts, got {}",
                kind_of(&other)
            )));
        }
    };
    let tool_calls = f
        .list("tool_calls")?
        .into_iter()
        .map(tool_call)
        .collect::<Res<_>>()?;
    let tool_call_id = f.string("tool_call_id")?;
    f.finish()?;
    Ok(llm::Message {
        role,
        content,
        tool_calls,
        tool_call_id,
    })
}

fn content_part(value: Value) -> Res<llm::ContentPart> {
    if let Value::String(text) = value {
        return Ok(llm::ContentPart::Text(text));
    }
    let mut f = Fields::new("content part", value)?;
    let part = match (f.string("text")?, f.string("image_url")?) {
        (Some(text), None) => llm::ContentPart::Text(text),
        (None, Some(url)) => llm::ContentPart::ImageUrl(url),
        _ => {
            return Err(ScriptError::invalid(
                "a content part has exactly one of `text` or `image_url`",
            ));
        }
    };
    f.finish()?;
    Ok(part)
}

fn tool_call(value: Value) -> Res<llm::ToolCall> {
    let mut f = Fields::new("tool call", value)?;
    let call = llm::ToolCall {
        id: f.req_string("id")?,
        name: f.req_string("name")?,
        arguments_json: f
            .take("arguments")
            .map(|a| json_text_of(&a))
            .unwrap_or_else(|| "{}".into()),
    };
    f.finish()?;
    Ok(call)
}

/// A tool definition for the model: `{name, description, parameters}`.
pub fn tool_definition(value: Value) -> Res<llm::ToolDefinition> {
    let mut f = Fields::new("tool", value)?;
    let def = llm::ToolDefinition {
        name: f.req_string("name")?,
        description: f.string("description")?.unwrap_or_default(),
        parameters_schema: schema_text(f.take("parameters")),
    };
    f.take("handler"); // the script keeps its handler; the host never sees it
    f.finish()?;
    Ok(def)
}

/// A JSON Schema; none means "an object with any properties".
pub fn schema_text(schema: Option<Value>) -> String {
    match schema {
        None => r#"{"type":"object"}"#.into(),
        Some(Value::Array(a)) if a.is_empty() => r#"{"type":"object"}"#.into(),
        Some(s) => s.to_string(),
    }
}

/// A value that holds JSON text already (a string) or a value to encode.
fn json_text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn chat_response(r: llm::ChatResponse) -> Value {
    json!({
        "text": r.text,
        "tool_calls": r.tool_calls.into_iter().map(tool_call_json).collect::<Vec<_>>(),
        "finish_reason": finish_reason(r.finish_reason),
        "usage": usage(r.usage),
        "model": r.model,
    })
}

pub fn tool_call_json(c: llm::ToolCall) -> Value {
    json!({ "id": c.id, "name": c.name, "arguments": from_json_text(&c.arguments_json) })
}

pub fn usage(u: llm::Usage) -> Value {
    json!({ "input_tokens": u.input_tokens, "output_tokens": u.output_tokens })
}

fn finish_reason(r: llm::FinishReason) -> &'static str {
    match r {
        llm::FinishReason::Stop => "stop",
        llm::FinishReason::Length => "length",
        llm::FinishReason::ToolCalls => "tool_calls",
        llm::FinishReason::ContentFilter => "content_filter",
        llm::FinishReason::Other => "other",
    }
}

pub fn stream_event(e: llm::StreamEvent) -> Value {
    match e {
        llm::StreamEvent::Text(text) => json!({ "type": "text", "text": text }),
        llm::StreamEvent::ToolCall(call) => {
            json!({ "type": "tool_call", "tool_call": tool_call_json(call) })
        }
        llm::StreamEvent::Finish(end) => json!({
            "type": "finish",
            "finish_reason": finish_reason(end.finish_reason),
            "usage": usage(end.usage),
            "model": end.model,
        }),
    }
}

pub fn llm_error(e: llm::Error) -> ScriptError {
    match e {
        llm::Error::InvalidRequest(m) => ScriptError::new("invalid-request", m),
        llm::Error::Auth(m) => ScriptError::new("auth", m),
        llm::Error::RateLimited(r) => ScriptError::new(
            "rate-limited",
            match r.retry_after_ms {
                Some(ms) => format!("{} (retry after {ms} ms)", r.message),
                None => r.message,
            },
        ),
        llm::Error::Denied(m) => ScriptError::new("denied", m),
        llm::Error::Timeout(m) => ScriptError::new("timeout", m),
        llm::Error::Unavailable(m) => ScriptError::new("unavailable", m),
        llm::Error::BudgetExceeded(m) => ScriptError::new("budget-exceeded", m),
        llm::Error::Provider(p) => ScriptError::new(
            "provider",
            match p.status {
                Some(status) => format!("HTTP {status}: {}", p.message),
                None => p.message,
            },
        ),
    }
}

// ---------------------------------------------------------------- agents

pub fn agent_config(value: Value) -> Res<agent::AgentConfig> {
    let mut f = Fields::new("agent config", value)?;
    let mut tools = Vec::new();
    for t in f.list("tools")? {
        match t {
            Value::String(name) => tools.push(name),
            Value::Object(mut m) => match m.remove("name") {
                Some(Value::String(name)) => tools.push(name),
                _ => {
                    return Err(ScriptError::invalid(
                        "agent config: a tool is a name or a table with `name`",
                    ));
                }
            },
            other => {
                return Err(ScriptError::invalid(format!(
                    "agent config: a tool is a name, got {}",
                    kind_of(&other)
                )));
            }
        }
    }
    let config = agent::AgentConfig {
        model: f.string("model")?,
        system: f.string("system")?,
        tools,
        max_steps: f.u32("max_steps")?,
        memory: f.bool("memory")?.unwrap_or(false),
        temperature: f.f32("temperature")?,
        max_tokens: f.u32("max_tokens")?,
        name: f.string("name")?,
        hooks: f.bool("hooks")?.unwrap_or(false),
    };
    f.finish()?;
    Ok(config)
}

pub fn agent_result(r: agent::AgentResult) -> Value {
    json!({
        "answer": r.answer,
        "steps": r.steps.into_iter().map(|s| json!({
            "index": s.index,
            "text": s.text,
            "tool_results": s.tool_results.into_iter().map(|t| {
                let mut v = json!({ "call": tool_call_json(t.call), "duration_ms": t.duration_ms });
                match t.output {
                    Ok(out) => v["output"] = from_json_text(&out),
                    Err(e) => v["error"] = Value::String(e),
                }
                v
            }).collect::<Vec<_>>(),
            "usage": usage(s.usage),
        })).collect::<Vec<_>>(),
        "usage": usage(r.usage),
        "stop_reason": match r.stop_reason {
            agent::StopReason::Answered => "answered",
            agent::StopReason::MaxSteps => "max_steps",
        },
    })
}

pub fn tool_error(e: tool::Error) -> ScriptError {
    match e {
        tool::Error::NotFound(m) => ScriptError::new("not-found", m),
        tool::Error::InvalidArguments(m) => ScriptError::new("invalid-arguments", m),
        tool::Error::Denied(m) => ScriptError::new("denied", m),
        tool::Error::Failed(m) => ScriptError::new("failed", m),
        tool::Error::Cancelled(m) => ScriptError::new("cancelled", m),
    }
}

pub fn agent_error(e: agent::Error) -> ScriptError {
    match e {
        agent::Error::Llm(e) => llm_error(e),
        agent::Error::Invalid(m) => ScriptError::new("invalid", m),
        agent::Error::Cancelled(m) => ScriptError::new("cancelled", m),
    }
}

pub fn hook_call(c: hooks::HookCall) -> Value {
    json!({
        "type": "hook",
        "id": c.id,
        "point": match c.point {
            hooks::HookPoint::BeforeLlm => "before_llm",
            hooks::HookPoint::AfterLlm => "after_llm",
            hooks::HookPoint::BeforeTool => "before_tool",
            hooks::HookPoint::AfterTool => "after_tool",
        },
        "payload": from_json_text(&c.payload_json),
    })
}

/// A hook's answer: nil/true/"proceed" go on; `{cancel = reason}` stops;
/// `{modify = payload}` goes on with a changed payload.
pub fn decision(value: Value) -> Res<hooks::Decision> {
    match value {
        Value::Null | Value::Bool(true) => Ok(hooks::Decision::Proceed),
        Value::String(s) if s == "proceed" => Ok(hooks::Decision::Proceed),
        Value::Bool(false) => Ok(hooks::Decision::Cancel(
            "cancelled by the spell's hook".into(),
        )),
        value => {
            let mut f = Fields::new("hook decision", value)?;
            let decision = if let Some(reason) = f.string("cancel")? {
                hooks::Decision::Cancel(reason)
            } else if let Some(payload) = f.take("modify") {
                hooks::Decision::Modify(payload.to_string())
            } else {
                hooks::Decision::Proceed
            };
            f.finish()?;
            Ok(decision)
        }
    }
}

// ---------------------------------------------------------------- events

pub fn event_json(e: event::Event) -> Value {
    json!({
        "topic": e.topic,
        "payload": from_json_text(&e.payload_json),
        "source": e.source,
        "timestamp_ms": e.timestamp_ms,
    })
}
