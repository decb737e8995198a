//! Agents: a model with tools, run by the host's agent loop.
//!
//! ```ignore
//! let agent = Agent::builder()
//!     .system("You are a careful researcher.")
//!     .tools(["calculator", "http_fetch"])
//!     .max_steps(6)
//!     .build();
//! let result = agent.run("What is 17% of 2340?")?;
//! println!("{} ({} steps)", result.answer, result.steps.len());
//!
//! // Several agents at once:
//! let runs = vec![a.start("x"), b.start("y")];
//! for result in agent::wait_all(runs) { … }
//! ```
//!
//! While a run is in flight the SDK answers the host's requests for the
//! spell's own tools ([`crate::tool::register`]) and, with
//! [`AgentBuilder::on_hook`], hook decisions.

use std::rc::Rc;

use crate::bindings::spellhost::spell::agent as raw;
use crate::bindings::spellhost::spell::hooks::{Decision, HookCall, HookPoint};
use crate::bindings::wasi::io::poll::poll;
use crate::{Error, Result};

pub use raw::{AgentConfig, AgentResult, Step, StopReason, ToolResult};

type HookFn = Rc<dyn Fn(&HookCall) -> Decision>;

/// Builds an [`Agent`].
pub struct AgentBuilder {
    config: AgentConfig,
    hook: Option<HookFn>,
}

impl AgentBuilder {
    pub fn model(mut self, model: &str) -> Self {
        self.config.model = Some(model.to_owned());
        self
    }

    pub fn system(mut self, prompt: &str) -> Self {
        self.config.system = Some(prompt.to_owned());
        self
    }

    pub fn tools<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tools: I) -> Self {
        self.config.tools = tools.into_iter().map(Into::into).collect();
        self
    }

    pub fn max_steps(mut self, steps: u32) -> Self {
        self.config.max_steps = Some(steps);
        self
    }

    /// Keep the conversation across runs.
    pub fn memory(mut self, on: bool) -> Self {
        self.config.memory = on;
        self
    }

    pub fn temperature(mut self, temperature: f32) -> Self {
        self.config.temperature = Some(temperature);
        self
    }

    pub fn max_tokens(mut self, tokens: u32) -> Self {
        self.config.max_tokens = Some(tokens);
        self
    }

    pub fn name(mut self, name: &str) -> Self {
        self.config.name = Some(name.to_owned());
        self
    }

    /// Decide before and after each of the agent's LLM and tool calls.
    pub fn on_hook(mut self, hook: impl Fn(&HookCall) -> Decision + 'static) -> Self {
        self.config.hooks = true;
        self.hook = Some(Rc::new(hook));
        self
    }

    pub fn build(self) -> Agent {
        Agent {
            raw: raw::Agent::new(&self.config),
            hook: self.hook,
        }
    }
}

/// A conversation with a model and its tools.
pub struct Agent {
    raw: raw::Agent,
    hook: Option<HookFn>,
}

impl Agent {
    pub fn builder() -> AgentBuilder {
        AgentBuilder {
            config: AgentConfig {
                model: None,
                system: None,
                tools: Vec::new(),
                max_steps: None,
                memory: false,
                temperature: None,
                max_tokens: None,
                name: None,
                hooks: false,
            },
            hook: None,
        }
    }

    /// Runs the agent on `input` to the end.
    pub fn run(&self, input: &str) -> Result<AgentResult> {
        self.start(input).wait()
    }

    /// Starts a run; see [`wait_all`] to run several at once.
    pub fn start(&self, input: &str) -> Run {
        Run {
            raw: self.raw.start(input),
            hook: self.hook.clone(),
            result: None,
        }
    }

    /// The conversation so far (with memory on).
    pub fn history(&self) -> Vec<crate::llm::Message> {
        self.raw.history()
    }

    /// Forgets the conversation.
    pub fn reset(&self) {
        self.raw.reset()
    }
}

/// An agent run in flight.
pub struct Run {
    raw: raw::AgentRun,
    hook: Option<HookFn>,
    result: Option<Result<AgentResult>>,
}

impl Run {
    /// Handles every event available now; true once the run is done.
    fn pump(&mut self) -> bool {
        while self.result.is_none() {
            let Some(event) = self.raw.next() else {
                return false;
            };
            match event {
                raw::AgentEvent::CallTool(call) => {
                    let output = crate::tool::dispatch(&call.name, &call.arguments_json);
                    self.raw
                        .reply_tool(&call.id, output.as_deref().map_err(String::as_str));
                }
                raw::AgentEvent::Hook(call) => {
                    let decision = match &self.hook {
                        Some(hook) => hook(&call),
                        None => Decision::Proceed,
                    };
                    self.raw.decide(call.id, &decision);
                }
                raw::AgentEvent::Done(result) => self.result = Some(result.map_err(Error::from)),
            }
        }
        true
    }

    /// Waits for the result, answering the host meanwhile.
    pub fn wait(mut self) -> Result<AgentResult> {
        while !self.pump() {
            self.raw.subscribe().block();
        }
        self.result.take().expect("pump returned true")
    }
}

/// Waits for several runs at once; results in the order given.
pub fn wait_all(mut runs: Vec<Run>) -> Vec<Result<AgentResult>> {
    loop {
        let waiting: Vec<usize> = (0..runs.len()).filter(|&i| !runs[i].pump()).collect();
        if waiting.is_empty() {
            break;
        }
        let pollables: Vec<_> = waiting.iter().map(|&i| runs[i].raw.subscribe()).collect();
        let refs: Vec<_> = pollables.iter().collect();
        poll(&refs);
    }
    runs.into_iter()
        .map(|mut run| run.result.take().expect("every run is done"))
        .collect()
}

/// Whether a hook call is before an LLM request (a convenience for hooks).
pub fn is_before_llm(call: &HookCall) -> bool {
    call.point == HookPoint::BeforeLlm
}
