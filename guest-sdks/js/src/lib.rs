//! # spellhost's JavaScript interpreter component
//!
//! QuickJS (through rquickjs) compiled to `wasm32-wasip2`, exporting the
//! `interpreter` world. A spell is an ES module: its default export (or
//! its `run` export) is called with the input, and what it returns — or
//! the value its promise resolves to — is the output.
//!
//! As for Lua, the Rust part is small: one native, `__spellhost.call(op,
//! argsJson) -> resultJson`, reaches every bridge through
//! [`spellhost_script::Bridge`]; the API (`llm`, `state`, `events`,
//! `Agent`, `Tool`, `workflow`, `console`) is JavaScript in `prelude.js`,
//! the `spellhost` module, which spells may also import. This file drives
//! the event loop: it runs QuickJS's job queue and, when every job is
//! done and the spell still waits, lets the prelude wait for the host
//! operations its promises depend on (several at once, so `Promise.all`
//! over LLM calls is really concurrent).

use std::cell::RefCell;
use std::rc::Rc;

use std::io::Write as _;

use rquickjs::context::EvalOptions;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Function, Module, Object, Persistent, Promise,
    Runtime, Value,
};
use spellhost_script::{Bridge, EntryError, export_interpreter};

const PRELUDE: &str = include_str!("prelude.js");

