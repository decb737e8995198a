//! Outgoing HTTP for spells: `wasi:http/outgoing-handler` (wasmtime-wasi-http)
//! with every request checked against the spell's network grants.
//!
//! wasmtime-wasi-http does the WIT side; this module owns the one decision
//! it leaves to the embedder, sending. Each request is checked by name and
//! port first ([`NetPolicy::check`]); the name is then resolved once per run
//! and host, the addresses vetted ([`NetPolicy::vet`]), and the connection
//! pinned to them, so DNS cannot point a granted name at loopback or a
//! private network later in the run. Redirects are not followed here: a
//! `3xx` goes back to the spell, and the next hop is a new request checked
//! like the first. Denials reach the guest as `http-request-denied` or
//! `destination-ip-prohibited` and the CLI as a message naming the flag.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyDataStream, BodyExt as _};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpHooks};

use crate::policy::audit::Recorder;
use crate::policy::net::{Host, NetDenied, NetPolicy};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Per-instance HTTP state: wasmtime-wasi-http's context and our hooks.
pub struct HttpCtx {
    pub wasi: WasiHttpCtx,
    pub hooks: NetHooks,
}

impl HttpCtx {
    pub fn new(net: NetClient) -> Self {
        Self {
            wasi: WasiHttpCtx::new(),
            hooks: NetHooks { net },
        }
    }
}

/// Sends requests for one run within its grants; shared by `wasi:http`
/// and the `http_fetch` tool, so the two can never disagree. Cheap to clone.
#[derive(Clone)]
pub struct NetClient {
    policy: Arc<NetPolicy>,
    recorder: Recorder,
    /// One client per `host:port` for the run, pinned to vetted addresses.
    clients: Arc<Mutex<HashMap<String, reqwest::Client>>>,
}

impl NetClient {
    pub fn new(policy: Arc<NetPolicy>, recorder: Recorder) -> Self {
        Self {
            policy,
            recorder,
            clients: Arc::default(),
        }
    }

    /// Checks `url` by name, then returns the run's client pinned to its
    /// vetted addresses. Denials are recorded.
    pub async fn client(
        &self,
        method: &str,
        uri: &http::Uri,
    ) -> Result<reqwest::Client, NetDenied> {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = Host::parse(uri.host().unwrap_or_default());
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = format!("{method} {uri}");
        let checked = match self.policy.check(&host, port) {
            Ok(()) => client_for(&self.policy, &self.clients, &host, port).await,
            Err(denied) => Err(denied),
        };
        if let Err(denied) = &checked {
            self.recorder
                .denied("net", "http", &target, &denied.to_string(), denied.grant());
        }
        checked
    }

    /// Adds the credential configured for `uri`'s host (`[net.secrets]`),
    /// read from the host's environment now; the spell never sees it.
    fn inject_secret(&self, uri: &http::Uri, headers: &mut http::HeaderMap) {
        let host = Host::parse(uri.host().unwrap_or_default());
        let Some(secret) = self.policy.secret_for(&host) else {
            return;
        };
        let target = format!("{} for {host}", secret.env);
        let value = std::env::var(&secret.env)
            .ok()
            .and_then(|v| http::HeaderValue::from_str(&format!("{}{v}", secret.prefix)).ok());
        let name = http::HeaderName::from_bytes(secret.header.as_bytes()).ok();
        match (name, value) {
            (Some(name), Some(mut value)) => {
                value.set_sensitive(true);
                headers.insert(name, value);
                self.recorder.allowed("secret", "inject", &target, None);
            }
            _ => {
                self.recorder.denied(
                "secret",
                "inject",
                &target,
                &format!(
                    "the secret for {host} ([net.secrets]) needs {} set in the host's environment, with a valid header name and value",
                    secret.env
                ),
                None,
                );
            }
        }
    }

