-- Agents with built-in tools and tools written in Lua (the fake model's
-- turns are scripted by the "agent: ..." prompt).

local seen = {}
local agent = Agent.create {
  system = "You use tools.",
  tools = {
    "calculator",
    {
      name = "shout",
      description = "Upper-cases text",
      parameters = { type = "object", properties = { text = { type = "string" } }, required = { "text" } },
      handler = function(args)
        seen[#seen + 1] = args.text
        return { loud = args.text:upper() }
      end,
    },
  },
  max_steps = 4,
}
local result = agent:run('agent: call shout {"text":"hi"} & call calculator {"expression":"6*7"}; say got {tools}')
assert(result.stop_reason == "answered", result.stop_reason)
assert(result.answer:find('{"loud":"HI"}', 1, true), result.answer)
assert(result.answer:find("42", 1, true), result.answer)
assert(seen[1] == "hi")
assert(#result.steps == 2 and #result.steps[1].tool_results == 2, json.encode(result.steps))

-- A Lua tool that fails feeds its error back to the model.
Tool.register { name = "broken", description = "always fails", handler = function() error("it broke") end }
local b = Agent.create { tools = { "broken" } }
local r2 = b:run("agent: call broken {}; say {tools}")
assert(r2.answer:find("it broke", 1, true), r2.answer)

-- Hooks: the spell can cancel a tool call.
local guarded = Agent.create {
  tools = { "calculator" },
  on_hook = function(call)
    if call.point == "before_tool" then return { cancel = "no maths today" } end
  end,
}
local ok, err = pcall(guarded.run, guarded, 'agent: call calculator {"expression":"1+1"}; say {tools}')
assert(ok or err.kind == "cancelled", tostring(err))
if ok then assert(err.answer:find("no maths today", 1, true), err.answer) end

-- Two different handlers cannot share a tool name.
local dup_ok, dup = pcall(Agent.create, { tools = { { name = "shout", handler = function() end } } })
assert(not dup_ok and dup.kind == "invalid" and dup.message:find("already registered", 1, true), tostring(dup))

-- A hook whose decision is unusable cancels the call instead of hanging.
local odd = Agent.create { tools = { "calculator" }, on_hook = function() return { cancel = 42 } end }
local odd_ok, odd_r = pcall(odd.run, odd, 'agent: call calculator {"expression":"1+1"}; say {tools}')
local odd_text = odd_ok and odd_r.answer or odd_r.message
assert(odd_text:find("hook failed", 1, true) and not odd_text:find('"result":2', 1, true), tostring(odd_text))
odd:close()
local closed_ok, closed = pcall(odd.run, odd, "again")
assert(not closed_ok and closed.message:find("closed", 1, true), tostring(closed))
do
  local scoped <close> = Agent.create {}
  assert(scoped:ask("agent: say scoped") == "scoped")
end
-- A tool result that is not JSON reaches the model as an error.
Tool.register { name = "fn_result", description = "returns a function", handler = function() return { f = print } end }
local fr = Agent.create({ tools = { "fn_result" } }):ask("agent: call fn_result {}; say {tools}")
assert(fr:find("cannot be sent", 1, true), fr)

-- Tools can be called directly too.
assert(Tool.call("calculator", { expression = "2+3" }).result == 5)
assert(Tool.call("shout", { text = "x" }).loud == "X")
local names = {}
for _, t in ipairs(Tool.list()) do names[t.name] = t.source end
assert(names.calculator == "builtin" and names.shout == "spell", json.encode(names))
ok, err = pcall(Tool.call, "nope", {})
assert(not ok and err.kind == "not-found", tostring(err))

local wf = Workflow.run({ sequence = {
  { id = "a", llm = { prompt = "step {{ input }}" } },
  { tool = { name = "calculator", arguments = { expression = "1+2" } } },
} }, "one")
assert(wf.steps.a == "echo: step one", json.encode(wf))
assert(wf.output.result == 3, json.encode(wf))
ok, err = pcall(Workflow.run, { nonsense = {} }, "")
assert(not ok and err.kind == "invalid", tostring(err))

return "ok"