/// A JavaScript source as text: it must be UTF-8.
fn source_text(name: &str, code: Vec<u8>) -> Result<String, String> {
    String::from_utf8(code).map_err(|e| {
        format!(
            "{name} is not UTF-8 text (byte {}): a JavaScript source file must be UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// A QuickJS runtime and context that load the spell's modules and
/// track rejections nobody handles.
fn new_context() -> Result<(Runtime, Context), String> {
    let runtime = Runtime::new().map_err(|e| format!("starting QuickJS: {e}"))?;
    runtime.set_loader(SpellModules, SpellModules);
    runtime.set_host_promise_rejection_tracker(Some(Box::new(|ctx, promise, reason, handled| {
        if let Ok(track) = ctx.globals().get::<_, Function>("__spellhost_track") {
            let _ = track.call::<_, ()>((promise, reason, handled));
        }
    })));
    let context = Context::full(&runtime).map_err(|e| format!("starting QuickJS: {e}"))?;
    Ok((runtime, context))
}

fn run(name: String, code: Vec<u8>, input: String) -> Result<String, String> {
    let code = source_text(&name, code)?;
    let (_runtime, context) = new_context()?;
    let result = context.with(|ctx| run_in(&ctx, &name, &code, &input));
    // What the script printed leaves before its result is shown.
    let _ = std::io::stdout().flush();
    result
}

/// Compiles the module and the modules it imports, evaluating none: the
/// first syntax error, if any, as `file:line:column: SyntaxError: message`
/// (or why an import cannot be loaded).
fn check(name: String, code: Vec<u8>) -> Result<(), String> {
    let code = source_text(&name, code)?;
    let runtime = Runtime::new().map_err(|e| format!("starting QuickJS: {e}"))?;
    // Static imports are compiled too (and must exist), none evaluated.
    runtime.set_loader(SpellModules, SpellModules);
    let context = Context::full(&runtime).map_err(|e| format!("starting QuickJS: {e}"))?;
    context.with(|ctx| {
        match Module::declare(ctx.clone(), name.as_str(), strip_shebang(&code)).catch(&ctx) {
            Ok(_) => Ok(()),
            Err(CaughtError::Exception(ex)) => {
                let message = ex.message().unwrap_or_default();
                let kind: String = ex
                    .get::<_, String>("name")
                    .unwrap_or_else(|_| "SyntaxError".into());
                // QuickJS puts the position in the first stack frame.
                let at = ex
                    .stack()
                    .and_then(|stack| {
                        let frame = stack.lines().next()?.trim();
                        let position = frame.strip_prefix("at ")?;
                        let position = position
                            .rsplit_once('(')
                            .map_or(position, |(_, p)| p.trim_end_matches(')'));
                        Some(position.to_owned())
                    })
                    .unwrap_or(name.clone());
                Err(format!("{at}: {kind}: {message}"))
            }
            Err(other) => Err(format!("{name}: {other}")),
        }
    })
}

/// `import` of the spell's own files: a relative specifier is joined to
/// the importing module's path (modules are named by their path in the
/// spell's directory) and read through the host, which refuses any path
/// that leaves the directory. `spellhost` is the API; nothing else is a
/// bare name.
struct SpellModules;

impl Resolver for SpellModules {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if name == "spellhost" {
            return Ok(name.to_owned());
        }
        if !(name.starts_with("./") || name.starts_with("../")) {
            return Err(rquickjs::Error::new_resolving_message(
                base,
                name,
                "a spell imports its own files by relative path (\"./util.js\") and the API as \"spellhost\"; there are no packages to import by name",
            ));
        }
        Ok(spellhost_script::join_module_path(base, name))
    }
}

impl Loader for SpellModules {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let (path, code) = spellhost_script::load_module(name)
            .map_err(|(_, message)| rquickjs::Error::new_loading_message(name, message))?;
        let code = source_text(&path, code)
            .map_err(|message| rquickjs::Error::new_loading_message(name, message))?;
        Module::declare(ctx.clone(), path, code)
    }
}

/// What the prelude leaves the interpreter, under a symbol it reads (and
/// removes) once the prelude has run, so spells cannot reach it.
struct Internals<'js> {
    pump: Function<'js>,
    describe: Function<'js>,
    main: Function<'js>,
    leftover: Function<'js>,
    show: Function<'js>,
}

impl<'js> Internals<'js> {
    /// Installs the natives and runs the prelude in `ctx`: its internals.
    fn start(ctx: &Ctx<'js>) -> Result<Object<'js>, String> {
        install_natives(ctx).map_err(|e| format!("starting QuickJS: {e}"))?;
        let prelude = Module::declare(ctx.clone(), "spellhost", PRELUDE)
            .and_then(|m| m.eval())
            .and_then(|(module, promise)| promise.finish::<()>().map(|_| module))
            .catch(ctx)
            .map_err(|e| format!("spellhost JS prelude failed (a spellhost bug): {e}"))?;
        drop(prelude);
        ctx.eval(
            r#"(() => { const k = Symbol.for("spellhost.internals"); const v = globalThis[k]; delete globalThis[k]; return v; })()"#,
        )
        .map_err(|e| format!("spellhost JS prelude: {e}"))
    }

    fn from(internals: &Object<'js>) -> Result<Self, String> {
        let get = |name: &str| -> Result<Function<'js>, String> {
            internals
                .get(name)
                .map_err(|e| format!("spellhost JS prelude lacks {name}: {e}"))
        };
        Ok(Self {
            pump: get("pump")?,
            describe: get("describe")?,
            main: get("main")?,
            leftover: get("leftover")?,
            show: get("show")?,
        })
    }

    /// An error as the user reads it: name, message, the spell's frames.
    fn error_text(&self, e: CaughtError<'js>) -> String {
        let value = match e {
            CaughtError::Exception(ex) => ex.into_value(),
            CaughtError::Value(v) => v,
            CaughtError::Error(e) => return e.to_string(),
        };
        self.describe
            .call::<_, String>((value,))
            .unwrap_or_else(|e| e.to_string())
    }

    /// The first rejection nobody handled ("" when none), cleared if asked.
    fn leftover(&self, clear: bool) -> Result<String, String> {
        self.leftover.call((clear,)).map_err(|e| e.to_string())
    }
}

fn run_in<'js>(ctx: &Ctx<'js>, name: &str, code: &str, input: &str) -> Result<String, String> {
    let internals = Internals::from(&Internals::start(ctx)?)?;
    let error_text = |e: CaughtError<'js>| internals.error_text(e);
    let code = strip_shebang(code);
    let (module, evaluated) = Module::declare(ctx.clone(), name, code)
        .and_then(|m| m.eval())
        .catch(ctx)
        .map_err(error_text)?;
    settle(ctx, &evaluated, &internals.pump)
        .catch(ctx)
        .map_err(error_text)?;
    let namespace = module.namespace().catch(ctx).map_err(error_text)?;
    let done: Promise = internals
        .main
        .call((namespace, input))
        .catch(ctx)
        .map_err(error_text)?;
    let output = settle(ctx, &done, &internals.pump)
        .catch(ctx)
        .map_err(error_text)?;
    let unhandled = internals.leftover(false)?;
    if !unhandled.is_empty() {
        return Err(unhandled);
    }
    output
        .as_string()
        .map(|s| s.to_string().unwrap_or_default())
        .ok_or_else(|| "spellhost JS prelude returned no text (a spellhost bug)".into())
}

