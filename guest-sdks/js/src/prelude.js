// spellhost's JavaScript API: the `spellhost` module (also installed as
// globals), built on one native, __spellhost.call(op, argsJson). The
// reference for users is docs/javascript.md; types are in spellhost.d.ts.

const native = globalThis.__spellhost;
delete globalThis.__spellhost;

// ------------------------------------------------------------------ errors

/** An error from a bridge: `kind` names the case ("denied", "auth", ...). */
export class SpellError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "SpellError";
    this.kind = kind;
  }
  toString() {
    return `${this.kind}: ${this.message}`;
  }
}

function call(op, args) {
  const r = JSON.parse(native.call(op, JSON.stringify(args ?? {})));
  if (r.ok) return r.value;
  throw new SpellError(r.error.kind, r.error.message);
}

// ------------------------------------------------------------- scheduler

// Host operations in flight (LLM calls, streams, agent runs, subscriptions)
// by id, each with the function that takes its progress. When QuickJS has
// no job left and the spell still waits, the interpreter calls pump():
// it waits on all of them at once and hands out what arrived.
const waiting = new Map();

function watch(id, onProgress) {
  waiting.set(id, onProgress);
}

function pump() {
  if (waiting.size === 0) return false;
  const ids = [...waiting.keys()];
  for (const id of call("ops.wait", { ops: ids })) {
    // Several items may be buffered; hand out all of them.
    for (;;) {
      const onProgress = waiting.get(id);
      if (!onProgress) break;
      const r = call("ops.take", { op: id });
      if (r.state === "pending") break;
      if (r.state !== "item") waiting.delete(id);
      onProgress(r);
      if (r.state !== "item") break;
    }
  }
  return true;
}

// A promise for operation `id`'s final value. `site` is an error created
// where the spell called the API, so a failure points at that line.
function settle(id, site, map = (v) => v) {
  return new Promise((resolve, reject) => {
    watch(id, (r) => {
      if (r.state === "done") resolve(map(r.value));
      else reject(fail(site, r.error));
    });
  });
}

function fail(site, error) {
  site.kind = error.kind;
  site.message = error.message;
  return site;
}

// Runs `start` now (errors become a rejection at the caller's line).
function begin(start) {
  const site = new SpellError("", "");
  try {
    return [start(), site];
  } catch (e) {
    if (e instanceof SpellError) throw fail(site, e);
    throw e;
  }
}

// ---------------------------------------------------------------- timers

// Timers are host operations like LLM calls: the event loop waits on them
// together. The run ends when the spell's promise settles, even if timers
// are still pending (unlike Node, which waits for them).
const timers = new Map(); // handle -> operation id
let lastTimer = 0;

function arm(handle, ms, fire) {
  const id = call("timer.start", { ms: Math.max(0, Math.floor(Number(ms) || 0)) });
  timers.set(handle, id);
  watch(id, fire);
}

/** Calls `fn(...args)` after `ms` milliseconds. */
export function setTimeout(fn, ms = 0, ...args) {
  const handle = ++lastTimer;
  arm(handle, ms, () => {
    timers.delete(handle);
    fn(...args);
  });
  return handle;
}

/** Calls `fn(...args)` every `ms` milliseconds until cleared. */
export function setInterval(fn, ms = 0, ...args) {
  const handle = ++lastTimer;
  const again = () => {
    arm(handle, ms, again);
    fn(...args);
  };
  arm(handle, ms, again);
  return handle;
}

/** Cancels a timeout or an interval. */
export function clearTimeout(handle) {
  const id = timers.get(handle);
  if (id === undefined) return;
  timers.delete(handle);
  waiting.delete(id);
  call("ops.drop", { op: id });
}
export const clearInterval = clearTimeout;

