#!/usr/bin/env -S spellhost run
// hello.js: asks the model one question (the input, or a default one).
//
//   spellhost run spells/hello.js --input "What is QuickJS?"

import { llm } from "spellhost";

export default async function run(input) {
  const question = input.trim() || "In one sentence: what is WebAssembly?";
  const reply = await llm.chat({
    system: "You are a concise, friendly assistant.",
    prompt: question,
    max_tokens: 120,
  });
  log.info(`answered by ${reply.model} in ${reply.usage.output_tokens} tokens`);
  return reply.text;
}
