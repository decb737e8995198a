//! A spell's WASI stdout and stderr, each byte counted against the run's
//! log budget ([`LogBudget`]), so `print` in a script or `println!` in a
//! compiled spell cannot fill a disk or a terminal any more than `log`
//! can; past the budget, a write traps with the log limit.
//!
//! Where the bytes go is the host's choice ([`GuestStdout`]):
//! `spellhost run` passes them through as written (the spell's output
//! follows them on stdout); a server, whose own stdout is not the
//! spell's, turns each line into a log line of its run, which the run's
//! watchers see.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::bridges::run::{RunCtx, RunSignal};
use crate::limits::{LINE_OVERHEAD, LogBudget};

/// Where the guest's stdout goes (its stderr goes to the host's stderr,
/// or to the log with [`GuestStdout::Log`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GuestStdout {
    /// The host's stdout, as written (`spellhost run`).
    Stdout,
    /// The host's stderr, as written (when stdout carries something else,
    /// such as `--output json`).
    #[default]
    Stderr,
    /// One log line per line written, in the run's log (a server).
    Log,
}

/// One of the guest's two output streams.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The stream the WASI context hands out for stdout or stderr.
pub struct GuestOutput {
    budget: LogBudget,
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    HostStdout,
    HostStderr,
    Lines(Arc<LineLog>),
}

impl GuestOutput {
    /// `stream` of a run (`run`: `None` for plugins) of `spell`, sent
    /// where `to` says.
    pub fn new(
        stream: Stream,
        to: GuestStdout,
        budget: LogBudget,
        spell: &str,
        run: Option<RunCtx>,
    ) -> Self {
        let sink = match (to, stream) {
            (GuestStdout::Log, _) => Sink::Lines(Arc::new(LineLog {
                spell: spell.to_owned(),
                run,
                stream,
                pending: Mutex::new(Vec::new()),
            })),
            (GuestStdout::Stdout, Stream::Stdout) => Sink::HostStdout,
            _ => Sink::HostStderr,
        };
        Self { budget, sink }
    }

    fn writer(&self) -> Writer {
        Writer {
            budget: self.budget.clone(),
            sink: self.sink.clone(),
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        match self.sink {
            Sink::HostStdout => std::io::IsTerminal::is_terminal(&std::io::stdout()),
            Sink::HostStderr => std::io::IsTerminal::is_terminal(&std::io::stderr()),
            Sink::Lines(_) => false,
        }
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }
}

/// Lines written to a stream that goes to the run's log: complete lines
/// leave at once, the last unfinished one when the run's WASI context is
/// dropped.
struct LineLog {
    spell: String,
    run: Option<RunCtx>,
    stream: Stream,
    pending: Mutex<Vec<u8>>,
}

impl LineLog {
    fn write(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend_from_slice(bytes);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            self.emit(&line[..end]);
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let (spell, run_id) = (
            self.spell.as_str(),
            self.run.as_ref().map_or("", RunCtx::run_id),
        );
        let level = match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "guest", run_id, "{spell}: {line}");
                "info"
            }
            Stream::Stderr => {
                tracing::warn!(target: "guest", run_id, "{spell}: {line}");
                "warn"
            }
        };
        if let Some(run) = &self.run {
            run.signal(|| RunSignal::Log {
                level,
                message: line.to_owned(),
            });
        }
    }
}

impl Drop for LineLog {
    fn drop(&mut self) {
        let pending = std::mem::take(self.pending.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !pending.is_empty() {
            self.emit(&pending);
        }
    }
}

/// What went to the host's stdout from spells so far: nothing (0), text
/// ending in a newline (1) or text that did not (2).
static HOST_STDOUT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether spells printed to the host's stdout in this process, and
/// whether what they printed ended with a newline: `None` when nothing
/// was printed, `Some(true)` when a line was left open.
pub fn printed_to_stdout() -> Option<bool> {
    match HOST_STDOUT.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        1 => Some(false),
        _ => Some(true),
    }
}

struct Writer {
    budget: LogBudget,
    sink: Sink,
}

impl Writer {
    fn write_all(&self, bytes: &[u8]) -> std::io::Result<()> {
        match &self.sink {
            Sink::HostStdout => {
                if let Some(&last) = bytes.last() {
                    let open = if last == b'\n' { 1 } else { 2 };
                    HOST_STDOUT.store(open, std::sync::atomic::Ordering::Relaxed);
                }
                std::io::stdout().write_all(bytes)
            }
            Sink::HostStderr => std::io::stderr().write_all(bytes),
            Sink::Lines(lines) => {
                lines.write(bytes);
                Ok(())
            }
        }
    }

    fn flush(&self) -> std::io::Result<()> {
        match &self.sink {
            Sink::HostStdout => std::io::stdout().flush(),
            Sink::HostStderr => std::io::stderr().flush(),
            Sink::Lines(_) => Ok(()),
        }
    }
}

impl Writer {
    /// What `bytes` cost: their length, and where they become log lines,
    /// a log line's overhead for each line they end (as `log` pays).
    fn cost(&self, bytes: &[u8]) -> u64 {
        let lines = match self.sink {
            Sink::Lines(_) => bytes.iter().filter(|&&b| b == b'\n').count() as u64,
            _ => 0,
        };
        bytes.len() as u64 + lines * LINE_OVERHEAD
    }
}

impl OutputStream for Writer {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.budget
            .spend(self.cost(&bytes))
            .map_err(|limit| StreamError::Trap(wasmtime::Error::new(limit)))?;
        self.write_all(&bytes)
            .map_err(|e| StreamError::LastOperationFailed(e.into()))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Writer::flush(self).map_err(|e| StreamError::LastOperationFailed(e.into()))
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for Writer {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(match self.budget.spend(self.cost(buf)) {
            Ok(()) => self.write_all(buf).map(|()| buf.len()),
            Err(limit) => Err(std::io::Error::other(limit)),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Writer::flush(&self))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
