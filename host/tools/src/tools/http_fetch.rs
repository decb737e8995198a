//! `http_fetch`: GETs a URL through the host's [`Fetcher`](crate::Fetcher)
//! (which enforces the network allow-list) and returns readable text: HTML
//! is converted by the `html` module, other text passes through, binary bodies
//! are described rather than returned. Output is capped at `max_chars`.

use serde_json::{Value, json};

use super::html::html_to_text;
use super::{obj, object_schema, opt_bool, opt_u64, req_str, truncate_chars};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `http_fetch` tool.
pub struct HttpFetch;

/// Default and largest `max_chars`.
pub const DEFAULT_MAX_CHARS: u64 = 20_000;
const MAX_MAX_CHARS: u64 = 200_000;

#[async_trait::async_trait]
impl Tool for HttpFetch {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "http_fetch".into(),
            description: "Fetch a web page or API response with HTTP GET and return its text: HTML pages \
                are converted to readable text (links as `text (url)`), JSON and other text come back \
                as is. Only hosts the spell was granted can be reached."
                .into(),
            parameters: object_schema(
                json!({
                    "url": {
                        "type": "string",
                        "minLength": 8,
                        "maxLength": 4096,
                        "description": "The http:// or https:// URL to fetch."
                    },
                    "max_chars": {
                        "type": "integer",
                        "minimum": 100,
                        "maximum": MAX_MAX_CHARS,
                        "description": "Cut the returned text after this many characters (default 20000)."
                    },
                    "raw": {
                        "type": "boolean",
                        "description": "Return HTML source instead of converting it to text (default false)."
                    }
                }),
                &["url"],
            ),
        }
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let url = req_str(&args, "url")?.trim();
        let max_chars = opt_u64(&args, "max_chars", DEFAULT_MAX_CHARS)?.min(MAX_MAX_CHARS) as usize;
        let raw = opt_bool(&args, "raw", false)?;
        let host = host_of(url).ok_or_else(|| {
            ToolError::InvalidArguments(format!(
                "`url` must be an absolute http:// or https:// URL, got `{url}`"
            ))
        })?;
        let Some(fetcher) = &ctx.fetcher else {
            return Err(ToolError::Denied(format!(
                "fetching {url} is not granted; allow it with --allow-net {host}"
            )));
        };
        let page = fetcher.get(url).await?;
        let content_type = page.content_type.clone();
        let mime = content_type
            .as_deref()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let body = String::from_utf8_lossy(&page.body);
        let looks_html = {
            let head = body.trim_start();
            let head = &head[..head.len().min(200)].to_ascii_lowercase();
            head.starts_with("<!doctype html") || head.starts_with("<html")
        };
        let is_html = mime.contains("html") || (mime.is_empty() && looks_html);
        let is_text = is_html
            || mime.is_empty()
            || mime.starts_with("text/")
            || mime.contains("json")
            || mime.contains("xml")
            || mime.contains("javascript")
            || mime.contains("csv")
            || mime.contains("yaml")
            || mime.contains("toml");
        let mut text = if is_html && !raw {
            html_to_text(&body, &page.url)
        } else if is_text {
            body.into_owned()
        } else {
            format!(
                "[binary content: {} bytes of {mime}; not shown]",
                page.body.len()
            )
        };
        let total_chars = text.chars().count();
        let truncated = truncate_chars(&mut text, max_chars);
        let mut out = obj([
            ("status", json!(page.status)),
            ("url", json!(page.url)),
            ("content_type", json!(content_type)),
            ("text", json!(text)),
        ]);
        if truncated {
            out["truncated"] = json!(true);
            out["total_chars"] = json!(total_chars);
        }
        Ok(out)
    }
}

