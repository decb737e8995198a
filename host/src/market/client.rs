//! A client of the OCI distribution API (what `docker`, `skopeo` and `oras`
//! speak): manifests and blobs up and down, tags, the catalog, and the
//! registry's token dance.
//!
//! Plain HTTP goes only to registries on this machine or ones named with
//! `--insecure-registry`; everything else is HTTPS. Blobs are checked
//! against their digest and size as they arrive, so a truncated or altered
//! blob is an error, never a file.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt as _;
use reqwest::{Method, StatusCode, header};
use sha2::{Digest as _, Sha256};

use super::auth::Credentials;
use super::oci::{self, Descriptor};
use super::reference::Reference;

/// The largest manifest accepted (what distribution itself allows).
const MAX_MANIFEST: u64 = 4 << 20;
/// The largest config or layer accepted (a Python spell is ~20 MB).
pub const MAX_BLOB: u64 = 512 << 20;
/// The largest JSON answer (tags, catalog pages, tokens, errors) read.
const MAX_JSON: u64 = 4 << 20;
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json;q=0.9, application/vnd.oci.image.index.v1+json;q=0.5";

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "cannot reach the registry {registry}: {why} (is it running, and is the address right?)"
    )]
    Unreachable { registry: String, why: String },
    #[error("{what} was not found in {registry}")]
    NotFound { registry: String, what: String },
    #[error(
        "the registry {registry} refused access ({status}); log in with `spellhost login {registry} -u USER` or add the registry to your Docker config"
    )]
    Denied { registry: String, status: u16 },
    #[error("the registry {registry} answered {status} to {what}: {body}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        body: String,
    },
    #[error(
        "{what} from {registry} does not match its digest: expected {expected}, got {actual}; the artifact was altered or the transfer broke — nothing was stored; pull again, and if it persists tell the publisher"
    )]
    Tampered {
        registry: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{what} from {registry} is truncated or oversized: expected {expected} bytes, got {actual}; nothing was stored"
    )]
    Size {
        registry: String,
        what: String,
        expected: u64,
        actual: u64,
    },
}

/// A manifest as fetched: its bytes (what the digest names) and type.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

/// Talks to registries.
pub struct RegistryClient {
    http: reqwest::Client,
    credentials: Credentials,
    /// `HOST[:PORT]`s allowed over plain HTTP besides loopback ones.
    insecure: Vec<String>,
    /// Bearer tokens by registry and scope.
    tokens: Mutex<HashMap<(String, String), String>>,
}

