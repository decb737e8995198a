// Type declarations for spellhost's JavaScript API: the `spellhost` module
// that `spellhost run spell.js` provides, whose exports are also installed
// as globals. The API itself is guest-sdks/js/src/prelude.js; the user
// reference is docs/javascript.md.
//
// Use it from a spell, in JavaScript (with `// @ts-check` or `checkJs`) or
// TypeScript compiled to JavaScript:
//
//   /// <reference path="path/to/spellhost/guest-sdks/js/spellhost.d.ts" />
//
// or name this file in tsconfig.json / jsconfig.json: in "compilerOptions"
// as "types": ["path/to/spellhost.d.ts"], or in "files" or "include".
//
// Field names of requests and results are snake_case (`max_tokens`,
// `tool_calls`), as the host sends and expects them; method names are
// camelCase. Requests are checked by the host: a field it does not know
// (`temprature`) is an `invalid` error; a field that is `undefined` or
// `null` counts as absent.

declare module "spellhost" {
  // ------------------------------------------------------------------ JSON

  /** A JSON value, as the host sends it (numbers are doubles). */
  export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

  /** A JSON object. */
  export interface JsonObject {
    /** Any JSON value. */
    [key: string]: JsonValue;
  }

  /** A JSON Schema (an object), e.g. `{ type: "object", properties: {...}, required: [...] }`. */
  export type JsonSchema = JsonObject;

  /**
   * A spell's entry point: the module's default export (or its `run`
   * export), called with the input text (`""` when there is none). What it
   * returns, or what its promise resolves to, is the output: a string as it
   * is, `undefined`/`null` as `""`, anything else as JSON. In JavaScript,
   * give the default export the JSDoc tag `@type {import("spellhost").SpellEntry}`
   * to have `input` typed.
   */
  export type SpellEntry = (input: string) => unknown;

  // ---------------------------------------------------------------- errors

  /**
   * What went wrong, as the bridges report it.
   *
   * - `invalid`: the spell passed something unusable (wrong type, unknown
   *   field, a bad workflow definition, `state.update` returning undefined);
   * - `invalid-request`, `auth`, `rate-limited`, `timeout`, `unavailable`,
   *   `provider`: the LLM provider's errors;
   * - `denied`: not granted; the message names the flag that grants it;
   * - `budget-exceeded`: `--max-llm-tokens` or `--max-llm-cost` reached;
   * - `not-found`, `invalid-arguments`, `failed`: tool errors;
   * - `cancelled`: a hook cancelled the call;
   * - `step-failed`: a workflow step failed;
   * - `storage`: the state store failed, or `update` gave up.
   */
  export type SpellErrorKind =
    | "invalid"
    | "invalid-request"
    | "auth"
    | "rate-limited"
    | "denied"
    | "timeout"
    | "unavailable"
    | "budget-exceeded"
    | "provider"
    | "not-found"
    | "invalid-arguments"
    | "failed"
    | "cancelled"
    | "step-failed"
    | "storage"
    | "quota-exceeded";

  /**
   * The error a failed API call throws or rejects with. Its stack points
   * at the spell's line that made the call.
   *
   * ```js
   * try { await llm.chat(req); }
   * catch (e) { if (e instanceof SpellError && e.kind === "rate-limited") ...; else throw e; }
   * ```
   */
  export class SpellError extends Error {
    /** Makes an error of `kind`; spells may throw their own. */
    constructor(kind: SpellErrorKind, message: string);
    /** Always `"SpellError"`. */
    name: "SpellError";
    /** What went wrong (see {@link SpellErrorKind}). */
    kind: SpellErrorKind;
    /** `"kind: message"`. */
    toString(): string;
  }

  // ------------------------------------------------------------------- llm

  /** Tokens a call used. */
  export interface Usage {
    /** Tokens of the prompt (all messages). */
    input_tokens: number;
    /** Tokens of the answer. */
    output_tokens: number;
  }

  /** Why the model stopped. */
  export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "other";

  /** A message's author. */
  export type Role = "system" | "user" | "assistant" | "tool";

  /** A text part of a message's content. */
  export interface TextPart {
    /** The text. */
    text: string;
  }

  /** An image part of a message's content. */
  export interface ImageUrlPart {
    /** The image's URL. */
    image_url: string;
  }

  /** A part of a message's content: text, `{ text }` or `{ image_url }`. */
  export type ContentPart = string | TextPart | ImageUrlPart;

  /** A tool call the model made. */
  export interface ToolCall {
    /** The call's id; answer it with a `tool` message carrying this `tool_call_id`. */
    id: string;
    /** The tool's name. */
    name: string;
    /** The arguments, decoded from JSON (the raw text if they are not JSON). */
    arguments: any;
  }

