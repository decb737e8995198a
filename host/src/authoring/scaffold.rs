//! `spellhost new`: the files of a new project that builds, runs and passes
//! its tests at once, in one of the languages spells are written in.

use std::path::{Path, PathBuf};

/// The languages a project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Lua,
    Js,
    Python,
}

/// What the project makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A spell (`spellhost run`).
    Spell,
    /// A tool plugin (`--tool`).
    Tool,
    /// A hook plugin (`--hook`).
    Hook,
}

/// Why a project cannot be made as asked.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{0}` is not a project name: use letters, digits, `-` and `_`, starting with a letter (at most 64)"
    )]
    BadName(String),
    #[error(
        "`{0}` is reserved (a Rust keyword or crate name, or the plugin template's test spell): choose another name"
    )]
    Reserved(String),
    #[error(
        "plugins are components built from Rust: write the {kind} plugin with --lang rust (a {lang} spell can register its own tools for its agents)"
    )]
    ScriptPlugin {
        kind: &'static str,
        lang: &'static str,
    },
}

/// One file of the project: its path inside the project and its text.
pub struct ProjectFile {
    pub path: PathBuf,
    pub text: String,
}

/// Where spellhost's WIT and SDKs are (`sdk_root`): what Rust and Python
/// projects build against.
pub struct Sdk<'a> {
    pub root: &'a Path,
}

