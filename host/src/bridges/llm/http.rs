//! The HTTP transport every remote provider shares: timeouts (connect,
//! first byte, total, stream idle), retries with exponential backoff on
//! 429/5xx and connection failures (honouring `Retry-After`), and mapping
//! of HTTP failures to typed LLM errors.
//!
//! Credentials are attached by the provider through the headers it passes;
//! this module never logs them.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::provider::{LlmError, ProviderError, RateLimit};

/// Timeouts and retry policy of one provider.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Time allowed to open the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Time allowed until the response headers arrive.
    pub first_byte_timeout: Duration,
    /// Time allowed for a whole non-streamed request.
    pub request_timeout: Duration,
    /// Longest silence allowed between two chunks of a stream.
    pub stream_idle_timeout: Duration,
    /// Attempts in all (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubled on every retry.
    pub initial_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the rate-limit
    /// error goes to the spell instead.
    pub max_backoff: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(120),
            stream_idle_timeout: Duration::from_secs(60),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
        }
    }
}

/// Settings of one remote provider endpoint, whatever its wire format.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Provider id (`openai`, `anthropic`, `ollama`, …).
    pub id: String,
    /// Base URL; what it includes depends on the wire format.
    pub base_url: String,
    /// The API key; `None` for servers that need none.
    pub api_key: Option<String>,
    /// Name of the environment variable the key comes from (for messages).
    pub api_key_env: Option<String>,
    pub http: HttpSettings,
}

impl RemoteConfig {
    pub fn new(id: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            base_url: base_url.into(),
            api_key: None,
            api_key_env: None,
            http: HttpSettings::default(),
        }
    }
}

/// One provider's HTTP client.
pub struct HttpTransport {
    /// Provider id, for messages.
    pub id: String,
    pub base_url: String,
    pub settings: HttpSettings,
    /// Name of the variable holding the key, for auth error messages.
    pub key_hint: Option<String>,
    /// Why no request can be sent (a base URL that is not a URL, a hosted
    /// endpoint without its key): said before the network is touched, on
    /// every call, so a provider nobody uses never stops a run.
    unusable: Option<LlmError>,
    client: reqwest::Client,
}

impl HttpTransport {
    /// The client for `config`'s endpoint. A configuration that cannot
    /// work is kept as the error every request returns (see `unusable`).
    pub fn new(config: &RemoteConfig) -> Result<Self, LlmError> {
        let settings = config.http.clone();
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("spellhost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Unavailable(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            id: config.id.clone(),
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            settings,
            key_hint: config.api_key_env.clone(),
            unusable: unusable(config),
            client,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }

    /// Sends a request (retrying as configured) and returns the response
    /// once its headers arrived with a success status.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &HeaderMap,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, LlmError> {
        if let Some(err) = &self.unusable {
            return Err(err.clone());
        }
        let mut attempt = 1;
        let mut backoff = self.settings.initial_backoff;
        loop {
            let mut request = self
                .client
                .request(method.clone(), self.url(path))
                .headers(headers.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            let err = match tokio::time::timeout(self.settings.first_byte_timeout, request.send())
                .await
            {
                Err(_) => LlmError::Timeout(format!(
                    "{} at {} sent no response within {}s",
                    self.id,
                    self.base_url,
                    self.settings.first_byte_timeout.as_secs()
                )),
                Ok(Err(err)) => self.transport_error(&err),
                Ok(Ok(response)) if response.status().is_success() => return Ok(response),
                Ok(Ok(response)) => self.status_error(response).await,
            };
            let wait = match &err {
                LlmError::RateLimited(r) => r
                    .retry_after_ms
                    .map(Duration::from_millis)
                    .unwrap_or(backoff),
                LlmError::Unavailable(_) => backoff,
                LlmError::Provider(p) if p.status.is_some_and(|s| s >= 500) => backoff,
                _ => return Err(err),
            };
            if attempt >= self.settings.max_attempts || wait > self.settings.max_backoff {
                return Err(err);
            }
            tracing::debug!(provider = %self.id, attempt, "retrying in {wait:?} after: {}", err.describe());
            tokio::time::sleep(jitter(wait)).await;
            attempt += 1;
            backoff = (backoff * 2).min(self.settings.max_backoff);
        }
    }

    /// Sends a request and parses the JSON answer, all within the total
    /// request timeout.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &HeaderMap,
        body: Option<&Value>,
    ) -> Result<Value, LlmError> {
        let exchange = async {
            let response = self.send(method, path, headers, body).await?;
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&e))?;
            serde_json::from_slice(&bytes).map_err(|e| self.malformed(e))
        };
        tokio::time::timeout(self.settings.request_timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(LlmError::Timeout(format!(
                    "{} did not answer within {}s",
                    self.id,
                    self.settings.request_timeout.as_secs()
                )))
            })
    }

    pub fn malformed(&self, err: impl std::fmt::Display) -> LlmError {
        malformed(&self.id, err)
    }

    pub fn transport_error(&self, err: &reqwest::Error) -> LlmError {
        let base = &self.base_url;
        if err.is_timeout() {
            LlmError::Timeout(format!("{} at {base} did not answer in time", self.id))
        } else if err.is_connect() {
            LlmError::Unavailable(format!(
                "cannot connect to {} at {base}: {}",
                self.id,
                error_chain(err)
            ))
        } else {
            LlmError::Unavailable(format!("{} at {base}: {}", self.id, error_chain(err)))
        }
    }

    async fn status_error(&self, response: reqwest::Response) -> LlmError {
        let status = response.status().as_u16();
        let retry_after_ms = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        status_to_error(status, &body, retry_after_ms, self.key_hint.as_deref())
    }
}

