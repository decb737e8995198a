// Promise.all over LLM calls: all in flight in the host at once.
const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };

export default async function () {
  const answers = await Promise.all(["a", "b", "c", "d"].map((q) => llm.ask(q)));
  assert(answers.join(",") === "echo: a,echo: b,echo: c,echo: d", answers.join(","));
  const [x, [y1, y2]] = await Promise.all([
    llm.ask("x"),
    Promise.all([llm.ask("y1"), llm.ask("y2")]),
  ]);
  assert(x === "echo: x" && y1 === "echo: y1" && y2 === "echo: y2");
  const settled = await Promise.allSettled([llm.ask("please fail 401"), llm.ask("fine")]);
  assert(settled[0].status === "rejected" && settled[0].reason.kind === "auth");
  assert(settled[1].value === "echo: fine");
  return "ok";
}
