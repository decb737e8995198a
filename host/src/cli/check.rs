//! `spellhost check`: a spell, plugin or manifest checked without running
//! any of it — a script compiled by its interpreter (syntax errors with
//! their file and line), a component type-checked against spellhost's
//! worlds, the manifest beside either parsed and validated whole.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::run::OutputFormat;
use super::{HostArgs, exit};
use crate::inspect::ComponentKind;
use crate::policy::manifest::{self, Manifest};
use crate::runtime::{Runtime, SpellConfig};
use crate::scripts::Language;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Spells and plugins (.wasm, .lua, .js, .mjs) or manifests (.toml).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// `text`, or `json`: one array on stdout, an object per path (path,
    /// kind, ok, problems, manifest).
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    output: OutputFormat,
    #[command(flatten)]
    host: HostArgs,
}

/// What was found about one path.
#[derive(Serialize)]
struct Checked {
    path: PathBuf,
    /// `lua script`, `javascript script`, `spell`, `tool plugin`, `hook
    /// plugin`, `manifest`, or `unreadable`.
    kind: &'static str,
    ok: bool,
    problems: Vec<String>,
    /// The manifest checked along with it.
    manifest: Option<PathBuf>,
}

pub async fn check(args: CheckArgs) -> u8 {
    let runtime = match args.host.runtime(None) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {err:#}");
            return exit::HOST;
        }
    };
    let mut results = Vec::new();
    for path in &args.paths {
        results.push(check_one(&runtime, path).await);
    }
    match args.output {
        OutputFormat::Json => match serde_json::to_string_pretty(&results) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("error: {err}");
                return exit::HOST;
            }
        },
        OutputFormat::Text => {
            for checked in &results {
                print_text(checked);
            }
        }
    }
    if results.iter().all(|c| c.ok) {
        exit::OK
    } else {
        exit::SPELL_FAILED
    }
}

fn print_text(checked: &Checked) {
    let path = checked.path.display();
    let manifest = checked
        .manifest
        .as_ref()
        .map(|m| format!(", with its manifest {}", m.display()))
        .unwrap_or_default();
    if checked.ok {
        println!("{path}: ok ({}{manifest})", checked.kind);
    } else {
        println!(
            "{path}: {} problem(s) ({}{manifest})",
            checked.problems.len(),
            checked.kind
        );
        for problem in &checked.problems {
            println!("  {}", problem.replace('\n', "\n  "));
        }
    }
}

async fn check_one(runtime: &Runtime, path: &Path) -> Checked {
    let mut checked = Checked {
        path: path.to_owned(),
        kind: "unreadable",
        ok: false,
        problems: Vec::new(),
        manifest: None,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            checked.problems.push(format!("cannot read it: {err}"));
            return checked;
        }
    };
    if path.extension().is_some_and(|e| e == "toml") {
        checked.kind = "manifest";
        let parsed = std::str::from_utf8(&bytes)
            .map_err(anyhow::Error::from)
            .and_then(Manifest::parse);
        if let Err(err) = parsed {
            checked.problems.push(format!("{err:#}"));
        }
    } else {
        match Language::detect(path, &bytes) {
            Some(language) => {
                checked.kind = match language {
                    Language::Lua => "lua script",
                    Language::JavaScript => "javascript script",
                };
                let name = crate::runtime::name_from_path(path);
                let loaded = runtime.load_file(&name, path, bytes, SpellConfig::default());
                let outcome = match loaded {
                    Ok(spell) => runtime.check(&spell).await,
                    Err(err) => Err(err),
                };
                if let Err(err) = outcome {
                    checked.problems.push(match err {
                        crate::runtime::RunError::Failed(message) => message,
                        other => other.to_string(),
                    });
                }
            }
            None => match crate::inspect::inspect(runtime, &bytes) {
                Ok(inspection) => {
                    checked.kind = match inspection.kind {
                        ComponentKind::Spell => "spell",
                        ComponentKind::ToolPlugin => "tool plugin",
                        ComponentKind::HookPlugin => "hook plugin",
                    };
                    checked.problems.extend(inspection.problem);
                }
                Err(err) => checked.problems.push(err.to_string()),
            },
        }
        match manifest::load_for(path) {
            Ok(Some((_, manifest))) => checked.manifest = Some(manifest),
            Ok(None) => {}
            Err(err) => checked.problems.push(format!("{err:#}")),
        }
    }
    checked.ok = checked.problems.is_empty();
    checked
}
