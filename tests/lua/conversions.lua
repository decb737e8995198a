-- Lua values <-> JSON, both ways (run by host/tests/lua.rs; returns "ok").

local function check(value, want)
  local got = json.encode(value)
  assert(got == want, "encode: want " .. want .. ", got " .. got)
end

-- Lua -> JSON
check(1, "1")
check(1.0, "1.0")
check(-0.5, "-0.5")
check(9007199254740993, "9007199254740993")   -- integers keep all 64 bits
check("héllo \"q\"\n", '"héllo \\"q\\"\\n"')
check(true, "true")
check(json.null, "null")
check({}, "{}")
check(json.array(), "[]")
check({ 1, 2, 3 }, "[1,2,3]")
check({ 1, nil, 3 }, "[1,null,3]")
check({ b = 1, a = { x = { 1.5, "s" } } }, '{"a":{"x":[1.5,"s"]},"b":1}')
check({ a = json.null }, '{"a":null}')

-- What JSON cannot hold is an error that says where.
local ok, err = pcall(json.encode, { tools = { { handler = function() end } } })
assert(not ok and tostring(err):find("value.tools%[1%].handler: a function cannot be converted to JSON"), tostring(err))
ok, err = pcall(json.encode, { 1, x = 2 })
assert(not ok and tostring(err):find("mixes list items and named keys"), tostring(err))
-- Keys beyond 32 bits are not list positions.
ok, err = pcall(json.encode, { [1] = "a", [4294967297] = "b" })
assert(not ok and tostring(err):find("neither a list"), tostring(err))
ok, err = pcall(json.encode, { [1] = "a", [4294967296] = "b" })
assert(not ok and tostring(err):find("neither a list"), tostring(err))
-- A script may replace the global json; the API keeps working.
local saved = json
json = { encode = function() error("not this one") end }
State.run.set("after_json_swap", { 1, 2 })
json = saved
assert(json.encode(State.run.get("after_json_swap")) == "[1,2]")
local cyclic = {}
cyclic.self = cyclic
ok, err = pcall(json.encode, cyclic)
assert(not ok and tostring(err):find("nested too deeply"), tostring(err))
ok, err = pcall(json.encode, 0 / 0)
assert(not ok and tostring(err):find("no JSON representation"), tostring(err))

-- JSON -> Lua
local v = json.decode('{"i": 3, "f": 3.0, "big": 9007199254740993, "n": null, "e": [], "o": {}, "l": [1, [2, {"k": "v"}]]}')
assert(math.type(v.i) == "integer", "integers stay integers")
assert(math.type(v.f) == "float", "floats stay floats")
assert(v.big == 9007199254740993)
assert(v.n == json.null, "null is json.null")
assert(#v.e == 0 and json.encode(v.e) == "[]", "an empty JSON array stays an array")
assert(json.encode(v.o) == "{}", "an empty object stays an object")
assert(v.l[2][2].k == "v")
assert(json.encode(v) == '{"big":9007199254740993,"e":[],"f":3.0,"i":3,"l":[1,[2,{"k":"v"}]],"n":null,"o":{}}', json.encode(v))

-- Through the host and back: state keeps the JSON value.
local value = { n = 1, f = 2.5, list = { "a", "b" }, empty = json.array(), nested = { t = true } }
State.run.set("conv", value)
local back = State.run.get("conv")
assert(json.encode(back) == json.encode(value), json.encode(back))
assert(math.type(back.n) == "integer" and math.type(back.f) == "float")

-- Through a tool: json_query sees the table as JSON and returns JSON.
local q = Tool.call("json_query", { input = { xs = { 1, 2, 3 } }, filter = ".xs | map(. * 2)" })
assert(json.encode(q) == "[2,4,6]", json.encode(q))

-- JSON errors are SpellErrors too.
ok, err = pcall(json.decode, "{not json")
assert(not ok and err.kind == "invalid" and err.message:find("invalid JSON", 1, true), tostring(err))

return "ok"
