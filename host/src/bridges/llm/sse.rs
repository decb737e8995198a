//! Server-sent events (the `text/event-stream` format), decoded
//! incrementally from arbitrary byte chunks.
//!
//! Implements the parts of the WHATWG algorithm LLM APIs use: `data:` lines
//! (joined with `\n`), `event:` names, comments, and `\n`, `\r\n` or `\r`
//! line endings. A chunk may split a line, or even a UTF-8 character,
//! anywhere.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when present (Anthropic names its events).
    pub event: Option<String>,
    /// All `data:` lines of the event joined with `\n`.
    pub data: String,
}

/// Incremental decoder: feed chunks with [`SseDecoder::push`].
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    /// The previous chunk ended with `\r`: a leading `\n` belongs to it.
    skip_lf: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `chunk`, returning the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.skip_lf) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.skip_lf = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.end_line(&line) {
                        events.push(event);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// True when a partial event is buffered (data seen, no blank line yet).
    pub fn has_partial(&self) -> bool {
        self.data.is_some() || !self.line.is_empty()
    }

    fn end_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take()?;
            return Some(SseEvent {
                event: self.event.take(),
                data,
            });
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn events_split_across_chunks_at_every_byte() {
        let stream = b"data: {\"a\":1}\n\n: keep-alive\n\nevent: ping\ndata: x\ndata: y\r\n\r\ndata: [DONE]\n\n";
        for split in 0..stream.len() {
            let mut decoder = SseDecoder::new();
            let mut events = decoder.push(&stream[..split]);
            events.extend(decoder.push(&stream[split..]));
            assert_eq!(
                data(&events),
                ["{\"a\":1}", "x\ny", "[DONE]"],
                "split at {split}"
            );
            assert_eq!(events[1].event.as_deref(), Some("ping"));
            assert!(!decoder.has_partial());
        }
    }

    #[test]
    fn cut_event_is_reported_as_partial() {
        let mut decoder = SseDecoder::new();
        assert!(decoder.push(b"data: {\"choices\"").is_empty());
        assert!(decoder.has_partial());
    }

    #[test]
    fn multibyte_characters_survive_chunking() {
        let stream = "data: héllo ✓\n\n".as_bytes();
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for byte in stream {
            events.extend(decoder.push(std::slice::from_ref(byte)));
        }
        assert_eq!(data(&events), ["héllo ✓"]);
    }
}