/** Resolves after `ms` milliseconds: `await sleep(500)`. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ------------------------------------------------------------------- llm

function request(req) {
  return typeof req === "string" ? { prompt: req } : req;
}

export const llm = {
  /** Sends a chat request; resolves to {text, tool_calls, finish_reason, usage, model}. */
  async chat(req) {
    const [id, site] = begin(() => call("llm.start", { request: request(req) }));
    return settle(id, site);
  },

  /** The answer's text only. */
  async ask(prompt, options = {}) {
    const [id, site] = begin(() => call("llm.start", { request: { ...options, prompt } }));
    return settle(id, site, (r) => r.text);
  },

  /**
   * Streams the answer: `for await (const text of llm.stream(req))`.
   * After the loop, `.finish` holds {finish_reason, usage, model} and
   * `.tool_calls` the tool calls the model made.
   */
  stream(req) {
    const [id, site] = begin(() => call("llm.stream", { request: request(req) }));
    const queue = [];
    let pull = null;
    let ended = false;
    let failure = null;
    const stream = {
      finish: null,
      tool_calls: [],
      [Symbol.asyncIterator]() {
        return this;
      },
      next() {
        if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
        if (failure) return Promise.reject(failure);
        if (ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (pull = { resolve, reject }));
      },
      return() {
        if (!ended) {
          waiting.delete(id);
          call("ops.drop", { op: id });
          ended = true;
        }
        return Promise.resolve({ value: undefined, done: true });
      },
      async text() {
        let all = "";
        for await (const piece of this) all += piece;
        return all;
      },
    };
    const deliver = () => {
      if (!pull) return;
      const p = pull;
      if (queue.length) {
        pull = null;
        p.resolve({ value: queue.shift(), done: false });
      } else if (failure) {
        pull = null;
        p.reject(failure);
      } else if (ended) {
        pull = null;
        p.resolve({ value: undefined, done: true });
      }
    };
    watch(id, (r) => {
      if (r.state === "item") {
        const e = r.value;
        if (e.type === "text") queue.push(e.text);
        else if (e.type === "tool_call") stream.tool_calls.push(e.tool_call);
        else if (e.type === "finish") {
          const { type, ...finish } = e;
          stream.finish = finish;
        }
      } else if (r.state === "error") {
        failure = fail(site, r.error);
      } else {
        ended = true;
      }
      deliver();
    });
    return stream;
  },

  /** Embeds texts: {vectors, usage, model}. */
  async embed(texts, options = {}) {
    return call("llm.embed", { inputs: typeof texts === "string" ? [texts] : texts, model: options.model });
  },

  /** The models this spell may use. */
  async models() {
    return call("llm.models");
  },
};

// ----------------------------------------------------------------- state

function bucket(scope) {
  const args = (extra) => ({ ...scope, ...extra });
  const b = {
    /** The value of `key` (any JSON value), or undefined. */
    async get(key) {
      const v = call("state.get", args({ key }));
      return v === null ? undefined : v;
    },
    /** Stores `value` as JSON; `undefined` deletes the key. */
    async set(key, value) {
      if (value === undefined) call("state.delete", args({ key }));
      else call("state.set", args({ key, value }));
    },
    async delete(key) {
      call("state.delete", args({ key }));
    },
    async has(key) {
      return call("state.exists", args({ key }));
    },
    /** Keys starting with `prefix`, sorted. */
    async keys(prefix = "") {
      return call("state.keys", args({ prefix }));
    },
    /** Sets `key` to `next` only if it still holds `expected` (undefined = absent). */
    async compareAndSwap(key, expected, next) {
      return call("state.cas", args({ key, expected, new: next }));
    },
    /** Atomically replaces the value with fn(old) (retried on conflict); returns it. */
    async update(key, fn) {
      for (let i = 0; i < 100; i++) {
        const read = call("state.read", args({ key }));
        const next = await fn(read.value === null ? undefined : read.value);
        if (next === undefined) {
          throw new SpellError("invalid", `state.update: the function returned undefined for \`${key}\`; use state.delete to remove a key`);
        }
        if (call("state.commit", args({ key, token: read.token, new: next }))) return next;
      }
      throw new SpellError("storage", `state.update: too many concurrent writers on \`${key}\``);
    },
  };
  return b;
}

