//! The model catalog: what spellhost knows about each model — context
//! window, most output tokens, price, capabilities and the sampling
//! parameters it accepts — so requests are shaped to what the real APIs
//! accept (see `shape.rs`) and runs are priced without configuration.
//!
//! Where entries come from, later sources winning field by field:
//!
//! | source | what |
//! |---|---|
//! | built in (`host/catalog/models.json`) | imported from LiteLLM's model list (MIT) by `just catalog` |
//! | `spellhost models refresh` | the same import of a newer list, saved in the data directory; replaces the built-in one |
//! | `[models."provider/model"]` in `spellhost.toml` | overrides and new entries |
//! | `[prices."provider/model"]` in `spellhost.toml` | prices (the older form; still honoured) |
//!
//! Entries are named `namespace/model`, where the namespace is LiteLLM's
//! provider name (`openai`, `anthropic`, `gemini`, `groq`, `mistral`, …). A
//! configured provider looks up its own id unless its settings name another
//! namespace (`catalog = "groq"`), so a `[providers.groq]` entry finds
//! `groq/openai/gpt-oss-20b` without any table of its own.
//!
//! The catalog is advice where it has no entry: an unknown model (a new
//! release, a local server) is sent the spell's request unchanged.

pub mod litellm;
pub mod shape;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

pub use shape::{OutputLimit, Shaped, estimate_input_tokens, shape_request};

use crate::settings::Price;

/// What a model accepts of `temperature` and `top_p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampling {
    /// Both, together or alone.
    Free,
    /// One of them per request, not both (Claude 4.1 Opus and later).
    Exclusive,
    /// Neither: the model samples its own way (OpenAI reasoning models).
    Fixed,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Chat,
    Embedding,
}

/// One model's entry. Every field is optional: `None` means unknown, and
/// an unknown capability is never refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Most input tokens (the prompt) the model takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Most output tokens one answer may have (reasoning tokens included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// US dollars per million tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Takes tool definitions and answers with tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    /// Takes images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<bool>,
    /// Constrains its answer to a JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Sampling>,
}

impl ModelSpec {
    /// Takes every field `other` knows.
    pub fn merge(&mut self, other: &ModelSpec) {
        macro_rules! take {
            ($($field:ident),*) => { $( if other.$field.is_some() { self.$field = other.$field; } )* };
        }
        take!(
            mode,
            context_window,
            max_output_tokens,
            price,
            tools,
            vision,
            json_schema,
            sampling
        );
    }
}

/// Where a catalog's base entries came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "path")]
pub enum CatalogSource {
    /// The list compiled into spellhost.
    BuiltIn,
    /// A list saved by `spellhost models refresh`.
    Refreshed(PathBuf),
}

/// The file format of `host/catalog/models.json` and of refreshed lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// Where the entries were imported from, for `models info`.
    pub imported_from: String,
    pub models: BTreeMap<String, ModelSpec>,
}

/// The built-in list, parsed on first use.
fn builtin() -> &'static Arc<CatalogFile> {
    static BUILTIN: OnceLock<Arc<CatalogFile>> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let text = include_str!("../../../../catalog/models.json");
        Arc::new(serde_json::from_str(text).expect("the built-in model catalog parses"))
    })
}

/// Where the base entries are read from, once, on first use — so a run that
/// never calls a model never parses the list.
#[derive(Debug)]
struct Base {
    /// The refreshed list to try before the built-in one.
    refreshed: Option<PathBuf>,
    loaded: OnceLock<(Arc<CatalogFile>, CatalogSource)>,
}

impl Base {
    fn of(file: Arc<CatalogFile>) -> Self {
        let loaded = OnceLock::new();
        let _ = loaded.set((file, CatalogSource::BuiltIn));
        Self {
            refreshed: None,
            loaded,
        }
    }

    fn get(&self) -> &(Arc<CatalogFile>, CatalogSource) {
        self.loaded.get_or_init(|| {
            if let Some(path) = &self.refreshed {
                match std::fs::read_to_string(path) {
                    Ok(text) => match serde_json::from_str::<CatalogFile>(&text) {
                        Ok(file) => return (Arc::new(file), CatalogSource::Refreshed(path.clone())),
                        Err(err) => tracing::warn!(
                            "ignoring the refreshed model catalog {} ({err}); using the built-in one. \
                             Run `spellhost models refresh` again or delete the file.",
                            path.display()
                        ),
                    },
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => tracing::warn!(
                        "cannot read the refreshed model catalog {}: {err}; using the built-in one",
                        path.display()
                    ),
                }
            }
            (builtin().clone(), CatalogSource::BuiltIn)
        })
    }

