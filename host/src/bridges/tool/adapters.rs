//! What built-in tools reach through the host: the network (within the
//! spell's `--allow-net` grants, through the same client as `wasi:http`)
//! and the spell's private state (the `memory` tool).

use std::sync::Arc;

use spellhost_tools::{FetchedPage, Fetcher, Memory, ToolError};

use crate::bridges::http::NetClient;
use crate::bridges::state::StateStore;
use crate::policy::net::NetDenied;

/// Largest page `http_fetch` downloads.
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// `http_fetch` over the run's [`NetClient`].
pub struct NetFetcher {
    pub net: NetClient,
}

#[async_trait::async_trait]
impl Fetcher for NetFetcher {
    async fn get(&self, url: &str) -> Result<FetchedPage, ToolError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| ToolError::InvalidArguments(format!("`{url}` is not a URL: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(ToolError::InvalidArguments(format!(
                "`{url}` is not an http(s) URL"
            )));
        }
        let client = self
            .net
            .client("GET", &uri)
            .await
            .map_err(|denied| match denied {
                NetDenied::NoAddress { .. } => ToolError::Failed(denied.to_string()),
                _ => ToolError::Denied(denied.to_string()),
            })?;
        let request = client
            .get(url)
            .build()
            .map_err(|e| ToolError::InvalidArguments(format!("`{url}`: {e}")))?;
        let response = self
            .net
            .send(&client, &uri, request)
            .await
            .map_err(|e| ToolError::Failed(format!("fetching {url}: {e}")))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ToolError::Failed(format!("reading {url}: {e}")))?
        {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(ToolError::Failed(format!(
                    "{url} is larger than {} MiB",
                    MAX_PAGE_BYTES >> 20
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedPage {
            status,
            content_type,
            body,
            url: url.to_owned(),
        })
    }
}

/// The `memory` tool's notes: keys under `memory/` in the spell's private
/// state, so they persist across runs like the rest of it.
pub struct StateMemory {
    pub store: Arc<dyn StateStore>,
    /// The spell's private namespace (`spell/<name>`).
    pub namespace: String,
    /// The run's state quota: the tool writes where the spell does.
    pub quota: crate::limits::StateQuota,
}

const PREFIX: &str = "memory/";

fn storage(err: impl std::fmt::Display) -> ToolError {
    ToolError::Failed(format!("state storage failed: {err}"))
}

#[async_trait::async_trait]
impl Memory for StateMemory {
    async fn get(&self, key: &str) -> Result<Option<String>, ToolError> {
        let value = self
            .store
            .get(&self.namespace, &format!("{PREFIX}{key}"))
            .await
            .map_err(storage)?;
        Ok(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn set(&self, key: &str, value: &str) -> Result<(), ToolError> {
        self.store
            .write(
                &self.namespace,
                &format!("{PREFIX}{key}"),
                value.as_bytes().to_vec(),
                crate::bridges::state::Condition::Any,
                self.quota,
            )
            .await
            .map(drop)
            .map_err(storage)
    }

    async fn delete(&self, key: &str) -> Result<(), ToolError> {
        self.store
            .delete(&self.namespace, &format!("{PREFIX}{key}"))
            .await
            .map_err(storage)
    }

    async fn keys(&self) -> Result<Vec<String>, ToolError> {
        let keys = self
            .store
            .list_keys(&self.namespace, PREFIX)
            .await
            .map_err(storage)?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(PREFIX).map(str::to_owned))
            .collect())
    }
}