/** The spell's own state, kept across runs; `state.run` lasts one run;
 *  `state.shared(name)` is a namespace granted with --allow-state-ns. */
export const state = Object.assign(bucket({ scope: "spell" }), {
  run: bucket({ scope: "run" }),
  shared: (name) => {
    if (typeof name !== "string" || name === "") {
      throw new SpellError("invalid", `state.shared needs a namespace name (a non-empty string), got ${String(name)}`);
    }
    return bucket({ shared: name });
  },
});

// ---------------------------------------------------------------- events

export const events = {
  /** Publishes `payload` (any JSON value) on `topic`. */
  async emit(topic, payload = null) {
    call("event.emit", { topic, payload });
  },

  /**
   * Subscribes to topic patterns ("a.b", "a.*", "*"): `await sub.next(ms)`
   * (null on timeout; blocks the spell while it waits) or
   * `for await (const event of sub)`.
   */
  subscribe(...patterns) {
    const id = call("event.subscribe", { patterns: patterns.flat() });
    return {
      async next(timeoutMs) {
        return call("event.next", { sub: id, timeout_ms: timeoutMs });
      },
      close() {
        waiting.delete(id);
        call("ops.drop", { op: id });
      },
      [Symbol.asyncIterator]() {
        return {
          next: () =>
            new Promise((resolve) => {
              watch(id, (r) => {
                waiting.delete(id);
                resolve({ value: r.value, done: false });
              });
            }),
          return: async () => {
            waiting.delete(id);
            return { value: undefined, done: true };
          },
        };
      },
    };
  },
};

// ----------------------------------------------------------------- tools

const handlers = new Map();

export const Tool = {
  /**
   * Calls a tool with an arguments object; resolves to its JSON result.
   * The call runs in the host, so `Promise.all` over several calls runs
   * them at once.
   */
  async call(name, args = {}) {
    const handler = handlers.get(name);
    if (handler) return handler(args);
    const [id, site] = begin(() => call("tool.start", { name, args }));
    return settle(id, site);
  },

  /** Every tool available: {name, description, parameters, source}. */
  async list() {
    return call("tool.list");
  },

  /** Registers a function (sync or async) as a tool agents may call. */
  register({ name, description = "", parameters, handler }) {
    if (typeof handler !== "function") {
      throw new SpellError("invalid", "Tool.register needs a `handler` function");
    }
    call("tool.register", { tool: { name, description, parameters } });
    handlers.set(name, handler);
    return name;
  },
};

// ---------------------------------------------------------------- agents

// Agents the garbage collector reclaimed are freed in the host too.
const agentsGone = new FinalizationRegistry((id) => {
  try {
    call("agent.drop", { agent: id });
  } catch {
    // the run is ending
  }
});

export class Agent {
  /**
   * new Agent({model, system, tools: ["calculator", {name, description,
   * parameters, handler}], max_steps, memory, temperature, max_tokens,
   * name, onHook})
   */
  constructor(config = {}) {
    const { tools = [], onHook, ...rest } = config;
    const names = tools.map((t) => {
      if (typeof t === "string") return t;
      if (t.handler && !handlers.has(t.name)) Tool.register(t);
      else if (t.handler && handlers.get(t.name) !== t.handler) {
        throw new SpellError("invalid", `another handler is already registered as tool \`${t.name}\`; give this one its own name`);
      }
      return t.name;
    });
    this.onHook = onHook;
    this.id = call("agent.new", { config: { ...rest, tools: names, hooks: typeof onHook === "function" } });
    agentsGone.register(this, this.id, this);
  }

  /** Frees the agent in the host now (it is also freed once unreachable). */
  close() {
    if (this.id === undefined) return;
    agentsGone.unregister(this);
    call("agent.drop", { agent: this.id });
    this.id = undefined;
  }

  static create(config) {
    return new Agent(config);
  }

