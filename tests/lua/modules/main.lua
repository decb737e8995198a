-- A spell of several files: `require` loads modules from the spell's own
-- directory (package.path templates), and nothing outside it.

local text = require("lib.text")
local shapes = require("shapes") -- shapes/init.lua
assert(package.loaded["lib.text"] == text, "package.loaded keeps modules")
assert(require("lib.text") == text, "a module loads once")
assert(shapes.describe(3) == "a triangle (3 sides)", shapes.describe(3))
assert(text.loads == 1, "loaded once, not " .. text.loads)

-- The loader's second value is the file it came from, as in Lua.
local _, file = require("lib.bytes")
assert(file == "lib/bytes.lua", tostring(file))
-- Sources are bytes: a string literal keeps a byte that is not UTF-8.
assert(require("lib.bytes") == "\xff\xfe", "bytes kept")

-- package.preload and package.searchpath work as Lua users know them.
package.preload["virtual"] = function(name) return { name = name } end
assert(require("virtual").name == "virtual")
assert(package.searchpath("lib.text", package.path) == "./lib/text.lua")
local none, tried = package.searchpath("lib.none", package.path)
assert(none == nil and tried:find("no file './lib/none.lua'", 1, true), tried)
assert(package.cpath == "", "no C modules")
local f, why, where = package.loadlib("x.so", "f")
assert(f == nil and where == "absent", tostring(why))

-- A missing module names what was tried.
local ok, err = pcall(require, "missing.mod")
assert(not ok and err:find("module 'missing.mod' not found", 1, true)
  and err:find("no file './missing/mod.lua'", 1, true), err)
-- Nothing outside the spell's directory, whatever the path says.
package.path = "../?.lua;" .. package.path
ok, err = pcall(require, "sandbox")
assert(not ok and err:find("outside the spell's directory", 1, true), err)
package.path = "./?.lua;./?/init.lua"

-- A syntax error in a module names the module's file and line.
ok, err = pcall(require, "lib.broken")
assert(not ok and err:find("lib/broken.lua:2:", 1, true), err)

-- debug: tracebacks and introspection; not mlua's registry.
assert(debug.traceback("here"):find("stack traceback", 1, true))
assert(debug.getinfo(1, "S").short_src == "main.lua", debug.getinfo(1, "S").short_src)
assert(debug.getregistry == nil and debug.getuservalue == nil)
local t = setmetatable({}, { __index = function() return 42 end })
assert(debug.getmetatable(t).__index and t.x == 42)
-- debug reaches the prelude's upvalues, but the module loader there hands
-- out compiled chunks, never a file's bytes.
for fn in pairs({ [package.searchpath] = true, [package.searchers[2]] = true }) do
  for i = 1, 50 do
    local name, value = debug.getupvalue(fn, i)
    if not name then break end
    if type(value) == "function" then
      local results = table.pack(pcall(value, "main.lua"))
      for j = 1, results.n do
        assert(not (type(results[j]) == "string" and results[j]:find("A spell of several files", 1, true)),
          "a module's source leaked through " .. name)
      end
    end
  end
end
return "ok"
