-- spellhost's Lua API, built on one native: __spellhost.call(op, args).
-- Evaluated once per run before the script; returns the function that runs
-- the script. The reference for users is docs/lua.md.

local native = __spellhost
__spellhost = nil

local call_native = native.call
local pack, unpack = table.pack, table.unpack

---------------------------------------------------------------- errors

-- An error from a bridge: `kind` names the WIT error case ("denied",
-- "budget-exceeded", ...), `message` says what to do, `where` is the
-- script position that made the call.
local SpellError = {}
SpellError.__index = SpellError
SpellError.__tostring = function(e)
  return (e.where or "") .. e.kind .. ": " .. e.message
end

-- "file:line: " of the script's innermost frame (the prelude's own
-- frames and tail calls skipped): where the script called the API.
local where = native.where

local function raise(kind, message)
  error(setmetatable({ kind = kind, message = message, where = where() }, SpellError), 0)
end

local dead_agents -- set with Agent below

-- Runs a bridge operation; failures are raised as SpellErrors.
local function op(name, args)
  while dead_agents and #dead_agents > 0 do
    call_native("agent.drop", { agent = table.remove(dead_agents) })
  end
  local ok, value = call_native(name, args or {})
  if ok then
    return value
  end
  raise(value.kind, value.message)
end

---------------------------------------------------------------- json

-- The prelude keeps its own references: a script may replace the global
-- `json` (say, with a pure-Lua JSON library) without breaking the API.
local json_null = native.null

--- json.encode(value [, pretty]) -> JSON text.
local function json_encode(value, pretty)
  local ok, text = native.json_encode(value, pretty)
  if not ok then raise("invalid", "json.encode: " .. text) end
  return text
end

json = { null = json_null, encode = json_encode }

--- json.decode(text) -> value (null as json.null, arrays marked json.array).
function json.decode(text)
  if type(text) ~= "string" then raise("invalid", "json.decode: expected a string, got " .. type(text)) end
  local ok, value = native.json_decode(text)
  if not ok then raise("invalid", "json.decode: " .. value) end
  return value
end
-- Marks a table as a JSON array, so an empty one encodes as [] (not {}).
local array_mt = native.array_mt
local function json_array(t)
  return setmetatable(t or {}, array_mt)
end
json.array = json_array

---------------------------------------------------------------- scheduler

-- Operations in flight (LLM calls, streams, agent runs) are waited on by
-- one scheduler. Code running inside `parallel` is a task (a coroutine);
-- a task that waits yields the operations it waits on to its scheduler,
-- which waits on every task's operations at once. Outside any task,
-- waiting blocks.
local tasks = setmetatable({}, { __mode = "k" })
-- What a task yields to its scheduler (and nothing else may).
local WAIT = {}

-- Waits until one of `ids` has news; returns that id and what it produced
-- ({state = "item" | "done" | "error" | "end", ...}). Inside a task that
-- can yield, the task's scheduler waits; otherwise (outside `parallel`,
-- or in a callback of a C function such as `table.sort`) this blocks.
local function wait_any(ids)
  if tasks[coroutine.running()] and coroutine.isyieldable() then
    return coroutine.yield(WAIT, ids)
  end
  while true do
    for _, id in ipairs(ids) do
      local r = op("ops.take", { op = id })
      if r.state ~= "pending" then
        return id, r
      end
    end
    op("ops.wait", { ops = ids })
  end
end

-- The value of a finished operation, or its error raised.
local function outcome(r)
  if r.state == "error" then
    raise(r.error.kind, r.error.message)
  end
  return r.value
end