    /// Sends `request` (to `uri`, already checked by [`client`](Self::client))
    /// with `client`: adds the host's secret, if any, and records the use.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        uri: &http::Uri,
        mut request: reqwest::Request,
    ) -> reqwest::Result<reqwest::Response> {
        self.inject_secret(uri, request.headers_mut());
        let target = format!("{} {uri}", request.method());
        let response = client.execute(request).await?;
        let status = response.status().as_u16().to_string();
        self.recorder.allowed("net", "http", &target, Some(&status));
        Ok(response)
    }
}

/// Sends a spell's requests, within its grants.
pub struct NetHooks {
    net: NetClient,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for NetHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let method = request.method().to_string();
        let uri = request.uri().clone();
        if uri.host().is_none() {
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        }
        let net = self.net.clone();
        Box::new(async move {
            let client = match net.client(&method, &uri).await {
                Ok(client) => client,
                Err(NetDenied::NotGranted { .. }) => return Err(Error::HttpRequestDenied),
                Err(NetDenied::NoAddress { .. }) => return Err(Error::DestinationNotFound),
                Err(NetDenied::PrivateAddress { .. }) => {
                    return Err(Error::DestinationIpProhibited);
                }
            };
            let request = into_reqwest(request)?;
            let first_byte = options
                .and_then(|o| o.first_byte_timeout)
                .unwrap_or(Duration::from_secs(600));
            let response = tokio::time::timeout(first_byte, net.send(&client, &uri, request))
                .await
                .map_err(|_| Error::ConnectionReadTimeout)?
                .map_err(send_error)?;
            let response: http::Response<reqwest::Body> = response.into();
            let response = response.map(|body| body.map_err(body_error).boxed_unsync());
            let done: Box<dyn Future<Output = Result<(), Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// The run's client for `host:port`, resolving and vetting on first use.
async fn client_for(
    policy: &NetPolicy,
    clients: &Mutex<HashMap<String, reqwest::Client>>,
    host: &Host,
    port: u16,
) -> Result<reqwest::Client, NetDenied> {
    let key = format!("{host}:{port}");
    if let Some(client) = clients.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(client.clone());
    }
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .http1_only();
    let builder = match host {
        // An IP literal was granted as such by `check`.
        Host::Ip(_) => builder,
        Host::Name(name) => {
            let found = resolve(policy, name, port).await?;
            let vetted = policy.vet(host, port, &found)?;
            let addrs: Vec<SocketAddr> = vetted
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
            builder.resolve_to_addrs(name, &addrs)
        }
    };
    let client = builder
        .build()
        .map_err(|_| NetDenied::NoAddress { host: host.clone() })?;
    clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, client.clone());
    Ok(client)
}

async fn resolve(policy: &NetPolicy, name: &str, port: u16) -> Result<Vec<IpAddr>, NetDenied> {
    if let Some(pinned) = policy.pinned(name) {
        return Ok(pinned.to_vec());
    }
    let no_address = || NetDenied::NoAddress {
        host: Host::Name(name.to_owned()),
    };
    let found = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| no_address())?;
    let ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
    if ips.is_empty() {
        return Err(no_address());
    }
    Ok(ips)
}

fn into_reqwest(request: http::Request<WasiBody>) -> Result<reqwest::Request, Error> {
    let (parts, body) = request.into_parts();
    let body = if http_body::Body::is_end_stream(&body) {
        reqwest::Body::from(Bytes::new())
    } else {
        reqwest::Body::wrap_stream(BodyDataStream::new(body))
    };
    reqwest::Request::try_from(http::Request::from_parts(parts, body))
        .map_err(|e| Error::InternalError(Some(e.to_string())))
}

fn send_error(err: reqwest::Error) -> Error {
    if err.is_timeout() {
        Error::ConnectionTimeout
    } else if err.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::InternalError(Some(err.to_string()))
    }
}

fn body_error(err: reqwest::Error) -> Error {
    if err.is_timeout() {
        Error::ConnectionReadTimeout
    } else {
        Error::HttpResponseIncomplete
    }
}
