//! # spellhost's Lua interpreter component
//!
//! Real Lua 5.4 (mlua, vendored) compiled to `wasm32-wasip2`, exporting the
//! `interpreter` world: it asks the host for the script (`script.source`),
//! runs it in a fresh Lua state and returns what the spell returns.
//!
//! The Rust part is small on purpose: one native function,
//! `__spellhost.call(op, args)`, reaches every bridge through
//! [`spellhost_script::Bridge`]; the idiomatic API (`llm`, `State`, `Event`,
//! `Agent`, `Tool`, `Workflow`, `log`, `json`, `parallel`) is Lua code in
//! `prelude.lua`, including the coroutine scheduler that keeps several LLM
//! calls in flight. `docs/lua.md` is the user-facing reference.

mod convert;
mod sandbox;

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Function, Lua, LuaSerdeExt, MultiValue, Value};
use spellhost_script::{Bridge, EntryError, export_interpreter};

const PRELUDE: &str = include_str!("prelude.lua");

/// A fresh Lua state with the API: the sandboxed standard library, the
/// natives and the prelude, whose two functions run a script (`main`)
/// and evaluate a REPL entry (`repl`).
fn start() -> Result<(Lua, Function, Function), String> {
    let lua = sandbox::new_state().map_err(|e| format!("starting Lua: {e}"))?;
    install_natives(&lua).map_err(|e| format!("starting Lua: {e}"))?;
    let (main, repl): (Function, Function) = lua
        .load(PRELUDE)
        .set_name("=spellhost")
        .eval()
        .map_err(|e| format!("spellhost Lua prelude failed (a spellhost bug): {e}"))?;
    Ok((lua, main, repl))
}

fn run(name: String, code: Vec<u8>, input: String) -> Result<String, String> {
    let (lua, main, _) = start()?;
    let code = strip_shebang(&code);
    let result = run_script(&lua, main, &name, code, input);
    // What the script printed leaves before its result is shown.
    let _ = lua.load("io.stdout:flush()").exec();
    result
}

