// CPU-bound JavaScript for the benchmark: recursion, closures, classes,
// arrays, strings and a Map. The same file runs under a native QuickJS of
// the interpreter's version (`qjs`) and `spellhost run`.
function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

class Vec {
  constructor(x, y) { this.x = x; this.y = y; }
  add(o) { return new Vec(this.x + o.x, this.y + o.y); }
}

function work() {
  let total = fib(27);
  let acc = new Vec(0, 0);
  for (let i = 0; i < 300000; i++) acc = acc.add(new Vec(i % 7, i % 3));
  const words = [];
  for (let i = 0; i < 100000; i++) words.push(`w${i % 1000}`);
  const counts = new Map();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  const sorted = [...counts.keys()].sort();
  total += acc.x + acc.y + sorted.length;
  return String(total);
}

const result = work();
globalThis.print?.(result); // native qjs; spellhost prints the result
export default () => result;