  /** Runs the agent on `input`: {answer, steps, usage, stop_reason}. */
  run(input = "") {
    let run, site;
    try {
      [run, site] = begin(() => {
        if (this.id === undefined) throw new SpellError("invalid", "this agent was closed");
        return call("agent.start", { agent: this.id, input });
      });
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      watch(run, (r) => {
        if (r.state === "done") return resolve(r.value);
        if (r.state === "error") return reject(fail(site, r.error));
        const e = r.value;
        if (e.type === "call_tool") this.#answerTool(run, e);
        else if (e.type === "hook") this.#decide(run, e);
      });
    });
  }

  /** Just the answer's text. */
  async ask(input) {
    return (await this.run(input)).answer;
  }

  async history() {
    return call("agent.history", { agent: this.id });
  }

  async reset() {
    call("agent.reset", { agent: this.id });
  }

  // The host's agent run waits for these answers: they must always come,
  // even when the handler's result or the hook's decision is unusable.
  async #answerTool(run, toolCall) {
    const handler = handlers.get(toolCall.name);
    let reply;
    if (!handler) {
      reply = { error: `the spell has no handler for tool \`${toolCall.name}\`` };
    } else {
      try {
        const output = await handler(toolCall.arguments);
        reply = { output: output === undefined ? null : output };
      } catch (e) {
        reply = { error: String(e?.message ?? e) };
      }
    }
    try {
      call("agent.reply", { op: run, call_id: toolCall.id, ...reply });
    } catch (e) {
      call("agent.reply", { op: run, call_id: toolCall.id, error: `the tool's result cannot be sent: ${e?.message ?? e}` });
    }
  }

  async #decide(run, hookCall) {
    let decision = null;
    try {
      decision = (await this.onHook?.(hookCall)) ?? null;
      call("agent.decide", { op: run, hook_id: hookCall.id, decision });
    } catch (e) {
      const reason = `the spell's hook failed: ${e?.message ?? e}`;
      call("agent.decide", { op: run, hook_id: hookCall.id, decision: { cancel: reason } });
    }
  }
}

// ------------------------------------------------------------- workflows

export const workflow = {
  /** Runs a workflow definition (docs/workflows.md): {output, steps}. */
  async run(definition, input = "") {
    const [result] = begin(() => call("workflow.run", { definition, input }));
    return result;
  },
};

// ----------------------------------------------------------------- fetch

// fetch (WHATWG) over wasi:http: the host checks each request, and each
// redirect hop, against the run's --allow-net grants. Bodies are text or
// bytes; a response's body is read whole before the promise resolves.

// Bytes <-> strings of code points 0-255 (how bytes cross the JSON bridge),
// and UTF-8 (QuickJS has no TextEncoder).
const bytesToLatin1 = (bytes) => {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
};
const latin1ToBytes = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0));
function utf8(text) {
  const out = [];
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}
// UTF-8 to text, each malformed sequence as U+FFFD (as TextDecoder does).
function fromUtf8(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const need = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    let c = need === 0 ? b : need === 1 ? b & 31 : need === 2 ? b & 15 : b & 7;
    let j = 1;
    for (; need > 0 && j <= need && i + j < bytes.length && (bytes[i + j] & 0xc0) === 0x80; j++) c = (c << 6) | (bytes[i + j] & 63);
    const whole = need >= 0 && j === need + 1;
    const valid = whole && !(need === 2 && (c < 0x800 || (c >= 0xd800 && c < 0xe000))) && !(need === 3 && (c < 0x10000 || c > 0x10ffff));
    out += valid ? String.fromCodePoint(c) : "\ufffd";
    i += valid ? j : Math.max(1, j);
  }
  return out;
}
function asBytes(body) {
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  return null;
}

