//! Tracing across processes: the spans spellhost opens for a run, an LLM
//! call, a tool call, an agent step and a workflow step (all under the
//! target [`TARGET`], each with the run's id), exported over OTLP when
//! configured — `[telemetry] endpoint`, or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! variables — and carried across the run queue as a W3C `traceparent`, so
//! one trace follows a run from `spellhost submit` to the worker that ran
//! it.
//!
//! Without an endpoint nothing is exported, and the spans cost a disabled
//! callsite check each.

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The target of spellhost's spans (and only those are exported).
pub const TARGET: &str = "spellhost::span";

/// `[telemetry]` in spellhost.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// The OTLP/HTTP endpoint's base URL (`http://127.0.0.1:4318`): spans
    /// go to `<endpoint>/v1/traces`.
    pub endpoint: Option<String>,
    /// `http/protobuf` (the default) or `http/json`.
    pub protocol: Option<String>,
    /// The `service.name` spans carry (default `spellhost`, or
    /// `$OTEL_SERVICE_NAME`).
    pub service_name: Option<String>,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TelemetryError(String);

/// Exporting, until dropped: then what is still buffered is sent (bounded
/// by the exporter's timeout).
pub struct Exporting {
    provider: SdkTracerProvider,
}

impl Drop for Exporting {
    fn drop(&mut self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("warning: sending the last spans over OTLP: {err}");
        }
    }
}

/// Where spans go, as configured: `None` when nothing asks for export.
pub struct Export {
    endpoint: Option<String>,
    protocol: Protocol,
    service_name: String,
}

impl Export {
    /// Reads the settings and the standard environment variables
    /// (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`); the settings win.
    pub fn configured(
        settings: &TelemetrySettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, TelemetryError> {
        let from_env = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .is_some();
        if settings.endpoint.is_none() && !from_env {
            return Ok(None);
        }
        let endpoint = match &settings.endpoint {
            Some(base) => {
                let url = format!("{}/v1/traces", base.trim_end_matches('/'));
                match url.split_once("://") {
                    Some(("http" | "https", _)) => Some(url),
                    _ => {
                        return Err(TelemetryError(format!(
                            "[telemetry] endpoint `{base}`: use an http:// or https:// URL (an \
                             OTLP/HTTP collector, port 4318 by convention)"
                        )));
                    }
                }
            }
            // The exporter reads the variables itself.
            None => None,
        };
        let protocol = settings
            .protocol
            .clone()
            .or_else(|| env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
            .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
        let protocol = match protocol.as_deref() {
            None | Some("http/protobuf") => Protocol::HttpBinary,
            Some("http/json") => Protocol::HttpJson,
            Some(other) => {
                return Err(TelemetryError(format!(
                    "[telemetry] protocol `{other}`: spellhost exports `http/protobuf` or \
                     `http/json` (not gRPC)"
                )));
            }
        };
        let service_name = settings
            .service_name
            .clone()
            .or_else(|| env("OTEL_SERVICE_NAME"))
            .unwrap_or_else(|| "spellhost".to_owned());
        Ok(Some(Self {
            endpoint,
            protocol,
            service_name,
        }))
    }

    /// Starts exporting: the layer to add to the subscriber, and the
    /// handle that flushes when dropped.
    pub fn start<S>(self) -> Result<(impl tracing_subscriber::Layer<S>, Exporting), TelemetryError>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(self.protocol);
        if let Some(endpoint) = &self.endpoint {
            exporter = exporter.with_endpoint(endpoint);
        }
        let exporter = exporter
            .build()
            .map_err(|e| TelemetryError(format!("[telemetry]: the OTLP exporter: {e}")))?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(self.service_name)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("spellhost");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target(TARGET, tracing::Level::TRACE),
            );
        Ok((layer, Exporting { provider }))
    }
}

use tracing_subscriber::Layer as _;

/// The W3C `traceparent` of `span`, to carry to another process (`None`
/// when it is not exported).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote span `traceparent` names (one from
/// another process); a malformed one is ignored.
pub fn follow(span: &tracing::Span, traceparent: &str) {
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(context);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn nothing_is_exported_unless_asked() {
        let none = Export::configured(&TelemetrySettings::default(), env(&[])).unwrap();
        assert!(none.is_none());
        let from_env = Export::configured(
            &TelemetrySettings::default(),
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(from_env.endpoint, None, "the exporter reads the variable");
        assert_eq!(from_env.protocol, Protocol::HttpJson);
        assert_eq!(from_env.service_name, "spellhost");
    }

    #[test]
    fn settings_win_and_bad_ones_say_what_works() {
        let settings = TelemetrySettings {
            endpoint: Some("http://127.0.0.1:4318/".into()),
            protocol: None,
            service_name: Some("workers".into()),
        };
        let export = Export::configured(&settings, env(&[("OTEL_SERVICE_NAME", "x")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            export.endpoint.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(export.protocol, Protocol::HttpBinary);
        assert_eq!(export.service_name, "workers");
        let grpc = TelemetrySettings {
            protocol: Some("grpc".into()),
            ..settings.clone()
        };
        let err = Export::configured(&grpc, env(&[])).err().unwrap();
        assert!(err.0.contains("http/json"), "{err}");
        let bad = TelemetrySettings {
            endpoint: Some("127.0.0.1:4318".into()),
            ..settings
        };
        let err = Export::configured(&bad, env(&[])).err().unwrap();
        assert!(err.0.contains("[telemetry] endpoint"), "{err}");
    }
}