    fn file(&self) -> &CatalogFile {
        &self.get().0
    }
}

/// The catalog a runtime uses: base entries, configuration on top, and the
/// namespace each provider looks its models up in.
#[derive(Debug, Clone)]
pub struct ModelCatalog {
    base: Arc<Base>,
    overrides: BTreeMap<String, ModelSpec>,
    namespaces: BTreeMap<String, String>,
}

impl Default for ModelCatalog {
    /// The built-in entries without configuration.
    fn default() -> Self {
        Self::builtin()
    }
}

impl ModelCatalog {
    pub fn builtin() -> Self {
        Self {
            base: Arc::new(Base {
                refreshed: None,
                loaded: OnceLock::new(),
            }),
            overrides: BTreeMap::new(),
            namespaces: BTreeMap::new(),
        }
    }

    /// A catalog with only `models` (tests, and catalogs built by hand).
    pub fn from_entries(models: BTreeMap<String, ModelSpec>) -> Self {
        Self {
            base: Arc::new(Base::of(Arc::new(CatalogFile {
                imported_from: "entries given by the caller".into(),
                models,
            }))),
            overrides: BTreeMap::new(),
            namespaces: BTreeMap::new(),
        }
    }

    /// The refreshed list in `dir` if there is one, else the built-in one;
    /// read on first use. A refreshed file that cannot be read is reported
    /// and skipped.
    pub fn load(dir: &Path) -> Self {
        Self {
            base: Arc::new(Base {
                refreshed: Some(refreshed_path(dir)),
                loaded: OnceLock::new(),
            }),
            ..Self::builtin()
        }
    }

    /// Adds `spellhost.toml`'s entries: `[models]` first, then `[prices]`.
    pub fn with_overrides(
        mut self,
        models: &BTreeMap<String, ModelSpec>,
        prices: &BTreeMap<String, Price>,
    ) -> Self {
        for (id, spec) in models {
            self.overrides.entry(id.clone()).or_default().merge(spec);
        }
        for (id, price) in prices {
            self.overrides.entry(id.clone()).or_default().price = Some(*price);
        }
        self
    }

    /// Makes `provider` look its models up under `namespace`.
    pub fn with_namespace(mut self, provider: &str, namespace: &str) -> Self {
        self.namespaces
            .insert(provider.to_owned(), namespace.to_owned());
        self
    }

    pub fn source(&self) -> &CatalogSource {
        &self.base.get().1
    }

    pub fn imported_from(&self) -> &str {
        &self.base.file().imported_from
    }

    pub fn len(&self) -> usize {
        self.base.file().models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.base.file().models.is_empty() && self.overrides.is_empty()
    }

    /// The catalog key a `provider/model` id is looked up under.
    pub fn key(&self, id: &str) -> String {
        match id.split_once('/') {
            Some((provider, model)) => match self.namespaces.get(provider) {
                Some(namespace) => format!("{namespace}/{model}"),
                None => id.to_owned(),
            },
            None => id.to_owned(),
        }
    }

    /// The entry for `id` (`provider/model`), overrides applied; `None` for
    /// a model the catalog does not know.
    pub fn get(&self, id: &str) -> Option<ModelSpec> {
        let key = self.key(id);
        let base = self.base.file().models.get(&key);
        let over = self.overrides.get(id).or_else(|| self.overrides.get(&key));
        match (base, over) {
            (None, None) => None,
            (Some(base), None) => Some(base.clone()),
            (base, Some(over)) => {
                let mut spec = base.cloned().unwrap_or_default();
                spec.merge(over);
                Some(spec)
            }
        }
    }

    /// Where `id`'s entry comes from, for `models info`.
    pub fn provenance(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.base.file().models.contains_key(&self.key(id)) {
            let imported_from = &self.base.file().imported_from;
            out.push(match self.source() {
                CatalogSource::BuiltIn => format!("built-in catalog ({imported_from})"),
                CatalogSource::Refreshed(path) => {
                    format!("refreshed catalog {} ({imported_from})", path.display())
                }
            });
        }
        if self.overrides.contains_key(id) || self.overrides.contains_key(&self.key(id)) {
            out.push("spellhost.toml".into());
        }
        out
    }