  /** A tool call in a request's assistant message. */
  export interface ToolCallInput {
    /** The call's id. */
    id: string;
    /** The tool's name. */
    name: string;
    /** The arguments: a JSON value, or a string holding JSON text (default `{}`). */
    arguments?: unknown;
  }

  /** A message of a conversation. */
  export interface Message {
    /** `system`, `user`, `assistant` or `tool`. */
    role: Role;
    /** The text, or a list of parts (text and image URLs). */
    content?: string | ContentPart[] | undefined;
    /** An assistant message's tool calls. */
    tool_calls?: ToolCallInput[] | undefined;
    /** A `tool` message: the id of the call it answers. */
    tool_call_id?: string | undefined;
  }

  /** A tool the model may call (`llm.chat` only returns the calls; `Agent` runs them). */
  export interface ChatTool {
    /** The tool's name. */
    name: string;
    /** What the tool does, for the model. */
    description?: string | undefined;
    /** A JSON Schema of the arguments (default `{ type: "object" }`). */
    parameters?: JsonSchema | undefined;
    /** Ignored by `llm.chat` (so a {@link ToolSpec} can be passed as it is). */
    handler?: ToolHandler | undefined;
  }

  /** Everything of a chat request but the prompt (the options of `llm.ask`). */
  export interface ChatOptions {
    /** A system message, sent first. */
    system?: string | undefined;
    /** The conversation, sent between `system` and `prompt`. */
    messages?: Message[] | undefined;
    /**
     * `provider/model` or an alias; default: the run's model (`--model`).
     * Other models need `--allow-model`.
     */
    model?: string | undefined;
    /** Sampling temperature. */
    temperature?: number | undefined;
    /** Nucleus sampling. */
    top_p?: number | undefined;
    /** Most tokens to generate (a non-negative integer). */
    max_tokens?: number | undefined;
    /** Stop sequences. */
    stop?: string | string[] | undefined;
    /** A seed for sampling (a non-negative integer). */
    seed?: number | undefined;
    /** Ask for a JSON answer (the answer is still text: `JSON.parse(r.text)`). */
    json?: boolean | undefined;
    /** Ask for JSON matching this JSON Schema (implies `json`). */
    schema?: JsonSchema | undefined;
    /** Tools the model may call; their calls come back in `tool_calls`. */
    tools?: ChatTool[] | undefined;
  }

  /** A request with a prompt. */
  export interface PromptRequest extends ChatOptions {
    /** A user message, sent last. */
    prompt: string;
  }

  /** A request with a conversation. */
  export interface MessagesRequest extends ChatOptions {
    /** The conversation. */
    messages: Message[];
    /** A user message, sent after `messages`. */
    prompt?: string | undefined;
  }

  /** A chat request: `prompt` or `messages` (or both) and options. */
  export type ChatRequest = PromptRequest | MessagesRequest;

  /** The answer to a chat request. */
  export interface ChatResponse {
    /** The answer's text. */
    text: string;
    /** The tool calls the model asked for (not run: use `Agent` for a tool loop). */
    tool_calls: ToolCall[];
    /** Why the model stopped. */
    finish_reason: FinishReason;
    /** Tokens used. */
    usage: Usage;
    /** The model that answered, as `provider/model`. */
    model: string;
  }

  /** How a stream ended: its `finish` once the loop is over. */
  export interface StreamFinish {
    /** Why the model stopped. */
    finish_reason: FinishReason;
    /** Tokens used. */
    usage: Usage;
    /** The model that answered. */
    model: string;
  }

  /**
   * A streamed answer: iterate over it with `for await` to get the pieces of
   * text as they arrive.
   *
   * ```js
   * const stream = llm.stream({ prompt: "Tell a story" });
   * for await (const piece of stream) console.log(piece);
   * console.log(stream.finish?.usage.output_tokens);
   * ```
   */
  export interface ChatStream extends AsyncIterable<string> {
    /** `{finish_reason, usage, model}` once the model has finished, else `null`. */
    finish: StreamFinish | null;
    /** The tool calls the model made so far. */
    tool_calls: ToolCall[];
    /** The stream itself: it is its own iterator. */
    [Symbol.asyncIterator](): ChatStream;
    /** The next piece of text; rejects with a {@link SpellError} if the stream fails. */
    next(): Promise<IteratorResult<string, undefined>>;
    /** Stops the stream (what `break` in a `for await` loop calls). */
    return(): Promise<IteratorReturnResult<undefined>>;
    /** Reads the rest of the stream and returns its text. */
    text(): Promise<string>;
  }

  /** Options of `llm.embed`. */
  export interface EmbedOptions {
    /** The embedding model (`provider/model` or an alias). */
    model?: string | undefined;
  }

