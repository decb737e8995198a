-- llm.* against the fake OpenAI-compatible server (echoes the prompt).

local r = llm.chat { prompt = "hello there", system = "be brief", temperature = 0, max_tokens = 50 }
assert(r.text == "echo: hello there", r.text)
assert(r.finish_reason == "stop", r.finish_reason)
assert(r.model == "fake/fake-model", r.model)
assert(math.type(r.usage.input_tokens) == "integer")
assert(#r.tool_calls == 0)

assert(llm.ask("short form") == "echo: short form")
assert(llm.chat("a plain string").text == "echo: a plain string")

-- A conversation: the last user message is what the fake echoes.
local conv = llm.chat { messages = {
  { role = "system", content = "sys" },
  { role = "user", content = "first" },
  { role = "assistant", content = "answer" },
  { role = "user", content = { { text = "second" } } },
} }
assert(conv.text == "echo: second", conv.text)

-- Tool calls come back parsed.
local tc = llm.chat { prompt = "please call tool", tools = { { name = "get_weather", description = "weather", parameters = { type = "object" } } } }
assert(tc.finish_reason == "tool_calls" and tc.tool_calls[1].name == "get_weather", json.encode(tc))
assert(type(tc.tool_calls[1].arguments) == "table")

-- Streaming: an iterator over text pieces; finish details afterwards.
local pieces, stream = {}, llm.stream { prompt = "one two three" }
for piece in stream do pieces[#pieces + 1] = piece end
assert(#pieces > 1, "streamed in several pieces")
assert(table.concat(pieces) == "echo: one two three", table.concat(pieces))
assert(stream.finish and stream.finish.finish_reason == "stop", json.encode(stream.finish or {}))

-- Errors are raised with a kind, a message and the script position.
local ok, err = pcall(llm.chat, { prompt = "please fail 401" })
assert(not ok and err.kind == "auth", tostring(err))
ok, err = pcall(function() return llm.chat { prompt = "x", model = "fake/other-model" } end)
assert(not ok and err.kind == "denied" and err.message:find("--allow-model", 1, true), tostring(err))
assert(tostring(err):find("^llm.lua:%d+: denied: "), tostring(err))
ok, err = pcall(llm.chat, { prompt = "x", temprature = 1 })
assert(not ok and err.kind == "invalid" and err.message:find("temprature"), tostring(err))
ok, err = pcall(llm.chat, {})
assert(not ok and err.message:find("needs `prompt` or `messages`"), tostring(err))

local models = llm.models()
assert(models[1].id == "fake/fake-model", json.encode(models))

local e = llm.embed({ "a", "b" })
assert(#e.vectors == 2, json.encode(e))

return "ok"
