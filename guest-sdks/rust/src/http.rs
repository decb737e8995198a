//! Outgoing HTTP through `wasi:http`, within the spell's `--allow-net`
//! grants.
//!
//! ```ignore
//! let page = spellhost_sdk::http::get("https://example.com/")?.text()?;
//! let reply = spellhost_sdk::http::Request::post("https://api.example.com/v1/items")
//!     .header("content-type", "application/json")
//!     .body(br#"{"name":"x"}"#.to_vec())
//!     .send()?;
//! ```
//!
//! Redirects are followed here, in the spell (up to [`MAX_REDIRECTS`]); the
//! host checks every hop against the grants as a request of its own, so a
//! granted host cannot redirect the spell somewhere it was not granted.

use std::fmt;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{self as wasi, ErrorCode};

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 10;
const WRITE_CHUNK: usize = 4096;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused: `url`'s host is not granted.
    Denied { url: String, host: String },
    /// The host refused: the name resolves to an address that is not granted.
    AddressProhibited { url: String, host: String },
    /// Not an `http://` or `https://` URL.
    InvalidUrl(String),
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects(String),
    /// Connecting or transferring failed.
    Transport { url: String, code: String },
    /// The body is not what was asked for (UTF-8, JSON).
    Body(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied { url, host } => write!(
                f,
                "spellhost denied the request to {url}: {host} is not granted (grant it with --allow-net {host}, or net = [\"{host}\"] in the manifest)"
            ),
            HttpError::AddressProhibited { url, host } => write!(
                f,
                "spellhost denied the request to {url}: {host} resolves to a private address that is not granted (see the host's message for the flag)"
            ),
            HttpError::InvalidUrl(url) => write!(f, "`{url}` is not an http(s) URL"),
            HttpError::TooManyRedirects(url) => {
                write!(f, "more than {MAX_REDIRECTS} redirects, last to {url}")
            }
            HttpError::Transport { url, code } => write!(f, "request to {url} failed: {code}"),
            HttpError::Body(why) => write!(f, "response body: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A response, with its body read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The URL that answered, after redirects.
    pub url: String,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> Result<String, HttpError> {
        String::from_utf8(self.body.clone()).map_err(|e| HttpError::Body(e.to_string()))
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Body(e.to_string()))
    }
}

/// `GET url`, following redirects.
pub fn get(url: &str) -> Result<Response, HttpError> {
    Request::get(url).send()
}

/// A request to build and send.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    follow_redirects: bool,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            follow_redirects: true,
        }
    }

    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Return `3xx` responses instead of following them.
    pub fn no_redirects(mut self) -> Self {
        self.follow_redirects = false;
        self
    }

    /// Sends the request, following redirects unless told not to.
    pub fn send(self) -> Result<Response, HttpError> {
        let mut request = self;
        for _ in 0..=MAX_REDIRECTS {
            let response = send_once(&request)?;
            let location = response.header("location").map(str::to_owned);
            match (request.follow_redirects, response.status, location) {
                (true, 301 | 302 | 303 | 307 | 308, Some(location)) => {
                    let next = resolve_location(&request.url, &location)?;
                    if response.status == 303
                        || (matches!(response.status, 301 | 302) && request.method == "POST")
                    {
                        request.method = "GET".into();
                        request.body = None;
                    }
                    request.url = next;
                }
                _ => return Ok(response),
            }
        }
        Err(HttpError::TooManyRedirects(request.url))
    }
}

/// A URL's parts as `wasi:http` wants them.
struct Target<'a> {
    https: bool,
    authority: &'a str,
    path_and_query: &'a str,
}

fn split_url(url: &str) -> Result<Target<'_>, HttpError> {
    let invalid = || HttpError::InvalidUrl(url.to_owned());
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(invalid());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid());
    }
    let path = rest[end..].split('#').next().unwrap_or("");
    Ok(Target {
        https,
        authority,
        path_and_query: if path.is_empty() { "/" } else { path },
    })
}

/// The host part of an authority (no port, no userinfo).
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split(']')
            .next()
            .map_or(authority, |h| &authority[..h.len() + 1]);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Resolves a `Location` header against the URL that sent it.
