//! The `spellhost.toml` configuration file: LLM providers, aliases and the
//! default model.
//!
//! Looked up in order: `--config FILE`, `./spellhost.toml`, then
//! `$XDG_CONFIG_HOME/spellhost/spellhost.toml` (`~/.config/...`). Keys never
//! appear in the file, only the name of the environment variable that holds
//! each one.
//!
//! ```toml
//! default_model = "ollama/llama3.2"
//!
//! [providers.ollama]
//! kind = "openai"                      # wire format
//! base_url = "http://127.0.0.1:11434/v1"
//!
//! [providers.groq]
//! kind = "openai"
//! base_url = "https://api.groq.com/openai/v1"
//! api_key_env = "GROQ_API_KEY"
//!
//! [aliases]
//! fast = "groq/llama-3.1-8b-instant"
//! ```
//!
//! Built in, without any file (each base URL overridable by the variable in
//! brackets):
//!
//! | id          | wire format        | base URL                                           | key variable        |
//! |-------------|--------------------|----------------------------------------------------|---------------------|
//! | `openai`    | OpenAI             | `https://api.openai.com/v1` (`OPENAI_BASE_URL`)    | `OPENAI_API_KEY`    |
//! | `anthropic` | Anthropic Messages | `https://api.anthropic.com` (`ANTHROPIC_BASE_URL`) | `ANTHROPIC_API_KEY` |
//! | `gemini`    | Gemini             | `https://generativelanguage.googleapis.com/v1beta` (`GEMINI_BASE_URL`) | `GEMINI_API_KEY` |
//! | `ollama`    | OpenAI             | `http://127.0.0.1:11434/v1` (`OLLAMA_HOST`)        | none                |
//!
//! The default model comes from `--model`, else `SPELLHOST_MODEL`, else the
//! file's `default_model`.
//!
//! The model catalog (see `bridges::llm::catalog`) knows the limits and
//! prices of ~3 800 hosted models. `[models]` corrects or extends it, and
//! `[prices]` (US dollars per million tokens) sets prices alone:
//!
//! ```toml
//! [models."vllm/qwen2.5-7b-instruct"]
//! context_window = 32768
//! max_output_tokens = 8192
//! price = { input = 0.10, output = 0.30 }
//! sampling = "free"            # free | exclusive | fixed
//!
//! [prices."openai/gpt-4o-mini"]
//! input = 0.15
//! output = 0.60
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use serde::Deserialize;

use crate::bridges::llm::anthropic::{AnthropicConfig, AnthropicProvider};
use crate::bridges::llm::catalog::{self, ModelCatalog, ModelSpec};
use crate::bridges::llm::gemini::{GeminiConfig, GeminiProvider};
use crate::bridges::llm::http::HttpSettings;
use crate::bridges::llm::local;
use crate::bridges::llm::openai::{OpenAiConfig, OpenAiProvider, OutputTokensField};
use crate::bridges::llm::{LlmProvider, ModelRouter};

/// The parsed file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `provider/model` or an alias used when a spell names no model.
    pub default_model: Option<String>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Prices per model (`provider/model`), in US dollars per million tokens.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Model catalog entries (`provider/model`), over the built-in ones.
    #[serde(default)]
    pub models: BTreeMap<String, ModelSpec>,
    #[serde(default)]
    pub net: NetSettings,
    /// `spellhost serve`'s configuration.
    pub serve: Option<crate::serve::config::ServeSettings>,
    /// `[state]`: where the persistent state scopes live.
    #[serde(default)]
    pub state: BackendSettings,
    /// `[events]`: `url = "redis://…"` shares events between processes.
    #[serde(default)]
    pub events: BackendSettings,
    /// `[queue]`: `url = "redis://…"`, the run queue of `spellhost worker`
    /// and `spellhost submit`.
    #[serde(default)]
    pub queue: BackendSettings,
    /// `[audit]`: `url = "redis://…" | "postgres://…" | a file`, the audit
    /// trail of every run (`policy::audit_log`).
    #[serde(default)]
    pub audit: BackendSettings,
    /// `[telemetry]`: where spans are exported over OTLP.
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetrySettings,
    /// `[trust]`: the keys that may sign pulled packages (`market::trust`).
    #[serde(default)]
    pub trust: crate::market::trust::TrustSettings,
    /// `[registries]`: how OCI registries are reached.
    #[serde(default)]
    pub registries: crate::market::RegistrySettings,
}

/// A table that names a backend by URL: `[state]` (`"redis://…" |
/// "postgres://…" | a SQLite file path`, see `bridges::state::backend`) and
/// `[events]` (`"redis://…"`, see `bridges::event::EventsBackend`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    pub url: Option<String>,
}

