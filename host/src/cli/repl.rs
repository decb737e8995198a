//! `spellhost repl`: an interactive Lua or JavaScript session with the whole
//! API live — LLM calls, state, events, tools, agents, workflows — under
//! the same grants and limits flags as `run`.
//!
//! Each entry is evaluated by one interpreter instance kept for the
//! session ([`crate::runtime::Session`]); an entry that stops mid-statement
//! reads more lines (multi-line input). On a terminal, lines are edited
//! with history (kept in the data directory); piped input is read line by
//! line, no prompts, so a session can be scripted and tested.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use super::HostArgs;
use super::artifacts::{LazyMarket, MarketArgs};
use super::exit;
use super::sandbox::{self, SandboxArgs, effective_limits};
use crate::policy::PolicyFile;
use crate::runtime::{EntryError, EntryReport, Restart, RunError, Session};
use crate::sandbox::stdio::GuestStdout;
use crate::scripts::{Language, Modules, Purpose, ScriptSource};

#[derive(clap::Args)]
pub struct ReplArgs {
    /// The session's language.
    #[arg(long, value_enum, default_value = "lua", value_name = "LANG")]
    lang: ReplLanguage,

    /// Where `require` and `import()` find modules [default: the current
    /// directory]; nothing outside it can be loaded.
    #[arg(long, value_name = "DIR")]
    modules: Option<PathBuf>,

    #[command(flatten)]
    sandbox: SandboxArgs,

    #[command(flatten)]
    market: MarketArgs,

    #[command(flatten)]
    pub(super) host: HostArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReplLanguage {
    Lua,
    Js,
}

impl ReplLanguage {
    fn language(self) -> Language {
        match self {
            ReplLanguage::Lua => Language::Lua,
            ReplLanguage::Js => Language::JavaScript,
        }
    }

    fn banner(self) -> &'static str {
        match self {
            ReplLanguage::Lua => "Lua 5.4",
            ReplLanguage::Js => "JavaScript (QuickJS; top-level await)",
        }
    }
}

pub const AFTER_HELP: &str = "\
In the session:
  an expression shows its value; statements run; an unfinished entry reads more lines
  :help    this help          :usage   LLM calls, tokens and cost so far
  :reset   a fresh instance (forget the entries' definitions)
  :quit    leave (or Ctrl-D)  Ctrl-C    cancel the line, or stop the running entry

Each entry gets the fuel and time limits anew (--fuel, --timeout); memory
(--memory) and the LLM budget (--max-llm-tokens, --max-llm-cost) are the
session's. An entry stopped by a limit or Ctrl-C restarts the session.";

const HELP: &str = "\
  an expression shows its value; statements run; an unfinished entry reads more lines
  :usage   LLM calls, tokens and cost so far
  :reset   a fresh instance (forget what the entries defined)
  :quit    leave (or Ctrl-D); Ctrl-C cancels the line or stops the running entry";

pub async fn repl(args: ReplArgs) -> u8 {
    match repl_inner(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::HOST
        }
    }
}

