// JS values <-> JSON <-> host, both ways (run by host/tests/js.rs).
const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };

export default async function () {
  const value = { n: 1, f: 2.5, s: "héllo \"q\"\n", t: true, nul: null, list: ["a", 2, [3]], empty: [], obj: {}, nested: { deep: { x: -0.5 } } };
  await state.run.set("conv", value);
  const back = await state.run.get("conv");
  assert(JSON.stringify(back) === JSON.stringify(value), JSON.stringify(back));
  assert(Array.isArray(back.empty) && back.empty.length === 0, "[] stays an array");
  assert(back.nul === null, "null stays null");
  assert(Number.isInteger(back.n) && back.f === 2.5);
  assert(await state.run.get("missing") === undefined, "absent keys are undefined");

  // undefined fields are dropped, like JSON.stringify does.
  await state.run.set("u", { a: undefined, b: 1 });
  assert(JSON.stringify(await state.run.get("u")) === '{"b":1}');

  // Through a tool and back.
  const q = await Tool.call("json_query", { input: { xs: [1, 2, 3] }, filter: ".xs | map(. * 2)" });
  assert(JSON.stringify(q) === "[2,4,6]", JSON.stringify(q));

  // Events carry JSON payloads.
  const sub = events.subscribe("conv.*");
  await events.emit("conv.x", { big: 2 ** 53, list: [1.5, "x"] });
  const ev = await sub.next(1000);
  assert(ev.payload.big === 2 ** 53 && ev.payload.list[0] === 1.5, JSON.stringify(ev));

  // What JSON cannot hold fails clearly.
  let err;
  try { await state.run.set("bad", { n: 10n }); } catch (e) { err = e; }
  assert(err instanceof TypeError, String(err));
  return "ok";
}