fn resolve_location(base: &str, location: &str) -> Result<String, HttpError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_owned());
    }
    let target = split_url(base)?;
    let scheme = if target.https { "https" } else { "http" };
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Ok(format!("{scheme}://{}{location}", target.authority));
    }
    let path = target.path_and_query.split('?').next().unwrap_or("/");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Ok(format!("{scheme}://{}{dir}{location}", target.authority))
}

fn send_once(request: &Request) -> Result<Response, HttpError> {
    let target = split_url(&request.url)?;
    let transport = |code: &ErrorCode| match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied {
            url: request.url.clone(),
            host: target.authority.to_owned(),
        },
        ErrorCode::DestinationIpProhibited => HttpError::AddressProhibited {
            url: request.url.clone(),
            host: host_of(target.authority).to_owned(),
        },
        other => HttpError::Transport {
            url: request.url.clone(),
            code: format!("{other:?}"),
        },
    };
    let invalid = || HttpError::InvalidUrl(request.url.clone());

    let headers = wasi::Fields::new();
    for (name, value) in &request.headers {
        headers
            .append(name, value.as_bytes())
            .map_err(|e| HttpError::Transport {
                url: request.url.clone(),
                code: format!("header {name}: {e:?}"),
            })?;
    }
    let outgoing = wasi::OutgoingRequest::new(headers);
    let method = match request.method.as_str() {
        "GET" => wasi::Method::Get,
        "HEAD" => wasi::Method::Head,
        "POST" => wasi::Method::Post,
        "PUT" => wasi::Method::Put,
        "DELETE" => wasi::Method::Delete,
        "PATCH" => wasi::Method::Patch,
        "OPTIONS" => wasi::Method::Options,
        other => wasi::Method::Other(other.to_owned()),
    };
    outgoing.set_method(&method).map_err(|()| invalid())?;
    let scheme = if target.https {
        wasi::Scheme::Https
    } else {
        wasi::Scheme::Http
    };
    outgoing.set_scheme(Some(&scheme)).map_err(|()| invalid())?;
    outgoing
        .set_authority(Some(target.authority))
        .map_err(|()| invalid())?;
    outgoing
        .set_path_with_query(Some(target.path_and_query))
        .map_err(|()| invalid())?;
    let body = outgoing.body().map_err(|()| invalid())?;

    let pending = outgoing_handler::handle(outgoing, None).map_err(|e| transport(&e))?;
    if let Some(bytes) = &request.body {
        let stream = body.write().map_err(|()| invalid())?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError::Transport {
                    url: request.url.clone(),
                    code: format!("writing the body: {e:?}"),
                })?;
        }
        drop(stream);
    }
    wasi::OutgoingBody::finish(body, None).map_err(|e| transport(&e))?;

    pending.subscribe().block();
    let incoming = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(transport(&code)),
        Some(Err(())) | None => {
            return Err(HttpError::Transport {
                url: request.url.clone(),
                code: "no response".into(),
            });
        }
    };
    let headers = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let status = incoming.status();
    let body = incoming.consume().map_err(|()| invalid())?;
    let stream = body.stream().map_err(|()| invalid())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(e) => {
                return Err(HttpError::Transport {
                    url: request.url.clone(),
                    code: format!("reading the body: {e:?}"),
                });
            }
        }
    }
    drop(stream);
    let _ = wasi::IncomingBody::finish(body);
    Ok(Response {
        status,
        headers,
        body: bytes,
        url: request.url.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_request() {
        let base = "http://a.test:8080/dir/page?x=1";
        assert_eq!(
            resolve_location(base, "https://b.test/").unwrap(),
            "https://b.test/"
        );
        assert_eq!(
            resolve_location(base, "//c.test/p").unwrap(),
            "http://c.test/p"
        );
        assert_eq!(
            resolve_location(base, "/root").unwrap(),
            "http://a.test:8080/root"
        );
        assert_eq!(
            resolve_location(base, "next").unwrap(),
            "http://a.test:8080/dir/next"
        );
    }

    #[test]
    fn urls_split_into_parts() {
        let t = split_url("https://[::1]:8443/a?b#c").unwrap();
        assert!(t.https);
        assert_eq!(t.authority, "[::1]:8443");
        assert_eq!(t.path_and_query, "/a?b");
        assert_eq!(host_of(t.authority), "[::1]");
        assert!(split_url("ftp://x/").is_err());
        assert!(split_url("http://user@evil/").is_err());
    }
}