/// The host (and port) of an http(s) URL, for the `--allow-net` hint.
fn host_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::{run, run_in};
    use crate::{FetchedPage, Fetcher};
    use std::sync::{Arc, Mutex};

    /// Serves canned pages and records what was asked.
    struct FakeFetcher {
        pages: Vec<(String, FetchedPage)>,
        asked: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Fetcher for FakeFetcher {
        async fn get(&self, url: &str) -> Result<FetchedPage, ToolError> {
            self.asked.lock().unwrap().push(url.to_string());
            self.pages
                .iter()
                .find(|(u, _)| u == url)
                .map(|(_, p)| p.clone())
                .ok_or_else(|| {
                    ToolError::Denied(format!(
                        "{url} is not on the allow-list; allow it with --allow-net x"
                    ))
                })
        }
    }

    fn page(url: &str, ct: Option<&str>, body: &[u8]) -> (String, FetchedPage) {
        (
            url.to_string(),
            FetchedPage {
                status: 200,
                content_type: ct.map(String::from),
                body: body.to_vec(),
                url: url.to_string(),
            },
        )
    }

    fn ctx() -> (Arc<FakeFetcher>, ToolContext) {
        let f = Arc::new(FakeFetcher {
            pages: vec![
                page("https://ex.com/", Some("text/html; charset=utf-8"),
                    b"<html><head><title>T</title></head><body><p>Hi <a href=\"/x\">there</a></p></body></html>"),
                page("https://ex.com/api", Some("application/json"), b"{\"a\": 1}"),
                page("https://ex.com/img", Some("image/png"), &[0x89, b'P', b'N', b'G']),
                page("https://ex.com/long", Some("text/plain"), "é".repeat(500).as_bytes()),
            ],
            asked: Mutex::new(vec![]),
        });
        let ctx = ToolContext {
            fetcher: Some(f.clone()),
            ..Default::default()
        };
        (f, ctx)
    }

    #[tokio::test]
    async fn html_json_binary() {
        let (f, ctx) = ctx();
        let out = run_in(&HttpFetch, &ctx, json!({"url": "https://ex.com/"}))
            .await
            .unwrap();
        assert_eq!(out["status"], 200);
        assert_eq!(out["text"], "# T\n\nHi there (https://ex.com/x)");
        assert_eq!(out["content_type"], "text/html; charset=utf-8");
        let out = run_in(
            &HttpFetch,
            &ctx,
            json!({"url": "https://ex.com/", "raw": true}),
        )
        .await
        .unwrap();
        assert!(out["text"].as_str().unwrap().starts_with("<html>"));
        let out = run_in(&HttpFetch, &ctx, json!({"url": "https://ex.com/api"}))
            .await
            .unwrap();
        assert_eq!(out["text"], "{\"a\": 1}");
        let out = run_in(&HttpFetch, &ctx, json!({"url": "https://ex.com/img"}))
            .await
            .unwrap();
        assert_eq!(
            out["text"],
            "[binary content: 4 bytes of image/png; not shown]"
        );
        let out = run_in(
            &HttpFetch,
            &ctx,
            json!({"url": "https://ex.com/long", "max_chars": 100}),
        )
        .await
        .unwrap();
        assert_eq!(out["text"].as_str().unwrap().chars().count(), 100);
        assert_eq!(out["truncated"], true);
        assert_eq!(out["total_chars"], 500);
        assert_eq!(f.asked.lock().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn denied_without_fetcher_and_bad_urls() {
        let err = run(
            &HttpFetch,
            json!({"url": "https://api.example.org:8443/v1?q=1"}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            ToolError::Denied(
                "fetching https://api.example.org:8443/v1?q=1 is not granted; allow it with --allow-net api.example.org:8443".into()
            )
        );
        let (_f, ctx) = ctx();
        let err = run_in(&HttpFetch, &ctx, json!({"url": "file:///etc/passwd"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
        // the fetcher's own refusal passes through
        let err = run_in(&HttpFetch, &ctx, json!({"url": "https://other.com/"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::Denied(_)));
    }
}
