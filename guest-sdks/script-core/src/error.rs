//! Errors of bridge operations, as a script sees them.

use std::fmt;

/// A failed operation: `kind` is the WIT error case (`denied`,
/// `invalid-request`, `budget-exceeded`, `not-found`, …) or `invalid` for
/// arguments the script got wrong; `message` is meant for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub kind: String,
    pub message: String,
}

impl ScriptError {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// The script passed something unusable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid", message)
    }

    /// As JSON: `{"kind": …, "message": …}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "kind": self.kind, "message": self.message })
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// Result of a bridge operation.
pub type OpResult = Result<serde_json::Value, ScriptError>;
