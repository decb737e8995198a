//! Test files (`*.test.toml`): what they hold, and where `spellhost test`
//! finds them.
//!
//! ```toml
//! spell = "hello.lua"          # default: the file beside it of the same stem
//!
//! [[test]]
//! name = "answers with the model's reply"
//! input = "What is Lua?"
//! replies = ["Lua is a small scripting language."]   # the model's answers
//!
//! [test.expect]
//! output = "Lua is a small scripting language."
//! ```
//!
//! Every table refuses keys it does not know: a misspelt expectation is an
//! error, never a test that cannot fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::bridges::llm::replay::ReplySpec;
use crate::policy::Grants;
use crate::policy::manifest::ManifestLimits;

/// The ending that makes a file a test file.
pub const SUFFIX: &str = ".test.toml";

/// A test file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The spell under test, relative to the test file.
    pub spell: Option<PathBuf>,
    /// Tool plugins the spell runs with (`--tool`), relative to the file;
    /// they get what their manifests request.
    #[serde(default)]
    pub tools: Vec<PathBuf>,
    /// Hook plugins the spell runs with (`--hook`), the same way.
    #[serde(default)]
    pub hooks: Vec<PathBuf>,
    #[serde(rename = "test", default)]
    pub tests: Vec<TestCase>,
}

/// One test: a run of the spell and what must come of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// The spell's input.
    #[serde(default)]
    pub input: String,
    /// Settings the spell reads through `config` (`--var`).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Grant what the spell's manifest requests (default: yes).
    #[serde(default = "yes")]
    pub grant_requested: bool,
    /// Grants beyond those, as a manifest's `[requests]` names them.
    #[serde(default)]
    pub grants: Grants,
    /// The run's default model (default: the configured one, else
    /// `test/replay`).
    pub model: Option<String>,
    /// Limits over the manifest's, as a manifest's `[limits]` names them.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// The spell's state before the run: key → value (a string as it is,
    /// anything else as JSON).
    #[serde(default)]
    pub state: BTreeMap<String, serde_json::Value>,
    /// The model's replies. Without them the test replays its recording
    /// (`spellhost test --record` writes it).
    pub replies: Option<Vec<ReplySpec>>,
    #[serde(default)]
    pub expect: Expect,
}

fn yes() -> bool {
    true
}

/// What a test checks. Nothing said, nothing checked — but the run must
/// succeed unless `error` or `limit` says otherwise, and every scripted
/// reply must be used.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// The output, exactly.
    pub output: Option<String>,
    /// Text the output contains.
    pub output_contains: OneOrMany,
    /// The output parsed as JSON equals this.
    pub output_json: Option<serde_json::Value>,
    /// The run fails with an error containing this text.
    pub error: Option<String>,
    /// The run stops at this limit (`fuel`, `memory`, `timeout`, …).
    pub limit: Option<String>,
    /// The spell's state after the run: key → value.
    pub state: BTreeMap<String, serde_json::Value>,
    /// Keys the spell's state must not hold after the run.
    pub state_absent: Vec<String>,
    /// Events the run published, in this order (others may come between).
    pub events: Vec<EventExpect>,
    /// Capabilities refused: each text is in a denial's message or grant.
    pub denied: OneOrMany,
    /// How many requests reached the model.
    pub model_calls: Option<usize>,
    /// Text the requests to the model contain (any message of any request).
    pub prompt_contains: OneOrMany,
}

/// An event a test expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventExpect {
    pub topic: String,
    /// The payload holds at least this (objects compared key by key).
    pub payload: Option<serde_json::Value>,
}