impl RegistryClient {
    pub fn new(credentials: Credentials, insecure: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A registry that stalls mid-answer is an error, not a hang.
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("spellhost/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Self {
            http,
            credentials,
            insecure,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// `http://` for loopback and allowed registries, else `https://`.
    fn base(&self, reference: &Reference) -> String {
        let insecure = reference.is_loopback()
            || self.insecure.iter().any(|h| {
                h.eq_ignore_ascii_case(&reference.registry)
                    || h.eq_ignore_ascii_case(reference.host())
            });
        let scheme = if insecure { "http" } else { "https" };
        format!("{scheme}://{}", api_host(&reference.registry))
    }

    /// Whether plain HTTP to `reference`'s registry was allowed.
    pub fn allows_plain_http(&self, reference: &Reference) -> bool {
        self.base(reference).starts_with("http://")
    }

    /// Sends a request, answering the registry's authentication challenge
    /// once (a bearer token for `scope`, or basic credentials).
    async fn send(
        &self,
        reference: &Reference,
        push: bool,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let scope = format!(
            "repository:{}:{}",
            reference.repository,
            if push { "pull,push" } else { "pull" }
        );
        self.send_scoped(reference, scope, build).await
    }

    /// [`send`](Self::send) for a token `scope` of its own.
    async fn send_scoped(
        &self,
        reference: &Reference,
        scope: String,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let key = (reference.registry.clone(), scope.clone());
        let cached = self.tokens.lock().expect("token lock").get(&key).cloned();
        let mut request = build(&self.http);
        if let Some(auth) = &cached {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(reference, e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let auth = self.authenticate(reference, &challenge, &scope).await?;
        self.tokens
            .lock()
            .expect("token lock")
            .insert(key, auth.clone());
        let response = build(&self.http)
            .header(header::AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| self.unreachable(reference, e))?;
        if matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(RegistryError::Denied {
                registry: reference.registry.clone(),
                status: response.status().as_u16(),
            });
        }
        Ok(response)
    }

    /// The `Authorization` value that answers `challenge`.
    async fn authenticate(
        &self,
        reference: &Reference,
        challenge: &str,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let denied = || RegistryError::Denied {
            registry: reference.registry.clone(),
            status: 401,
        };
        let basic = self
            .credentials
            .for_registry(&reference.registry)
            .map(|(user, password)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                )
            });
        let bearer = challenge
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer "));
        if !bearer {
            // Basic (or no) challenge: credentials or nothing.
            return basic.ok_or_else(denied);
        }
        let params = parse_challenge(&challenge[7..]);
        let realm = params.get("realm").ok_or_else(denied)?;
        let mut url = reqwest::Url::parse(realm).map_err(|_| denied())?;
        // Credentials go to a token service over HTTPS only (or one on
        // this machine, or a registry allowed plain HTTP).
        if url.scheme() != "https" && !self.allows_plain_http(reference) {
            return Err(RegistryError::Status {
                registry: reference.registry.clone(),
                what: "authentication".into(),
                status: 401,
                body: format!(
                    "the token service {realm} is not HTTPS; refusing to send credentials there"
                ),
            });
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                query.append_pair("service", service);
            }
            // The registry says which scope it wants, when it says.
            query.append_pair("scope", params.get("scope").map_or(scope, String::as_str));
        }
        let mut request = self.http.get(url);
        if let Some(basic) = &basic {
            request = request.header(header::AUTHORIZATION, basic);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(reference, e))?;
        if !response.status().is_success() {
            return Err(RegistryError::Denied {
                registry: reference.registry.clone(),
                status: response.status().as_u16(),
            });
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_capped(reference, "a token", response, MAX_JSON, None).await?;
        let token: Token = serde_json::from_slice(&body).map_err(|_| denied())?;
        let token = token.token.or(token.access_token).ok_or_else(denied)?;
        Ok(format!("Bearer {token}"))
    }

    fn malformed(reference: &Reference, what: &str, err: serde_json::Error) -> RegistryError {
        RegistryError::Status {
            registry: reference.registry.clone(),
            what: what.to_owned(),
            status: 200,
            body: format!("not the JSON the distribution API describes ({err})"),
        }
    }

    fn unreachable(&self, reference: &Reference, err: reqwest::Error) -> RegistryError {
        let mut why = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(inner) = source {
            why = inner.to_string();
            source = inner.source();
        }
        if !self.allows_plain_http(reference) {
            why.push_str(&format!(
                "; over HTTPS — if the registry speaks plain HTTP, allow it with --insecure-registry {}",
                reference.registry
            ));
        }
        RegistryError::Unreachable {
            registry: reference.registry.clone(),
            why,
        }
    }

    async fn status_error(
        reference: &Reference,
        what: &str,
        response: reqwest::Response,
    ) -> RegistryError {
        let status = response.status().as_u16();
        let body = read_capped(reference, what, response, MAX_JSON, None)
            .await
            .unwrap_or_default();
        let body: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        RegistryError::Status {
            registry: reference.registry.clone(),
            what: what.to_owned(),
            status,
            body,
        }
    }

    /// The manifest `reference` names (by its digest if it has one, else its
    /// tag), checked against that digest.
    pub async fn manifest(&self, reference: &Reference) -> Result<FetchedManifest, RegistryError> {
        self.manifest_at(reference, reference.selector()).await
    }

    /// The manifest under `selector` (a tag or digest) in `reference`'s repository.
    pub async fn manifest_at(
        &self,
        reference: &Reference,
        selector: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{selector}",
            self.base(reference),
            reference.repository
        );
        let response = self
            .send(reference, false, |http| {
                http.get(&url).header(header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        let what = format!("{}:{selector}", reference.repository);
        if response.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                registry: reference.registry.clone(),
                what,
            });
        }
        if !response.status().is_success() {
            return Err(Self::status_error(
                reference,
                &format!("the manifest of {what}"),
                response,
            )
            .await);
        }
        let media_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(oci::OCI_MANIFEST)
            .to_owned();
        let bytes = read_capped(
            reference,
            &format!("the manifest of {what}"),
            response,
            MAX_MANIFEST,
            None,
        )
        .await?;
        let digest = oci::digest(&bytes);
        if oci::is_digest(selector) && digest != selector {
            return Err(RegistryError::Tampered {
                registry: reference.registry.clone(),
                what: format!("the manifest of {what}"),
                expected: selector.to_owned(),
                actual: digest,
            });
        }
        Ok(FetchedManifest {
            bytes,
            digest,
            media_type,
        })
    }

