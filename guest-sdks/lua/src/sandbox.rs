//! The Lua state a script gets: Lua 5.4's standard library minus what
//! would escape or mislead inside the component.
//!
//! The component sandbox (WASI grants, fuel, memory, deadline) is the real
//! boundary; this keeps the Lua surface honest on top of it:
//!
//! - no `debug` library (it can reach locals and upvalues of the prelude);
//! - no `package`/`require` (there are no C modules and no search path);
//! - `load`, `loadfile` and `dofile` accept text chunks only — binary
//!   chunks can break the VM's invariants — and `string.dump` is gone;
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
        | StdLib::MATH;
    let lua = Lua::new_with(libs, LuaOptions::default())?;
    lua.load(
        r##"
        -- An explicit `env` (even nil) is passed on, as stock Lua does.
        local load, select = load, select
        _G.load = function(chunk, name, mode, ...)
            if mode ~= nil and mode ~= "t" then
                error("load: only text chunks can be loaded in spellhost (mode \"t\")", 2)
            end
            if select("#", ...) == 0 then return load(chunk, name, "t") end
            return load(chunk, name, "t", (...))
        end
        local loadfile = loadfile
        _G.loadfile = function(path, mode, ...)
            if mode ~= nil and mode ~= "t" then
                error("loadfile: only text chunks can be loaded in spellhost (mode \"t\")", 2)
            end
            if select("#", ...) == 0 then return loadfile(path, "t") end
            return loadfile(path, "t", (...))
        end
        _G.dofile = function(path)
            local f, err = _G.loadfile(path)
            if not f then error(err, 2) end
            return f()
        end
        string.dump = nil
        os.execute = nil
        os.exit = nil
        os.tmpname = nil
        io.popen = nil
        package = nil
        require = nil
        "##,
    )
    .set_name("=sandbox")
    .exec()?;
    Ok(lua)
}