/// The files of project `name`.
pub fn project(
    name: &str,
    lang: Lang,
    kind: Kind,
    sdk: &Sdk<'_>,
) -> Result<Vec<ProjectFile>, ScaffoldError> {
    check_name(name)?;
    let module = name.replace('-', "_");
    if lang == Lang::Rust && RUST_RESERVED.contains(&module.as_str()) {
        return Err(ScaffoldError::Reserved(name.to_owned()));
    }
    if kind != Kind::Spell && module == "try" {
        // The plugin's manifest would be taken for its test spell's.
        return Err(ScaffoldError::Reserved(name.to_owned()));
    }
    let sdk_root = sdk.root.display().to_string();
    let render = |template: &str, extra: &[(&str, &str)]| {
        let mut text = template
            .replace("{{name}}", name)
            .replace("{{module}}", &module)
            .replace("{{sdk}}", &sdk_root);
        for (key, value) in extra {
            text = text.replace(&format!("{{{{{key}}}}}"), value);
        }
        text
    };
    let file = |path: String, text: String| ProjectFile {
        path: PathBuf::from(path),
        text,
    };
    let (question, answer) = match lang {
        Lang::Rust => (
            "What is Rust?",
            "Rust is a language empowering everyone to build reliable software.",
        ),
        Lang::Lua => ("What is Lua?", "Lua is a small, fast scripting language."),
        Lang::Js => (
            "What is JavaScript?",
            "JavaScript is the language of the web.",
        ),
        Lang::Python => (
            "What is Python?",
            "Python is a language that lets you work quickly.",
        ),
    };
    // A component is named: it does not exist until it is built.
    let spell_line = match lang {
        Lang::Rust | Lang::Python => format!("\nspell = \"{name}.wasm\"\n"),
        Lang::Lua | Lang::Js => String::new(),
    };
    let test_vars = [
        ("question", question),
        ("answer", answer),
        ("spell_line", spell_line.as_str()),
    ];
    let lang_name = match lang {
        Lang::Rust => "rust",
        Lang::Lua => "lua",
        Lang::Js => "javascript",
        Lang::Python => "python",
    };

    let mut files = Vec::new();
    let manifest = |build: &str, kind: Kind| {
        let mut text = render(templates::MANIFEST, &[("build", build)]);
        if kind != Kind::Spell {
            let word = if kind == Kind::Tool { "tool" } else { "hook" };
            text = text
                .replace(
                    "version = \"0.1.0\"\n",
                    &format!("version = \"0.1.0\"\nkind = \"{word}\"\n"),
                )
                .replace(
                    "Answers a question with the model's help",
                    if kind == Kind::Tool {
                        "Tools for spells and agents"
                    } else {
                        "Hides e-mail addresses in the model's answers"
                    },
                );
        }
        text
    };
    match (lang, kind) {
        (Lang::Lua | Lang::Js, Kind::Tool | Kind::Hook) => {
            return Err(ScaffoldError::ScriptPlugin {
                kind: if kind == Kind::Tool { "tool" } else { "hook" },
                lang: if lang == Lang::Lua {
                    "Lua"
                } else {
                    "JavaScript"
                },
            });
        }
        (Lang::Lua, Kind::Spell) => {
            files.push(file(
                format!("{name}.lua"),
                render(templates::LUA_SPELL, &[]),
            ));
            files.push(file(format!("{name}.spell.toml"), manifest("", kind)));
        }
        (Lang::Js, Kind::Spell) => {
            files.push(file(format!("{name}.js"), render(templates::JS_SPELL, &[])));
            files.push(file(format!("{name}.spell.toml"), manifest("", kind)));
        }
        (Lang::Rust, kind) => {
            let source = match kind {
                Kind::Spell => templates::RUST_SPELL,
                Kind::Tool => templates::RUST_TOOL,
                Kind::Hook => templates::RUST_HOOK,
            };
            files.push(file(
                "Cargo.toml".into(),
                render(templates::RUST_CARGO, &[]),
            ));
            files.push(file("src/lib.rs".into(), render(source, &[])));
            let build = format!(
                "\n[build]\ncommand = \"cargo build --release --target wasm32-wasip2 --target-dir target && cp target/wasm32-wasip2/release/{module}.wasm {name}.wasm\"\n"
            );
            files.push(file(format!("{name}.spell.toml"), manifest(&build, kind)));
            files.push(file(".gitignore".into(), "/target\n*.wasm\n".into()));
        }
        (Lang::Python, Kind::Spell) => {
            files.push(file(
                format!("{module}.py"),
                render(templates::PYTHON_SPELL, &[]),
            ));
            let build = format!(
                "\n[build]\n# componentize-py (pip install componentize-py==0.25.1) against spellhost's WIT\n# and Python SDK; spellhost sets $SPELLHOST_SDK.\ncommand = \"componentize-py -d \\\"$SPELLHOST_SDK/wit\\\" -w spell componentize -p \\\"$SPELLHOST_SDK/guest-sdks/python\\\" -p . {module} -o {name}.wasm\"\n"
            );
            files.push(file(format!("{name}.spell.toml"), manifest(&build, kind)));
            files.push(file(".gitignore".into(), "*.wasm\n__pycache__/\n".into()));
        }
        (Lang::Python, Kind::Tool | Kind::Hook) => {
            return Err(ScaffoldError::ScriptPlugin {
                kind: if kind == Kind::Tool { "tool" } else { "hook" },
                lang: "Python",
            });
        }
    }
    match kind {
        Kind::Spell => {
            files.push(file(
                format!("{name}.test.toml"),
                render(templates::SPELL_TESTS, &test_vars),
            ));
        }
        Kind::Tool | Kind::Hook => {
            let (flag, body, tests) = if kind == Kind::Tool {
                ("tool", templates::TRY_TOOL, templates::TOOL_TESTS)
            } else {
                ("hook", templates::TRY_HOOK, templates::HOOK_TESTS)
            };
            files.push(file(
                "try.lua".into(),
                render(templates::TRY, &[("kind", flag), ("try_body", body)]),
            ));
            files.push(file("try.test.toml".into(), render(tests, &[])));
        }
    }
    let readme = match kind {
        Kind::Spell => templates::README_SPELL,
        Kind::Tool | Kind::Hook => templates::README_PLUGIN,
    };
    let (build_step, run_target) = match lang {
        Lang::Rust | Lang::Python => ("spellhost build\n", format!("{name}.wasm")),
        Lang::Lua => ("", format!("{name}.lua")),
        Lang::Js => ("", format!("{name}.js")),
    };
    files.push(file(
        "README.md".into(),
        render(
            readme,
            &[
                ("build_step", build_step),
                ("run_target", &run_target),
                ("lang", lang_name),
                ("kind", if kind == Kind::Tool { "tool" } else { "hook" }),
            ],
        ),
    ));
    Ok(files)
}

/// Names a Rust crate cannot have.
const RUST_RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "core",
    "std",
    "alloc",
    "proc_macro",
    "test",
];

fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::BadName(name.to_owned()))
    }
}

/// The templates, compiled into the binary.
mod templates {
    pub const MANIFEST: &str = include_str!("../../templates/common/spell.spell.toml");
    pub const SPELL_TESTS: &str = include_str!("../../templates/common/spell.test.toml");
    pub const README_SPELL: &str = include_str!("../../templates/common/README.spell.md");
    pub const README_PLUGIN: &str = include_str!("../../templates/common/README.plugin.md");
    pub const TRY: &str = include_str!("../../templates/common/try.lua");
    pub const TRY_TOOL: &str = include_str!("../../templates/common/try_tool.lua");
    pub const TRY_HOOK: &str = include_str!("../../templates/common/try_hook.lua");
    pub const TOOL_TESTS: &str = include_str!("../../templates/common/tool.test.toml");
    pub const HOOK_TESTS: &str = include_str!("../../templates/common/hook.test.toml");
    pub const LUA_SPELL: &str = include_str!("../../templates/lua/spell.lua");
    pub const JS_SPELL: &str = include_str!("../../templates/js/spell.js");
    pub const RUST_CARGO: &str = include_str!("../../templates/rust/Cargo.toml");
    pub const RUST_SPELL: &str = include_str!("../../templates/rust/spell.rs");
    pub const RUST_TOOL: &str = include_str!("../../templates/rust/tool.rs");
    pub const RUST_HOOK: &str = include_str!("../../templates/rust/hook.rs");
    pub const PYTHON_SPELL: &str = include_str!("../../templates/python/spell.py");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_gets_source_manifest_tests_and_readme() {
        let sdk = Sdk {
            root: Path::new("/opt/spellhost"),
        };
        for lang in [Lang::Rust, Lang::Lua, Lang::Js, Lang::Python] {
            let files = project("my-spell", lang, Kind::Spell, &sdk).unwrap();
            let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
            assert!(
                names.contains(&"my-spell.test.toml".to_owned()),
                "{names:?}"
            );
            assert!(
                names.contains(&"my-spell.spell.toml".to_owned()),
                "{names:?}"
            );
            assert!(names.contains(&"README.md".to_owned()), "{names:?}");
            for f in &files {
                assert!(
                    !f.text.contains("{{"),
                    "{} keeps a placeholder:\n{}",
                    f.path.display(),
                    f.text
                );
                if f.path.extension().is_some_and(|e| e == "toml")
                    && f.path != Path::new("Cargo.toml")
                {
                    toml::from_str::<toml::Table>(&f.text)
                        .unwrap_or_else(|e| panic!("{}: {e}\n{}", f.path.display(), f.text));
                }
            }
        }
        let rust = project("my-spell", Lang::Rust, Kind::Spell, &sdk).unwrap();
        let cargo = rust
            .iter()
            .find(|f| f.path == Path::new("Cargo.toml"))
            .unwrap();
        assert!(
            cargo
                .text
                .contains("path = \"/opt/spellhost/guest-sdks/rust\"")
        );
        let python = project("my-spell", Lang::Python, Kind::Spell, &sdk).unwrap();
        assert!(python.iter().any(|f| f.path == Path::new("my_spell.py")));
    }

    #[test]
    fn plugins_are_components_and_names_are_checked() {
        let sdk = Sdk {
            root: Path::new("/x"),
        };
        let err = project("t", Lang::Lua, Kind::Tool, &sdk).err().unwrap();
        assert!(err.to_string().contains("--lang rust"), "{err}");
        assert!(project("tools", Lang::Rust, Kind::Tool, &sdk).is_ok());
        assert!(project("guard", Lang::Rust, Kind::Hook, &sdk).is_ok());
        assert!(matches!(
            project("test", Lang::Rust, Kind::Spell, &sdk),
            Err(ScaffoldError::Reserved(_))
        ));
        assert!(project("test", Lang::Lua, Kind::Spell, &sdk).is_ok());
        for bad in ["", "1x", "a b", "../x", "x/y"] {
            assert!(matches!(
                project(bad, Lang::Lua, Kind::Spell, &sdk),
                Err(ScaffoldError::BadName(_))
            ));
        }
    }
}
