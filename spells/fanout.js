// fanout.js: a Promise.all fan-out. Every topic gets its own LLM call, all
// in flight in the host at once; one more call merges the answers.
// Progress goes out as events (`spellhost run --events`).
//
//   spellhost run spells/fanout.js --input "Lua, JavaScript, Rust"

import { llm, events, state } from "spellhost";

export default async function run(input) {
  const topics = (input.trim() || "WebAssembly, Lua, large language models")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);

  const notes = await Promise.all(
    topics.map(async (topic, index) => {
      const note = await llm.ask(`In one sentence, what is ${topic}?`, { max_tokens: 80 });
      await events.emit("fanout.note", { index, topic });
      return `- ${topic}: ${note}`;
    }),
  );

  const summary = await llm.ask(`Write one sentence that connects these notes:\n${notes.join("\n")}`, {
    max_tokens: 120,
  });
  await state.set("last_summary", { topics, summary, at: Date.now() });
  return `${notes.join("\n")}\n\n${summary}`;
}