    /// The price of `id`, if known.
    pub fn price(&self, id: &str) -> Option<Price> {
        self.get(id).and_then(|spec| spec.price)
    }

    /// Ids of entries named like `needle` (for suggestions): the same model
    /// name under any provider first, then names that start with it, then
    /// names that contain it.
    pub fn search(&self, needle: &str, limit: usize) -> Vec<String> {
        let name_of = |key: &str| key.split_once('/').map_or(key, |(_, m)| m).to_owned();
        let mut found: Vec<(u8, String)> = self
            .base
            .file()
            .models
            .keys()
            .chain(self.overrides.keys())
            .filter_map(|key| {
                let name = name_of(key);
                let rank = if name == needle {
                    0
                } else if name.starts_with(needle) {
                    1
                } else if key.contains(needle) {
                    2
                } else {
                    return None;
                };
                Some((rank, key.clone()))
            })
            .collect();
        found.sort();
        found.dedup();
        found.into_iter().take(limit).map(|(_, key)| key).collect()
    }
}

/// Where `spellhost models refresh` saves its list.
pub fn refreshed_path(dir: &Path) -> PathBuf {
    dir.join("model-catalog.json")
}

/// spellhost's data directory: `$SPELLHOST_DATA_DIR`, else the user's data
/// directory (`~/.local/share/spellhost` on Linux).
pub fn data_dir() -> PathBuf {
    std::env::var_os("SPELLHOST_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::data_dir().map(|d| d.join("spellhost")))
        .unwrap_or_else(|| PathBuf::from(".spellhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_knows_the_readme_models() {
        let catalog = ModelCatalog::builtin();
        let mini = catalog.get("openai/gpt-4o-mini").unwrap();
        assert_eq!(mini.max_output_tokens, Some(16_384));
        assert_eq!(mini.context_window, Some(128_000));
        assert_eq!(
            mini.price,
            Some(Price {
                input: 0.15,
                output: 0.60
            })
        );
        assert_eq!(mini.sampling, Some(Sampling::Free));
        let sonnet = catalog.get("anthropic/claude-sonnet-4-5").unwrap();
        assert_eq!(sonnet.max_output_tokens, Some(64_000));
        assert_eq!(sonnet.sampling, Some(Sampling::Exclusive));
        let flash = catalog.get("gemini/gemini-2.5-flash").unwrap();
        assert_eq!(flash.max_output_tokens, Some(65_536));
        let gpt5 = catalog.get("openai/gpt-5").unwrap();
        assert_eq!(gpt5.sampling, Some(Sampling::Fixed));
        assert_eq!(
            catalog.get("openai/o3-mini").unwrap().vision,
            Some(false),
            "o3-mini takes no images"
        );
        assert!(catalog.get("openai/no-such-model").is_none());
        let similar = catalog.search("gpt-4o-mini", 3);
        assert!(
            similar.contains(&"openai/gpt-4o-mini".to_owned()),
            "{similar:?}"
        );
        assert!(
            similar.iter().all(|id| id.ends_with("/gpt-4o-mini")),
            "exact names first: {similar:?}"
        );
    }

    #[test]
    fn overrides_win_field_by_field_and_namespaces_redirect() {
        let models = BTreeMap::from([(
            "openai/gpt-4o-mini".to_owned(),
            ModelSpec {
                max_output_tokens: Some(1000),
                ..Default::default()
            },
        )]);
        let prices = BTreeMap::from([(
            "lab/qwen".to_owned(),
            Price {
                input: 1.0,
                output: 2.0,
            },
        )]);
        let catalog = ModelCatalog::builtin()
            .with_overrides(&models, &prices)
            .with_namespace("mygroq", "groq");
        let mini = catalog.get("openai/gpt-4o-mini").unwrap();
        assert_eq!(mini.max_output_tokens, Some(1000));
        assert_eq!(mini.context_window, Some(128_000), "the rest stays");
        assert_eq!(catalog.price("lab/qwen").unwrap().output, 2.0);
        assert_eq!(
            catalog.key("mygroq/openai/gpt-oss-20b"),
            "groq/openai/gpt-oss-20b"
        );
        assert!(catalog.get("mygroq/openai/gpt-oss-20b").is_some());
        assert_eq!(catalog.provenance("openai/gpt-4o-mini").len(), 2);
    }
}
