//! The Lua state a script gets: Lua 5.4's standard library minus what
//! would escape or mislead inside the component.
//!
//! The component sandbox (WASI grants, fuel, memory, deadline) is the real
//! boundary; this keeps the Lua surface honest on top of it:
//!
//! - `require` loads the spell's own modules (`package.path` templates,
//!   default `./?.lua;./?/init.lua`, relative to the directory of the main
//!   script; the host refuses any path that leaves it), and
//!   `package.preload` works as in Lua; there are no C modules, so
//!   `package.cpath` is empty and `package.loadlib` answers "absent" as a
//!   Lua built without dynamic libraries does;
//! - `debug` is there except what reaches mlua's own bookkeeping:
//!   `debug.getregistry` (the registry holds the Rust callbacks and the
//!   prelude's natives), `debug.getuservalue`/`setuservalue` and
//!   `debug.getmetatable`/`setmetatable` on userdata (mlua tells its Rust objects apart
//!   by their metatables) — a change there could crash the interpreter in
//!   ways that look like spellhost bugs — and `debug.debug` (an
//!   interactive console on stdin). Everything else stays inside the
//!   script's own Lua state, which the component already confines;
//! - `load`, `loadfile` and `dofile` accept text chunks only — binary
//!   chunks can break the VM's invariants — and `string.dump` is gone;
//! - `os.setlocale` knows only the C locale (WASI's libc would accept any
//!   name and change nothing);
//! - `os.execute`, `io.popen`, `os.exit` and `os.tmpname` are removed
//!   rather than left failing at run time;
//! - `io.open` and friends go through WASI, so they see only the
//!   directories granted with `--allow-read`/`--allow-write`;
//! - `os.time` and `os.date` use the WASI wall clock, `os.clock` the
//!   time since the script started (see `prelude.lua`).

use mlua::{Lua, LuaOptions, StdLib};

pub fn new_state() -> mlua::Result<Lua> {
    let libs = StdLib::COROUTINE
        | StdLib::TABLE
        | StdLib::IO
        | StdLib::OS
        | StdLib::STRING
        | StdLib::UTF8
        | StdLib::MATH
        | StdLib::PACKAGE
        | StdLib::DEBUG;
    // SAFETY: `debug` is what mlua calls unsafe; the parts that reach
    // mlua's own state are taken away below, before any script runs.
    let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
    lua.load(
        r##"
        -- Text chunks only. A mode without "t" gets Lua's own answer for
        -- a text chunk, and a binary chunk is refused the same way (nil
        -- and a message, as `load` reports every failure); an explicit
        -- `env` (even nil) is passed on, as stock Lua does.
        local load, select, type = load, select, type
        local function text_only(mode, chunk)
            if mode == nil or (type(mode) == "string" and mode:find("t", 1, true)) then
                return nil
            end
            if type(chunk) == "string" and chunk:sub(1, 1) == "\27" then
                return "attempt to load a binary chunk: spellhost loads text chunks only"
            end
            return string.format("attempt to load a text chunk (mode is '%s')", tostring(mode))
        end
        _G.load = function(chunk, name, mode, ...)
            local refused = text_only(mode, chunk)
            if refused then return nil, refused end
            if select("#", ...) == 0 then return load(chunk, name, "t") end
            return load(chunk, name, "t", (...))
        end
        local loadfile = loadfile
        _G.loadfile = function(path, mode, ...)
            local refused = text_only(mode)
            if refused then return nil, refused end
            if select("#", ...) == 0 then return loadfile(path, "t") end
            return loadfile(path, "t", (...))
        end
        _G.dofile = function(path)
            local f, err = _G.loadfile(path)
            if not f then error(err, 2) end
            return f()
        end
        -- The only locale inside the component is C: WASI's libc would
        -- accept any name and change nothing, so say so as Lua does.
        local setlocale = os.setlocale
        os.setlocale = function(locale, category)
            if locale == nil or locale == "" or locale == "C" or locale == "POSIX" then
                return setlocale(locale and "C", category)
            end
            return nil
        end
        string.dump = nil
        os.execute = nil
        os.exit = nil
        os.tmpname = nil
        io.popen = nil
        debug.getregistry = nil
        debug.getuservalue = nil
        debug.setuservalue = nil
        debug.debug = nil
        local getmetatable = debug.getmetatable
        debug.getmetatable = function(value)
            if type(value) == "userdata" then return nil end
            return getmetatable(value)
        end
        local setmetatable = debug.setmetatable
        debug.setmetatable = function(value, mt)
            if type(value) == "userdata" then
                error("debug.setmetatable: spellhost's own objects keep their metatables", 2)
            end
            return setmetatable(value, mt)
        end
        package.cpath = ""
        package.loadlib = function()
            return nil, "spellhost runs no C libraries", "absent"
        end
        "##,
    )
    .set_name("=sandbox")
    .exec()?;
    Ok(lua)
}