  /** Embedding vectors. */
  export interface Embeddings {
    /** One vector per input text. */
    vectors: number[][];
    /** Tokens used. */
    usage: Usage;
    /** The model that made them. */
    model: string;
  }

  /** A model the spell may use. */
  export interface ModelInfo {
    /** `provider/model`. */
    id: string;
    /** Other names for it. */
    aliases: string[];
    /** Whether it is the run's default model. */
    default: boolean;
  }

  /** The `llm` module: chat, stream, embed. */
  export interface Llm {
    /**
     * Sends a chat request (a string is the prompt). The request starts at
     * once in the host; several calls in flight (`Promise.all`) really run
     * concurrently. Rejects with a {@link SpellError}.
     */
    chat(request: string | ChatRequest): Promise<ChatResponse>;
    /**
     * `llm.chat` with `prompt` and `options`, resolving to the answer's text only.
     *
     * ```js
     * const title = await llm.ask("Suggest a title for: " + text, { max_tokens: 20 });
     * ```
     */
    ask(prompt: string, options?: ChatOptions): Promise<string>;
    /**
     * Streams the answer to a chat request (same request as `llm.chat`).
     * Throws at once (no promise) if the request cannot start: invalid,
     * denied, over budget, or refused by the provider.
     */
    stream(request: string | ChatRequest): ChatStream;
    /** Embeds one text or a list of texts. */
    embed(texts: string | string[], options?: EmbedOptions): Promise<Embeddings>;
    /** The models this spell may use. */
    models(): Promise<ModelInfo[]>;
  }

  /** Chat, streams, embeddings and the models the spell may use. */
  export const llm: Llm;

  // ----------------------------------------------------------------- state

  /**
   * A key-value store whose values are JSON. Each call goes to the host at
   * once and blocks the spell until it answers.
   */
  export interface StateBucket {
    /**
     * The value of `key`, or `undefined` if it is absent (or holds JSON
     * `null`). The type parameter is not checked: it is what you expect.
     */
    get<T = any>(key: string): Promise<T | undefined>;
    /**
     * Stores `value` as JSON (`JSON.stringify` rules: `undefined` fields are
     * dropped, a `BigInt` is a `TypeError`); `undefined` deletes the key,
     * `null` stores JSON `null`.
     */
    set(key: string, value: unknown): Promise<void>;
    /** Deletes `key`. */
    delete(key: string): Promise<void>;
    /** Whether `key` is present. */
    has(key: string): Promise<boolean>;
    /** The keys starting with `prefix` (default: all), sorted. */
    keys(prefix?: string): Promise<string[]>;
    /**
     * Sets `key` to `next` only if it still holds `expected`
     * (`undefined` or `null` = absent); resolves to whether it did. Values
     * are compared as stored JSON text (same key order and number format).
     */
    compareAndSwap(key: string, expected: unknown, next: unknown): Promise<boolean>;
    /**
     * Atomically replaces the value with `fn(old)` (`old` is `undefined` if
     * absent), calling `fn` again if another writer got there first (at
     * most 100 times, then a `storage` error); resolves to the new value.
     * It compares the exact bytes it read, so it works on values any spell
     * wrote. `fn` may be async; it must not return `undefined` or `null`.
     *
     * ```js
     * const runs = await state.update("runs", (old) => (old ?? 0) + 1);
     * ```
     */
    update<T = any>(key: string, fn: (old: T | undefined) => T | Promise<T>): Promise<T>;
  }

  /** The spell's state: its own bucket plus the run's and shared ones. */
  export interface State extends StateBucket {
    /** A bucket that lasts for this run only. */
    readonly run: StateBucket;
    /** A shared namespace; needs `--allow-state-ns NAME` (else `denied`). */
    shared(name: string): StateBucket;
  }

  /**
   * Persistent key-value state. `state` itself is the spell's private
   * scope, kept across runs; `state.run` lasts one run;
   * `state.shared(name)` is a namespace granted with `--allow-state-ns`.
   */
  export const state: State;

  // ---------------------------------------------------------------- events

  /** An event on the host's bus. */
  export interface Event<P = any> {
    /** Dotted topic, e.g. `summary.done`. */
    topic: string;
    /** The JSON payload. */
    payload: P;
    /** Who published it: `spell:<name>` or `host`. */
    source: string;
    /** When, in milliseconds since the Unix epoch. */
    timestamp_ms: number;
  }

