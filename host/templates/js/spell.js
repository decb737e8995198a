// {{name}}: answers the input with the model's help and counts its runs.
//
//   spellhost run {{name}}.js --input "What is JavaScript?"
//   spellhost test

import { llm, state, events } from "spellhost";

export default async function run(input) {
  const question = input.trim() || "In one sentence: what is a spell?";

  // State is the spell's own, kept from one run to the next.
  const runs = await state.update("runs", (old) => (old ?? 0) + 1);

  const reply = await llm.chat({
    system: "You are a concise, friendly assistant.",
    prompt: question,
    max_tokens: 200,
  });
  events.emit("{{name}}.answered", { runs, model: reply.model });
  return reply.text;
}
