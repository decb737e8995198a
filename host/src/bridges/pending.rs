//! One result a host task is computing for a guest: the shape behind every
//! "start now, collect later" resource (`pending-chat`, `pending-call`).
//! The task runs whether or not the guest waits on it; dropping the
//! resource aborts it.

use std::future::Future;

use wasmtime_wasi::runtime::AbortOnDropJoinHandle;

/// A value a host task is producing (see the module docs).
pub struct Pending<T: Send + 'static> {
    state: State<T>,
}

enum State<T> {
    Running(AbortOnDropJoinHandle<T>),
    Ready(T),
    Taken,
}

impl<T: Send + 'static> Pending<T> {
    /// Starts `work` on its own task, within the caller's span.
    pub fn spawn(work: impl Future<Output = T> + Send + 'static) -> Self {
        use tracing::Instrument as _;
        Self {
            state: State::Running(wasmtime_wasi::runtime::spawn(work.in_current_span())),
        }
    }

    /// An outcome known at once (a call refused before it started).
    pub fn ready(value: T) -> Self {
        Self {
            state: State::Ready(value),
        }
    }

    /// The outcome if it has arrived, handed out once: `None` while the
    /// task runs, `Some(taken())` once it was collected before.
    pub fn take(&mut self, taken: impl FnOnce() -> T) -> Option<T> {
        if let State::Running(handle) = &mut self.state {
            let value = wasmtime_wasi::runtime::poll_noop(std::pin::Pin::new(handle))?;
            self.state = State::Ready(value);
        }
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Ready(value) => Some(value),
            State::Taken => Some(taken()),
            State::Running(_) => unreachable!("handled above"),
        }
    }

    /// Waits for the task (the guest's pollable).
    pub async fn ready_wait(&mut self) {
        if let State::Running(handle) = &mut self.state {
            self.state = State::Ready(handle.await);
        }
    }
}