/// Why `config` cannot send a request, found without the network: the
/// base URL must be an absolute `http(s)` URL with a host, and a key must
/// be there when it is certainly needed: a built-in provider at its hosted
/// API, or a configured provider that names its key variable and is not on
/// this machine. (A built-in provider pointed elsewhere — vLLM on the LAN
/// behind `OPENAI_BASE_URL` — may need none; its server says.)
fn unusable(config: &RemoteConfig) -> Option<LlmError> {
    let id = &config.id;
    let base = &config.base_url;
    let where_from = match id.as_str() {
        "openai" | "anthropic" | "gemini" => format!(
            "set ${}_BASE_URL or [providers.{id}] base_url in spellhost.toml",
            id.to_ascii_uppercase()
        ),
        "ollama" => "set $OLLAMA_HOST or [providers.ollama] base_url in spellhost.toml".into(),
        _ => format!("fix [providers.{id}] base_url in spellhost.toml"),
    };
    let url = match reqwest::Url::parse(base) {
        Ok(url) => url,
        Err(err) => {
            return Some(LlmError::InvalidRequest(format!(
                "the base URL of provider `{id}`, `{base}`, is not a URL ({err}); {where_from}, e.g. https://api.example.com/v1"
            )));
        }
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Some(LlmError::InvalidRequest(format!(
            "the base URL of provider `{id}`, `{base}`, must be an http:// or https:// URL with a host; {where_from}"
        )));
    }
    let needs_key = match id.as_str() {
        "openai" | "anthropic" | "gemini" => {
            url.host_str().is_some_and(|h| HOSTED_APIS.contains(&h))
        }
        _ => !is_local(&url),
    };
    if config.api_key.is_none()
        && let Some(var) = &config.api_key_env
        && needs_key
    {
        return Some(LlmError::Auth(format!(
            "no API key for provider `{id}`: ${var} is not set (nothing was sent to {base}); \
             export {var}=… or pick another model with --model"
        )));
    }
    None
}

/// The hosts of the built-in providers' hosted APIs.
const HOSTED_APIS: &[&str] = &[
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
];

/// Whether `url` points at this machine.
fn is_local(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// A header value carrying a credential, marked sensitive so it is never
/// printed by debug output.
pub fn secret_header(
    value: &str,
    provider: &str,
) -> Result<reqwest::header::HeaderValue, LlmError> {
    let mut header = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
        LlmError::Auth(format!(
            "the API key of {provider} is not a valid header value"
        ))
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// Maps an HTTP failure to a typed error. All three wire formats put the
/// message at `error.message`.
pub fn status_to_error(
    status: u16,
    body: &str,
    retry_after_ms: Option<u64>,
    key_hint: Option<&str>,
) -> LlmError {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| truncate(body, 300).to_owned());
    let message = if message.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        message
    };
    match status {
        401 | 403 => LlmError::Auth(match key_hint {
            Some(env) => format!("{message} (the key comes from ${env})"),
            None => message,
        }),
        429 => LlmError::RateLimited(RateLimit {
            message,
            retry_after_ms,
        }),
        400 | 404 | 413 | 422 => LlmError::InvalidRequest(message),
        408 | 504 => LlmError::Timeout(message),
        502 | 503 | 529 => LlmError::Unavailable(message),
        code => LlmError::Provider(ProviderError {
            status: Some(code),
            message,
        }),
    }
}