    /// The blob `descriptor` points to, checked against its size and digest.
    pub async fn blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = format!(
            "{}/v2/{}/blobs/{}",
            self.base(reference),
            reference.repository,
            descriptor.digest
        );
        let response = self.send(reference, false, |http| http.get(&url)).await?;
        let what = format!("blob {} ({})", descriptor.digest, descriptor.media_type);
        if response.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                registry: reference.registry.clone(),
                what,
            });
        }
        if !response.status().is_success() {
            return Err(Self::status_error(reference, &what, response).await);
        }
        if descriptor.size > MAX_BLOB {
            return Err(RegistryError::Size {
                registry: reference.registry.clone(),
                what,
                expected: MAX_BLOB,
                actual: descriptor.size,
            });
        }
        let bytes = read_capped(
            reference,
            &what,
            response,
            descriptor.size,
            Some(descriptor.size),
        )
        .await?;
        let actual = oci::digest(&bytes);
        if actual != descriptor.digest {
            return Err(RegistryError::Tampered {
                registry: reference.registry.clone(),
                what,
                expected: descriptor.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Uploads `bytes` as a blob unless the registry has it already.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let digest = oci::digest(bytes);
        let base = self.base(reference);
        let head = format!("{base}/v2/{}/blobs/{digest}", reference.repository);
        let response = self.send(reference, true, |http| http.head(&head)).await?;
        if response.status().is_success() {
            return Ok(digest);
        }
        let start = format!("{base}/v2/{}/blobs/uploads/", reference.repository);
        let response = self.send(reference, true, |http| http.post(&start)).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(Self::status_error(reference, "starting a blob upload", response).await);
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut upload = if location.starts_with("http://") || location.starts_with("https://") {
            location
        } else {
            format!("{base}{location}")
        };
        upload.push(if upload.contains('?') { '&' } else { '?' });
        upload.push_str("digest=");
        upload.push_str(&digest);
        let body = bytes::Bytes::copy_from_slice(bytes);
        let put = |http: &reqwest::Client| {
            http.request(Method::PUT, &upload)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(body.clone())
        };
        // The registry's token goes only to the registry: an upload sent
        // elsewhere (a storage service) carries its own authorisation in
        // the URL.
        let same_host = reqwest::Url::parse(&upload).is_ok_and(|url| {
            url.host_str()
                .zip(url.port_or_known_default())
                .is_some_and(|(h, p)| {
                    let registry = api_host(&reference.registry);
                    registry == h || registry == format!("{h}:{p}")
                })
        });
        let response = if same_host {
            self.send(reference, true, put).await?
        } else {
            put(&self.http)
                .send()
                .await
                .map_err(|e| self.unreachable(reference, e))?
        };
        if response.status() != StatusCode::CREATED {
            return Err(Self::status_error(
                reference,
                &format!("uploading blob {digest}"),
                response,
            )
            .await);
        }
        Ok(digest)
    }

    /// Stores `bytes` as the manifest under `selector` (a tag or its digest).
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        selector: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<String, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{selector}",
            self.base(reference),
            reference.repository
        );
        let body = bytes::Bytes::copy_from_slice(bytes);
        let response = self
            .send(reference, true, |http| {
                http.put(&url)
                    .header(header::CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(Self::status_error(
                reference,
                &format!("storing the manifest {selector}"),
                response,
            )
            .await);
        }
        Ok(oci::digest(bytes))
    }

    /// The tags of `reference`'s repository.
    pub async fn tags(&self, reference: &Reference) -> Result<Vec<String>, RegistryError> {
        let url = format!(
            "{}/v2/{}/tags/list",
            self.base(reference),
            reference.repository
        );
        let response = self.send(reference, false, |http| http.get(&url)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !response.status().is_success() {
            return Err(Self::status_error(reference, "listing tags", response).await);
        }
        #[derive(serde::Deserialize)]
        struct Tags {
            tags: Option<Vec<String>>,
        }
        let body = read_capped(reference, "the tag list", response, MAX_JSON, None).await?;
        let tags: Tags = serde_json::from_slice(&body)
            .map_err(|e| Self::malformed(reference, "the tag list", e))?;
        Ok(tags.tags.unwrap_or_default())
    }

    /// The repositories of a registry (`/v2/_catalog`, all pages).
    pub async fn catalog(&self, registry: &Reference) -> Result<Vec<String>, RegistryError> {
        let mut repositories = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let mut url = format!("{}/v2/_catalog?n=1000", self.base(registry));
            if let Some(last) = &last {
                url.push_str("&last=");
                url.push_str(last);
            }
            let response = self
                .send_scoped(registry, "registry:catalog:*".into(), |http| http.get(&url))
                .await?;
            if !response.status().is_success() {
                return Err(Self::status_error(registry, "listing the catalog", response).await);
            }
            let more = response.headers().contains_key(header::LINK);
            #[derive(serde::Deserialize)]
            struct Catalog {
                repositories: Option<Vec<String>>,
            }
            let body = read_capped(registry, "the catalog", response, MAX_JSON, None).await?;
            let page: Catalog = serde_json::from_slice(&body)
                .map_err(|e| Self::malformed(registry, "the catalog", e))?;
            let page = page.repositories.unwrap_or_default();
            let done = !more || page.is_empty();
            last = page.last().cloned();
            repositories.extend(page);
            if done {
                return Ok(repositories);
            }
        }
    }

    /// Whether the registry answers `/v2/` at all (for `spellhost login`).
    pub async fn check(&self, registry: &Reference) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base(registry));
        let response = self.send(registry, false, |http| http.get(&url)).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Self::status_error(registry, "/v2/", response).await)
        }
    }
}

