// llm.* against the fake OpenAI-compatible server (echoes the prompt).
import { llm, SpellError } from "spellhost";
const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };

export default async function () {
  const r = await llm.chat({ prompt: "hello there", system: "be brief", temperature: 0, max_tokens: 50 });
  assert(r.text === "echo: hello there", r.text);
  assert(r.finish_reason === "stop" && r.model === "fake/fake-model", JSON.stringify(r));
  assert(Number.isInteger(r.usage.input_tokens));
  assert(await llm.ask("short form") === "echo: short form");
  assert((await llm.chat("plain string")).text === "echo: plain string");

  const conv = await llm.chat({ messages: [
    { role: "system", content: "sys" },
    { role: "user", content: "first" },
    { role: "assistant", content: "answer" },
    { role: "user", content: [{ text: "second" }] },
  ] });
  assert(conv.text === "echo: second", conv.text);

  const tc = await llm.chat({ prompt: "please call tool", tools: [{ name: "get_weather", description: "weather", parameters: { type: "object" } }] });
  assert(tc.finish_reason === "tool_calls" && tc.tool_calls[0].name === "get_weather", JSON.stringify(tc));

  // Streaming with for await.
  const pieces = [];
  const stream = llm.stream({ prompt: "one two three" });
  for await (const piece of stream) pieces.push(piece);
  assert(pieces.length > 1 && pieces.join("") === "echo: one two three", JSON.stringify(pieces));
  assert(stream.finish?.finish_reason === "stop", JSON.stringify(stream.finish));
  assert(await llm.stream("a b").text() === "echo: a b");

  // Errors: SpellError with a kind, rejected where the call was made.
  let e = await llm.chat({ prompt: "please fail 401" }).catch((x) => x);
  assert(e instanceof SpellError && e.kind === "auth", String(e));
  e = await llm.chat({ prompt: "x", model: "fake/other-model" }).catch((x) => x);
  assert(e.kind === "denied" && e.message.includes("--allow-model"), String(e));
  assert(e.stack.includes("llm.js:"), "the stack points into the spell: " + e.stack);
  e = await llm.chat({ prompt: "x", temprature: 1 }).catch((x) => x);
  assert(e.kind === "invalid" && e.message.includes("temprature"), String(e));

  const models = await llm.models();
  assert(models[0].id === "fake/fake-model", JSON.stringify(models));
  assert((await llm.embed(["a", "b"])).vectors.length === 2);
  return "ok";
}
