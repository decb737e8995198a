#!/usr/bin/env -S spellhost run
-- hello.lua: asks the model one question (the input, or a default one).
--
--   spellhost run spells/hello.lua --input "What is Lua?"

local question = ...
if question == nil or question == "" then
  question = "In one sentence: what is WebAssembly?"
end

local reply = llm.chat {
  system = "You are a concise, friendly assistant.",
  prompt = question,
  max_tokens = 120,
}
log.info("answered by " .. reply.model .. " in " .. reply.usage.output_tokens .. " tokens")
return reply.text
