//! Import of LiteLLM's model list (`model_prices_and_context_window.json`,
//! MIT) into catalog entries.
//!
//! LiteLLM keys most models by bare name (`gpt-4o-mini`) and some by
//! `provider/name` (`gemini/gemini-2.5-flash`); each entry names its
//! provider in `litellm_provider`. Entries become `provider/name` with the
//! provider's own prefix not repeated. Only chat and embedding models are
//! kept, and only the fields the catalog has.
//!
//! Facts LiteLLM does not record, derived here (each rule cites its source):
//! - OpenAI reasoning models (`supports_reasoning`) accept no `temperature`
//!   or `top_p` (the API answers "Unsupported parameter"), except those whose
//!   default reasoning effort is `none` (gpt-5.1 and later: "temperature, top_p
//!   … are only supported when reasoning effort is none", OpenAI's GPT-5.1
//!   guide) — `Sampling::Fixed`;
//! - Claude models after Claude 4 take `temperature` or `top_p`, not both
//!   ("temperature and top_p cannot both be specified for this model",
//!   Anthropic's migration guide for Claude 4.5) — `Sampling::Exclusive`;
//! - `supports_sampling_params: false` — `Sampling::Fixed`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{CatalogFile, Mode, ModelSpec, Sampling};
use crate::settings::Price;

/// Where `spellhost models refresh` fetches the list by default.
pub const DEFAULT_URL: &str =
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json";

#[derive(Deserialize)]
struct Entry {
    litellm_provider: Option<String>,
    mode: Option<String>,
    max_input_tokens: Option<Value>,
    max_output_tokens: Option<Value>,
    input_cost_per_token: Option<f64>,
    output_cost_per_token: Option<f64>,
    supports_function_calling: Option<bool>,
    supports_vision: Option<bool>,
    supports_response_schema: Option<bool>,
    supports_reasoning: Option<bool>,
    supports_sampling_params: Option<bool>,
    default_reasoning_effort: Option<String>,
}

/// Converts LiteLLM's JSON text; `origin` says where it came from.
pub fn import(text: &str, origin: &str) -> Result<CatalogFile, String> {
    let raw: BTreeMap<String, Value> = serde_json::from_str(text)
        .map_err(|e| format!("not a LiteLLM model list (a JSON object of models): {e}"))?;
    let mut models = BTreeMap::new();
    for (key, value) in raw {
        if key == "sample_spec" {
            continue;
        }
        let Ok(entry) = serde_json::from_value::<Entry>(value) else {
            continue;
        };
        let mode = match entry.mode.as_deref() {
            Some("chat" | "responses" | "completion") => Mode::Chat,
            Some("embedding") => Mode::Embedding,
            _ => continue,
        };
        let Some(provider) = entry.litellm_provider.clone().filter(|p| !p.is_empty()) else {
            continue;
        };
        let name = key
            .strip_prefix(&format!("{provider}/"))
            .unwrap_or(&key)
            .to_owned();
        let id = format!("{provider}/{name}");
        let spec = spec_of(&provider, &name, mode, &entry);
        // A key that spells out its provider is the more specific entry.
        let explicit = key.starts_with(&format!("{provider}/"));
        if explicit || !models.contains_key(&id) {
            models.insert(id, spec);
        }
    }
    if models.is_empty() {
        return Err("the list holds no chat or embedding models".into());
    }
    Ok(CatalogFile {
        imported_from: origin.to_owned(),
        models,
    })
}

fn tokens(value: &Option<Value>) -> Option<u32> {
    value
        .as_ref()
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .map(|n| n.min(u64::from(u32::MAX)) as u32)
}

fn spec_of(provider: &str, name: &str, mode: Mode, entry: &Entry) -> ModelSpec {
    let price = match (entry.input_cost_per_token, entry.output_cost_per_token) {
        (Some(input), output) => Some(Price {
            input: per_million(input),
            output: per_million(output.unwrap_or(0.0)),
        }),
        _ => None,
    };
    ModelSpec {
        mode: Some(mode),
        context_window: tokens(&entry.max_input_tokens),
        max_output_tokens: (mode == Mode::Chat)
            .then(|| tokens(&entry.max_output_tokens))
            .flatten(),
        price,
        tools: entry.supports_function_calling,
        vision: entry.supports_vision,
        json_schema: entry.supports_response_schema,
        sampling: (mode == Mode::Chat).then(|| sampling(provider, name, entry)),
    }
}

