const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };

export default async function () {
  await state.set("count", 1);
  assert(await state.get("count") === 1);
  assert(await state.has("count"));
  await state.set("user:1", { name: "ada" });
  await state.set("user:2", { name: "bob" });
  const keys = await state.keys("user:");
  assert(keys.length === 2 && keys[0] === "user:1", JSON.stringify(keys));
  await state.set("count", undefined);
  assert(await state.get("count") === undefined && !(await state.has("count")));
  assert(await state.compareAndSwap("slot", undefined, "first") === true);
  assert(await state.compareAndSwap("slot", undefined, "second") === false);
  assert(await state.update("n", (old) => (old ?? 0) + 41) === 41);
  assert(await state.update("n", async (old) => old + 1) === 42);
  await state.run.set("tmp", "run-only");
  assert(await state.run.get("tmp") === "run-only" && await state.get("tmp") === undefined);

  let nn;
  try { state.shared(undefined); } catch (x) { nn = x; }
  assert(nn?.kind === "invalid", String(nn));
  const e = await state.shared("team").get("k").catch((x) => x);
  assert(e.kind === "denied" && e.message.includes("--allow-state-ns team"), String(e));

  const sub = events.subscribe("test.*");
  await events.emit("test.hello", { n: 1 });
  await events.emit("other.topic", "ignored");
  await events.emit("test.second", [1, 2]);
  const it = sub[Symbol.asyncIterator]();
  const first = (await it.next()).value;
  const second = (await it.next()).value;
  assert(first.topic === "test.hello" && first.payload.n === 1, JSON.stringify(first));
  assert(second.topic === "test.second" && second.payload.length === 2, JSON.stringify(second));
  assert(await sub.next(10) === null);
  const bad = await events.emit("spellhost.fake", {}).catch((x) => x);
  assert(bad.kind === "invalid", String(bad));

  assert(config.get("greeting") === "hi" && config.all().greeting === "hi");
  assert(config.get("nope") === undefined);
  console.debug("a debug line", 1, true, { x: [1] });
  return "ok";
}