/// `[net]`: how spells' granted network names resolve.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetSettings {
    /// Names pinned to addresses instead of DNS, like curl's `--resolve`
    /// (`"api.internal" = ["10.0.0.7"]`). Pinning does not grant: the name
    /// still needs `--allow-net`, and a private address its own grant.
    #[serde(default)]
    pub hosts: BTreeMap<String, Vec<std::net::IpAddr>>,
    /// Credentials the host adds to a granted host's requests, read from
    /// the host's environment when sent; spells use them, never see them:
    /// `[net.secrets."api.github.com"] header = "authorization", env =
    /// "GITHUB_TOKEN", prefix = "Bearer "`.
    #[serde(default)]
    pub secrets: BTreeMap<String, crate::policy::net::SecretHeader>,
}

/// What a model costs, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// One `[providers.<id>]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Wire format: `openai` (chat completions: OpenAI, Ollama, vLLM,
    /// llama.cpp, LM Studio), `anthropic` or `gemini`.
    pub kind: ProviderKind,
    pub base_url: String,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Seconds allowed to connect (default 10).
    pub connect_timeout_secs: Option<u64>,
    /// Seconds allowed until the first byte of the answer (default 60).
    pub first_byte_timeout_secs: Option<u64>,
    /// Seconds allowed for a whole non-streamed request (default 120).
    pub timeout_secs: Option<u64>,
    /// Retries on 429, 5xx and connection failures (default 2).
    pub max_retries: Option<u32>,
    /// The model catalog namespace the provider's models are looked up in
    /// (default: the provider's id), e.g. `catalog = "groq"`.
    pub catalog: Option<String>,
    /// OpenAI wire format only: the field that carries the output limit,
    /// `max_tokens` (default) or `max_completion_tokens` (the built-in
    /// `openai` provider).
    pub max_tokens_field: Option<OutputTokensField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Gemini,
}

impl ProviderSettings {
    fn builtin(kind: ProviderKind, base_url: String, api_key_env: Option<&str>) -> Self {
        Self {
            kind,
            base_url,
            api_key_env: api_key_env.map(str::to_owned),
            connect_timeout_secs: None,
            first_byte_timeout_secs: None,
            timeout_secs: None,
            max_retries: None,
            catalog: None,
            max_tokens_field: None,
        }
    }

    fn http(&self) -> HttpSettings {
        let mut http = HttpSettings::default();
        if let Some(secs) = self.connect_timeout_secs {
            http.connect_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = self.first_byte_timeout_secs {
            http.first_byte_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = self.timeout_secs {
            http.request_timeout = Duration::from_secs(secs);
        }
        if let Some(retries) = self.max_retries {
            http.max_attempts = retries + 1;
        }
        http
    }

    /// Builds the provider, reading its key from the environment.
    fn build(&self, id: &str) -> anyhow::Result<Arc<dyn LlmProvider>> {
        let api_key = self
            .api_key_env
            .as_deref()
            .and_then(|var| std::env::var(var).ok())
            .filter(|key| !key.is_empty());
        let (id, base_url, api_key_env, http) = (
            id.to_owned(),
            self.base_url.clone(),
            self.api_key_env.clone(),
            self.http(),
        );
        let provider: Arc<dyn LlmProvider> = match self.kind {
            ProviderKind::Openai => Arc::new(
                OpenAiProvider::new(OpenAiConfig {
                    id,
                    base_url,
                    api_key,
                    api_key_env,
                    http,
                })?
                .with_output_field(self.max_tokens_field.unwrap_or_default()),
            ),
            ProviderKind::Anthropic => Arc::new(AnthropicProvider::new(AnthropicConfig {
                id,
                base_url,
                api_key,
                api_key_env,
                http,
            })?),
            ProviderKind::Gemini => Arc::new(GeminiProvider::new(GeminiConfig {
                id,
                base_url,
                api_key,
                api_key_env,
                http,
            })?),
        };
        Ok(provider)
    }
}

impl Settings {
    /// Loads the first file found (see the module docs); no file is fine.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<(Self, Option<PathBuf>)> {
        let candidates: Vec<PathBuf> = match explicit {
            Some(path) => vec![path.to_owned()],
            None => [
                Some(PathBuf::from("spellhost.toml")),
                dirs::config_dir().map(|d| d.join("spellhost/spellhost.toml")),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        for path in candidates {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let settings = toml::from_str(&text)
                        .with_context(|| format!("invalid config file {}", path.display()))?;
                    return Ok((settings, Some(path)));
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {}
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("reading config file {}", path.display()));
                }
            }
        }
        Ok((Self::default(), None))
    }

    /// The model catalog: the refreshed list in the data directory (else
    /// the built-in one), the file's `[models]` and `[prices]` on top, and
    /// each provider's `catalog` namespace.
    pub fn catalog(&self) -> ModelCatalog {
        let mut catalog =
            ModelCatalog::load(&catalog::data_dir()).with_overrides(&self.models, &self.prices);
        for (id, provider) in &self.providers {
            if let Some(namespace) = &provider.catalog {
                catalog = catalog.with_namespace(id, namespace);
            }
        }
        catalog
    }