/// ±20% so concurrent clients do not retry in lockstep.
fn jitter(wait: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let factor = 0.8 + f64::from(nanos % 1000) / 1000.0 * 0.4;
    wait.mul_f64(factor)
}

/// `Retry-After` (seconds or HTTP date) or OpenAI's `retry-after-ms`.
pub fn retry_after(headers: &HeaderMap) -> Option<u64> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
    {
        return Some(ms as u64);
    }
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = value.trim().parse::<f64>() {
        return Some((secs * 1000.0) as u64);
    }
    let when = httpdate(value)?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .map_or(0, |d| d.as_millis() as u64),
    )
}

fn httpdate(value: &str) -> Option<std::time::SystemTime> {
    // "Wed, 21 Oct 2015 07:28:00 GMT" → "2015-10-21 07:28:00"
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, _] = parts.as_slice() else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| m == month)? + 1;
    humantime::parse_rfc3339_weak(&format!("{year}-{month:02}-{day:0>2} {time}")).ok()
}

pub fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    message
}

/// The error for an answer that is not the wire format `provider` speaks.
pub fn malformed(provider: &str, err: impl std::fmt::Display) -> LlmError {
    LlmError::Provider(ProviderError {
        status: None,
        message: format!("{provider} sent a malformed answer: {err}"),
    })
}

#[cfg(test)]
mod tests {

    fn config(id: &str, base_url: &str, key_env: Option<&str>) -> RemoteConfig {
        RemoteConfig {
            api_key_env: key_env.map(str::to_owned),
            ..RemoteConfig::new(id, base_url)
        }
    }

    #[test]
    fn unusable_configurations_are_found_without_the_network() {
        let hosted = config(
            "openai",
            "https://api.openai.com/v1",
            Some("OPENAI_API_KEY"),
        );
        let err = unusable(&hosted).unwrap();
        assert!(
            matches!(&err, LlmError::Auth(m) if m.contains("$OPENAI_API_KEY is not set") && m.contains("nothing was sent")),
            "{err:?}"
        );
        let keyed = RemoteConfig {
            api_key: Some("sk-test".into()),
            ..hosted.clone()
        };
        assert!(unusable(&keyed).is_none());
        for local in [
            "http://127.0.0.1:8080/v1",
            "http://localhost:1/v1",
            "http://[::1]:9/",
        ] {
            assert!(
                unusable(&config("openai", local, Some("OPENAI_API_KEY"))).is_none(),
                "{local}"
            );
        }
        assert!(unusable(&config("ollama", "http://10.0.0.5:11434/v1", None)).is_none());
        // A built-in provider pointed at a server on the LAN may need no key.
        let lan = config(
            "openai",
            "http://192.168.1.5:8000/v1",
            Some("OPENAI_API_KEY"),
        );
        assert!(unusable(&lan).is_none());
        // A configured provider that names its key variable needs it.
        let custom = config("lab", "https://llm.example.com/v1", Some("LAB_KEY"));
        assert!(matches!(unusable(&custom), Some(LlmError::Auth(_))));
        for bad in ["localhost:8080/v1", "api.example.com", "ftp://host/x", ""] {
            let err = unusable(&config("lab", bad, None)).unwrap();
            assert!(
                matches!(&err, LlmError::InvalidRequest(m) if m.contains("[providers.lab] base_url")),
                "{bad}: {err:?}"
            );
        }
    }
    use super::*;

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(2000));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&headers),
            Some(0),
            "a date in the past means now"
        );
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(150));
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert!(
            matches!(status_to_error(529, body, None, None), LlmError::Unavailable(m) if m == "Overloaded")
        );
        assert!(
            matches!(status_to_error(401, "{}", None, Some("KEY")), LlmError::Auth(m) if m.contains("$KEY"))
        );
        assert!(matches!(
            status_to_error(429, "", Some(5), None),
            LlmError::RateLimited(RateLimit {
                retry_after_ms: Some(5),
                ..
            })
        ));
        assert!(matches!(
            status_to_error(418, "teapot", None, None),
            LlmError::Provider(ProviderError {
                status: Some(418),
                ..
            })
        ));
    }
}