  /**
   * A subscription to topic patterns. It sees events published after it
   * was made, the spell's own included.
   */
  export interface Subscription extends AsyncIterable<Event> {
    /**
     * The next event, or `null` once `timeoutMs` has passed; without a
     * timeout it waits for an event or the run's deadline. **Blocks the
     * whole spell** while it waits (other JavaScript does not run; host
     * operations in flight go on).
     */
    next(timeoutMs?: number): Promise<Event | null>;
    /** Ends the subscription. */
    close(): void;
    /**
     * Events as they arrive, waiting alongside the spell's other
     * operations: `for await (const event of sub)`. The loop does not end
     * by itself; `break` out of it (the subscription stays open).
     */
    [Symbol.asyncIterator](): EventIterator;
  }

  /** An iterator over a subscription's events. */
  export interface EventIterator extends AsyncIterator<Event, undefined> {
    /** The next event, once one arrives (never `done`). */
    next(): Promise<IteratorYieldResult<Event>>;
    /** Stops waiting for events; the subscription stays open. */
    return(): Promise<IteratorReturnResult<undefined>>;
  }

  /** The `events` module. */
  export interface Events {
    /**
     * Publishes `payload` (any JSON value; default `null`) on `topic`.
     * Topics under `spellhost.` are the host's (`invalid`).
     */
    emit(topic: string, payload?: unknown): Promise<void>;
    /**
     * Subscribes to topic patterns (`"a.b"`, `"a.*"`, `"*"`), given as
     * arguments or as lists.
     */
    subscribe(...patterns: Array<string | string[]>): Subscription;
  }

  /** Publish and subscribe to events (`spellhost run --events` prints them). */
  export const events: Events;

  // ----------------------------------------------------------------- tools

  /** The host's built-in tools (docs/workflows.md#tools). */
  export type BuiltinToolName =
    | "calculator"
    | "json_query"
    | "text"
    | "template"
    | "datetime"
    | "hash"
    | "uuid"
    | "read_file"
    | "write_file"
    | "list_dir"
    | "http_fetch"
    | "csv_query"
    | "encode"
    | "memory";

  /**
   * A function that runs a tool: it gets the arguments (decoded JSON) and
   * returns (or resolves to) any JSON value; `undefined` is `null`. What it
   * throws goes back to the model as the tool's error.
   */
  export type ToolHandler<A = any> = (args: A) => unknown;

  /** A tool the spell provides. */
  export interface ToolSpec<A = any> {
    /** 1–64 letters, digits, `_` or `-`; not a built-in's or plugin's name. */
    name: string;
    /** What the tool does, for the model (default `""`). */
    description?: string | undefined;
    /** A JSON Schema of the arguments (default `{ type: "object" }`). */
    parameters?: JsonSchema | undefined;
    /** The function that runs it (sync or async). */
    handler: ToolHandler<A>;
  }

  /** A tool as `Tool.list` shows it. */
  export interface ToolInfo {
    /** The tool's name. */
    name: string;
    /** What it does. */
    description: string;
    /** Its arguments' JSON Schema. */
    parameters: JsonValue;
    /** `builtin`, `spell` (registered by the spell) or `plugin:NAME` (`--tool`). */
    source: "builtin" | "spell" | `plugin:${string}`;
  }

  /** The `Tool` module. */
  export interface ToolApi {
    /**
     * Calls a tool with an arguments object; resolves to its JSON result.
     * Built-in and plugin tools run in the host (arguments checked against
     * the schema, hooks, grants; the spell blocks until it answers). A tool
     * the spell registered is its function, called directly.
     *
     * ```js
     * const { result } = await Tool.call("calculator", { expression: "17 * 3" });
     * ```
     */
    call<R = any>(name: BuiltinToolName | (string & {}), args?: object): Promise<R>;
    /** Every tool available: built-ins, plugins and the spell's own. */
    list(): Promise<ToolInfo[]>;
    /**
     * Registers a function (sync or async) as a tool agents may call;
     * returns its name. Registering a name again replaces it.
     */
    register<A = any>(spec: ToolSpec<A>): string;
  }

  /** Call the host's tools; register the spell's own. */
  export const Tool: ToolApi;

  // ---------------------------------------------------------------- agents

  /** A tool of an agent given as an object: with `handler`, registered as the spell's tool. */
  export interface AgentTool<A = any> {
    /** The tool's name. */
    name: string;
    /** What it does, for the model. */
    description?: string | undefined;
    /** A JSON Schema of its arguments. */
    parameters?: JsonSchema | undefined;
    /**
     * Its function; registered with `Tool.register` unless that name is
     * registered already (with another function: an `invalid` error).
     * Without it, the object only names a tool.
     */
    handler?: ToolHandler<A> | undefined;
  }

  /** A hook point of an agent run. */
  export type HookPoint = "before_llm" | "after_llm" | "before_tool" | "after_tool";

  /** A tool call in a hook payload. */
  export interface HookToolCall {
    /** The call's id. */
    id: string;
    /** The tool's name. */
    name: string;
    /** The arguments as JSON text (not decoded, unlike elsewhere). */
    arguments: string;
  }

