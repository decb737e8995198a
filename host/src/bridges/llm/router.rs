//! Model routing and the model allow-list.
//!
//! Models are addressed as `provider/model` (`openai/gpt-4o-mini`,
//! `ollama/llama3.2`) or by an alias from the config file. The router turns
//! a name into a provider and its provider-local model name; the
//! [`ModelPolicy`] decides whether a spell may use it.
//!
//! | spell asks for                | allowed when                                        |
//! |-------------------------------|-----------------------------------------------------|
//! | nothing (`model: none`)       | a default model is configured (`--model`, config)   |
//! | the run's default model       | always                                              |
//! | any other model               | it matches an `--allow-model` pattern (`*` globs)   |

use std::collections::BTreeMap;
use std::sync::Arc;

use super::provider::{LlmError, LlmProvider};

/// Where a model name leads.
#[derive(Clone)]
pub struct Route {
    pub provider: Arc<dyn LlmProvider>,
    /// Canonical `provider/model`.
    pub id: String,
    /// The model name the provider knows.
    pub model: String,
}

/// Providers, aliases and the default model.
#[derive(Default, Clone)]
pub struct ModelRouter {
    providers: BTreeMap<String, Arc<dyn LlmProvider>>,
    aliases: BTreeMap<String, String>,
    default_model: Option<String>,
    /// Answers models of every provider not configured (`spellhost test`).
    fallback: Option<Arc<dyn LlmProvider>>,
}

impl ModelRouter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_provider(mut self, provider: Arc<dyn LlmProvider>) -> Self {
        self.providers.insert(provider.id().to_owned(), provider);
        self
    }

    pub fn with_alias(mut self, alias: impl Into<String>, target: impl Into<String>) -> Self {
        self.aliases.insert(alias.into(), target.into());
        self
    }

    /// Routes every provider id not configured to `provider`: any
    /// `provider/model` name reaches it (a test's replay provider).
    pub fn with_fallback(mut self, provider: Arc<dyn LlmProvider>) -> Self {
        self.fallback = Some(provider);
        self
    }

    /// The same aliases and default model, with every provider replaced by
    /// what `wrap` makes of it (a recorder around each).
    pub fn wrap_providers(
        mut self,
        wrap: impl Fn(Arc<dyn LlmProvider>) -> Arc<dyn LlmProvider>,
    ) -> Self {
        for provider in self.providers.values_mut() {
            *provider = wrap(provider.clone());
        }
        self.fallback = self.fallback.map(&wrap);
        self
    }

    /// The same aliases, with `provider` answering every model instead of
    /// the providers configured.
    pub fn replaced_by(self, provider: Arc<dyn LlmProvider>) -> Self {
        Self {
            providers: BTreeMap::new(),
            fallback: Some(provider),
            ..self
        }
    }

    pub fn with_default_model(mut self, model: Option<String>) -> Self {
        self.default_model = model;
        self
    }

    /// The default model, canonicalised.
    pub fn default_model(&self) -> Option<String> {
        self.default_model.as_deref().map(|m| self.canonical(m))
    }

    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn LlmProvider>> {
        self.providers.values().chain(self.fallback.iter())
    }

    pub fn aliases_of(&self, id: &str) -> Vec<String> {
        self.aliases
            .iter()
            .filter(|(_, t)| self.canonical(t) == id)
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// Resolves aliases (one level) to a `provider/model` name.
    pub fn canonical(&self, name: &str) -> String {
        self.aliases
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }

    /// Finds the provider for `requested` (or the default model).
    pub fn resolve(&self, requested: Option<&str>) -> Result<Route, LlmError> {
        let name = match requested {
            Some(name) => self.canonical(name),
            None => self.default_model().ok_or_else(|| {
                LlmError::InvalidRequest(
                    "no model is configured: pass --model provider/model \
                     (e.g. --model openai/gpt-4o-mini or --model ollama/llama3.2), \
                     set SPELLHOST_MODEL, set default_model in spellhost.toml, \
                     or run `spellhost models pull smollm2` for an offline model"
                        .into(),
                )
            })?,
        };
        let Some((provider_id, model)) = name.split_once('/') else {
            return Err(LlmError::InvalidRequest(format!(
                "`{name}` is not a model name: use provider/model (e.g. openai/{name}) or an alias from spellhost.toml"
            )));
        };
        let provider = self
            .providers
            .get(provider_id)
            .or(self.fallback.as_ref())
            .ok_or_else(|| {
                LlmError::InvalidRequest(format!(
                    "unknown provider `{provider_id}` in `{name}`; configured providers: {}",
                    self.providers
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        Ok(Route {
            provider: provider.clone(),
            id: name.clone(),
            model: model.to_owned(),
        })
    }
}

/// Which models a spell may use besides the run's default.
#[derive(Debug, Clone, Default)]
pub struct ModelPolicy {
    patterns: Vec<String>,
}

impl ModelPolicy {
    pub fn new(patterns: impl IntoIterator<Item = String>) -> Self {
        Self {
            patterns: patterns.into_iter().collect(),
        }
    }

    /// Checks `id` (canonical) against the default and the patterns.
    pub fn check(&self, id: &str, default: Option<&str>) -> Result<(), LlmError> {
        if default == Some(id) || self.patterns.iter().any(|p| glob_match(p, id)) {
            return Ok(());
        }
        Err(LlmError::Denied(format!(
            "model `{id}` is not granted to this spell"
        )))
    }

    pub fn allows(&self, id: &str, default: Option<&str>) -> bool {
        self.check(id, default).is_ok()
    }
}

/// `*` matches any run of characters (including `/`); everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(index) => rest = &rest[index + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shell_stars() {
        assert!(glob_match("openai/*", "openai/gpt-4o"));
        assert!(glob_match("*", "anything/at-all"));
        assert!(glob_match("*/llama*", "ollama/llama3.2"));
        assert!(glob_match("a*b*c", "abbbc"));
        assert!(!glob_match("openai/*", "anthropic/claude"));
        assert!(!glob_match("a*bc", "abc-"));
        assert!(glob_match("exact/model", "exact/model"));
        assert!(!glob_match("exact/model", "exact/model2"));
        assert!(!glob_match("ab*ab", "ab"));
    }

    #[test]
    fn default_model_is_allowed_and_others_need_a_grant() {
        let policy = ModelPolicy::new(["ollama/*".to_string()]);
        assert!(policy.allows("openai/gpt-4o-mini", Some("openai/gpt-4o-mini")));
        assert!(policy.allows("ollama/llama3", Some("openai/gpt-4o-mini")));
        let err = policy
            .check("openai/gpt-4o", Some("openai/gpt-4o-mini"))
            .unwrap_err();
        assert!(
            matches!(&err, LlmError::Denied(m) if m.contains("`openai/gpt-4o` is not granted")),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_names_explain_the_naming_scheme() {
        let router = ModelRouter::new().with_alias("fast", "openai/gpt-4o-mini");
        assert_eq!(router.canonical("fast"), "openai/gpt-4o-mini");
        let err = router.resolve(Some("gpt-4o")).err().unwrap();
        assert!(matches!(&err, LlmError::InvalidRequest(m) if m.contains("provider/model")));
        let err = router.resolve(None).err().unwrap();
        assert!(matches!(&err, LlmError::InvalidRequest(m) if m.contains("--model")));
        let err = router.resolve(Some("nope/x")).err().unwrap();
        assert!(
            matches!(&err, LlmError::InvalidRequest(m) if m.contains("unknown provider `nope`"))
        );
    }
}