async fn repl_inner(args: ReplArgs) -> anyhow::Result<u8> {
    let (runtime, net) = args
        .host
        .runtime_and_settings(args.sandbox.model.as_deref(), GuestStdout::Stdout)?;
    let policy = args
        .sandbox
        .policy
        .as_deref()
        .map(PolicyFile::load)
        .transpose()?;
    let market = LazyMarket::new(&args.market, args.host.config.as_deref());
    let name = args.sandbox.name.clone().unwrap_or_else(|| "repl".into());
    let identity = sandbox::Identity {
        name: &name,
        manifest: None,
        grant_requested: false,
    };
    let config = match sandbox::spell_config(
        &args.sandbox,
        &runtime,
        net,
        &market,
        policy.as_ref(),
        identity,
    )
    .await?
    {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let modules = match &args.modules {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let source = ScriptSource {
        name: "stdin".into(),
        code: Vec::new(),
        modules: Modules::Dir(modules),
        purpose: Purpose::Run,
    };
    let shown = PathBuf::from(format!("repl ({})", args.lang.banner()));
    let spell = match runtime.load_script(&name, args.lang.language(), source, config) {
        Ok(spell) => spell,
        Err(err) => return Ok(sandbox::report_error(&shown, &err)),
    };
    let limits = effective_limits(&args.sandbox, None, false)?;
    let mut session = match runtime.open_session(&spell, &limits).await {
        Ok(session) => session,
        Err(err) => return Ok(sandbox::report_error(&shown, &err)),
    };

    let interactive = std::io::stdin().is_terminal();
    let mut lines = Lines::new(interactive, args.lang)?;
    let interrupts = interrupts(interactive);
    if interactive {
        eprintln!(
            "spellhost repl · {} · :help for help, Ctrl-D to leave",
            args.lang.banner()
        );
    }
    let mut failed = false;
    let mut entry = String::new();
    loop {
        let prompt = if entry.is_empty() { "> " } else { ">> " };
        let line = match lines.read(prompt)? {
            Line::Text(line) => line,
            Line::Interrupted => {
                entry.clear();
                continue;
            }
            Line::End => break,
        };
        if entry.is_empty() {
            match line.trim() {
                "" => continue,
                ":quit" | ":q" | ":exit" => break,
                ":help" | ":h" => {
                    eprintln!("{HELP}");
                    continue;
                }
                ":usage" => {
                    eprintln!("{}", serde_json::to_string(&session.usage())?);
                    continue;
                }
                ":reset" => {
                    restart(&mut session).await;
                    continue;
                }
                _ => {}
            }
        }
        if !entry.is_empty() {
            entry.push('\n');
        }
        entry.push_str(&line);
        let report = tokio::select! {
            report = session.eval(&entry) => Some(report),
            () = interrupts.notified() => None,
        };
        let Some(report) = report else {
            eprintln!("interrupted: the entry was stopped");
            restart(&mut session).await;
            entry.clear();
            continue;
        };
        if matches!(report.result, Err(EntryError::Incomplete)) {
            continue;
        }
        lines.remember(&entry);
        entry.clear();
        failed |= show(&report);
        if matches!(report.restart, Restart::Failed(_)) {
            return Ok(exit::HOST);
        }
    }
    if !entry.is_empty() {
        eprintln!("error: the input ended inside an unfinished entry:\n{entry}");
        failed = true;
    }
    lines.save();
    // Piped sessions say whether every entry succeeded, as a script would.
    Ok(if failed && !interactive {
        exit::SPELL_FAILED
    } else {
        exit::OK
    })
}

/// Prints what an entry did; whether it failed.
fn show(report: &EntryReport) -> bool {
    for denial in &report.denials {
        eprintln!("denied: {}", denial.message);
    }
    let failed = match &report.result {
        Ok(shown) => {
            if !shown.is_empty() {
                let _ = super::emit(&format!("{shown}\n"));
            }
            false
        }
        Err(EntryError::Failed(RunError::Failed(message))) => {
            eprintln!("{message}");
            true
        }
        Err(EntryError::Failed(err)) => {
            eprintln!("error: {err}");
            true
        }
        Err(EntryError::Incomplete) => false,
    };
    match &report.restart {
        Restart::No => {}
        Restart::Done => {
            eprintln!("the session started again: what the entries defined is gone");
        }
        Restart::Failed(err) => eprintln!("error: the session could not start again: {err}"),
    }
    failed
}

/// Ctrl-C, listened for once for the whole session. On a terminal it
/// stops the running entry (at the prompt the editor takes it); a piped
/// session ends with exit code 130, as a shell script would.
fn interrupts(interactive: bool) -> std::sync::Arc<tokio::sync::Notify> {
    let notify = std::sync::Arc::new(tokio::sync::Notify::new());
    let waiting = notify.clone();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if !interactive {
                eprintln!("interrupted");
                std::process::exit(130);
            }
            // Only an entry running now is stopped; none is kept for later.
            waiting.notify_waiters();
        }
    });
    notify
}

async fn restart(session: &mut Session) {
    match session.restart().await {
        Ok(()) => eprintln!("the session started again: what the entries defined is gone"),
        Err(err) => eprintln!("error: the session could not start again: {err}"),
    }
}

/// One read from the user.
enum Line {
    Text(String),
    /// Ctrl-C at the prompt: drop the unfinished entry.
    Interrupted,
    /// Ctrl-D or the end of piped input.
    End,
}

/// Where lines come from: an editor with history on a terminal, else
/// stdin as it is.
enum Lines {
    Terminal {
        editor: Box<rustyline::DefaultEditor>,
        history: Option<PathBuf>,
    },
    Piped(std::io::Lines<std::io::StdinLock<'static>>),
}

impl Lines {
    fn new(interactive: bool, lang: ReplLanguage) -> anyhow::Result<Self> {
        use std::io::BufRead as _;
        if !interactive {
            return Ok(Lines::Piped(std::io::stdin().lock().lines()));
        }
        let mut editor = rustyline::DefaultEditor::new()?;
        let history = crate::bridges::llm::catalog::data_dir().join(match lang {
            ReplLanguage::Lua => "repl-history.lua",
            ReplLanguage::Js => "repl-history.js",
        });
        let _ = editor.load_history(&history);
        Ok(Lines::Terminal {
            editor: Box::new(editor),
            history: Some(history),
        })
    }

    fn read(&mut self, prompt: &str) -> anyhow::Result<Line> {
        match self {
            Lines::Piped(lines) => Ok(match lines.next() {
                Some(line) => Line::Text(line?),
                None => Line::End,
            }),
            Lines::Terminal { editor, .. } => {
                use rustyline::error::ReadlineError;
                // The editor blocks this worker; the runtime's others go on.
                match tokio::task::block_in_place(|| editor.readline(prompt)) {
                    Ok(line) => Ok(Line::Text(line)),
                    Err(ReadlineError::Interrupted) => Ok(Line::Interrupted),
                    Err(ReadlineError::Eof) => Ok(Line::End),
                    Err(err) => Err(err.into()),
                }
            }
        }
    }

    /// Keeps a whole entry (all its lines) in the history.
    fn remember(&mut self, entry: &str) {
        if let Lines::Terminal { editor, .. } = self {
            let _ = editor.add_history_entry(entry);
        }
    }

    fn save(&mut self) {
        if let Lines::Terminal {
            editor,
            history: Some(path),
        } = self
        {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.save_history(path);
        }
    }
}