  /** A message in a hook payload: content as text, tool call arguments as JSON text. */
  export interface HookMessage {
    /** The author. */
    role: Role;
    /** The text parts, joined. */
    content: string;
    /** An assistant message's tool calls (arguments as JSON text). */
    tool_calls?: HookToolCall[];
    /** A `tool` message: the call it answers. */
    tool_call_id?: string;
  }

  /** The request an agent is about to send. */
  export interface BeforeLlmPayload {
    /** The model asked for, `null` for the run's default (hooks cannot change it). */
    model: string | null;
    /** The conversation. */
    messages: HookMessage[];
    /** The temperature, if set. */
    temperature: number | null;
    /** The token limit, if set. */
    max_tokens: number | null;
    /** The names of the tools offered. */
    tools: string[];
  }

  /** The answer an agent got. */
  export interface AfterLlmPayload {
    /** The answer's text (a hook may change it). */
    text: string;
    /** The tool calls (arguments as JSON text). */
    tool_calls: HookToolCall[];
    /** The model that answered. */
    model: string;
  }

  /** A tool call an agent is about to make. */
  export interface BeforeToolPayload {
    /** The tool. */
    name: string;
    /** Its arguments (a hook may change them). */
    arguments: any;
  }

  /** A tool call an agent made. */
  export interface AfterToolPayload {
    /** The tool. */
    name: string;
    /** Its arguments. */
    arguments: any;
    /** Its result (a hook may change it). */
    output: any;
  }

  /** A hook call before an agent's LLM call. */
  export interface BeforeLlmHook {
    /** Always `"hook"`. */
    type: "hook";
    /** The host's id of this hook call. */
    id: number;
    /** Where the agent is. */
    point: "before_llm";
    /** The request. */
    payload: BeforeLlmPayload;
  }

  /** A hook call after an agent's LLM call. */
  export interface AfterLlmHook {
    /** Always `"hook"`. */
    type: "hook";
    /** The host's id of this hook call. */
    id: number;
    /** Where the agent is. */
    point: "after_llm";
    /** The response. */
    payload: AfterLlmPayload;
  }

  /** A hook call before an agent's tool call. */
  export interface BeforeToolHook {
    /** Always `"hook"`. */
    type: "hook";
    /** The host's id of this hook call. */
    id: number;
    /** Where the agent is. */
    point: "before_tool";
    /** The call. */
    payload: BeforeToolPayload;
  }

  /** A hook call after an agent's tool call. */
  export interface AfterToolHook {
    /** Always `"hook"`. */
    type: "hook";
    /** The host's id of this hook call. */
    id: number;
    /** Where the agent is. */
    point: "after_tool";
    /** The call and its result. */
    payload: AfterToolPayload;
  }

  /** What an agent's `onHook` gets; `point` tells which payload it carries. */
  export type HookCall = BeforeLlmHook | AfterLlmHook | BeforeToolHook | AfterToolHook;

  /**
   * A hook's answer:
   * - `null`, `undefined`, `true` or `"proceed"`: go on;
   * - `{ cancel: reason }` or `false`: stop. At an LLM point the run
   *   rejects with a `cancelled` error; at a tool point the reason goes to
   *   the model as the tool's error and the run goes on;
   * - `{ modify: payload }`: go on with the whole payload replaced by this
   *   one (messages, temperature, max tokens, tool arguments, answer text or
   *   tool output; never the model).
   */
  export type HookDecision =
    | null
    | undefined
    | void
    | boolean
    | "proceed"
    | CancelDecision
    | ModifyDecision;

  /** Stops the call (see {@link HookDecision}). */
  export interface CancelDecision {
    /** Why: the error message, or the tool error the model sees. */
    cancel: string;
  }

  /** Goes on with a changed payload (see {@link HookDecision}). */
  export interface ModifyDecision {
    /** The whole payload, changed (any JSON value). */
    modify: unknown;
  }

  /**
   * Decides at each hook point of an agent's run (sync or async). If it
   * throws, the call is cancelled with the error's message.
   */
  export type HookHandler = (call: HookCall) => HookDecision | Promise<HookDecision>;

  /** How an agent is set up. */
  export interface AgentConfig {
    /** `provider/model` or an alias (default: the run's model). */
    model?: string | undefined;
    /** The system prompt. */
    system?: string | undefined;
    /**
     * Tools it may call: names (`"calculator"`, a plugin's or a registered
     * tool) or objects `{name, description, parameters, handler}`.
     */
    tools?: Array<string | AgentTool> | undefined;
    /** Most model turns (default 8). */
    max_steps?: number | undefined;
    /** Keep the conversation from one run of this agent to the next. */
    memory?: boolean | undefined;
    /** Sampling temperature. */
    temperature?: number | undefined;
    /** Most tokens per model turn. */
    max_tokens?: number | undefined;
    /** A name for its events. */
    name?: string | undefined;
    /** Called at each hook point of its runs (see {@link HookCall}). */
    onHook?: HookHandler | undefined;
  }

