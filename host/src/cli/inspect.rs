//! `spellhost inspect`.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{HostArgs, exit};
use crate::inspect::{ComponentKind, ImportKind, inspect as inspect_component};

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The component to inspect (.wasm).
    #[arg(value_name = "SPELL")]
    spell: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    host: HostArgs,
}

pub async fn inspect(args: InspectArgs) -> u8 {
    match inspect_inner(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::HOST
        }
    }
}

fn inspect_inner(args: &InspectArgs) -> anyhow::Result<u8> {
    let runtime = args.host.runtime(None)?;
    let bytes =
        std::fs::read(&args.spell).with_context(|| format!("reading {}", args.spell.display()))?;
    let inspection = match inspect_component(&runtime, &bytes) {
        Ok(inspection) => inspection,
        Err(err) => {
            eprintln!("error: {}: {err}", args.spell.display());
            return Ok(exit::code(&err));
        }
    };
    let manifest = crate::policy::manifest::load_for(&args.spell)?;
    if args.json {
        let mut json = serde_json::to_value(&inspection)?;
        if let Some((manifest, _)) = &manifest {
            json["requests"] = serde_json::to_value(&manifest.requests)?;
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{}", args.spell.display());
        let what = match inspection.kind {
            ComponentKind::Spell => "runnable spell",
            ComponentKind::ToolPlugin => "tool plugin (load it with --tool)",
            ComponentKind::HookPlugin => "hook plugin (load it with --hook)",
        };
        match &inspection.problem {
            None => println!("  {what}"),
            Some(problem) => println!("  NOT runnable: {problem}"),
        }
        let bridges = if inspection.bridges.is_empty() {
            "none".to_owned()
        } else {
            inspection.bridges.join(", ")
        };
        println!("  bridges: {bridges}");
        println!("  imports:");
        let width = inspection
            .imports
            .iter()
            .map(|i| i.name.len())
            .max()
            .unwrap_or(0);
        for import in &inspection.imports {
            let kind = match &import.kind {
                ImportKind::Bridge(b) => format!("spellhost bridge `{b}`"),
                ImportKind::Wasi(w) => format!("WASI {w}"),
                ImportKind::Unknown => "not provided by spellhost".to_owned(),
            };
            println!("    {:width$}  {kind}", import.name);
        }
        println!("  exports:");
        for export in &inspection.exports {
            println!("    {export}");
        }
        match &manifest {
            None => println!("  manifest: none (asks for no grants)"),
            Some((manifest, path)) => {
                println!("  manifest: {}", path.display());
                if let Some(description) = &manifest.spell.description {
                    println!("    {description}");
                }
                let requests = manifest
                    .requests
                    .missing_from(&crate::policy::Grants::default());
                if requests.is_empty() {
                    println!("    asks for no grants");
                } else {
                    println!("    asks for: {}", requests.join(" "));
                }
            }
        }
    }
    Ok(if inspection.runnable {
        exit::OK
    } else {
        exit::NOT_A_SPELL
    })
}
