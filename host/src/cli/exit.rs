//! Exit codes of `spellhost`, one per kind of failure, so scripts can tell
//! a spell's own error from a limit or a broken component.
//!
//! | code | meaning                                                   |
//! |------|-----------------------------------------------------------|
//! | 0    | the spell ran and returned its output                     |
//! | 1    | the spell ran and returned an error                       |
//! | 2    | bad command line (unknown flag, malformed value)          |
//! | 3    | not a runnable spell (not a component, invalid, missing import, no `run` export) |
//! | 4    | the spell crashed (trap: panic, out-of-bounds access, …)  |
//! | 5    | host error (file unreadable, bad config, state store failure, registry unreachable) |
//! | 6    | refused: a package not verified (unsigned, untrusted key, altered, not what the lock pins) or its grants not approved |
//! | 10   | fuel exhausted (`--fuel`)                                 |
//! | 11   | memory limit reached (`--memory`)                         |
//! | 12   | wall-clock timeout (`--timeout`)                          |
//! | 13   | output too large (`--max-output`)                         |
//! | 14   | stack overflow                                            |
//! | 15   | too many resource handles held at once (`--max-handles`)  |
//! | 16   | too much logged (`--max-log`)                             |

use std::process::ExitCode;

use crate::limits::LimitExceeded;
use crate::runtime::RunError;

pub const OK: u8 = 0;
pub const SPELL_FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const NOT_A_SPELL: u8 = 3;
pub const TRAP: u8 = 4;
pub const HOST: u8 = 5;
pub const REFUSED: u8 = 6;
pub const FUEL: u8 = 10;
pub const MEMORY: u8 = 11;
pub const TIMEOUT: u8 = 12;
pub const OUTPUT: u8 = 13;
pub const STACK: u8 = 14;
pub const HANDLES: u8 = 15;
pub const LOG: u8 = 16;

/// The exit code for a run error.
pub fn code(err: &RunError) -> u8 {
    match err {
        RunError::Failed(_) => SPELL_FAILED,
        RunError::NotAComponent(_)
        | RunError::Invalid(_)
        | RunError::MissingImport { .. }
        | RunError::NotASpell(_) => NOT_A_SPELL,
        RunError::Trap(_) => TRAP,
        RunError::Host(_) => HOST,
        RunError::Limit(limit) => match limit {
            LimitExceeded::Fuel { .. } => FUEL,
            LimitExceeded::Memory { .. } => MEMORY,
            LimitExceeded::Timeout { .. } => TIMEOUT,
            LimitExceeded::Output { .. } => OUTPUT,
            LimitExceeded::Stack => STACK,
            LimitExceeded::Handles { .. } => HANDLES,
            LimitExceeded::Log { .. } => LOG,
        },
    }
}

pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// A command's result as its exit code: `OK`, or the error printed and
/// `HOST`.
pub fn report(result: anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => OK,
        Err(err) => {
            eprintln!("error: {err:#}");
            HOST
        }
    }
}