/// Dollars per token to dollars per million tokens, without float noise
/// (`1.5e-07` → `0.15`).
fn per_million(per_token: f64) -> f64 {
    (per_token * 1e6 * 1e6).round() / 1e6
}

fn sampling(provider: &str, name: &str, entry: &Entry) -> Sampling {
    if entry.supports_sampling_params == Some(false) {
        return Sampling::Fixed;
    }
    match provider {
        "openai" | "azure"
            if entry.supports_reasoning == Some(true)
                && entry.default_reasoning_effort.as_deref() != Some("none") =>
        {
            Sampling::Fixed
        }
        "anthropic" if !claude_takes_both(name) => Sampling::Exclusive,
        _ => Sampling::Free,
    }
}

/// Claude 3.x and Claude 4.0 take `temperature` and `top_p` together.
fn claude_takes_both(name: &str) -> bool {
    name.starts_with("claude-3")
        || name.starts_with("claude-sonnet-4-2025")
        || name.starts_with("claude-opus-4-2025")
        || name.starts_with("claude-4")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_by_provider_and_converted() {
        let text = r#"{
            "sample_spec": { "mode": "chat" },
            "gpt-x": { "litellm_provider": "openai", "mode": "chat", "max_input_tokens": 1000,
                       "max_output_tokens": 100, "input_cost_per_token": 1.5e-07,
                       "output_cost_per_token": 6e-07, "supports_vision": true },
            "o-think": { "litellm_provider": "openai", "mode": "chat", "supports_reasoning": true },
            "gemini/g": { "litellm_provider": "gemini", "mode": "chat", "max_output_tokens": 65536 },
            "g": { "litellm_provider": "vertex_ai", "mode": "chat", "max_output_tokens": 65535 },
            "claude-opus-4-5": { "litellm_provider": "anthropic", "mode": "chat" },
            "claude-3-haiku": { "litellm_provider": "anthropic", "mode": "chat" },
            "emb": { "litellm_provider": "openai", "mode": "embedding", "max_output_tokens": 5 },
            "img": { "litellm_provider": "openai", "mode": "image_generation" },
            "odd": { "litellm_provider": "openai", "mode": "chat", "max_input_tokens": "lots" }
        }"#;
        let file = import(text, "test").unwrap();
        let gpt = &file.models["openai/gpt-x"];
        assert_eq!(gpt.context_window, Some(1000));
        assert_eq!(gpt.price.unwrap().input, 0.15);
        assert_eq!(gpt.price.unwrap().output, 0.6);
        assert_eq!(gpt.vision, Some(true));
        assert_eq!(gpt.sampling, Some(Sampling::Free));
        assert_eq!(
            file.models["openai/o-think"].sampling,
            Some(Sampling::Fixed)
        );
        assert_eq!(file.models["gemini/g"].max_output_tokens, Some(65536));
        assert_eq!(file.models["vertex_ai/g"].max_output_tokens, Some(65535));
        assert_eq!(
            file.models["anthropic/claude-opus-4-5"].sampling,
            Some(Sampling::Exclusive)
        );
        assert_eq!(
            file.models["anthropic/claude-3-haiku"].sampling,
            Some(Sampling::Free)
        );
        assert_eq!(file.models["openai/emb"].mode, Some(Mode::Embedding));
        assert_eq!(file.models["openai/emb"].max_output_tokens, None);
        assert!(!file.models.contains_key("openai/img"));
        assert_eq!(file.models["openai/odd"].context_window, None);
    }

    #[test]
    fn not_a_model_list_is_refused() {
        assert!(
            import("[1, 2]", "x")
                .unwrap_err()
                .contains("not a LiteLLM model list")
        );
        assert!(
            import("{}", "x")
                .unwrap_err()
                .contains("no chat or embedding")
        );
    }
}
