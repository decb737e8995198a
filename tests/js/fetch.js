// fetch over wasi:http: the granted server (config `granted`) answers; the
// other (config `refused`) is not granted, so a request to it, or a
// redirect that leads to it, is refused before anything is sent.
const assert = (cond, msg) => { if (!cond) throw new Error(msg ?? "assertion failed"); };
const granted = config.get("granted");
const refused = config.get("refused");

export default async function () {
  // GET, text and status.
  const hello = await fetch(`${granted}/`);
  assert(hello.ok && hello.status === 200 && hello.statusText === "OK", `${hello.status}`);
  assert((await hello.text()).startsWith("hello from "));
  assert(hello.bodyUsed);
  let reread = false;
  try { await hello.text(); } catch (e) { reread = e instanceof TypeError; }
  assert(reread, "a body reads once");

  // POST with headers and a JSON body; the response's JSON and headers.
  const echo = await fetch(`${granted}/echo?x=1`, {
    method: "post",
    headers: { "Content-Type": "application/json", "X-Test": "yes" },
    body: JSON.stringify({ a: 1 }),
  });
  const seen = await echo.json();
  assert(seen.method === "POST" && seen.path === "/echo" && seen.query === "x=1", JSON.stringify(seen));
  assert(seen.content_type === "application/json" && seen.x_test === "yes", JSON.stringify(seen));
  assert(seen.body === '{"a":1}', seen.body);
  // A body of known size goes with its length, not chunked.
  assert(seen.content_length === "7" && seen.transfer_encoding === null, JSON.stringify(seen));
  assert(echo.headers.get("content-type") === "application/json", echo.headers.get("content-type"));
  assert(echo.headers.has("Content-Length"));

  // A string body defaults to text/plain; bytes go as they are.
  const text = await (await fetch(`${granted}/echo`, { method: "PUT", body: "héllo" })).json();
  assert(text.method === "PUT" && text.body === "héllo" && text.content_type.startsWith("text/plain"), JSON.stringify(text));
  const sent = await (await fetch(`${granted}/echo`, { method: "POST", body: new Uint8Array([104, 105]) })).json();
  assert(sent.body === "hi", sent.body);

  // Bytes that are not UTF-8 arrive exactly; text() replaces what is malformed.
  const bin = await fetch(`${granted}/bytes`);
  const bytes = await bin.clone().bytes();
  assert(bytes.join(",") === "255,0,128,65", bytes.join(","));
  assert((await bin.text()) === "\ufffd\u0000\ufffdA");

  // What a URL may not hold as is is percent-encoded.
  const encoded = await (await fetch(`${granted}/echo?q=a b"c<d>`)).json();
  assert(encoded.query === "q=a%20b%22c%3Cd%3E", encoded.query);

  // A 404 is a response, not an error.
  const missing = await fetch(`${granted}/missing`);
  assert(!missing.ok && missing.status === 404 && (await missing.text()) === "not here");

  // Redirects are followed (each hop checked), or not when asked.
  const followed = await fetch(`${granted}/redirect?to=/echo`);
  assert(followed.redirected && followed.url === `${granted}/echo`, followed.url);
  const dotted = await fetch(`${granted}/redirect?to=./a/../echo`);
  assert(dotted.url === `${granted}/echo`, dotted.url);
  const manual = await fetch(`${granted}/redirect?to=/echo`, { redirect: "manual" });
  assert(manual.status === 302 && manual.headers.get("location") === "/echo");

  // Several requests and an LLM call wait together.
  const [a, b, answer] = await Promise.all([fetch(`${granted}/slow?ms=50`), fetch(`${granted}/`), llm.ask("during fetch")]);
  assert(a.status === 200 && b.status === 200 && answer === "echo: during fetch");

  // Not granted: a denied SpellError naming the flag, nothing sent.
  const port = refused.split(":").pop();
  for (const [url, init] of [
    [`${refused}/`, {}],
    [`${granted}/redirect?to=${refused}/`, {}],
    // A body larger than the host buffers: still the denial, not a write error.
    [`${refused}/echo`, { method: "POST", body: "x".repeat(100000) }],
  ]) {
    try {
      await fetch(url, init);
      throw new Error(`${url} was fetched`);
    } catch (e) {
      assert(e instanceof SpellError && e.kind === "denied", `${e}`);
      assert(e.message.includes(`--allow-net 127.0.0.1:${port}`), e.message);
    }
  }

  // Credentials stay with their origin: a redirect to another drops them.
  const other = config.get("other");
  const moved = await fetch(`${granted}/redirect?to=${other}/echo`, { headers: { Authorization: "Bearer s3cret", "X-Test": "kept" } });
  const movedSeen = await moved.json();
  assert(moved.url === `${other}/echo` && movedSeen.x_test === "kept", JSON.stringify(movedSeen));

  // Mistakes are errors at once.
  for (const [url, init] of [["ftp://x/", {}], ["not a url", {}], [`${granted}/`, { body: "x" }]]) {
    let threw = false;
    try { await fetch(url, init); } catch (e) { threw = true; }
    assert(threw, `fetch(${url}) should fail`);
  }

  // Headers behave as in the platform.
  const h = new Headers([["A", "1"], ["a", "2"]]);
  h.append("B", "3");
  assert(h.get("a") === "1, 2" && [...h.keys()].join() === "a,b");
  const made = Response.json({ ok: true }, { status: 201 });
  assert(made.status === 201 && made.headers.get("content-type") === "application/json" && (await made.json()).ok);
  return "ok";
}
