//! `spellhost new` and `spellhost build`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::exit;
use crate::authoring::scaffold::{self, Kind, Lang, Sdk};
use crate::authoring::{self, build};

#[derive(clap::Args)]
pub struct NewArgs {
    /// The project's name, and the directory made for it.
    #[arg(value_name = "NAME")]
    name: String,
    /// The language: rust, lua, js or python.
    #[arg(long, value_enum, default_value = "lua")]
    lang: Lang,
    /// What it makes: a spell, a tool plugin or a hook plugin.
    #[arg(long, value_enum, default_value = "spell")]
    kind: Kind,
    /// Make it in DIR instead of ./NAME.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Manifests (NAME.spell.toml), components (their manifests) or
    /// directories (every manifest in them) [default: .].
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub async fn new(args: NewArgs) -> u8 {
    match new_inner(&args) {
        Ok(()) => exit::OK,
        Err(err) => {
            eprintln!("error: {err:#}");
            // A name or a combination that cannot be made is the command
            // line's fault.
            if err.downcast_ref::<scaffold::ScaffoldError>().is_some() {
                exit::USAGE
            } else {
                exit::HOST
            }
        }
    }
}

fn new_inner(args: &NewArgs) -> anyhow::Result<()> {
    let needs_sdk = matches!(args.lang, Lang::Rust | Lang::Python);
    let sdk = authoring::sdk_root();
    let sdk_path = match (&sdk, needs_sdk) {
        (Some(root), _) => root.clone(),
        (None, false) => PathBuf::new(),
        (None, true) => anyhow::bail!(
            "a {} project builds against spellhost's WIT and SDKs, and this binary's source tree is gone: set {}=/path/to/spellhost (a checkout)",
            if args.lang == Lang::Rust {
                "Rust"
            } else {
                "Python"
            },
            authoring::SDK_VAR
        ),
    };
    let files = scaffold::project(&args.name, args.lang, args.kind, &Sdk { root: &sdk_path })?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        anyhow::bail!(
            "{} exists and is not empty: choose another name or --dir",
            dir.display()
        );
    }
    for file in &files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &file.text).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut said = format!("Created {} in {}:\n", args.name, dir.display());
    for file in &files {
        said.push_str(&format!("  {}\n", file.path.display()));
    }
    said.push_str(&format!("\nNext:\n  cd {}\n", dir.display()));
    if needs_sdk {
        said.push_str("  spellhost build\n");
    }
    said.push_str("  spellhost test\n");
    super::emit(&said)?;
    Ok(())
}

pub async fn build(args: BuildArgs) -> u8 {
    match build_inner(&args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::HOST
        }
    }
}

async fn build_inner(args: &BuildArgs) -> anyhow::Result<u8> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut steps = Vec::new();
    for path in &paths {
        let found = if path.is_dir() {
            build::steps_in(path)?
        } else if is_manifest(path) {
            build::step_of_manifest(path)?.into_iter().collect()
        } else {
            build::step_for(path)?.into_iter().collect()
        };
        if found.is_empty() {
            anyhow::bail!(
                "nothing to build in {}: no manifest (NAME.spell.toml) with a [build] command",
                path.display()
            );
        }
        steps.extend(found);
    }
    let sdk = authoring::sdk_root();
    for step in &steps {
        eprintln!("building {}: {}", step.manifest.display(), step.command);
        if let Err(err) = build::run(step, sdk.as_deref()).await {
            eprintln!("error: {err}");
            return Ok(exit::SPELL_FAILED);
        }
    }
    Ok(exit::OK)
}

fn is_manifest(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".spell.toml"))
}
