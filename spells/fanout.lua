-- fanout.lua: a parallel map-reduce. Every topic gets its own LLM call, all
-- in flight at once; one more call merges the answers. Progress goes out
-- as events (`spellhost run --events`).
--
--   spellhost run spells/fanout.lua --input "Lua, JavaScript, Rust"

local input = ...
if input == nil or input == "" then
  input = "WebAssembly, Lua, large language models"
end

local topics = {}
for topic in input:gmatch("[^,]+") do
  topics[#topics + 1] = topic:match("^%s*(.-)%s*$")
end

local notes = parallel.map(topics, function(topic, i)
  local note = llm.ask("In one sentence, what is " .. topic .. "?", { max_tokens = 80 })
  Event.emit("fanout.note", { index = i, topic = topic })
  return ("- %s: %s"):format(topic, note)
end)

local summary = llm.ask("Write one sentence that connects these notes:\n" .. table.concat(notes, "\n"),
  { max_tokens = 120 })
State.set("last_summary", { topics = topics, summary = summary, at = os.time() })
return table.concat(notes, "\n") .. "\n\n" .. summary