/// A REPL session: one context for the instance's life, so what an entry
/// declares (`let`, `const`, functions, agents) is there for the next.
struct Session {
    context: Context,
    internals: Persistent<Object<'static>>,
    _runtime: Runtime,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// One REPL entry, evaluated as global code with top-level `await`.
fn eval(entry: String) -> Result<String, EntryError> {
    let (context, internals) = SESSION.with(|session| {
        let mut session = session.borrow_mut();
        if session.is_none() {
            let (runtime, context) = new_context().map_err(EntryError::Failed)?;
            let internals = context
                .with(|ctx| Internals::start(&ctx).map(|i| Persistent::save(&ctx, i)))
                .map_err(EntryError::Failed)?;
            *session = Some(Session {
                context,
                internals,
                _runtime: runtime,
            });
        }
        let session = session.as_ref().expect("the session was just made");
        Ok((session.context.clone(), session.internals.clone()))
    })?;
    let answer = context.with(|ctx| {
        let internals = internals
            .restore(&ctx)
            .map_err(|e| e.to_string())
            .and_then(|i| Internals::from(&i))
            .map_err(EntryError::Failed)?;
        eval_in(&ctx, &internals, &entry)
    });
    let _ = std::io::stdout().flush();
    answer
}

fn eval_in<'js>(
    ctx: &Ctx<'js>,
    internals: &Internals<'js>,
    entry: &str,
) -> Result<String, EntryError> {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.backtrace_barrier = true;
    options.promise = true;
    options.filename = Some("stdin".into());
    let promise: Promise = match ctx.eval_with_options(entry, options).catch(ctx) {
        Ok(promise) => promise,
        Err(CaughtError::Exception(ex)) if incomplete(&ex, entry) => {
            return Err(EntryError::Incomplete);
        }
        Err(e) => return Err(EntryError::Failed(internals.error_text(e))),
    };
    let settled = settle(ctx, &promise, &internals.pump).catch(ctx);
    // An entry's own failure is reported once, not again as unhandled.
    let unhandled = internals.leftover(true).map_err(EntryError::Failed)?;
    let completion = settled.map_err(|e| EntryError::Failed(internals.error_text(e)))?;
    if !unhandled.is_empty() {
        return Err(EntryError::Failed(unhandled));
    }
    // Global code evaluated with top-level await resolves to `{ value }`.
    let value: Value = completion
        .as_object()
        .and_then(|o| o.get("value").ok())
        .unwrap_or_else(|| Value::new_undefined(ctx.clone()));
    internals
        .show
        .call::<_, String>((value,))
        .map_err(|e| EntryError::Failed(e.to_string()))
}

/// Whether a syntax error is only the entry ending early (an open brace,
/// template literal, comment or call): QuickJS reports those at the end
/// of input. An error before the end (a string broken by a newline) is
/// the entry's own, not a reason to read more lines.
fn incomplete(ex: &rquickjs::Exception<'_>, entry: &str) -> bool {
    if ex.get::<_, String>("name").ok().as_deref() != Some("SyntaxError") {
        return false;
    }
    // "    at stdin:LINE:COLUMN"
    let Some((line, column)) = ex.stack().and_then(|stack| {
        let frame = stack
            .lines()
            .next()?
            .trim()
            .strip_prefix("at stdin:")?
            .to_owned();
        let (line, column) = frame.split_once(':')?;
        Some((line.parse::<usize>().ok()?, column.parse::<usize>().ok()?))
    }) else {
        return false;
    };
    // A template literal or a block comment may go on over lines; QuickJS
    // reports them where they open.
    let message = ex.message().unwrap_or_default();
    if message.contains("unexpected end of comment") {
        return true;
    }
    let opening = entry
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.chars().nth(column.saturating_sub(1)));
    if message.contains("unexpected end of string") && opening == Some('`') {
        return true;
    }
    let text = entry.trim_end();
    let last_line = text.lines().count().max(1);
    let last_column = text.lines().last().map_or(0, |l| l.chars().count());
    (line, column) > (last_line, last_column)
}

/// Runs the job queue until `promise` settles, waiting on the host's
/// operations whenever only they can make progress.
fn settle<'js>(
    ctx: &Ctx<'js>,
    promise: &Promise<'js>,
    pump: &Function<'js>,
) -> rquickjs::Result<Value<'js>> {
    loop {
        match promise.finish::<Value>() {
            Err(rquickjs::Error::WouldBlock) => {
                let progressed: bool = pump.call(())?;
                if !progressed {
                    return Err(rquickjs::Exception::throw_message(
                        ctx,
                        "the spell awaits a promise that nothing will settle (no LLM call, stream, agent run, timer or subscription is in flight)",
                    ));
                }
            }
            other => return other,
        }
    }
}

/// `#!` lines are for the shell; blank the line, keeping line numbers.
fn strip_shebang(code: &str) -> &str {
    if code.starts_with("#!") {
        code.find('\n').map_or("", |i| &code[i..])
    } else {
        code
    }
}

/// `globalThis.__spellhost`: the natives the prelude builds on.
fn install_natives(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let natives = Object::new(ctx.clone())?;
    let bridge = Rc::new(RefCell::new(Bridge::new()));
    natives.set(
        "call",
        Function::new(ctx.clone(), move |op: String, args: String| -> String {
            let result = match serde_json::from_str(&args) {
                Ok(args) => bridge.borrow_mut().call(&op, args),
                Err(e) => Err(spellhost_script::ScriptError::invalid(format!(
                    "{op}: arguments are not JSON: {e}"
                ))),
            };
            match result {
                Ok(value) => serde_json::json!({ "ok": true, "value": value }),
                Err(e) => serde_json::json!({ "ok": false, "error": e.to_json() }),
            }
            .to_string()
        })?,
    )?;
    // console.*: text to stdout (1) or stderr (2), as written.
    natives.set(
        "write",
        Function::new(ctx.clone(), |stream: i32, text: String| {
            let _ = if stream == 2 {
                std::io::stderr().write_all(text.as_bytes())
            } else {
                std::io::stdout().write_all(text.as_bytes())
            };
        })?,
    )?;
    ctx.globals().set("__spellhost", natives)
}

export_interpreter!(run, check, eval);
