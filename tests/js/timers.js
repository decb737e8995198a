// Timers: setTimeout/setInterval/clearTimeout/sleep wait in the host,
// together with LLM calls.
const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };

export default async function () {
  const order = [];
  await new Promise((done) => {
    setTimeout(() => order.push("slow"), 60);
    setTimeout((tag) => order.push(tag), 10, "fast");
    const cancelled = setTimeout(() => order.push("cancelled"), 20);
    clearTimeout(cancelled);
    setTimeout(done, 100);
  });
  assert(order.join(",") === "fast,slow", order.join(","));

  let ticks = 0;
  await new Promise((done) => {
    const h = setInterval(() => {
      ticks += 1;
      if (ticks === 3) {
        clearInterval(h);
        done();
      }
    }, 5);
  });
  assert(ticks === 3);

  // A sleep and an LLM call overlap.
  const started = Date.now();
  const [, answer] = await Promise.all([sleep(150), llm.ask("during sleep")]);
  assert(answer === "echo: during sleep");
  assert(Date.now() - started >= 140, "slept");
  return "ok";
}
