//! `spellhost test`: finds test files, runs them, prints what failed, and
//! writes JUnit XML or JSON for CI.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;

use super::exit;
use super::run::OutputFormat;
use crate::bridges::llm::replay::ReplayProvider;
use crate::cache::CompileCache;
use crate::runtime::Runtime;
use crate::sandbox::stdio::GuestStdout;
use crate::settings::Settings;
use crate::testing::{self, Answers, Suite, SuiteResult, TestOptions};

pub const AFTER_HELP: &str = "\
Test files are named NAME.test.toml and sit beside the spell NAME.lua,
NAME.js or NAME.wasm (or name it with `spell = \"…\"`). Each [[test]] gives
an input, the model's replies, and what must come of the run:

  [[test]]
  name = \"answers with the model's reply\"
  input = \"What is Lua?\"
  replies = [\"Lua is a small scripting language.\"]
  [test.expect]
  output = \"Lua is a small scripting language.\"

Replies may call tools ({ tool_calls = [{ name = \"add\", arguments = { a = 1 } }] }),
answer only a matching request ({ text = \"…\", when = \"Paris\" }) or fail
({ error = { kind = \"rate_limited\", message = \"…\" } }). Expectations:
output, output_contains, output_json, error, limit, state, state_absent,
events, denied, model_calls, prompt_contains. docs/testing.md has them all.

Before testing a .wasm (the spell or a plugin) whose manifest has a [build]
command, `spellhost test` runs that command, as `cargo test` builds first:
test only projects you trust, or pass --no-build.

Exit codes: 0 every test passed · 1 a test failed or could not run · 2 bad command line";

#[derive(clap::Args)]
pub struct TestArgs {
    /// Test files, spells (their NAME.test.toml) or directories (every
    /// *.test.toml under them) [default: .].
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Run only the tests whose name contains TEXT.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// Ask the configured model instead of replaying, and keep its answers
    /// as each test's recording (NAME.replies/TEST.json), replayed by
    /// later runs of tests that have no `replies`.
    #[arg(long)]
    record: bool,
    /// The model that answers when recording (provider/model or an alias).
    #[arg(long, value_name = "NAME", requires = "record")]
    model: Option<String>,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// `text` (a line per test, then what failed) or `json` (the results as
    /// one JSON object on stdout).
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    output: OutputFormat,
    /// Do not run the [build] command of the components under test first.
    #[arg(long)]
    no_build: bool,
    /// Config file (default: ./spellhost.toml, then ~/.config/spellhost/spellhost.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Compile the spell even if a cached compilation exists.
    #[arg(long)]
    no_cache: bool,
}

pub async fn test(args: TestArgs) -> u8 {
    match test_inner(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::SPELL_FAILED
        }
    }
}

async fn test_inner(args: TestArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for path in &paths {
        for file in testing::discover(path)? {
            if !files.contains(&file) {
                files.push(file);
            }
        }
    }
    if files.is_empty() {
        anyhow::bail!(
            "no test files under {} (a test file is NAME.test.toml; `spellhost new` writes one)",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let (settings, _) = Settings::load(args.config.as_deref())?;
    let answers = if args.record {
        Answers::Record(settings.router(args.model.as_deref())?)
    } else {
        Answers::Replay
    };
    let options = TestOptions {
        filter: args.filter.clone(),
        answers,
        configured: settings.router(None)?,
    };
    let replay = ReplayProvider::new("test");
    // Printed output becomes log lines of the run, shown with --log-level.
    let runtime = Runtime::builder()
        .compile_cache(if args.no_cache {
            CompileCache::disabled()
        } else {
            CompileCache::default_location()
        })
        .catalog(settings.catalog())
        .guest_stdout(GuestStdout::Log)
        .build()?;

    let json = args.output == OutputFormat::Json;
    let mut results = Vec::new();
    let mut built = Vec::new();
    for file in &files {
        let suite = Suite::load(file);
        let build = match (&suite, args.no_build) {
            (Ok(suite), false) => build_components(suite, &mut built).await,
            _ => Ok(()),
        };
        let result = match (suite, build) {
            (Ok(suite), Ok(())) => testing::run_suite(&runtime, &replay, &suite, &options).await,
            (Ok(suite), Err(err)) => SuiteResult {
                file: file.clone(),
                spell: suite.spell,
                error: Some(format!("{err:#}")),
                tests: Vec::new(),
            },
            (Err(err), _) => SuiteResult {
                file: file.clone(),
                spell: PathBuf::new(),
                error: Some(format!("{err:#}")),
                tests: Vec::new(),
            },
        };
        if !json {
            print_suite(&result);
        }
        results.push(result);
    }

    let total: usize = results.iter().map(|s| s.tests.len()).sum();
    let failed: usize = results
        .iter()
        .map(|s| s.tests.iter().filter(|t| !t.passed).count())
        .sum();
    let broken = results.iter().filter(|s| s.error.is_some()).count();
    if let Some(path) = &args.junit {
        std::fs::write(path, testing::report::junit(&results))
            .with_context(|| format!("writing JUnit report {}", path.display()))?;
    }
    if json {
        let object = serde_json::json!({
            "passed": total - failed,
            "failed": failed,
            "suites_not_run": broken,
            "suites": results,
        });
        super::emit(&format!("{object}\n"))?;
    } else {
        let mut summary = format!(
            "\n{total} test{}: {} passed, {failed} failed",
            if total == 1 { "" } else { "s" },
            total - failed
        );
        if broken > 0 {
            summary.push_str(&format!(", {broken} test file(s) could not run"));
        }
        summary.push_str(&format!(" ({:.1} s)\n", started.elapsed().as_secs_f64()));
        super::emit(&summary)?;
    }
    if total == 0 && broken == 0 {
        eprintln!(
            "error: no test matched{}",
            args.filter
                .as_deref()
                .map(|f| format!(" --filter {f:?}"))
                .unwrap_or_default()
        );
        return Ok(exit::SPELL_FAILED);
    }
    Ok(if failed == 0 && broken == 0 {
        exit::OK
    } else {
        exit::SPELL_FAILED
    })
}

/// Builds the components `suite` runs (the spell, its plugins) that have
/// a `[build]` command, each once per invocation (`built` keeps which).
async fn build_components(
    suite: &Suite,
    built: &mut Vec<PathBuf>,
) -> Result<(), crate::authoring::build::BuildError> {
    use crate::authoring::build;
    let components = std::iter::once(&suite.spell)
        .chain(&suite.tools)
        .chain(&suite.hooks)
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"));
    for component in components {
        let Some(step) = build::step_for(component)? else {
            continue;
        };
        if built.contains(&step.manifest) {
            continue;
        }
        eprintln!("building {}: {}", step.manifest.display(), step.command);
        build::run(&step, crate::authoring::sdk_root().as_deref()).await?;
        built.push(step.manifest);
    }
    Ok(())
}

fn print_suite(suite: &SuiteResult) {
    let mut out = format!("{} ({})\n", suite.file.display(), suite.spell.display());
    for test in &suite.tests {
        let millis = test.duration.as_secs_f64() * 1000.0;
        if test.passed {
            out.push_str(&format!("  ok    {} ({millis:.0} ms)\n", test.name));
        } else {
            out.push_str(&format!("  FAIL  {} ({millis:.0} ms)\n", test.name));
            for failure in &test.failures {
                // Continuation lines (a traceback) stay under their failure.
                out.push_str(&format!(
                    "        {}\n",
                    failure.replace('\n', "\n          ")
                ));
            }
        }
        if let Some(path) = &test.recorded {
            out.push_str(&format!("        recorded {}\n", path.display()));
        }
    }
    if let Some(error) = &suite.error {
        out.push_str(&format!("  ERROR {}\n", error.replace('\n', "\n        ")));
    }
    let _ = super::emit(&out);
}
