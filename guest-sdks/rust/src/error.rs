//! One error type for spells, so `?` works across every bridge.

use crate::bindings::spellhost::spell::{agent, event, llm, state, tool, workflow};

/// Anything a spell's bridge call can fail with.
#[derive(Debug)]
pub enum Error {
    /// An LLM request failed; match on the variant to decide what to do.
    Llm(llm::Error),
    /// A state operation failed.
    State(state::Error),
    /// An event operation failed.
    Event(event::Error),
    /// A tool call failed.
    Tool(tool::Error),
    /// An agent run failed.
    Agent(agent::Error),
    /// A workflow failed.
    Workflow(workflow::Error),
    /// An outgoing HTTP request failed or was denied.
    Http(crate::http::HttpError),
    /// A file or socket operation failed (or was denied by the sandbox).
    Io(std::io::Error),
    /// A value could not be converted to or from JSON.
    Json(serde_json::Error),
    /// Any other failure, as a message.
    Message(String),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Message(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Llm(e) => match e {
                llm::Error::InvalidRequest(m) => write!(f, "LLM request invalid: {m}"),
                llm::Error::Auth(m) => write!(f, "LLM authentication failed: {m}"),
                llm::Error::RateLimited(r) => write!(f, "LLM rate limited: {}", r.message),
                llm::Error::Denied(m) => write!(f, "LLM access denied: {m}"),
                llm::Error::Timeout(m) => write!(f, "LLM timed out: {m}"),
                llm::Error::Unavailable(m) => write!(f, "LLM unavailable: {m}"),
                llm::Error::BudgetExceeded(m) => write!(f, "LLM budget exceeded: {m}"),
                llm::Error::Provider(p) => write!(f, "LLM provider error: {}", p.message),
            },
            Error::State(e) => match e {
                state::Error::Denied(m) => write!(f, "state access denied: {m}"),
                state::Error::Invalid(m) => write!(f, "invalid state operation: {m}"),
                state::Error::Storage(m) => write!(f, "state storage failed: {m}"),
                state::Error::QuotaExceeded(m) => write!(f, "state quota exceeded: {m}"),
            },
            Error::Event(e) => match e {
                event::Error::Invalid(m) => write!(f, "invalid event: {m}"),
                event::Error::Denied(m) => write!(f, "event denied: {m}"),
            },
            Error::Tool(e) => match e {
                tool::Error::NotFound(m) => write!(f, "tool: {m}"),
                tool::Error::InvalidArguments(m) => write!(f, "tool: invalid arguments: {m}"),
                tool::Error::Denied(m) => write!(f, "tool denied: {m}"),
                tool::Error::Failed(m) => write!(f, "tool failed: {m}"),
                tool::Error::Cancelled(m) => write!(f, "tool call cancelled: {m}"),
            },
            Error::Agent(e) => match e {
                agent::Error::Llm(e) => write!(f, "agent: {}", Error::Llm(e.clone())),
                agent::Error::Invalid(m) => write!(f, "agent: {m}"),
                agent::Error::Cancelled(m) => write!(f, "agent cancelled: {m}"),
            },
            Error::Workflow(e) => match e {
                workflow::Error::Invalid(m) => write!(f, "workflow: {m}"),
                workflow::Error::StepFailed(m) => write!(f, "workflow: {m}"),
                workflow::Error::Cancelled(m) => write!(f, "workflow: {m}"),
            },
            Error::Http(e) => write!(f, "HTTP: {e}"),
            Error::Io(e) => write!(f, "I/O: {e}"),
            Error::Json(e) => write!(f, "JSON: {e}"),
            Error::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<llm::Error> for Error {
    fn from(e: llm::Error) -> Self {
        Self::Llm(e)
    }
}

impl From<state::Error> for Error {
    fn from(e: state::Error) -> Self {
        Self::State(e)
    }
}

impl From<event::Error> for Error {
    fn from(e: event::Error) -> Self {
        Self::Event(e)
    }
}

impl From<tool::Error> for Error {
    fn from(e: tool::Error) -> Self {
        Self::Tool(e)
    }
}

impl From<agent::Error> for Error {
    fn from(e: agent::Error) -> Self {
        Self::Agent(e)
    }
}

impl From<workflow::Error> for Error {
    fn from(e: workflow::Error) -> Self {
        Self::Workflow(e)
    }
}

impl From<crate::http::HttpError> for Error {
    fn from(e: crate::http::HttpError) -> Self {
        Self::Http(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::Message(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::Message(message.to_owned())
    }
}