  /** A tool call an agent step made and what it gave. */
  export type AgentToolResult =
    | {
        /** The call. */
        call: ToolCall;
        /** How long it took. */
        duration_ms: number;
        /** The tool's result. */
        output: any;
        /** Absent when the call succeeded. */
        error?: undefined;
      }
    | {
        /** The call. */
        call: ToolCall;
        /** How long it took. */
        duration_ms: number;
        /** Why it failed (this text went to the model). */
        error: string;
        /** Absent when the call failed. */
        output?: undefined;
      };

  /** One model turn of an agent run. */
  export interface AgentStep {
    /** The turn's number, from 0. */
    index: number;
    /** What the model said in this turn. */
    text: string;
    /** The tool calls of this turn, run at once. */
    tool_results: AgentToolResult[];
    /** Tokens used by this turn. */
    usage: Usage;
  }

  /** How an agent run ended. */
  export interface AgentResult {
    /** The final answer's text. */
    answer: string;
    /** Every model turn. */
    steps: AgentStep[];
    /** Tokens used by the whole run. */
    usage: Usage;
    /** `answered`, or `max_steps` if it ran out of turns. */
    stop_reason: "answered" | "max_steps";
  }

  /** A message of an agent's conversation (`agent.history()`). */
  export interface HistoryMessage {
    /** The author. */
    role: Role;
    /** The text parts, joined. */
    content: string;
    /** An assistant message's tool calls. */
    tool_calls?: ToolCall[];
    /** A `tool` message: the call it answers. */
    tool_call_id?: string;
  }

  /**
   * An agent: a model with tools whose loop runs in the host
   * (docs/workflows.md#agents). Its tools written in JavaScript run in the
   * spell when the model calls them.
   *
   * ```js
   * const agent = new Agent({ system: "You use tools.", tools: ["calculator"], max_steps: 4 });
   * const { answer } = await agent.run("What is 17 * 23?");
   * ```
   */
  export class Agent {
    #private;
    /** Makes an agent; an unknown config field is an `invalid` error (thrown). */
    constructor(config?: AgentConfig);
    /** Same as `new Agent(config)`. */
    static create(config?: AgentConfig): Agent;
    /** The host's handle of this agent. */
    readonly id: number;
    /** The hook handler given in the config. */
    onHook: HookHandler | undefined;
    /**
     * Runs the agent on `input` (a string; another value is sent as JSON
     * text) to its answer. Several runs at once (`Promise.all`) really run
     * concurrently, up to 32 per spell. Rejects with a {@link SpellError}
     * (the `llm` kinds, `invalid`, `cancelled`).
     */
    run(input?: unknown): Promise<AgentResult>;
    /** Like `run`, resolving to the answer's text only. */
    ask(input?: unknown): Promise<string>;
    /**
     * The conversation so far: kept only with `memory: true` (from one run
     * to the next); without it, empty.
     */
    history(): Promise<HistoryMessage[]>;
    /** Forgets the conversation. */
    reset(): Promise<void>;
    /**
     * Frees the agent in the host now (the garbage collector also frees
     * unreachable agents). A closed agent's `run` rejects with `invalid`.
     */
    close(): void;
  }

  // ------------------------------------------------------------- workflows

  /** A step of a workflow definition (docs/workflows.md#workflows): one kind key and an optional `id`. */
  export type WorkflowStep = {
    /** A name for the step's output in `steps` (not inside a `map`). */
    id?: string;
  } & (
    | {
        /** An LLM call; its output is the answer text. */
        llm: {
          /** A template. */
          prompt: string;
          /** A template. */
          system?: string;
          /** `provider/model` or an alias. */
          model?: string;
          /** Most tokens. */
          max_tokens?: number;
          /** Sampling temperature. */
          temperature?: number;
        };
      }
    | {
        /** A tool call; its output is the tool's JSON result. */
        tool: {
          /** The tool's name (not one the spell registered). */
          name: string;
          /** Its arguments; string values are templates. */
          arguments?: JsonObject;
        };
      }
    | {
        /** An agent run; its output is the answer. */
        agent: {
          /** A template. */
          input: string;
          /** Tool names (built-in or plugin tools). */
          tools?: string[];
          /** A template. */
          system?: string;
          /** `provider/model` or an alias. */
          model?: string;
          /** Most model turns. */
          max_steps?: number;
        };
      }
    | {
        /** Another spell (`.wasm`, `.lua`, `.js`, `.mjs`) under a read grant; its output. */
        spell: {
          /** Its path. */
          path: string;
          /** A template. */
          input?: string;
        };
      }
    | {
        /** Steps one after another; the last output. */
        sequence: WorkflowStep[];
      }
    | {
        /** Steps at once; the list of outputs. */
        parallel: WorkflowStep[];
      }
    | {
        /** A step once per item, at once; the list of outputs. */
        map: {
          /** An expression giving a list. */
          over: string;
          /** The step (without ids); sees `item` and `index`. */
          step: WorkflowStep;
        };
      }
    | {
        /** A branch; its output. */
        if: {
          /** An expression. */
          condition: string;
          /** The step if true. */
          then: WorkflowStep;
          /** The step if false. */
          else?: WorkflowStep;
        };
      }
    | {
        /** A bounded loop; the last output. */
        loop: {
          /** At most this many iterations (≤ 100). */
          max: number;
          /** The step; sees `iteration`. */
          step: WorkflowStep;
          /** An expression that ends the loop when true. */
          until?: string;
        };
      }
  );

