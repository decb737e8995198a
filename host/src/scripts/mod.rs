//! Script spells: `.lua`, `.js` and `.mjs` files, run by the interpreter
//! components spellhost ships inside its binary (`host/prebuilt/`, built
//! from `guest-sdks/{lua,js}` by `just interpreters`).
//!
//! A script run is a spell run: the interpreter component is compiled and
//! cached like any spell, gets the same grants and limits, and reads the
//! script through the `script` bridge.

mod modules;

use std::path::Path;

pub use modules::{MAX_MODULE_BYTES, MODULE_EXTENSIONS, ModuleError, Modules, normalize};

/// A script spell's program.
#[derive(Debug, Clone)]
pub struct ScriptSource {
    /// File name shown in errors and tracebacks.
    pub name: String,
    /// The source as it is in the file (Lua takes any bytes; JavaScript
    /// is checked to be UTF-8 when it is read).
    pub code: Vec<u8>,
    /// Where its `require`d and `import`ed modules come from.
    pub modules: Modules,
    /// Whether a run runs it or only checks its syntax.
    pub purpose: Purpose,
}

/// What a run of a script spell does with the script.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Purpose {
    /// Runs it.
    #[default]
    Run,
    /// Only compiles it (`spellhost check`): none of it runs.
    Check,
}

impl ScriptSource {
    /// The script read from `path` (its file name names it in errors),
    /// whose modules come from `modules`.
    pub fn from_file(
        path: &Path,
        bytes: Vec<u8>,
        language: Language,
        modules: Modules,
    ) -> Result<Self, String> {
        language.check_source(&path.display().to_string(), &bytes)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "script".into());
        Ok(Self {
            name,
            code: bytes,
            modules,
            purpose: Purpose::Run,
        })
    }
}

/// The languages spellhost runs from source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Lua,
    JavaScript,
}

/// The Lua 5.4 interpreter component (`guest-sdks/lua`).
static LUA: &[u8] = include_bytes!("../../prebuilt/lua.wasm");
/// The JavaScript (QuickJS) interpreter component (`guest-sdks/js`).
static JS: &[u8] = include_bytes!("../../prebuilt/js.wasm");

impl Language {
    /// The language of the file at `path`: by extension (`.lua`, `.js`,
    /// `.mjs`), else by a `#!` line naming an interpreter (`#!/usr/bin/env
    /// lua`, `node`, `deno`, `qjs`). `None` means a component.
    pub fn detect(path: &Path, head: &[u8]) -> Option<Language> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("lua") => return Some(Language::Lua),
            Some("js" | "mjs") => return Some(Language::JavaScript),
            Some("wasm") => return None,
            _ => {}
        }
        let line = head.strip_prefix(b"#!")?;
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        let line = String::from_utf8_lossy(line);
        // `#!/usr/bin/lua5.4` or `#!/usr/bin/env [-S] node`: the program's
        // file name decides, not any directory on the way.
        let mut words = line.split_whitespace();
        let basename = |word: &str| word.rsplit('/').next().unwrap_or(word).to_owned();
        let mut program = basename(words.next()?);
        if program == "env" {
            program = basename(words.find(|w| !w.starts_with('-'))?);
        }
        match program.as_str() {
            "lua" | "lua5.4" | "lua54" => Some(Language::Lua),
            "node" | "deno" | "bun" | "qjs" => Some(Language::JavaScript),
            _ => None,
        }
    }

    /// The interpreter component that runs this language.
    pub fn interpreter(self) -> &'static [u8] {
        match self {
            Language::Lua => LUA,
            Language::JavaScript => JS,
        }
    }

    /// The SHA-256 of [`interpreter`](Self::interpreter), computed once.
    pub fn interpreter_digest(self) -> &'static str {
        static LUA_DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        static JS_DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let cell = match self {
            Language::Lua => &LUA_DIGEST,
            Language::JavaScript => &JS_DIGEST,
        };
        cell.get_or_init(|| crate::runtime::prepared::digest(self.interpreter()))
    }

    /// The interpreter a package names, `LANGUAGE/VERSION`: what its
    /// scripts may rely on. A package naming another does not run.
    pub fn interpreter_id(self) -> &'static str {
        match self {
            Language::Lua => "lua/5.4",
            Language::JavaScript => "javascript/es2023",
        }
    }

    /// Refuses a source the language cannot read: JavaScript is UTF-8
    /// text; Lua reads any bytes (its string literals may hold any).
    pub fn check_source(self, shown: &str, bytes: &[u8]) -> Result<(), String> {
        match self {
            Language::Lua => Ok(()),
            Language::JavaScript => std::str::from_utf8(bytes).map(|_| ()).map_err(|e| {
                format!(
                    "{shown} is not UTF-8 text (byte {}): a JavaScript source file must be UTF-8",
                    e.valid_up_to()
                )
            }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Lua => "Lua",
            Language::JavaScript => "JavaScript",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_extension_then_shebang() {
        assert_eq!(
            Language::detect(Path::new("a/hello.lua"), b""),
            Some(Language::Lua)
        );
        assert_eq!(
            Language::detect(Path::new("hello.wasm"), b"#!/usr/bin/env lua"),
            None
        );
        assert_eq!(
            Language::detect(Path::new("hello"), b"#!/usr/bin/env lua\nprint(1)"),
            Some(Language::Lua)
        );
        assert_eq!(
            Language::detect(Path::new("hello"), b"#!/usr/bin/lua5.4 -W\n"),
            Some(Language::Lua)
        );
        assert_eq!(
            Language::detect(Path::new("a.mjs"), b""),
            Some(Language::JavaScript)
        );
        assert_eq!(
            Language::detect(Path::new("a.js"), b""),
            Some(Language::JavaScript)
        );
        assert_eq!(
            Language::detect(Path::new("tool"), b"#!/usr/bin/env node\n"),
            Some(Language::JavaScript)
        );
        assert_eq!(Language::detect(Path::new("hello"), b"#!/bin/sh\n"), None);
        assert_eq!(
            Language::detect(Path::new("x"), b"#!/opt/node/bin/python\n"),
            None
        );
        assert_eq!(
            Language::detect(Path::new("x"), b"#!/usr/bin/env -S deno run\n"),
            Some(Language::JavaScript)
        );
        assert_eq!(Language::detect(Path::new("hello"), b"\0asm"), None);
    }

    #[test]
    fn the_interpreters_are_components() {
        for language in [Language::Lua, Language::JavaScript] {
            crate::runtime::check_component_header(language.interpreter())
                .unwrap_or_else(|e| panic!("{}: {e}", language.name()));
        }
    }
}
