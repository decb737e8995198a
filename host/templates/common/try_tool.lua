local text = ...
if text == nil or text == "" then text = "three little words" end

-- The plugin's tool, called directly.
local counted = Tool.call("word_count", { text = text })

-- And through an agent: the model decides to call it.
local agent = Agent.create {
  system = "Answer with the help of your tools.",
  tools = { "word_count" },
}
local answer = agent:ask("How many words are in: " .. text)
return counted.words .. " words; the agent says: " .. answer
