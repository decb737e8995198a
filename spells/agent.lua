-- agent.lua: an agent that answers with the help of tools — two built-in
-- (calculator, datetime) and one written here in Lua (word_stats).
--
--   spellhost run spells/agent.lua --input "How many words are in 'the quick brown fox', times 12?"

local question = ...
if question == nil or question == "" then
  question = "What is 17% of 2340, and what day of the week is it today?"
end

local agent = Agent.create {
  system = "Answer precisely. Use the tools for arithmetic, dates and word counts.",
  tools = {
    "calculator",
    "datetime",
    {
      name = "word_stats",
      description = "Counts the words and characters of a text.",
      parameters = {
        type = "object",
        properties = { text = { type = "string", description = "The text to measure" } },
        required = { "text" },
      },
      handler = function(args)
        local words = 0
        for _ in args.text:gmatch("%S+") do words = words + 1 end
        return { words = words, characters = utf8.len(args.text) }
      end,
    },
  },
  max_steps = 6,
}

local result = agent:run(question)
for _, step in ipairs(result.steps) do
  for _, call in ipairs(step.tool_results) do
    log.info(("step %d: %s(%s) -> %s"):format(step.index, call.call.name, json.encode(call.call.arguments),
      call.error or json.encode(call.output)))
  end
end
return result.answer
