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
//! Built in, without any file: `openai` (`https://api.openai.com/v1`, key
//! from `OPENAI_API_KEY`, base URL overridable with `OPENAI_BASE_URL`) and
//! `ollama` (`http://127.0.0.1:11434/v1`, or `$OLLAMA_HOST/v1`). The default
//! model comes from `--model`, else `SPELLHOST_MODEL`, else the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::bridges::llm::ModelRouter;
use crate::bridges::llm::openai::{OpenAiConfig, OpenAiProvider};

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
}

/// One `[providers.<id>]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Wire format: `openai` (OpenAI-compatible chat completions).
    pub kind: ProviderKind,
    pub base_url: String,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Seconds allowed for a whole non-streamed request (default 120).
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Openai,
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

    /// Builds the model router: built-in providers, then the file's
    /// (which may replace them), aliases, and the default model
    /// (`model_override` > `$SPELLHOST_MODEL` > file).
    pub fn router(&self, model_override: Option<&str>) -> anyhow::Result<ModelRouter> {
        let mut providers: BTreeMap<String, ProviderSettings> = builtin_providers();
        providers.extend(self.providers.clone());
        let mut router = ModelRouter::new();
        for (id, provider) in &providers {
            if id.is_empty() || id.contains('/') {
                bail!("provider id `{id}` must be non-empty and contain no `/`");
            }
            let mut config = OpenAiConfig::new(id.clone(), provider.base_url.clone());
            config.api_key_env = provider.api_key_env.clone();
            config.api_key = provider
                .api_key_env
                .as_deref()
                .and_then(|var| std::env::var(var).ok())
                .filter(|key| !key.is_empty());
            if let Some(secs) = provider.timeout_secs {
                config.request_timeout = Duration::from_secs(secs);
            }
            let provider = OpenAiProvider::new(config).map_err(|e| anyhow::anyhow!("{e}"))?;
            router = router.with_provider(Arc::new(provider));
        }
        for (alias, target) in &self.aliases {
            router = router.with_alias(alias.clone(), target.clone());
        }
        let default = model_override
            .map(str::to_owned)
            .or_else(|| {
                std::env::var("SPELLHOST_MODEL")
                    .ok()
                    .filter(|m| !m.is_empty())
            })
            .or_else(|| self.default_model.clone());
        Ok(router.with_default_model(default))
    }
}

fn builtin_providers() -> BTreeMap<String, ProviderSettings> {
    let openai_base =
        std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".into());
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
                kind: ProviderKind::Openai,
                base_url: openai_base,
                api_key_env: Some("OPENAI_API_KEY".into()),
                timeout_secs: None,
            },
        ),
        (
            "ollama".to_owned(),
            ProviderSettings {
                kind: ProviderKind::Openai,
                base_url: ollama_base,
                api_key_env: None,
                timeout_secs: None,
            },
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
            [providers.local]
            kind = "openai"
            base_url = "http://127.0.0.1:8080/v1"
            [aliases]
            fast = "local/qwen"
            "#,
        )
        .unwrap();
        let router = settings.router(None).unwrap();
        assert_eq!(router.default_model().as_deref(), Some("local/qwen"));
        let route = router.resolve(None).unwrap();
        assert_eq!(
            (route.id.as_str(), route.model.as_str()),
            ("local/qwen", "qwen")
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