/** HTTP headers: names case-insensitive, repeated values joined by ", ". */
export class Headers {
  #list = [];
  constructor(init) {
    if (init == null) return;
    const pairs = init instanceof Headers ? init.entries() : Array.isArray(init) || typeof init[Symbol.iterator] === "function" ? init : Object.entries(init);
    for (const pair of pairs) {
      const [name, value] = pair;
      if (pair.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
      this.append(name, value);
    }
  }
  append(name, value) {
    this.#list.push([String(name).toLowerCase(), String(value)]);
  }
  set(name, value) {
    this.delete(name);
    this.append(name, value);
  }
  delete(name) {
    const key = String(name).toLowerCase();
    this.#list = this.#list.filter(([n]) => n !== key);
  }
  get(name) {
    const key = String(name).toLowerCase();
    const values = this.#list.filter(([n]) => n === key).map(([, v]) => v);
    return values.length ? values.join(", ") : null;
  }
  has(name) {
    return this.get(name) !== null;
  }
  *entries() {
    const names = [...new Set(this.#list.map(([n]) => n))].sort();
    for (const name of names) yield [name, this.get(name)];
  }
  *keys() {
    for (const [name] of this.entries()) yield name;
  }
  *values() {
    for (const [, value] of this.entries()) yield value;
  }
  forEach(fn, self) {
    for (const [name, value] of this.entries()) fn.call(self, value, name, this);
  }
  [Symbol.iterator]() {
    return this.entries();
  }
  /** Every header as sent, repeats kept. */
  pairs() {
    return this.#list.map((pair) => [...pair]);
  }
}

const STATUS_TEXT = {
  200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently", 302: "Found",
  303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  409: "Conflict", 410: "Gone", 413: "Content Too Large", 422: "Unprocessable Content", 429: "Too Many Requests",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout",
};

// Responses whose body came as bytes: their text as the host decoded it.
const textOf = new WeakMap();

/** A response: status, headers and a body read once. */
export class Response {
  #text;
  #bytes;
  constructor(body = null, init = {}) {
    const bytes = asBytes(body);
    this.#bytes = bytes;
    this.#text = bytes ? null : body == null ? "" : String(body);
    this.status = init.status ?? 200;
    this.statusText = init.statusText ?? STATUS_TEXT[this.status] ?? "";
    this.headers = new Headers(init.headers);
    this.ok = this.status >= 200 && this.status <= 299;
    this.url = init.url ?? "";
    this.redirected = init.redirected ?? false;
    this.type = "basic";
    this.bodyUsed = false;
  }
  #use() {
    if (this.bodyUsed) throw new TypeError("Response: the body was read already");
    this.bodyUsed = true;
  }
  async text() {
    this.#use();
    if (this.#text === null) this.#text = textOf.get(this) ?? fromUtf8(this.#bytes);
    // A byte order mark is not text (the standard's UTF-8 decode drops it).
    return this.#text.startsWith("\ufeff") ? this.#text.slice(1) : this.#text;
  }
  async json() {
    return JSON.parse(await this.text());
  }
  async bytes() {
    this.#use();
    return this.#bytes ? new Uint8Array(this.#bytes) : utf8(this.#text);
  }
  async arrayBuffer() {
    return (await this.bytes()).buffer;
  }
  clone() {
    if (this.bodyUsed) throw new TypeError("Response.clone: the body was read already");
    const copy = new Response(this.#bytes ?? this.#text, this);
    copy.headers = new Headers(this.headers.pairs());
    return copy;
  }
  static json(data, init = {}) {
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...init, headers });
  }
}

// A Location header resolved against the URL it came from (RFC 3986:
// dot segments removed, fragments dropped).
function resolveUrl(location, base) {
  location = location.split("#")[0];
  const [, scheme, authority, basePath = "", baseQuery = ""] =
    base.match(/^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?/i) ?? [];
  if (/^[a-z][a-z0-9+.-]*:/i.test(location)) return location;
  if (location.startsWith("//")) return `${scheme}:${location}`;
  const origin = `${scheme}://${authority}`;
  if (location === "") return origin + (basePath || "/") + baseQuery;
  if (location.startsWith("?")) return origin + (basePath || "/") + location;
  const [path, query = ""] = location.split(/(?=\?)/);
  const merged = path.startsWith("/") ? path : (basePath || "/").replace(/[^/]*$/, "") + path;
  const out = [];
  const parts = merged.split("/");
  parts.forEach((part, i) => {
    if (part === "..") {
      if (out.length > 1) out.pop();
      if (i === parts.length - 1) out.push("");
    } else if (part === ".") {
      if (i === parts.length - 1) out.push("");
    } else out.push(part);
  });
  return origin + (out.join("/") || "/") + query;
}

const originOf = (url) => (url.match(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i)?.[0] ?? "").toLowerCase();

/**
 * fetch(url, { method, headers, body, redirect }): a Response. Requests go
 * through the host, which allows only hosts granted with --allow-net;
 * a refusal rejects with a SpellError of kind "denied" naming the flag.
 */
export async function fetch(input, init = {}) {
  let url = typeof input === "string" ? input : input?.url ?? input?.href ?? String(input);
  let method = String(init.method ?? input?.method ?? "GET").toUpperCase();
  const headers = new Headers(init.headers ?? input?.headers);
  let body = init.body ?? null;
  if (body != null && (method === "GET" || method === "HEAD")) {
    throw new TypeError(`fetch: a ${method} request cannot have a body`);
  }
  if (typeof body === "string" && !headers.has("content-type")) headers.set("content-type", "text/plain;charset=UTF-8");
  const redirect = init.redirect ?? "follow";
  for (let hops = 0; ; hops++) {
    const bytes = asBytes(body);
    if (body != null && bytes === null && typeof body !== "string") {
      throw new TypeError("fetch: a body must be a string, an ArrayBuffer or a typed array");
    }
    const request = {
      method,
      url,
      headers: headers.pairs(),
      body: bytes ? bytesToLatin1(bytes) : body,
      body_bytes: bytes !== null,
    };
    const [id, site] = begin(() => call("http.start", { request }));
    const r = await settle(id, site);
    const response = new Response(r.bytes === undefined ? r.text : latin1ToBytes(r.bytes), {
      status: r.status,
      headers: r.headers,
      url: r.url,
      redirected: hops > 0,
    });
    // Text the host decoded (malformed UTF-8 replaced as the standard says).
    if (r.bytes !== undefined) textOf.set(response, r.text);
    const location = response.headers.get("location");
    if (![301, 302, 303, 307, 308].includes(r.status) || location === null || redirect === "manual") return response;
    if (redirect === "error") throw new TypeError(`fetch ${url}: redirected to ${location} (redirect: "error")`);
    if (hops >= 20) throw new TypeError(`fetch ${url}: too many redirects`);
    if (r.status === 303 || ((r.status === 301 || r.status === 302) && method === "POST")) {
      method = method === "HEAD" ? "HEAD" : "GET";
      body = null;
      headers.delete("content-type");
      headers.delete("content-length");
    }
    const next = resolveUrl(location, url);
    // Credentials stay with the origin they were meant for.
    if (originOf(next) !== originOf(url)) {
      for (const name of ["authorization", "cookie", "proxy-authorization"]) headers.delete(name);
    }
    url = next;
  }
}

// ------------------------------------------------------ console, config

function format(args) {
  return args
    .map((a) => {
      if (typeof a === "string") return a;
      if (a instanceof Error) return `${a.name}: ${a.message}`;
      try {
        return JSON.stringify(a) ?? String(a);
      } catch {
        return String(a);
      }
    })
    .join(" ");
}

const logAt = (level) => (...args) => {
  native.call("log", JSON.stringify({ level, message: format(args) }));
};

/** Log lines in the host's log (`--log-level` filters them). */
export const log = {
  trace: logAt("trace"),
  debug: logAt("debug"),
  info: logAt("info"),
  warn: logAt("warn"),
  error: logAt("error"),
};

// console.* prints as in Node: log, info and debug on stdout; warn, error
// and trace on stderr; one line per call.
const printTo = (stream) => (...args) => {
  native.write(stream, format(args) + "\n");
};

export const console = {
  log: printTo(1),
  info: printTo(1),
  debug: printTo(1),
  warn: printTo(2),
  error: printTo(2),
  trace: printTo(2),
};

export const config = {
  /** The `--var` value of `key`, or undefined. */
  get(key) {
    return call("config.get", { key }) ?? undefined;
  },
  all() {
    return call("config.all");
  },
};

Object.assign(globalThis, {
  llm,
  state,
  events,
  Tool,
  Agent,
  workflow,
  console,
  log,
  config,
  SpellError,
  fetch,
  Headers,
  Response,
  setTimeout,
  setInterval,
  clearTimeout,
  clearInterval,
  sleep,
});

// ------------------------------------------------------------------ main

// An error for the user: name, message and the spell's own stack frames.
function describe(e) {
  if (!(e instanceof Error)) {
    let text;
    try {
      text = JSON.stringify(e);
    } catch {
      text = String(e);
    }
    return `uncaught: ${text}`;
  }
  const head = e instanceof SpellError ? `${e.kind}: ${e.message}` : `${e.name}: ${e.message}`;
  const frames = String(e.stack ?? "")
    .split("\n")
    .filter((line) => line.trim() && !line.includes("(spellhost:") && !line.includes("(native)"));
  return frames.length ? `${head}\n${frames.join("\n")}` : head;
}

// Output: strings as they are, undefined/null as "", anything else as JSON.
function output(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? String(value);
}

// The spell's entry: the default export or `run`, called with the input;
// a default export that is not a function is the output itself.
async function main(namespace, input) {
  if (!("default" in namespace) && !("run" in namespace)) {
    throw new SpellError("invalid", "the module exports neither `default` nor `run`: export the spell's entry (`export default async function run(input) { ... }`)");
  }
  const entry = namespace.default ?? namespace.run;
  const result = typeof entry === "function" ? await entry(input) : await entry;
  return output(result);
}

// Rejections nobody handled: the interpreter reports them (QuickJS calls
// __spellhost_track when a promise is rejected without a handler, and
// again if a handler is attached later).
const unhandled = new Map();
Object.defineProperty(globalThis, "__spellhost_track", {
  value(promise, reason, handled) {
    if (handled) unhandled.delete(promise);
    else unhandled.set(promise, reason);
  },
});

// The first rejection nobody handled, described ("" when none); a REPL
// clears them once shown, so each entry reports its own.
function leftover(clear = false) {
  let text = "";
  for (const reason of unhandled.values()) {
    text = `unhandled promise rejection: ${describe(reason)}`;
    break;
  }
  if (clear) unhandled.clear();
  return text;
}

// A REPL entry's value as the REPL shows it: strings quoted, objects as
// JSON (functions, symbols and cycles by name), nothing for undefined.
function show(value) {
  switch (typeof value) {
    case "undefined":
      return "";
    case "string":
      return JSON.stringify(value);
    case "function":
      return `[Function ${value.name || "(anonymous)"}]`;
    case "symbol":
    case "bigint":
      return typeof value === "bigint" ? `${value}n` : value.toString();
    case "object":
      if (value === null) return "null";
      if (value instanceof Error) return describe(value);
      try {
        const seen = new WeakSet();
        return JSON.stringify(value, (_, v) => {
          if (typeof v === "function") return `[Function ${v.name || "(anonymous)"}]`;
          if (typeof v === "bigint") return `${v}n`;
          if (typeof v === "object" && v !== null) {
            if (seen.has(v)) return "[Circular]";
            seen.add(v);
          }
          return v;
        }) ?? String(value);
      } catch {
        return String(value);
      }
    default:
      return String(value);
  }
}

// What the interpreter needs, under a symbol it reads (and removes) once
// the prelude has run, so spells cannot reach it.
globalThis[Symbol.for("spellhost.internals")] = { pump, describe, main, leftover, show };
