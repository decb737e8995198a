//! What a component imports and exports, and which spellhost bridges it
//! uses — without running it.

use wasmtime::component::types::ComponentItem;

use crate::runtime::{RunError, Runtime, check_component_header};

/// What kind of thing an import is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum ImportKind {
    /// A spellhost bridge (`llm`, `state`, …).
    Bridge(String),
    /// A WASI interface.
    Wasi(String),
    /// Anything else: spellhost does not provide it.
    Unknown,
}

/// One import of a component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Import {
    pub name: String,
    #[serde(flatten)]
    pub kind: ImportKind,
}

/// What a component is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    /// Exports `run`: `spellhost run` runs it.
    Spell,
    /// Exports `tool-provider`: load it with `--tool`.
    ToolPlugin,
    /// Exports `hook-handler`: load it with `--hook`.
    HookPlugin,
}

/// The result of inspecting a component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    pub kind: ComponentKind,
    pub imports: Vec<Import>,
    pub exports: Vec<String>,
    /// Bridges the spell uses, e.g. `["llm", "state"]`.
    pub bridges: Vec<String>,
    /// Whether the component links against spellhost (and, for a spell,
    /// exports `run`).
    pub runnable: bool,
    /// Why it is not runnable, when it is not.
    pub problem: Option<String>,
}

/// Inspects component `bytes`.
pub fn inspect(runtime: &Runtime, bytes: &[u8]) -> Result<Inspection, RunError> {
    check_component_header(bytes)?;
    let engine = runtime.engine();
    let loaded = engine
        .cache()
        .load(engine.engine(), bytes)
        .map_err(|e| RunError::Invalid(format!("{e:#}")))?;
    let ty = loaded.component.component_type();
    let imports: Vec<Import> = ty
        .imports(engine.engine())
        .map(|(name, _)| Import {
            name: name.to_owned(),
            kind: classify(name),
        })
        .collect();
    let exports: Vec<String> = ty
        .exports(engine.engine())
        .map(|(name, item)| match item.ty {
            ComponentItem::ComponentFunc(_) => format!("{name} (function)"),
            ComponentItem::ComponentInstance(_) => format!("{name} (interface)"),
            _ => name.to_owned(),
        })
        .collect();
    let mut bridges: Vec<String> = imports
        .iter()
        .filter_map(|i| match &i.kind {
            ImportKind::Bridge(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    bridges.dedup();
    let exports_interface = |name: &str| {
        exports
            .iter()
            .any(|e| e.starts_with(&format!("spellhost:spell/{name}@")))
    };
    let kind = if exports_interface("tool-provider") {
        ComponentKind::ToolPlugin
    } else if exports_interface("hook-handler") {
        ComponentKind::HookPlugin
    } else {
        ComponentKind::Spell
    };
    let problem = match kind {
        ComponentKind::Spell => runtime
            .linker()
            .instantiate_pre(&loaded.component)
            .map_err(RunError::from_link)
            .and_then(|pre| {
                crate::bindings::SpellPre::new(pre)
                    .map_err(|e| RunError::NotASpell(format!("{e:#}")))
            })
            .err(),
        ComponentKind::ToolPlugin | ComponentKind::HookPlugin => runtime
            .plugin_linker()
            .map_err(RunError::Host)
            .and_then(|linker| {
                linker
                    .instantiate_pre(&loaded.component)
                    .map_err(RunError::from_link)
            })
            .err(),
    }
    .map(|e| e.to_string());
    Ok(Inspection {
        kind,
        imports,
        exports,
        bridges,
        runnable: problem.is_none(),
        problem,
    })
}

fn classify(name: &str) -> ImportKind {
    let interface = name.split('@').next().unwrap_or(name);
    if let Some(bridge) = interface.strip_prefix("spellhost:spell/") {
        return ImportKind::Bridge(bridge.to_owned());
    }
    if let Some(wasi) = interface.strip_prefix("wasi:") {
        return ImportKind::Wasi(wasi.to_owned());
    }
    ImportKind::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_classified_by_package() {
        assert_eq!(
            classify("spellhost:spell/llm@0.1.0"),
            ImportKind::Bridge("llm".into())
        );
        assert_eq!(
            classify("wasi:io/poll@0.2.6"),
            ImportKind::Wasi("io/poll".into())
        );
        assert_eq!(classify("acme:evil/raw-socket"), ImportKind::Unknown);
    }
}