/// A text or a list of texts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "OneOrManyRaw")]
pub struct OneOrMany(pub Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrManyRaw {
    One(String),
    Many(Vec<String>),
}

impl From<OneOrManyRaw> for OneOrMany {
    fn from(raw: OneOrManyRaw) -> Self {
        match raw {
            OneOrManyRaw::One(one) => OneOrMany(vec![one]),
            OneOrManyRaw::Many(many) => OneOrMany(many),
        }
    }
}

/// A test file read, with where it is and the spell it tests.
#[derive(Debug, Clone)]
pub struct Suite {
    pub path: PathBuf,
    pub spell: PathBuf,
    pub tools: Vec<PathBuf>,
    pub hooks: Vec<PathBuf>,
    pub tests: Vec<TestCase>,
}

impl Suite {
    /// Reads and checks the test file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Suite> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading test file {}", path.display()))?;
        let file: TestFile = toml::from_str(&text)
            .with_context(|| format!("invalid test file {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let spell = match &file.spell {
            Some(spell) => dir.join(spell),
            None => spell_beside(path)?,
        };
        let mut names = std::collections::BTreeSet::new();
        for test in &file.tests {
            // Names that differ only in case or punctuation would share a
            // recording.
            if !names.insert(slug(&test.name)) {
                bail!(
                    "{}: two tests are named `{}` or alike (their recordings would both be {}.json); names must differ in letters or digits",
                    path.display(),
                    test.name,
                    slug(&test.name)
                );
            }
        }
        Ok(Suite {
            path: path.to_owned(),
            spell,
            tools: file.tools.iter().map(|t| dir.join(t)).collect(),
            hooks: file.hooks.iter().map(|h| dir.join(h)).collect(),
            tests: file.tests,
        })
    }

    /// Where the recording of `test` is kept: `<stem>.replies/<name>.json`
    /// beside the test file.
    pub fn recording(&self, test: &TestCase) -> PathBuf {
        let file = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("spell.test.toml");
        let stem = file.strip_suffix(SUFFIX).unwrap_or(file);
        self.path
            .with_file_name(format!("{stem}.replies"))
            .join(format!("{}.json", slug(&test.name)))
    }
}

/// The spell a test file without `spell =` tests: `<stem>.lua`, `.js`,
/// `.mjs` or `.wasm` beside it.
fn spell_beside(path: &Path) -> anyhow::Result<PathBuf> {
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = file.strip_suffix(SUFFIX).unwrap_or(file);
    let tried: Vec<PathBuf> = ["lua", "js", "mjs", "wasm"]
        .iter()
        .map(|ext| path.with_file_name(format!("{stem}.{ext}")))
        .collect();
    tried.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no `spell = …` and none of {} exists; name the spell the tests run",
            path.display(),
            tried
                .iter()
                .map(|p| p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// A test name as a file name: lower-case letters, digits and `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    if out.is_empty() {
        "test".to_owned()
    } else {
        out.to_owned()
    }
}

/// The test files `path` names: itself if it is one; `<stem>.test.toml`
/// beside a spell; every `*.test.toml` under a directory (skipping hidden
/// directories, `target` and `node_modules`), sorted.
pub fn discover(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("no such file or directory: {}", path.display()))?;
    if meta.is_dir() {
        let mut found = Vec::new();
        walk(path, &mut found)?;
        found.sort();
        return Ok(found);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(SUFFIX) {
        return Ok(vec![path.to_owned()]);
    }
    let stem = crate::runtime::name_from_path(path);
    let beside = path.with_file_name(format!("{stem}{SUFFIX}"));
    if beside.exists() {
        return Ok(vec![beside]);
    }
    bail!(
        "{} is not a test file, and {} does not exist (test files end in {SUFFIX})",
        path.display(),
        beside.display()
    )
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                walk(&entry.path(), found)?;
            }
        } else if name.ends_with(SUFFIX) {
            let path = entry.path();
            // `./a.test.toml` is shown as `a.test.toml`.
            found.push(match path.strip_prefix(".") {
                Ok(inside) => inside.to_owned(),
                Err(_) => path,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_file_reads_and_refuses_unknown_keys() {
        let file: TestFile = toml::from_str(
            r#"
            [[test]]
            name = "one"
            replies = ["hi", { tool_calls = [{ name = "add", arguments = { a = 1 } }] }]
            [test.expect]
            output_contains = "hi"
            denied = ["--allow-net"]
            events = [{ topic = "done", payload = { n = 1 } }]
            "#,
        )
        .unwrap();
        assert_eq!(file.tests[0].expect.output_contains.0, vec!["hi"]);
        assert_eq!(file.tests[0].replies.as_ref().unwrap().len(), 2);
        assert!(file.tests[0].grant_requested);

        let err = toml::from_str::<TestFile>(
            "[[test]]\nname = \"x\"\n[test.expect]\noutptu = \"typo\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `outptu`"), "{err}");
    }

    #[test]
    fn discovery_finds_test_files_and_the_spell_beside_them() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("more");
        std::fs::create_dir_all(sub.join("target")).unwrap();
        std::fs::write(dir.path().join("a.lua"), "return 1").unwrap();
        std::fs::write(dir.path().join("a.test.toml"), "[[test]]\nname = \"x\"\n").unwrap();
        std::fs::write(sub.join("b.test.toml"), "").unwrap();
        std::fs::write(sub.join("target/c.test.toml"), "").unwrap();
        let found = discover(dir.path()).unwrap();
        assert_eq!(
            found,
            vec![dir.path().join("a.test.toml"), sub.join("b.test.toml")]
        );
        assert_eq!(
            discover(&dir.path().join("a.lua")).unwrap(),
            vec![dir.path().join("a.test.toml")]
        );

        let suite = Suite::load(&dir.path().join("a.test.toml")).unwrap();
        assert_eq!(suite.spell, dir.path().join("a.lua"));
        assert_eq!(
            suite.recording(&suite.tests[0]),
            dir.path().join("a.replies/x.json")
        );
        let err = Suite::load(&sub.join("b.test.toml")).unwrap_err();
        assert!(
            format!("{err:#}").contains("none of b.lua, b.js, b.mjs, b.wasm exists"),
            "{err:#}"
        );
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(
            slug("Answers with the model's reply!"),
            "answers-with-the-model-s-reply"
        );
        assert_eq!(slug("///"), "test");
    }
}
