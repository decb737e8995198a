//! Waiting on several host operations at once (LLM requests, tool calls):
//! one `wasi:io/poll` over the ones still running, until all are done.

use crate::bindings::wasi::io::poll::{Pollable, poll};

/// Collects every operation's outcome, in order, while they all run.
pub(crate) fn wait_all<P, T>(
    pending: &[P],
    try_get: impl Fn(&P) -> Option<T>,
    subscribe: impl Fn(&P) -> Pollable,
) -> Vec<T> {
    let mut results: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    loop {
        let mut waiting = Vec::new();
        for (index, operation) in pending.iter().enumerate() {
            if results[index].is_none() {
                match try_get(operation) {
                    Some(result) => results[index] = Some(result),
                    None => waiting.push(index),
                }
            }
        }
        if waiting.is_empty() {
            break;
        }
        let pollables: Vec<Pollable> = waiting.iter().map(|&i| subscribe(&pending[i])).collect();
        let refs: Vec<&Pollable> = pollables.iter().collect();
        poll(&refs);
    }
    results
        .into_iter()
        .map(|r| r.expect("every operation finished"))
        .collect()
}
