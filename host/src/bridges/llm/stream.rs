//! Turning an HTTP response body of server-sent events into an
//! [`EventStream`]: a task reads the body, a wire-format-specific decoder
//! turns SSE events into stream events, and the stream ends with `Finish`
//! or an error — never silently, never hanging past the idle timeout.

use std::time::Duration;

use futures::StreamExt as _;

use super::provider::{EventStream, LlmError, StreamEvent};
use super::sse::{SseDecoder, SseEvent};

/// A wire format's stream decoder.
pub trait StreamDecoder: Send + 'static {
    /// Events produced by one SSE event. An `Err` or a `Finish` ends the stream.
    fn event(&mut self, event: SseEvent) -> Vec<Result<StreamEvent, LlmError>>;
    /// The body ended: the final events, or an error if the answer was cut.
    fn end(&mut self) -> Vec<Result<StreamEvent, LlmError>>;
}

/// Pumps `response`'s body through `decoder` on a task.
pub fn sse_stream(
    provider: String,
    response: reqwest::Response,
    idle: Duration,
    mut decoder: impl StreamDecoder,
) -> EventStream {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut bytes = response.bytes_stream();
        let mut sse = SseDecoder::new();
        let send_all = |items: Vec<Result<StreamEvent, LlmError>>| {
            for item in items {
                let last = !matches!(item, Ok(StreamEvent::Text(_) | StreamEvent::ToolCall(_)));
                if tx.send(item).is_err() || last {
                    return false;
                }
            }
            true
        };
        loop {
            let chunk = match tokio::time::timeout(idle, bytes.next()).await {
                Err(_) => {
                    send_all(vec![Err(LlmError::Timeout(format!(
                        "{provider} sent nothing for {}s in the middle of a stream",
                        idle.as_secs()
                    )))]);
                    return;
                }
                Ok(None) => {
                    // A partial event left in the decoder means the body was
                    // cut mid-event; the decoder's `end` reports a cut
                    // whenever it saw no finish.
                    send_all(decoder.end());
                    return;
                }
                Ok(Some(Err(e))) => {
                    send_all(vec![Err(LlmError::Unavailable(format!(
                        "{provider} stream was cut: {}",
                        super::http::error_chain(&e)
                    )))]);
                    return;
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            for event in sse.push(&chunk) {
                if !send_all(decoder.event(event)) {
                    return;
                }
            }
        }
    });
    let guard = AbortOnDrop(task);
    Box::pin(futures::stream::unfold(
        (rx, guard),
        |(mut rx, guard)| async move { rx.recv().await.map(|item| (item, (rx, guard))) },
    ))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