--- Runs functions concurrently; returns their results in order. LLM calls,
--- agent runs and streams inside them are all in flight at once. The first
--- error cancels what is still running and is raised.
local function run_parallel(...)
  local fns = pack(...)
  if fns.n == 1 and type(fns[1]) == "table" then
    local list = fns[1]
    fns = { n = list.n or #list }
    for i = 1, fns.n do fns[i] = list[i] end
  end
  local results, cos, waits = {}, {}, {}
  local failure

  local function step(i, ...)
    local co = cos[i]
    local ok, a, ids = coroutine.resume(co, ...)
    if not ok then
      failure = failure or a
      return
    end
    if coroutine.status(co) == "dead" then
      results[i] = a
      waits[i] = nil
    elseif a == WAIT then
      waits[i] = ids
    else
      waits[i] = nil
      failure = failure or setmetatable({ kind = "invalid", where = "",
        message = "a task in parallel called coroutine.yield itself; run your own coroutines inside the task instead" }, SpellError)
    end
  end

  for i = 1, fns.n do
    local f = fns[i]
    if type(f) ~= "function" then
      raise("invalid", "parallel: argument " .. i .. " is not a function")
    end
    cos[i] = coroutine.create(f)
    tasks[cos[i]] = true
    step(i)
    if failure then break end
  end

  while not failure do
    local all, owner = {}, {}
    for i, ids in pairs(waits) do
      for _, id in ipairs(ids) do
        all[#all + 1] = id
        owner[id] = i
      end
    end
    if #all == 0 then break end
    local id, r = wait_any(all)
    step(owner[id], id, r)
  end

  if failure then
    for _, ids in pairs(waits) do
      for _, id in ipairs(ids) do call_native("ops.drop", { op = id }) end
    end
    error(failure, 0)
  end
  return unpack(results, 1, fns.n)
end

parallel = setmetatable({}, { __call = function(_, ...) return run_parallel(...) end })

--- parallel.map(list, fn): fn(item, index) for every item, concurrently;
--- returns the results as a list.
function parallel.map(list, fn)
  local fns = {}
  for i, item in ipairs(list) do
    fns[i] = function() return fn(item, i) end
  end
  fns.n = #list
  local results = pack(run_parallel(fns))
  for i = 1, fns.n do
    if results[i] == nil then results[i] = json_null end
  end
  results.n = nil
  return json_array(results)
end

---------------------------------------------------------------- time

--- sleep(seconds): waits (fractions allowed); inside `parallel`, the other
--- tasks keep running meanwhile.
function sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 then
    raise("invalid", "sleep needs a number of seconds >= 0")
  end
  local id = op("timer.start", { ms = math.floor(seconds * 1000) })
  local _, r = wait_any({ id })
  return outcome(r)
end

---------------------------------------------------------------- llm

llm = {}

local function request(req)
  if type(req) == "string" then
    return { prompt = req }
  end
  return req
end

--- llm.chat{prompt=..., system=..., messages=..., model=..., temperature=...,
--- max_tokens=..., json=true, schema={...}, tools={...}} -> response table
--- {text, tool_calls, finish_reason, usage, model}.
function llm.chat(req)
  local id = op("llm.start", { request = request(req) })
  local _, r = wait_any({ id })
  return outcome(r)
end

--- llm.ask(prompt [, options]) -> the answer's text.
function llm.ask(prompt, options)
  local req = {}
  for k, v in pairs(options or {}) do req[k] = v end
  req.prompt = prompt
  local id = op("llm.start", { request = req })
  local _, r = wait_any({ id })
  return outcome(r).text
end

--- for chunk in llm.stream{...} do io.write(chunk) end
--- Iterates over the answer's text as it arrives; leaving the loop early
--- cancels the request. The returned iterator is also a table: after the
--- loop, `.finish` holds {finish_reason, usage, model} and `.tool_calls`
--- the tool calls the model made; `.close()` cancels it.
function llm.stream(req)
  local id = op("llm.stream", { request = request(req) })
  local stream = { tool_calls = json_array() }
  local done = false
  --- Stops the stream early (breaking out of the loop does not).
  function stream.close()
    if not done then
      done = true
      call_native("ops.drop", { op = id })
    end
  end
  local mt = { __close = function() stream.close() end }
  mt.__call = function()
    while not done do
      local _, r = wait_any({ id })
      if r.state == "end" then
        done = true
      elseif r.state == "error" then
        done = true
        raise(r.error.kind, r.error.message)
      else
        local e = r.value
        if e.type == "text" then
          return e.text
        elseif e.type == "tool_call" then
          stream.tool_calls[#stream.tool_calls + 1] = e.tool_call
        elseif e.type == "finish" then
          stream.finish = { finish_reason = e.finish_reason, usage = e.usage, model = e.model }
        end
      end
    end
    return nil
  end
  -- `for piece in llm.stream{...}` gets the stream as its closing value,
  -- so leaving the loop early (break, error) cancels the request.
  return setmetatable(stream, mt), nil, nil, stream
end

--- llm.embed(texts [, {model=...}]) -> {vectors, usage, model}
function llm.embed(texts, options)
  if type(texts) == "string" then texts = { texts } end
  return op("llm.embed", { inputs = texts, model = options and options.model })
end

--- llm.models() -> the models this spell may use.
function llm.models()
  return op("llm.models", nil)
end

---------------------------------------------------------------- state

local function bucket(scope)
  local b = {}
  local function args(t)
    t.scope, t.shared = scope.scope, scope.shared
    return t
  end
  --- Value of `key` (tables, strings, numbers, booleans), or nil.
  function b.get(key) return op("state.get", args({ key = key })) end
  --- Stores `value` as JSON; `nil` deletes the key.
  function b.set(key, value)
    if value == nil then return op("state.delete", args({ key = key })) end
    return op("state.set", args({ key = key, value = value }))
  end
  function b.delete(key) return op("state.delete", args({ key = key })) end
  function b.exists(key) return op("state.exists", args({ key = key })) end
  --- Keys starting with `prefix`, sorted.
  function b.keys(prefix) return op("state.keys", args({ prefix = prefix or "" })) end
  --- Sets `key` to `new` only if it still holds `expected` (nil = absent).
  function b.cas(key, expected, new) return op("state.cas", args({ key = key, expected = expected, new = new })) end
  --- Atomically replaces the value with fn(old) (retried on conflict);
  --- returns the new value.
  function b.update(key, fn)
    for _ = 1, 100 do
      local read = op("state.read", args({ key = key }))
      local old = read.value
      if old == json_null then old = nil end
      local new = fn(old)
      if new == nil then
        raise("invalid", "State.update: the function returned nil for `" .. key .. "`; use State.delete to remove a key")
      end
      if op("state.commit", args({ key = key, token = read.token, new = new })) then
        return new
      end
    end
    raise("storage", "State.update: too many concurrent writers on `" .. key .. "`")
  end
  return b
end

State = bucket({ scope = "spell" })
--- State.run: gone when the run ends. State.shared(name): a namespace
--- granted with --allow-state-ns.
State.run = bucket({ scope = "run" })
function State.shared(name)
  if type(name) ~= "string" or name == "" then
    raise("invalid", "State.shared needs a namespace name (a non-empty string), got " .. tostring(name))
  end
  return bucket({ shared = name })
end

---------------------------------------------------------------- events

Event = {}

--- Publishes `payload` (any JSON value) on `topic`.
function Event.emit(topic, payload)
  return op("event.emit", { topic = topic, payload = payload == nil and json_null or payload })
end

--- Subscribes to topic patterns ("a.b", "a.*", "*"). Returns a
--- subscription with :next([timeout_ms]) -> event or nil on timeout.
function Event.subscribe(...)
  local patterns = pack(...)
  if type(patterns[1]) == "table" then patterns = patterns[1] end
  local id = op("event.subscribe", { patterns = { unpack(patterns, 1, patterns.n or #patterns) } })
  local sub = {}
  function sub:next(timeout_ms)
    return op("event.next", { sub = id, timeout_ms = timeout_ms })
  end
  function sub:close() call_native("ops.drop", { op = id }) end
  return sub
end

---------------------------------------------------------------- tools

Tool = {}
local handlers = {}

--- Calls a tool (built-in, plugin) with an arguments table; returns its
--- result. The call runs in the host: inside `parallel`, other tasks go on
--- meanwhile, so several tools (and LLM calls) run at once.
function Tool.call(name, args)
  local handler = handlers[name]
  if handler then
    return handler(args or {})
  end
  local id = op("tool.start", { name = name, args = args or {} })
  local _, r = wait_any({ id })
  return outcome(r)
end

--- Every available tool: {name, description, parameters, source}.
function Tool.list() return op("tool.list", nil) end

--- Registers a Lua function as a tool agents can call:
--- Tool.register{name=..., description=..., parameters={JSON Schema}, handler=function(args) ... end}
function Tool.register(def)
  if type(def) ~= "table" or type(def.handler) ~= "function" then
    raise("invalid", "Tool.register needs a table with `name` and a `handler` function")
  end
  op("tool.register", { tool = { name = def.name, description = def.description, parameters = def.parameters } })
  handlers[def.name] = def.handler
  return def.name
end

---------------------------------------------------------------- agents

Agent = {}
Agent.__index = Agent

-- Agents the garbage collector found unreachable; freed in the host at the
-- next bridge call (a finalizer must not call into the host itself).
dead_agents = {}
Agent.__gc = function(self)
  if self.id then dead_agents[#dead_agents + 1] = self.id end
end

--- agent:close() frees the agent in the host now (also `local a <close> = ...`).
function Agent:close()
  if self.id then
    call_native("agent.drop", { agent = self.id })
    self.id = nil
  end
end
Agent.__close = Agent.close

--- Agent.create{model=..., system=..., tools={"calculator", {name=..., handler=...}},
---   max_steps=..., memory=true, temperature=..., max_tokens=..., name=...,
---   on_hook=function(call) return nil | {cancel=reason} | {modify=payload} end}
function Agent.create(config)
  config = config or {}
  local cfg, tools = {}, {}
  for k, v in pairs(config) do
    if k ~= "tools" and k ~= "on_hook" then cfg[k] = v end
  end
  for i, t in ipairs(config.tools or {}) do
    if type(t) == "table" then
      if t.handler and handlers[t.name] == nil then
        Tool.register(t)
      elseif t.handler and handlers[t.name] ~= t.handler then
        raise("invalid", "Agent.create: another handler is already registered as tool `" .. tostring(t.name) .. "`; give this one its own name")
      end
      tools[i] = t.name
    else
      tools[i] = t
    end
  end
  cfg.tools = json_array(tools)
  cfg.hooks = config.on_hook ~= nil
  local id = op("agent.new", { config = cfg })
  return setmetatable({ id = id, on_hook = config.on_hook }, Agent)
end

-- The host's agent run waits for the answer: it must always come, even
-- when the handler's result cannot be sent.
local function answer_tool(self, run, call)
  local handler = handlers[call.name]
  local reply
  if not handler then
    reply = { error = "the spell has no handler for tool `" .. call.name .. "`" }
  else
    local ok, result = pcall(handler, call.arguments)
    if ok then
      reply = { output = result == nil and json_null or result }
    else
      reply = { error = tostring(result) }
    end
  end
  reply.op, reply.call_id = run, call.id
  local sent, err = call_native("agent.reply", reply)
  if not sent then
    op("agent.reply", { op = run, call_id = call.id, error = "the tool's result cannot be sent: " .. err.message })
  end
end

--- agent:run(input) -> {answer, steps, usage, stop_reason}. Tools the
--- spell registered run here, in Lua, when the model calls them.
function Agent:run(input)
  if not self.id then raise("invalid", "this agent was closed") end
  local run = op("agent.start", { agent = self.id, input = input or "" })
  while true do
    local _, r = wait_any({ run })
    if r.state ~= "item" then
      return outcome(r)
    end
    local e = r.value
    if e.type == "call_tool" then
      answer_tool(self, run, e)
    elseif e.type == "hook" then
      -- The run waits for a decision: a failing hook or an unusable
      -- decision cancels the call rather than leaving the run hanging.
      local ok, decision = pcall(self.on_hook, e)
      local problem = not ok and tostring(decision) or nil
      if ok then
        local sent, err = call_native("agent.decide", { op = run, hook_id = e.id, decision = decision == nil and json_null or decision })
        problem = not sent and err.message or nil
      end
      if problem then
        op("agent.decide", { op = run, hook_id = e.id, decision = { cancel = "the spell's hook failed: " .. problem } })
      end
    end
  end
end

--- agent:ask(input) -> just the answer's text.
function Agent:ask(input)
  return self:run(input).answer
end

function Agent:history() return op("agent.history", { agent = self.id }) end
function Agent:reset() return op("agent.reset", { agent = self.id }) end

---------------------------------------------------------------- workflows

Workflow = {}

--- Runs a workflow definition (docs/workflows.md) on `input`; returns
--- {output, steps}.
function Workflow.run(definition, input)
  return op("workflow.run", { definition = definition, input = input })
end

---------------------------------------------------------------- log, config, clock

local function message(...)
  local parts = pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  return table.concat(parts, "\t", 1, parts.n)
end

log = {}
for _, level in ipairs({ "trace", "debug", "info", "warn", "error" }) do
  log[level] = function(...) call_native("log", { level = level, message = message(...) }) end
end
-- print and io.write write to stdout as in any Lua; log.* are log lines.

config = {
  get = function(key) return op("config.get", { key = key }) end,
  all = function() return op("config.all", nil) end,
}

-- lua-src disables os.clock on WASI; seconds since the script started.
os.clock = native.clock

---------------------------------------------------------------- modules

-- `require` finds the spell's own modules: each `package.path` template,
-- its `?` replaced by the module name (dots as slashes), names a file
-- relative to the directory of the main script, read through the host,
-- which refuses any path that leaves that directory.
local load_module = native.module
package.path = "./?.lua;./?/init.lua"

local function candidates(name, path, sep, rep)
  if type(path) ~= "string" then error("'package.path' must be a string", 3) end
  sep, rep = sep or ".", rep or "/"
  if sep ~= "" then name = name:gsub(sep:gsub("%W", "%%%0"), (rep:gsub("%%", "%%%%"))) end
  local files = {}
  for template in path:gmatch("[^;]+") do
    files[#files + 1] = (template:gsub("%?", function() return name end))
  end
  return files
end

-- package.searchpath over the spell's directory.
package.searchpath = function(name, path, sep, rep)
  local tried = {}
  for _, file in ipairs(candidates(name, path, sep, rep)) do
    local ok, missing, why = load_module(file)
    if ok then return file end
    tried[#tried + 1] = missing and ("no file '" .. file .. "'") or why
  end
  return nil, table.concat(tried, "\n\t")
end

local function search_spell(name)
  local tried = {}
  for _, file in ipairs(candidates(name, package.path)) do
    local ok, found, chunk = load_module(file)
    if ok then
      return chunk, found
    elseif not found then
      error(string.format("%smodule '%s': %s", where(), name, chunk), 0)
    end
    tried[#tried + 1] = "no file '" .. file .. "'"
  end
  return table.concat(tried, "\n\t")
end

package.searchers = { package.searchers[1], search_spell }

---------------------------------------------------------------- main

local traceback = native.traceback

-- What a spell returns becomes its output: strings as they are, nil as
-- "", tables as JSON, anything else through tostring.
local function output(value)
  if value == nil then return "" end
  if type(value) == "string" then return value end
  if type(value) == "table" and getmetatable(value) ~= SpellError then return json_encode(value) end
  return tostring(value)
end

local function handler(e)
  if type(e) == "table" and getmetatable(e) == SpellError then
    e = tostring(e)
  elseif type(e) ~= "string" then
    e = "error object is a " .. type(e) .. " value (" .. tostring(e) .. ")"
  end
  -- Keep the script's frames; the prelude's own are noise to the user.
  local lines = {}
  for line in traceback(e):gmatch("[^\n]+") do
    if not line:find("^%s*spellhost:") and not line:find("^%s*%[C%]: in ?$")
      and not line:find("in function 'xpcall'") then
      lines[#lines + 1] = line:gsub("in upvalue 'chunk'", "in main chunk")
    end
  end
  return table.concat(lines, "\n")
end

-- Runs the script: the chunk runs with the input as `...`; if it returns
-- a function, or defines a global `run`, that is called with the input.
local function main(chunk, input)
  return xpcall(function()
    local returned = chunk(input)
    if type(returned) == "function" then
      returned = returned(input)
    elseif returned == nil and type(rawget(_G, "run")) == "function" then
      returned = _G.run(input)
    end
    return output(returned)
  end, handler)
end

---------------------------------------------------------------- repl

-- A value as the REPL shows it: tables as Lua constructors (a few levels
-- deep, cycles marked), strings quoted inside tables, the rest through
-- tostring as `lua` shows them.
local function show(value, depth, seen)
  if type(value) ~= "table" or getmetatable(value) == SpellError then
    if depth > 0 and type(value) == "string" then
      return (string.format("%q", value):gsub("\\\n", "\\n"))
    end
    if value == json_null then return "json.null" end
    return tostring(value)
  end
  local mt = getmetatable(value)
  if mt ~= nil and mt ~= array_mt and mt.__tostring then return tostring(value) end
  if seen[value] then return "<cycle>" end
  if depth >= 4 then return "{...}" end
  seen[value] = true
  local parts, n = {}, #value
  for i = 1, n do parts[#parts + 1] = show(value[i], depth + 1, seen) end
  local keys = {}
  for k in pairs(value) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
    return type(a) < type(b)
  end)
  for _, k in ipairs(keys) do
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. show(k, depth + 1, seen) .. "]")
    parts[#parts + 1] = key .. " = " .. show(value[k], depth + 1, seen)
  end
  seen[value] = nil
  return #parts == 0 and "{}" or "{ " .. table.concat(parts, ", ") .. " }"
end

local compile = load

-- One REPL entry, as `lua`'s own REPL takes it: first as an expression
-- (`return <entry>`), else as statements. Answers true and the values
-- shown, false and the error, or nil when the entry is incomplete.
local function repl(entry)
  local chunk = compile("return " .. entry, "=stdin", "t")
  if not chunk then
    local err
    chunk, err = compile(entry, "=stdin", "t")
    if not chunk then
      if err:sub(-5) == "<eof>" then return nil end
      return false, err
    end
  end
  local ok, values = xpcall(function() return pack(chunk()) end, handler)
  if not ok then return false, values end
  local shown = {}
  for i = 1, values.n do shown[i] = show(values[i], 0, {}) end
  return true, table.concat(shown, "\t")
end

return main, repl