    /// Builds the model router: built-in providers, then the file's
    /// (which may replace them), aliases, and the default model
    /// (`model_override` > `$SPELLHOST_MODEL` > file).
    pub fn router(&self, model_override: Option<&str>) -> anyhow::Result<ModelRouter> {
        let mut providers: BTreeMap<String, ProviderSettings> = builtin_providers();
        for (id, mut table) in self.providers.clone() {
            // A table replacing a built-in provider keeps what the file does
            // not say about the wire (the real `openai` reads
            // `max_completion_tokens`).
            if let Some(builtin) = providers.get(&id)
                && table.kind == builtin.kind
                && table.max_tokens_field.is_none()
            {
                table.max_tokens_field = builtin.max_tokens_field;
            }
            providers.insert(id, table);
        }
        let mut router = ModelRouter::new();
        for (id, provider) in &providers {
            if id.is_empty() || id.contains('/') {
                bail!("provider id `{id}` must be non-empty and contain no `/`");
            }
            if id == local::PROVIDER_ID {
                bail!(
                    "provider id `{id}` is reserved for spellhost's offline models (`spellhost models`)"
                );
            }
            let provider = provider
                .build(id)
                .with_context(|| format!("configuring provider `{id}`"))?;
            router = router.with_provider(provider);
        }
        for (alias, target) in &self.aliases {
            router = router.with_alias(alias.clone(), target.clone());
        }
        let models_dir = local::catalog::models_dir();
        let installed = local::catalog::installed(&models_dir);
        router = router.with_provider(Arc::new(local::LocalProvider::new(models_dir)));
        // With nothing configured, the offline local model is the default.
        let local_default = installed
            .iter()
            .find(|m| *m == local::catalog::DEFAULT_MODEL)
            .or(installed.first())
            .map(|m| format!("{}/{m}", local::PROVIDER_ID));
        let default = model_override
            .map(str::to_owned)
            .or_else(|| {
                std::env::var("SPELLHOST_MODEL")
                    .ok()
                    .filter(|m| !m.is_empty())
            })
            .or_else(|| self.default_model.clone())
            .or(local_default);
        Ok(router.with_default_model(default))
    }
}

fn builtin_providers() -> BTreeMap<String, ProviderSettings> {
    let env_or = |var: &str, default: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.into())
    };
    let ollama_base = std::env::var("OLLAMA_HOST")
        .map(|host| {
            let host = if host.contains("://") {
                host
            } else {
                format!("http://{host}")
            };
            format!("{}/v1", host.trim_end_matches('/'))
        })
        .unwrap_or_else(|_| "http://127.0.0.1:11434/v1".into());
    BTreeMap::from([
        (
            "openai".to_owned(),
            ProviderSettings {
                max_tokens_field: Some(OutputTokensField::MaxCompletionTokens),
                ..ProviderSettings::builtin(
                    ProviderKind::Openai,
                    env_or("OPENAI_BASE_URL", "https://api.openai.com/v1"),
                    Some("OPENAI_API_KEY"),
                )
            },
        ),
        (
            "anthropic".to_owned(),
            ProviderSettings::builtin(
                ProviderKind::Anthropic,
                env_or("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                Some("ANTHROPIC_API_KEY"),
            ),
        ),
        (
            "gemini".to_owned(),
            ProviderSettings::builtin(
                ProviderKind::Gemini,
                env_or(
                    "GEMINI_BASE_URL",
                    "https://generativelanguage.googleapis.com/v1beta",
                ),
                Some("GEMINI_API_KEY"),
            ),
        ),
        (
            "ollama".to_owned(),
            ProviderSettings::builtin(ProviderKind::Openai, ollama_base, None),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_adds_providers_and_aliases() {
        let settings: Settings = toml::from_str(
            r#"
            default_model = "fast"
            [providers.lab]
            kind = "openai"
            base_url = "http://127.0.0.1:8080/v1"
            [aliases]
            fast = "lab/qwen"
            "#,
        )
        .unwrap();
        let router = settings.router(None).unwrap();
        assert_eq!(router.default_model().as_deref(), Some("lab/qwen"));
        let route = router.resolve(None).unwrap();
        assert_eq!(
            (route.id.as_str(), route.model.as_str()),
            ("lab/qwen", "qwen")
        );
        assert!(
            router.resolve(Some("openai/gpt-4o-mini")).is_ok(),
            "built-ins stay"
        );
        let overridden = settings.router(Some("ollama/llama3")).unwrap();
        assert_eq!(overridden.default_model().as_deref(), Some("ollama/llama3"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<Settings>("default_modle = \"x\"").is_err());
    }
}