fn run_script(
    lua: &Lua,
    main: Function,
    name: &str,
    code: &[u8],
    input: String,
) -> Result<String, String> {
    let chunk = match lua
        .load(code)
        .set_name(format!("@{name}"))
        .set_mode(mlua::chunk::ChunkMode::Text)
        .into_function()
    {
        Ok(chunk) => chunk,
        Err(e) => return Err(syntax_error(e)),
    };
    match main.call::<MultiValue>((chunk, input)) {
        Ok(out) => {
            let mut out = out.into_iter();
            match (out.next(), out.next()) {
                (Some(Value::Boolean(true)), Some(Value::String(s))) => Ok(s.to_string_lossy()),
                (_, Some(Value::String(s))) => Err(s.to_string_lossy()),
                _ => Err("spellhost Lua prelude returned nothing (a spellhost bug)".into()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

thread_local! {
    /// The REPL session's Lua state and its `repl` function, made by the
    /// first entry and kept for the instance's life.
    static SESSION: RefCell<Option<(Lua, Function)>> = const { RefCell::new(None) };
}

/// One REPL entry, evaluated in the session's Lua state.
fn eval(entry: String) -> Result<String, EntryError> {
    let repl = SESSION.with(|session| {
        let mut session = session.borrow_mut();
        if session.is_none() {
            let (lua, _, repl) = start().map_err(EntryError::Failed)?;
            *session = Some((lua, repl));
        }
        Ok(session.as_ref().map(|(_, repl)| repl.clone()))
    })?;
    let Some(repl) = repl else {
        return Err(EntryError::Failed(
            "no Lua session (a spellhost bug)".into(),
        ));
    };
    let answer = repl.call::<MultiValue>(entry);
    SESSION.with(|session| {
        if let Some((lua, _)) = session.borrow().as_ref() {
            let _ = lua.load("io.stdout:flush()").exec();
        }
    });
    let mut answer = answer
        .map_err(|e| EntryError::Failed(e.to_string()))?
        .into_iter();
    match (answer.next(), answer.next()) {
        (Some(Value::Boolean(true)), Some(Value::String(shown))) => Ok(shown.to_string_lossy()),
        (Some(Value::Boolean(false)), Some(Value::String(error))) => {
            Err(EntryError::Failed(error.to_string_lossy()))
        }
        (Some(Value::Nil) | None, _) => Err(EntryError::Incomplete),
        _ => Err(EntryError::Failed(
            "spellhost Lua prelude answered the entry oddly (a spellhost bug)".into(),
        )),
    }
}

/// Compiles the script without running it: its syntax error, if any, as
/// `file:line: message` (Lua's parser reports lines, not columns).
fn check(name: String, code: Vec<u8>) -> Result<(), String> {
    let lua = sandbox::new_state().map_err(|e| format!("starting Lua: {e}"))?;
    lua.load(strip_shebang(&code))
        .set_name(format!("@{name}"))
        .set_mode(mlua::chunk::ChunkMode::Text)
        .into_function()
        .map(drop)
        .map_err(|e| match e {
            // "file:line: message" → "file:line: syntax error: message"
            mlua::Error::SyntaxError { message, .. } => {
                let position = message
                    .match_indices(": ")
                    .next()
                    .map(|(i, _)| i)
                    .filter(|&i| {
                        message[..i]
                            .rsplit(':')
                            .next()
                            .is_some_and(|l| l.parse::<u32>().is_ok())
                    });
                match position {
                    Some(i) => format!("{}: syntax error: {}", &message[..i], &message[i + 2..]),
                    None => format!("syntax error: {message}"),
                }
            }
            other => other.to_string(),
        })
}

/// `#!/usr/bin/env spellhost run` lines are for the shell; Lua's own
/// loader only skips them in files, so blank the line (keeping numbering).
fn strip_shebang(code: &[u8]) -> &[u8] {
    if code.starts_with(b"#!") {
        code.iter()
            .position(|&b| b == b'\n')
            .map_or(&[][..], |i| &code[i..])
    } else {
        code
    }
}

fn syntax_error(e: mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => format!("syntax error: {message}"),
        other => other.to_string(),
    }
}

/// `__spellhost`: the natives the prelude builds on.
fn install_natives(lua: &Lua) -> mlua::Result<()> {
    let natives = lua.create_table()?;
    let bridge = Rc::new(RefCell::new(Bridge::new()));

    natives.set(
        "call",
        lua.create_function(move |lua, (op, args): (String, Value)| {
            let result = match convert::to_json(lua, args) {
                Ok(args) => bridge.borrow_mut().call(&op, args),
                Err(e) => Err(spellhost_script::ScriptError::invalid(format!(
                    "{op}: {}",
                    error_text(e)
                ))),
            };
            match result {
                // A bridge's "nothing" (an absent key, no config value) is nil.
                Ok(serde_json::Value::Null) => Ok((true, Value::Nil)),
                Ok(value) => Ok((true, convert::from_json(lua, &value)?)),
                Err(e) => Ok((false, convert::from_json(lua, &e.to_json())?)),
            }
        })?,
    )?;
    // JSON natives answer (true, value) or (false, message); the prelude
    // raises the message at the script's line.
    natives.set(
        "json_encode",
        lua.create_function(|lua, (value, pretty): (Value, Option<bool>)| {
            let text = convert::to_json(lua, value).and_then(|json| {
                if pretty.unwrap_or(false) {
                    serde_json::to_string_pretty(&json)
                } else {
                    serde_json::to_string(&json)
                }
                .map_err(mlua::Error::external)
            });
            Ok(match text {
                Ok(text) => (true, text),
                Err(e) => (false, error_text(e)),
            })
        })?,
    )?;
    natives.set(
        "json_decode",
        lua.create_function(|lua, text: mlua::LuaString| {
            match serde_json::from_slice::<serde_json::Value>(&text.as_bytes()) {
                Ok(json) => Ok((true, convert::from_json(lua, &json)?)),
                Err(e) => Ok((
                    false,
                    Value::String(lua.create_string(format!("invalid JSON: {e}"))?),
                )),
            }
        })?,
    )?;
    // `require`'s searcher: (true, name, compiled chunk), or (false,
    // missing, why). The module is compiled here: its bytes never reach
    // Lua, so no script can read a file of its directory as data.
    natives.set(
        "module",
        lua.create_function(|lua, path: mlua::LuaString| {
            let path = path.to_string_lossy();
            let failed = |missing: bool, message: String| -> mlua::Result<(bool, Value, Value)> {
                Ok((
                    false,
                    Value::Boolean(missing),
                    Value::String(lua.create_string(message)?),
                ))
            };
            match spellhost_script::load_module(&path) {
                Ok((name, code)) => match lua
                    .load(strip_shebang(&code))
                    .set_name(format!("@{name}"))
                    .set_mode(mlua::chunk::ChunkMode::Text)
                    .into_function()
                {
                    Ok(chunk) => Ok((
                        true,
                        Value::String(lua.create_string(name)?),
                        Value::Function(chunk),
                    )),
                    Err(e) => failed(false, syntax_error(e)),
                },
                Err((missing, message)) => failed(missing, message),
            }
        })?,
    )?;
    natives.set("null", convert::null())?;
    natives.set("array_mt", lua.array_metatable())?;
    natives.set(
        "traceback",
        lua.create_function(|lua, msg: mlua::LuaString| {
            lua.traceback(Some(&msg.to_string_lossy()), 2)
        })?,
    )?;
    natives.set(
        "where",
        lua.create_function(|lua, ()| Ok(script_position(lua)))?,
    )?;
    let started = std::time::Instant::now();
    natives.set(
        "clock",
        lua.create_function(move |_, ()| Ok(started.elapsed().as_secs_f64()))?,
    )?;
    lua.globals().set("__spellhost", natives)
}

/// `"file:line: "` of the innermost frame of the user's script (skipping
/// the prelude and tail calls), for errors raised on the script's behalf.
fn script_position(lua: &Lua) -> String {
    for level in 1..200 {
        let frame = lua.inspect_stack(level, |d| {
            let source = d.source();
            let file = source
                .source
                .as_deref()
                .and_then(|s| s.strip_prefix('@'))
                .map(str::to_owned);
            (file, d.current_line())
        });
        match frame {
            None => break,
            Some((Some(file), Some(line))) => return format!("{file}:{line}: "),
            Some(_) => continue,
        }
    }
    String::new()
}

/// The message of an error raised in Rust, without mlua's wrapping.
fn error_text(e: mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(message) => message,
        mlua::Error::CallbackError { cause, .. } => error_text((*cause).clone()),
        other => other.to_string(),
    }
}

export_interpreter!(run, check, eval);