  /** What a workflow produced. */
  export interface WorkflowResult<O = any> {
    /** The top step's output. */
    output: O;
    /** The output of every step that has an `id`. */
    steps: {
      /** The step's output. */
      [id: string]: any;
    };
  }

  /** The `workflow` module. */
  export interface Workflow {
    /**
     * Runs a workflow definition (an object or JSON text) on `input` (a
     * string; another value is sent as JSON text). The steps run in the
     * host, concurrently where the definition says so; the spell blocks
     * until it is done. Rejects with `invalid`, `step-failed` or `cancelled`.
     */
    run<O = any>(definition: WorkflowStep | string, input?: unknown): Promise<WorkflowResult<O>>;
  }

  /** JSON workflows run by the host. */
  export const workflow: Workflow;

  // ---------------------------------------------------------------- timers

  /**
   * Calls `fn(...args)` once, after `ms` milliseconds (default 0). The
   * timer waits in the host together with the spell's other operations.
   * The run ends when the spell's entry settles, even if timers are still
   * pending; an exception thrown by `fn` fails the run. Returns a handle
   * for `clearTimeout`.
   */
  export function setTimeout(fn: (...args: any[]) => unknown, ms?: number, ...args: unknown[]): number;

  /**
   * Calls `fn(...args)` every `ms` milliseconds until cleared. Returns a
   * handle for `clearInterval`.
   */
  export function setInterval(fn: (...args: any[]) => unknown, ms?: number, ...args: unknown[]): number;

  /** Cancels a timeout or an interval (an unknown handle does nothing). */
  export function clearTimeout(handle: number | undefined): void;

  /** Cancels an interval or a timeout (the same function as `clearTimeout`). */
  export function clearInterval(handle: number | undefined): void;

  /**
   * Resolves after `ms` milliseconds, waiting alongside the spell's other
   * operations: `await sleep(500)`.
   */
  export function sleep(ms: number): Promise<void>;

  // ------------------------------------------------------------------ fetch

  /** What `fetch` takes besides the URL. */
  export interface RequestInit {
    /** `GET` by default. */
    method?: string;
    headers?: Headers | Record<string, string> | [string, string][];
    /** Text (sent as UTF-8, `text/plain` unless a content type is set) or bytes. */
    body?: string | ArrayBuffer | ArrayBufferView | null;
    /** `follow` (default; each hop is checked against the grants), `manual` or `error`. */
    redirect?: "follow" | "manual" | "error";
  }

  /** HTTP headers: names case-insensitive, repeated values joined by ", ". */
  export class Headers implements Iterable<[string, string]> {
    constructor(init?: Headers | Record<string, string> | Iterable<[string, string]>);
    append(name: string, value: string): void;
    set(name: string, value: string): void;
    delete(name: string): void;
    get(name: string): string | null;
    has(name: string): boolean;
    entries(): IterableIterator<[string, string]>;
    keys(): IterableIterator<string>;
    values(): IterableIterator<string>;
    forEach(fn: (value: string, name: string, headers: Headers) => void, self?: unknown): void;
    [Symbol.iterator](): IterableIterator<[string, string]>;
  }

  /** A response, its body read whole before `fetch` resolves; read it once. */
  export class Response {
    constructor(
      body?: string | ArrayBuffer | ArrayBufferView | null,
      init?: { status?: number; statusText?: string; headers?: Headers | Record<string, string> | [string, string][] },
    );
    readonly status: number;
    readonly statusText: string;
    readonly ok: boolean;
    readonly headers: Headers;
    /** The URL of the last hop. */
    readonly url: string;
    /** Whether a redirect was followed. */
    readonly redirected: boolean;
    readonly bodyUsed: boolean;
    text(): Promise<string>;
    json(): Promise<any>;
    bytes(): Promise<Uint8Array>;
    arrayBuffer(): Promise<ArrayBuffer>;
    clone(): Response;
    static json(data: unknown, init?: { status?: number; headers?: Record<string, string> }): Response;
  }

