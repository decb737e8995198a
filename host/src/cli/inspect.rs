//! `spellhost inspect`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use super::{HostArgs, exit};
use crate::inspect::{ComponentKind, ImportKind, inspect as inspect_component};
use crate::scripts::Language;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The component (.wasm) or script spell (.lua, .js) to inspect.
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
    // A script is run by a built-in interpreter component: that is what
    // gets inspected, with the script's own manifest.
    let script = Language::detect(&args.spell, &bytes);
    let component: &[u8] = match script {
        Some(language) => language.interpreter(),
        None => &bytes,
    };
    let inspection = match inspect_component(&runtime, component) {
        Ok(inspection) => inspection,
        Err(err) => {
            eprintln!("error: {}: {err}", args.spell.display());
            return Ok(exit::code(&err));
        }
    };
    let manifest = crate::policy::manifest::load_for(&args.spell)?;
    let mut out = String::new();
    if args.json {
        let mut json = serde_json::to_value(&inspection)?;
        if let Some(language) = script {
            json["script"] = serde_json::json!({ "language": language.name() });
        }
        if let Some((manifest, _)) = &manifest {
            json["requests"] = serde_json::to_value(&manifest.requests)?;
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        writeln!(out, "{}", args.spell.display())?;
        let what = match (script, inspection.kind) {
            (Some(_), _) => {
                "script spell (its code is checked when it runs: syntax errors name their line)"
            }
            (None, ComponentKind::Spell) => "runnable spell",
            (None, ComponentKind::ToolPlugin) => "tool plugin (load it with --tool)",
            (None, ComponentKind::HookPlugin) => "hook plugin (load it with --hook)",
        };
        match &inspection.problem {
            None => writeln!(out, "  {what}")?,
            Some(problem) => writeln!(out, "  NOT runnable: {problem}")?,
        }
        if let Some(language) = script {
            writeln!(
                out,
                "  {} script, run by spellhost's built-in {} interpreter component: \
                 the bridges and imports below are the interpreter's (every bridge \
                 is available to the script; grants still decide what it may reach)",
                language.name(),
                language.name()
            )?;
        }
        let bridges = if inspection.bridges.is_empty() {
            "none".to_owned()
        } else {
            inspection.bridges.join(", ")
        };
        writeln!(out, "  bridges: {bridges}")?;
        writeln!(out, "  imports:")?;
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
            writeln!(out, "    {:width$}  {kind}", import.name)?;
        }
        writeln!(out, "  exports:")?;
        for export in &inspection.exports {
            writeln!(out, "    {export}")?;
        }
        match &manifest {
            None => writeln!(out, "  manifest: none (asks for no grants)")?,
            Some((manifest, path)) => {
                writeln!(out, "  manifest: {}", path.display())?;
                if let Some(description) = &manifest.spell.description {
                    writeln!(out, "    {description}")?;
                }
                let requests = manifest
                    .requests
                    .missing_from(&crate::policy::Grants::default());
                if requests.is_empty() {
                    writeln!(out, "    asks for no grants")?;
                } else {
                    let flags: Vec<String> =
                        requests.iter().map(crate::policy::Grant::flag).collect();
                    writeln!(out, "    asks for: {}", flags.join(" "))?;
                }
            }
        }
    }
    super::emit(&out)?;
    Ok(if inspection.runnable {
        exit::OK
    } else {
        exit::NOT_A_SPELL
    })
}