/// Reads a body of at most `cap` bytes (exactly `exact` if given).
async fn read_capped(
    reference: &Reference,
    what: &str,
    response: reqwest::Response,
    cap: u64,
    exact: Option<u64>,
) -> Result<Vec<u8>, RegistryError> {
    let size_error = |actual: u64| RegistryError::Size {
        registry: reference.registry.clone(),
        what: what.to_owned(),
        expected: exact.unwrap_or(cap),
        actual,
    };
    if let Some(length) = response.content_length()
        && length > cap
    {
        return Err(size_error(length));
    }
    // Room for what was announced, within reason: the size is the
    // sender's word until the bytes arrive.
    let mut bytes = Vec::with_capacity(exact.unwrap_or(0).min(cap).min(64 << 20) as usize);
    let mut stream = response.bytes_stream();
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| size_error(bytes.len() as u64))?;
        if bytes.len() as u64 + chunk.len() as u64 > cap {
            return Err(size_error(bytes.len() as u64 + chunk.len() as u64));
        }
        hasher.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    if let Some(exact) = exact
        && bytes.len() as u64 != exact
    {
        return Err(size_error(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The host that serves a registry's API: Docker Hub's names map to
/// `registry-1.docker.io`, as docker does.
pub fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// `key="value", key2="value"` from a `WWW-Authenticate: Bearer …` header.
fn parse_challenge(params: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((value, next)) => (value, next),
                None => (quoted, ""),
            }
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        out.insert(key, value.to_owned());
        rest = next.trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let params = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        assert_eq!(params["scope"], "repository:a/b:pull,push");
    }

    #[test]
    fn plain_http_only_for_loopback_or_named_registries() {
        let client = RegistryClient::new(Credentials::none(), vec!["reg.lan:5000".into()]);
        let local = Reference::parse("127.0.0.1:5000/a/b").unwrap();
        let lan = Reference::parse("reg.lan:5000/a/b").unwrap();
        let remote = Reference::parse("ghcr.io/a/b").unwrap();
        assert!(client.allows_plain_http(&local));
        assert!(client.allows_plain_http(&lan));
        assert!(!client.allows_plain_http(&remote));
        assert_eq!(client.base(&remote), "https://ghcr.io");
    }
}
