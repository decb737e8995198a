const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };

export default async function () {
  const seen = [];
  const agent = new Agent({
    system: "You use tools.",
    tools: [
      "calculator",
      {
        name: "shout",
        description: "Upper-cases text",
        parameters: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
        handler: async ({ text }) => {
          seen.push(text);
          const echoed = await llm.ask(text); // tools may await the host too
          return { loud: text.toUpperCase(), echoed };
        },
      },
    ],
    max_steps: 4,
  });
  const result = await agent.run('agent: call shout {"text":"hi"} & call calculator {"expression":"6*7"}; say got {tools}');
  assert(result.stop_reason === "answered", result.stop_reason);
  assert(result.answer.includes('"loud":"HI"') && result.answer.includes("echo: hi"), result.answer);
  assert(result.answer.includes("42"), result.answer);
  assert(seen[0] === "hi" && result.steps.length === 2 && result.steps[0].tool_results.length === 2);

  Tool.register({ name: "broken", description: "always fails", handler: () => { throw new Error("it broke"); } });
  const b = await new Agent({ tools: ["broken"] }).ask("agent: call broken {}; say {tools}");
  assert(b.includes("it broke"), b);

  const guarded = new Agent({
    tools: ["calculator"],
    onHook: (call) => (call.point === "before_tool" ? { cancel: "no maths today" } : null),
  });
  const g = await guarded.run('agent: call calculator {"expression":"1+1"}; say {tools}').catch((x) => x);
  assert(g.kind === "cancelled" || g.answer.includes("no maths today"), JSON.stringify(g));

  // A hook whose decision is unusable cancels the call instead of hanging.
  const odd = new Agent({ tools: ["calculator"], onHook: () => ({ cancel: 42 }) });
  const o = await odd.run('agent: call calculator {"expression":"1+1"}; say {tools}').catch((x) => x);
  const oddText = o.answer ?? o.message;
  assert(oddText.includes("hook failed") && !oddText.includes('"result":2'), oddText);
  odd.close();
  const closed = await odd.run("again").catch((x) => x);
  assert(closed.kind === "invalid" && closed.message.includes("closed"), String(closed));
  // A tool result that is not JSON reaches the model as an error.
  Tool.register({ name: "bigint", description: "returns a BigInt", handler: () => ({ n: 10n }) });
  const bi = await new Agent({ tools: ["bigint"] }).ask("agent: call bigint {}; say {tools}");
  assert(bi.includes("cannot be sent"), bi);

  // Several agents at once.
  const [a1, a2] = await Promise.all([
    new Agent({}).ask("agent: say one"),
    new Agent({}).ask("agent: say two"),
  ]);
  assert(a1 === "one" && a2 === "two", `${a1} ${a2}`);

  assert((await Tool.call("calculator", { expression: "2+3" })).result === 5);
  assert((await Tool.call("shout", { text: "x" })).loud === "X");
  const sources = Object.fromEntries((await Tool.list()).map((t) => [t.name, t.source]));
  assert(sources.calculator === "builtin" && sources.shout === "spell", JSON.stringify(sources));
  const nf = await Tool.call("nope", {}).catch((x) => x);
  assert(nf.kind === "not-found", String(nf));

  const wf = await workflow.run({ sequence: [
    { id: "a", llm: { prompt: "step {{ input }}" } },
    { tool: { name: "calculator", arguments: { expression: "1+2" } } },
  ] }, "one");
  assert(wf.steps.a === "echo: step one" && wf.output.result === 3, JSON.stringify(wf));
  const bad = await workflow.run({ nonsense: {} }).catch((x) => x);
  assert(bad.kind === "invalid", String(bad));
  return "ok";
}
