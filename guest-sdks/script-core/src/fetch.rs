//! HTTP requests for scripts (JavaScript's `fetch`) over
//! `wasi:http/outgoing-handler`, as operations in flight: the request is
//! sent when it starts, and the response (status, headers, the whole body)
//! arrives through `ops.wait`/`ops.take` like an LLM answer, so several
//! requests and LLM calls wait together.
//!
//! The host checks every request against the run's `--allow-net` grants
//! (and refuses names that resolve to private addresses unless those are
//! granted); a refusal arrives here as `http-request-denied` or
//! `destination-ip-prohibited` and becomes a `denied` error naming the
//! flag. Redirects are not followed here: the language's `fetch` follows
//! them, each hop a request of its own that the host checks again.

use serde_json::{Value, json};

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::poll::Pollable;
use crate::bindings::wasi::io::streams::{InputStream, StreamError};
use crate::error::ScriptError;

/// The largest response body a script may receive (the run's memory
/// limit bounds it too).
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// A request in flight.
pub struct Fetch {
    url: String,
    /// `host:port`, as a denial names it.
    host: String,
    state: State,
    /// Why the request body could not be sent, reported unless the
    /// response says something more telling (a denial, a refused
    /// connection).
    body_failed: Option<ScriptError>,
}

enum State {
    /// Sent; the response head has not arrived.
    Waiting(FutureIncomingResponse),
    /// The head arrived; the body is being read. Fields drop in order: the
    /// stream before its body, the body before its response.
    Reading {
        status: u16,
        headers: Vec<(String, String)>,
        bytes: Vec<u8>,
        stream: InputStream,
        _body: IncomingBody,
        _response: IncomingResponse,
    },
}

/// What `take` found.
pub enum Progress {
    Pending,
    Done(Value),
    Failed(ScriptError),
}

impl Fetch {
    /// Sends a request described by `{method, url, headers: [[name, value]],
    /// body, body_bytes}` (`body` is text, or bytes as a string of code
    /// points 0–255 when `body_bytes` is true).
    pub fn start(request: &Value) -> Result<Fetch, ScriptError> {
        let url = request["url"]
            .as_str()
            .ok_or_else(|| ScriptError::invalid("fetch: the URL must be a string"))?;
        let target = Target::parse(url)?;
        let body = body_bytes(request)?;
        let mut fields = Vec::new();
        if let Some(headers) = request["headers"].as_array() {
            for pair in headers {
                let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) else {
                    return Err(ScriptError::invalid(
                        "fetch: headers must be [name, value] pairs of strings",
                    ));
                };
                fields.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
            }
        }
        // A body of known size goes with its length, as the platform's
        // fetch sends it (not chunked, which many servers refuse).
        if !body.is_empty() && !fields.iter().any(|(name, _)| name == "content-length") {
            fields.push(("content-length".into(), body.len().to_string().into_bytes()));
        }
        let headers = Fields::from_list(&fields).map_err(|_| {
            // Name the header the host refuses (`host`, `connection`, …).
            let refused = fields
                .iter()
                .find(|(name, value)| Fields::from_list(&[(name.clone(), value.clone())]).is_err())
                .map_or("one of them".to_owned(), |(name, _)| format!("`{name}`"));
            ScriptError::invalid(format!(
                "fetch: the header {refused} cannot be set by a spell (the host sets it, or it is not a valid header)"
            ))
        })?;
        let outgoing = OutgoingRequest::new(headers);
        let method = request["method"].as_str().unwrap_or("GET");
        outgoing
            .set_method(&method_of(method))
            .map_err(|()| ScriptError::invalid(format!("fetch: `{method}` is not a method")))?;
        outgoing
            .set_scheme(Some(&target.scheme))
            .and_then(|()| outgoing.set_authority(Some(&target.authority)))
            .and_then(|()| outgoing.set_path_with_query(Some(&target.path)))
            .map_err(|()| ScriptError::invalid(format!("fetch: `{url}` is not a valid URL")))?;
        // No body: none is opened, and the request goes out without one.
        let outgoing_body = if body.is_empty() {
            None
        } else {
            Some(
                outgoing
                    .body()
                    .map_err(|()| ScriptError::new("network", "fetch: the request has no body"))?,
            )
        };
        let future = outgoing_handler::handle(outgoing, None)
            .map_err(|code| error(&code, url, &target.host))?;
        // A request the host refuses (or cannot send) stops reading the
        // body: the answer then says why, so a failed write waits for it.
        let body_failed = outgoing_body.and_then(|b| write_body(b, &body).err());
        Ok(Fetch {
            url: url.to_owned(),
            host: target.host,
            state: State::Waiting(future),
            body_failed,
        })
    }

    /// A pollable ready when `take` can make progress.
    pub fn subscribe(&self) -> Pollable {
        match &self.state {
            State::Waiting(future) => future.subscribe(),
            State::Reading { stream, .. } => stream.subscribe(),
        }
    }

    /// Progress: the head, then as much of the body as has arrived; done
    /// with `{status, headers, url, text, bytes?}` when the body ends.
    pub fn take(&mut self) -> Progress {
        if let State::Waiting(future) = &self.state {
            let response = match future.get() {
                None => return Progress::Pending,
                Some(Err(())) => {
                    return Progress::Failed(ScriptError::new(
                        "network",
                        "fetch: the response was taken already (a spellhost bug)",
                    ));
                }
                Some(Ok(Err(code))) => {
                    return Progress::Failed(error(&code, &self.url, &self.host));
                }
                Some(Ok(Ok(_))) if self.body_failed.is_some() => {
                    return Progress::Failed(self.body_failed.take().expect("checked above"));
                }
                Some(Ok(Ok(response))) => response,
            };
            let status = response.status();
            let headers = response
                .headers()
                .entries()
                .into_iter()
                .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
                .collect();
            let Ok(body) = response.consume() else {
                return Progress::Failed(ScriptError::new(
                    "network",
                    "fetch: the response has no body",
                ));
            };
            let Ok(stream) = body.stream() else {
                return Progress::Failed(ScriptError::new(
                    "network",
                    "fetch: the body cannot be read",
                ));
            };
            self.state = State::Reading {
                status,
                headers,
                bytes: Vec::new(),
                stream,
                _body: body,
                _response: response,
            };
        }
        let State::Reading {
            status,
            headers,
            bytes,
            stream,
            ..
        } = &mut self.state
        else {
            unreachable!("the head was read above");
        };
        loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => return Progress::Pending,
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_BODY_BYTES {
                        return Progress::Failed(ScriptError::new(
                            "too-large",
                            format!(
                                "fetch: the response from {} is larger than {} MiB",
                                self.url,
                                MAX_BODY_BYTES >> 20
                            ),
                        ));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Progress::Failed(ScriptError::new(
                        "network",
                        format!(
                            "fetch: reading the response from {} failed: {}",
                            self.url,
                            e.to_debug_string()
                        ),
                    ));
                }
            }
        }
        let bytes = std::mem::take(bytes);
        let mut done = json!({
            "status": *status,
            "headers": headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
            "url": self.url,
        });
        match String::from_utf8(bytes) {
            Ok(text) => done["text"] = text.into(),
            Err(e) => {
                let bytes = e.into_bytes();
                done["text"] = String::from_utf8_lossy(&bytes).into_owned().into();
                done["bytes"] = bytes
                    .iter()
                    .map(|&b| char::from(b))
                    .collect::<String>()
                    .into();
            }
        }
        Progress::Done(done)
    }
}

