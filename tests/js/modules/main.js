// A spell of several files: relative imports within the spell's directory.
import { plural, loads } from "./lib/text.js";
import { describe } from "./shapes.js";

const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };

export default async function () {
  assert(describe(3) === "a triangle (3 sides)", describe(3));
  assert(plural(1, "side") === "1 side");
  assert(loads() === 1, `one instance of a module, not ${loads()}`);
  // Dynamic import of the same module is the same instance.
  const again = await import("./lib/../lib/text.js");
  assert(again.loads() === 1 && again.plural === plural, "same module");
  // Nothing outside the directory, no packages by name, missing files named.
  let e = await import("../sandbox.js").catch((x) => x);
  assert(String(e).includes("outside the spell's directory"), String(e));
  e = await import("lodash").catch((x) => x);
  assert(String(e).includes("relative path"), String(e));
  e = await import("./lib/none.js").catch((x) => x);
  assert(String(e).includes("no file lib/none.js"), String(e));
  // A syntax error in a module names it.
  e = await import("./lib/broken.js").catch((x) => x);
  assert(e instanceof SyntaxError && String(e.stack ?? "").includes("lib/broken.js"), `${e} ${e?.stack}`);
  return "ok";
}
