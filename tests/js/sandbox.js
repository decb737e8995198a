const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };

export default async function () {
  // No Node/Deno globals, no module loading from disk or network.
  assert(typeof process === "undefined" && typeof require === "undefined" && typeof Deno === "undefined");
  // The network only through the host: fetch without a grant is refused.
  const refused = await fetch("https://example.com/").catch((x) => x);
  assert(refused instanceof SpellError && refused.kind === "denied" && refused.message.includes("--allow-net example.com:443"), `${refused}`);
  let e = await import("./other.js").catch((x) => x);
  assert(e instanceof Error && String(e).includes("no file other.js"), `only the spell's own files: ${e}`);
  e = await import("https://example.com/x.js").catch((x) => x);
  assert(e instanceof Error, "no imports from the network");
  // The interpreter's internals are out of reach.
  const api = await import("spellhost");
  const exported = Object.keys(api).sort().join(",");
  assert(exported === "Agent,Headers,Response,SpellError,Tool,clearInterval,clearTimeout,config,console,events,fetch,llm,log,setInterval,setTimeout,sleep,state,workflow", exported);
  assert(globalThis[Symbol.for("spellhost.internals")] === undefined);
  // The file tools see only granted directories.
  e = await Tool.call("read_file", { path: "/etc/passwd" }).catch((x) => x);
  assert(e.kind === "denied", String(e));
  // Clocks and randomness work.
  assert(Date.now() > 1.7e12, String(Date.now()));
  assert(new Date().getUTCFullYear() >= 2025);
  assert(Math.random() !== Math.random());
  // Modern JS: classes with private fields, optional chaining, BigInt, generators.
  class Counter { #n = 0; inc() { return ++this.#n; } }
  assert(new Counter().inc() === 1 && ({}).a?.b === undefined && 2n ** 64n > 0n);
  return "ok";
}