/// The parts of an `http://` or `https://` URL a request needs.
struct Target {
    scheme: Scheme,
    authority: String,
    /// `host:port`, as `--allow-net` takes it.
    host: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, ScriptError> {
        let invalid = |why: &str| {
            ScriptError::invalid(format!(
                "fetch: `{url}` is not a URL fetch can request: {why}"
            ))
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("it needs http:// or https://"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(invalid(&format!(
                    "the scheme `{other}` is not http or https"
                )));
            }
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() {
            return Err(invalid("it has no host"));
        }
        if authority.contains('@') {
            return Err(invalid(
                "credentials in URLs are not sent; use an Authorization header",
            ));
        }
        let mut path = percent_encode(rest[end..].split('#').next().unwrap_or(""));
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        // `host:port` as `--allow-net` takes it (the scheme's port if none).
        let has_port = match authority.rfind(']') {
            Some(end) => authority[end..].contains(':'),
            None => authority.contains(':'),
        };
        let host = if has_port {
            authority.to_owned()
        } else {
            let port = if matches!(scheme, Scheme::Https) {
                443
            } else {
                80
            };
            format!("{authority}:{port}")
        };
        Ok(Target {
            scheme,
            authority: authority.to_owned(),
            host,
            path,
        })
    }
}

/// The path and query with what may not appear in a request line
/// percent-encoded (spaces, quotes, brackets, controls, non-ASCII as
/// UTF-8), as the URL standard does; `%` escapes already there stay.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_graphic()
            && !matches!(
                byte,
                b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'\\' | b'^'
            );
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn method_of(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(name.to_owned()),
    }
}

fn body_bytes(request: &Value) -> Result<Vec<u8>, ScriptError> {
    match &request["body"] {
        Value::Null => Ok(Vec::new()),
        Value::String(text) if request["body_bytes"] == true => text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| {
                ScriptError::invalid("fetch: body bytes out of range (a spellhost bug)")
            }),
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        _ => Err(ScriptError::invalid(
            "fetch: the body must be a string or bytes",
        )),
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), ScriptError> {
    let failed = |e: StreamError| {
        ScriptError::new(
            "network",
            format!(
                "fetch: sending the request body failed: {}",
                match e {
                    StreamError::LastOperationFailed(e) => e.to_debug_string(),
                    StreamError::Closed => "the connection closed".into(),
                }
            ),
        )
    };
    {
        let stream = body.write().map_err(|()| {
            ScriptError::new("network", "fetch: the request body cannot be written")
        })?;
        // `blocking-write-and-flush` takes at most 4096 bytes a call.
        for chunk in bytes.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(failed)?;
        }
    }
    OutgoingBody::finish(body, None)
        .map_err(|code| ScriptError::new("network", format!("fetch: {code:?}")))
}

/// A refusal or failure as the script sees it: a denial names the flag.
fn error(code: &ErrorCode, url: &str, host: &str) -> ScriptError {
    match code {
        ErrorCode::HttpRequestDenied => ScriptError::new(
            "denied",
            format!(
                "fetch {url}: network access to {host} is not granted; allow it with --allow-net {host}"
            ),
        ),
        ErrorCode::DestinationIpProhibited => ScriptError::new(
            "denied",
            format!(
                "fetch {url}: {host} resolves to a private or loopback address, which a name grant does not open; grant the address itself with --allow-net"
            ),
        ),
        ErrorCode::DestinationNotFound => ScriptError::new(
            "network",
            format!("fetch {url}: {host} was not found (DNS)"),
        ),
        ErrorCode::ConnectionRefused => ScriptError::new(
            "network",
            format!("fetch {url}: the connection was refused"),
        ),
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout => ScriptError::new(
            "network",
            format!("fetch {url}: the server did not answer in time"),
        ),
        ErrorCode::HttpRequestUriInvalid => {
            ScriptError::invalid(format!("fetch: `{url}` is not a valid URL"))
        }
        other => ScriptError::new("network", format!("fetch {url}: {other:?}")),
    }
}
