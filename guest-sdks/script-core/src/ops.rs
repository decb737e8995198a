//! Operations in flight: LLM requests, streams, tool calls, agent runs,
//! event subscriptions and timers, numbered so a script's scheduler can wait on any set of
//! them at once (`ops.wait`) and collect what each produced (`ops.take`).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::bindings::spellhost::spell::{agent, event, llm, tool};
use crate::bindings::wasi::io::poll::{Pollable, poll};
use crate::convert;
use crate::error::{OpResult, ScriptError};

/// One operation in flight.
pub enum Op {
    Chat(llm::PendingChat),
    Stream {
        stream: llm::ChatStream,
        finished: bool,
    },
    ToolCall(tool::PendingCall),
    AgentRun(agent::AgentRun),
    Subscription(event::Subscription),
    /// A timer: done once its time has passed.
    Timer(Pollable),
    /// An HTTP request (`fetch`).
    Fetch(Box<crate::fetch::Fetch>),
}

impl Op {
    /// A pollable for this operation (a timer is its own pollable).
    fn subscribe(&self) -> Option<Pollable> {
        Some(match self {
            Op::Chat(p) => p.subscribe(),
            Op::Stream { stream, .. } => stream.subscribe(),
            Op::ToolCall(p) => p.subscribe(),
            Op::AgentRun(r) => r.subscribe(),
            Op::Subscription(s) => s.subscribe(),
            Op::Fetch(f) => f.subscribe(),
            Op::Timer(_) => return None,
        })
    }
}

/// What `take` found.
enum Progress {
    /// Nothing new yet.
    Pending,
    /// One more item (a stream event, an agent's request, an event).
    Item(Value),
    /// Finished with a value; the operation is gone.
    Done(Value),
    /// Finished with an error; the operation is gone.
    Failed(ScriptError),
    /// A stream ended; the operation is gone.
    End,
}

#[derive(Default)]
pub struct Ops {
    next_id: u32,
    ops: HashMap<u32, Op>,
}

impl Ops {
    pub fn insert(&mut self, op: Op) -> u32 {
        self.next_id += 1;
        self.ops.insert(self.next_id, op);
        self.next_id
    }

    pub fn get(&self, id: u32) -> Result<&Op, ScriptError> {
        self.ops.get(&id).ok_or_else(|| unknown(id))
    }

    pub fn remove(&mut self, id: u32) {
        self.ops.remove(&id);
    }

    /// Blocks until at least one of `ids` can make progress; returns those.
    pub fn wait(&self, ids: &[u32]) -> Result<Vec<u32>, ScriptError> {
        if ids.is_empty() {
            return Err(ScriptError::invalid(
                "ops.wait needs at least one operation",
            ));
        }
        let ops = ids
            .iter()
            .map(|&id| self.get(id))
            .collect::<Result<Vec<_>, _>>()?;
        let fresh: Vec<Option<Pollable>> = ops.iter().map(|op| op.subscribe()).collect();
        let refs: Vec<&Pollable> = ops
            .iter()
            .zip(&fresh)
            .map(|(op, fresh)| match (op, fresh) {
                (Op::Timer(timer), _) => timer,
                (_, Some(pollable)) => pollable,
                (_, None) => unreachable!("only timers have no fresh pollable"),
            })
            .collect();
        Ok(poll(&refs).into_iter().map(|i| ids[i as usize]).collect())
    }

    /// Collects what operation `id` produced, as
    /// `{"state": "pending" | "item" | "done" | "error" | "end", …}`.
    pub fn take(&mut self, id: u32) -> OpResult {
        let progress = match self.ops.get_mut(&id).ok_or_else(|| unknown(id))? {
            Op::Chat(pending) => match pending.get() {
                None => Progress::Pending,
                Some(Ok(response)) => Progress::Done(convert::chat_response(response)),
                Some(Err(e)) => Progress::Failed(convert::llm_error(e)),
            },
            Op::Stream { stream, finished } => match stream.try_next() {
                Ok(Some(e)) => {
                    *finished |= matches!(e, llm::StreamEvent::Finish(_));
                    Progress::Item(convert::stream_event(e))
                }
                Ok(None) if *finished => Progress::End,
                Ok(None) => Progress::Pending,
                Err(e) => Progress::Failed(convert::llm_error(e)),
            },
            Op::ToolCall(pending) => match pending.get() {
                None => Progress::Pending,
                Some(Ok(text)) => Progress::Done(convert::from_json_text(&text)),
                Some(Err(e)) => Progress::Failed(convert::tool_error(e)),
            },
            Op::AgentRun(run) => match run.next() {
                None => Progress::Pending,
                Some(agent::AgentEvent::CallTool(call)) => {
                    let mut item = convert::tool_call_json(call);
                    item["type"] = "call_tool".into();
                    Progress::Item(item)
                }
                Some(agent::AgentEvent::Hook(call)) => Progress::Item(convert::hook_call(call)),
                Some(agent::AgentEvent::Done(Ok(result))) => {
                    Progress::Done(convert::agent_result(result))
                }
                Some(agent::AgentEvent::Done(Err(e))) => Progress::Failed(convert::agent_error(e)),
            },
            Op::Subscription(sub) => match sub.try_next() {
                Some(e) => Progress::Item(convert::event_json(e)),
                None => Progress::Pending,
            },
            Op::Fetch(fetch) => match fetch.take() {
                crate::fetch::Progress::Pending => Progress::Pending,
                crate::fetch::Progress::Done(value) => Progress::Done(value),
                crate::fetch::Progress::Failed(e) => Progress::Failed(e),
            },
            Op::Timer(timer) if timer.ready() => Progress::Done(Value::Null),
            Op::Timer(_) => Progress::Pending,
        };
        Ok(match progress {
            Progress::Pending => json!({ "state": "pending" }),
            Progress::Item(value) => json!({ "state": "item", "value": value }),
            Progress::Done(value) => {
                self.remove(id);
                json!({ "state": "done", "value": value })
            }
            Progress::Failed(error) => {
                self.remove(id);
                json!({ "state": "error", "error": error.to_json() })
            }
            Progress::End => {
                self.remove(id);
                json!({ "state": "end" })
            }
        })
    }
}

fn unknown(id: u32) -> ScriptError {
    ScriptError::invalid(format!(
        "no operation {id} in flight (it finished or was dropped)"
    ))
}