  /**
   * An HTTP request (WHATWG `fetch`). The host sends it only to hosts
   * granted with `--allow-net`; a refusal rejects with a `SpellError` of
   * kind `"denied"` that names the flag. A 404 or 500 is a response.
   */
  export function fetch(input: string | { url: string } | { href: string }, init?: RequestInit): Promise<Response>;

  // ------------------------------------------------------- console, config

  /**
   * Printing, as in Node: each call writes its arguments joined with
   * spaces (strings as they are, errors as `Name: message`, anything else
   * as JSON) and a newline — `log`, `info` and `debug` on stdout, `warn`,
   * `error` and `trace` on stderr.
   */
  export interface SpellConsole {
    /** Prints a line on stdout. */
    log(...args: unknown[]): void;
    /** Prints a line on stdout. */
    info(...args: unknown[]): void;
    /** Prints a line on stdout. */
    debug(...args: unknown[]): void;
    /** Prints a line on stderr. */
    trace(...args: unknown[]): void;
    /** Prints a line on stderr. */
    warn(...args: unknown[]): void;
    /** Prints a line on stderr. */
    error(...args: unknown[]): void;
  }

  /** Printing on stdout and stderr, as the script writes it. */
  export const console: SpellConsole;

  /**
   * The host's log: each call writes one line, prefixed with the spell's
   * name and filtered by `--log-level` (default `info`); a served run's
   * lines reach its watchers.
   */
  export interface Log {
    trace(...args: unknown[]): void;
    debug(...args: unknown[]): void;
    info(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
  }

  /** Log lines in the host's log. */
  export const log: Log;

  /** The `config` module: the `--var KEY=VALUE` settings. */
  export interface Config {
    /** The value given with `--var key=value`, or `undefined`. */
    get(key: string): string | undefined;
    /** Every `--var` setting. */
    all(): {
      /** The value given for this key. */
      [key: string]: string;
    };
  }

  /** Settings given with `--var KEY=VALUE` (synchronous). */
  export const config: Config;

  // ---------------------------------------------------------------- globals

  // Every export is also a global, so a spell may use the API without
  // importing it.
  global {
    /** Chat, streams, embeddings and the models the spell may use. */
    var llm: import("spellhost").Llm;
    /** Persistent key-value state (`state`, `state.run`, `state.shared(name)`). */
    var state: import("spellhost").State;
    /** Publish and subscribe to events. */
    var events: import("spellhost").Events;
    /** Call the host's tools; register the spell's own. */
    var Tool: import("spellhost").ToolApi;
    /** An agent: a model with tools whose loop runs in the host. */
    var Agent: typeof import("spellhost").Agent;
    /** An agent: a model with tools whose loop runs in the host. */
    type Agent = import("spellhost").Agent;
    /** JSON workflows run by the host. */
    var workflow: import("spellhost").Workflow;
    /** Settings given with `--var KEY=VALUE`. */
    var config: import("spellhost").Config;
    /** The error a failed API call throws or rejects with. */
    var SpellError: typeof import("spellhost").SpellError;
    /** The error a failed API call throws or rejects with. */
    type SpellError = import("spellhost").SpellError;
    /** Calls `fn(...args)` once, after `ms` milliseconds; returns a handle. */
    function setTimeout(fn: (...args: any[]) => unknown, ms?: number, ...args: unknown[]): number;
    /** Calls `fn(...args)` every `ms` milliseconds until cleared; returns a handle. */
    function setInterval(fn: (...args: any[]) => unknown, ms?: number, ...args: unknown[]): number;
    /** Cancels a timeout or an interval. */
    function clearTimeout(handle: number | undefined): void;
    /** Cancels an interval or a timeout. */
    function clearInterval(handle: number | undefined): void;
    /** Resolves after `ms` milliseconds: `await sleep(500)`. */
    function sleep(ms: number): Promise<void>;
    /** An HTTP request to a host granted with `--allow-net` (see `spellhost`'s `fetch`). */
    function fetch(
      input: string | { url: string } | { href: string },
      init?: import("spellhost").RequestInit,
    ): Promise<import("spellhost").Response>;
    /**
     * Printing (merges with the DOM's or Node's `Console` if those types
     * are loaded too; only these six methods exist in a spell).
     */
    interface Console extends SpellConsole {}
    /** Printing on stdout and stderr. */
    var console: Console;
    /** Log lines in the host's log. */
    var log: import("spellhost").Log;
  }
}
