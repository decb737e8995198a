-- {{name}}: answers the input with the model's help and counts its runs.
--
--   spellhost run {{name}}.lua --input "What is Lua?"
--   spellhost test

local question = ...
if question == nil or question == "" then
  question = "In one sentence: what is a spell?"
end

-- State is the spell's own, kept from one run to the next.
local runs = State.update("runs", function(old) return (old or 0) + 1 end)

local reply = llm.chat {
  system = "You are a concise, friendly assistant.",
  prompt = question,
  max_tokens = 200,
}
Event.emit("{{name}}.answered", { runs = runs, model = reply.model })
return reply.text
