// agent.js: an agent that answers with the help of tools — two built-in
// (calculator, datetime) and one written here in JavaScript (word_stats).
//
//   spellhost run spells/agent.js --input "How many words are in 'the quick brown fox', times 12?"

import { Agent } from "spellhost";

const wordStats = {
  name: "word_stats",
  description: "Counts the words and characters of a text.",
  parameters: {
    type: "object",
    properties: { text: { type: "string", description: "The text to measure" } },
    required: ["text"],
  },
  handler: ({ text }) => ({
    words: text.split(/\s+/).filter(Boolean).length,
    characters: [...text].length,
  }),
};

export default async function run(input) {
  const question = input.trim() || "What is 17% of 2340, and what day of the week is it today?";
  const agent = new Agent({
    system: "Answer precisely. Use the tools for arithmetic, dates and word counts.",
    tools: ["calculator", "datetime", wordStats],
    max_steps: 6,
  });
  const result = await agent.run(question);
  for (const step of result.steps) {
    for (const { call, output, error } of step.tool_results) {
      log.info(`step ${step.index}: ${call.name}(${JSON.stringify(call.arguments)}) -> ${error ?? JSON.stringify(output)}`);
    }
  }
  return result.answer;
}
