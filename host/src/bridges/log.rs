//! The log bridge: guest log lines become `tracing` events with target
//! `guest`, so the CLI's `--log-level` filters them with the host's own.
//! Each names its run (`run_id` field), so a server's log can be split by
//! run; `spellhost run`, one run per process, leaves the field out of what
//! it prints. A watched run also shows each line to its watcher.

use wasmtime::component::{HasData, Linker};

use crate::bindings::log::{self, Level};
use crate::bridges::run::{RunCtx, RunSignal};
use crate::limits::{LINE_OVERHEAD, LogBudget};

/// Longest message kept; longer ones are cut (on a character boundary).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Per-instance log context.
pub struct LogCtx {
    spell_name: String,
    /// The run the lines belong to (`None` for plugin instances).
    run: Option<RunCtx>,
    /// What the run may still log (`--max-log`).
    budget: LogBudget,
}

impl LogCtx {
    pub fn new(spell_name: String, run: Option<RunCtx>, budget: LogBudget) -> Self {
        Self {
            spell_name,
            run,
            budget,
        }
    }
}

struct LogBridge;

impl HasData for LogBridge {
    type Data<'a> = &'a mut LogCtx;
}

/// Wires `spellhost:spell/log` into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> &mut LogCtx,
) -> wasmtime::Result<()> {
    log::add_to_linker::<T, LogBridge>(linker, view)
}

impl log::Host for &mut LogCtx {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let mut end = message.len().min(MAX_MESSAGE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = &message[..end];
        self.budget
            .spend(message.len() as u64 + LINE_OVERHEAD)
            .map_err(wasmtime::Error::new)?;
        let spell = self.spell_name.as_str();
        let run_id = self.run.as_ref().map_or("", RunCtx::run_id);
        if let Some(run) = &self.run {
            run.signal(|| RunSignal::Log {
                level: level_name(level),
                message: message.to_owned(),
            });
        }
        match level {
            Level::Trace => tracing::trace!(target: "guest", run_id, "{spell}: {message}"),
            Level::Debug => tracing::debug!(target: "guest", run_id, "{spell}: {message}"),
            Level::Info => tracing::info!(target: "guest", run_id, "{spell}: {message}"),
            Level::Warn => tracing::warn!(target: "guest", run_id, "{spell}: {message}"),
            Level::Error => tracing::error!(target: "guest", run_id, "{spell}: {message}"),
        }
        Ok(())
    }
}

/// A level's name as the host's own log writes it.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}
