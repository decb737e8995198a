"""spellhost SDK for Python.

Write spells (LLM programs that run as sandboxed WebAssembly components
under ``spellhost run``) in plain Python, built with componentize-py::

    # hello.py
    from spellhost import spell, llm

    @spell
    def run(input: str) -> str:
        return llm.ask(input or "What is WebAssembly?")

Build and run::

    componentize-py -d wit -w spell componentize \\
        -p guest-sdks/python -p . hello -o hello.wasm
    spellhost run hello.wasm --input "What is Python?"

The module mirrors the WIT bridges (and the Rust SDK and the Lua API):

* ``llm``: ``ask``, ``chat``, ``stream``, ``start``/``wait_all``, ``embed``,
  ``models``;
* ``state``: JSON values in the spell's private scope (``state.run`` for the
  run's scratch scope, ``state.shared(name)`` for a shared namespace);
* ``event``: ``emit``, ``subscribe``;
* ``tool``: ``call``, ``start``, ``list``, ``describe``, ``register``;
* ``Agent``: the host's agent loop, with Python functions as tools;
* ``workflow.run``, ``log``, ``config``.

Every failed host call raises :class:`SpellhostError` (``.kind`` is the WIT
error case: ``"rate-limited"``, ``"denied"``, ``"not-found"``...). An
uncaught exception in the spell's ``run`` becomes the run's error message
(with a traceback of the spell's frames); the spell never traps.

Values crossing the bridges (state values, event payloads, tool arguments
and results) are JSON, encoded compactly, so they interoperate with spells
written in Rust, Lua or JavaScript.

Host calls are not possible while componentize-py snapshots the module at
build time, so nothing here touches the host at import: buckets, agents and
tool registrations are made on first use during a run.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json as _json
import sys
import traceback
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import wit_world as _wit_world
from componentize_py_types import Err as _Err
from componentize_py_types import Ok as _Ok
from wit_world.imports import agent as _agent
from wit_world.imports import config as _config
from wit_world.imports import event as _event
from wit_world.imports import hooks as _hooks
from wit_world.imports import llm as _llm
from wit_world.imports import log as _log
from wit_world.imports import poll as _poll
from wit_world.imports import state as _state
from wit_world.imports import tool as _tool
from wit_world.imports import workflow as _workflow

__all__ = [
    "Agent",
    "AgentResult",
    "AgentRun",
    "Bucket",
    "Event",
    "ChatOptions",
    "ModelInfo",
    "Reply",
    "SpellhostError",
    "Step",
    "Subscription",
    "ToolCall",
    "ToolInfo",
    "ToolResult",
    "Usage",
    "config",
    "event",
    "llm",
    "log",
    "spell",
    "state",
    "tool",
    "wait_all",
    "workflow",
]

# Bumped at the start of every run: handles opened in an earlier run
# (buckets, agents, tool registrations) are not reused.
_generation = 0
# True while the spell's `run` is running (host calls are possible).
_in_run = False


# --------------------------------------------------------------------- errors


class SpellhostError(Exception):
    """A host call failed.

    ``kind`` is the WIT error case in kebab case (``"invalid-request"``,
    ``"rate-limited"``, ``"denied"``, ``"not-found"``, ``"storage"``...);
    ``message`` says what happened (for denials, which grant would allow
    it); ``source`` is the bridge (``"llm"``, ``"state"``, ``"tool"``...).
    ``str(err)`` is ``"kind: message"``.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        source: str | None = None,
        retry_after_ms: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.source = source
        #: For ``rate-limited``: how long the provider asked to wait, if it said.
        self.retry_after_ms = retry_after_ms
        #: For ``provider``: the HTTP status, if there was one.
        self.status = status

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def __repr__(self) -> str:
        return f"SpellhostError({self.kind!r}, {self.message!r})"


def _kebab(name: str) -> str:
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i > 0:
            out.append("-")
        out.append(c.lower())
    return "".join(out)


def _from_wit(value: Any) -> SpellhostError:
    """A WIT `error` variant case (`Error_RateLimited(...)`) as a SpellhostError."""
    if isinstance(value, _agent.Error_Llm):
        error = _from_wit(value.value)
        error.source = "agent"
        return error
    cls = type(value)
    source = cls.__module__.rsplit(".", 1)[-1]
    kind = _kebab(cls.__name__.split("_", 1)[1]) if "_" in cls.__name__ else "failed"
    payload = getattr(value, "value", value)
    if isinstance(value, _llm.Error_RateLimited):
        ms = payload.retry_after_ms
        message = payload.message + (f" (retry after {ms} ms)" if ms is not None else "")
        return SpellhostError(kind, message, source=source, retry_after_ms=ms)
    if isinstance(value, _llm.Error_Provider):
        status = payload.status
        message = f"HTTP {status}: {payload.message}" if status is not None else payload.message
        return SpellhostError(kind, message, source=source, status=status)
    return SpellhostError(kind, str(payload), source=source)


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Calls a WIT import, turning a returned `err` into SpellhostError."""
    try:
        return fn(*args)
    except _Err as e:
        raise _from_wit(e.value) from None


# ----------------------------------------------------------------------- JSON


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"a {type(value).__name__} cannot be converted to JSON")


def _dumps(value: Any, what: str = "value") -> str:
    try:
        return _json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default
        )
    except (TypeError, ValueError) as e:
        raise SpellhostError("invalid", f"{what}: {e}") from None


def _loads_or_text(text: str | bytes) -> Any:
    """JSON text as a value; anything that is not JSON as a string."""
    try:
        return _json.loads(text)
    except ValueError:
        return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _drop(resource: Any) -> None:
    """Releases a WIT resource handle now (instead of at garbage collection)."""
    try:
        resource.__exit__(None, None, None)
    except Exception:
        pass


class _Handle:
    """Owns a host resource (``_raw``): ``close()``, or leaving a ``with``
    block, releases it now instead of at garbage collection."""

    _raw: Any = None

    def close(self) -> None:
        """Releases the resource in the host."""
        if self._raw is not None:
            _drop(self._raw)
            self._raw = None

    def __enter__(self) -> typing.Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------------- waiting


class _Waitable:
    """Something running in the host: `_poll_once` collects it if done."""

    _done: bool = False
    _value: Any = None
    _error: BaseException | None = None

    def _try_get(self) -> Any:  # (done, value) or raise
        raise NotImplementedError

    def _pollable(self) -> _poll.Pollable:
        raise NotImplementedError

    def _poll_once(self) -> bool:
        if not self._done:
            try:
                done, value = self._try_get()
            except Exception as e:  # noqa: BLE001 - kept for the caller
                done, value, self._error = True, None, e
            if done:
                self._done, self._value = True, value
        return self._done

    @property
    def done(self) -> bool:
        """True once the result has arrived (checks without waiting)."""
        return self._poll_once()

    def wait(self) -> Any:
        """Waits for the result (raising its error)."""
        return wait_all([self])[0]


def wait_all(pending: Sequence[Any], *, return_exceptions: bool = False) -> list[Any]:
    """Waits for several host operations at once (``llm.start``,
    ``tool.start``, ``Agent.start``), returning their results in order.

    They all run concurrently in the host while this waits. The first error
    is raised once everything has finished, unless ``return_exceptions``, in
    which case errors are returned in place of results.
    """
    items = list(pending)
    while True:
        waiting = [p for p in items if not p._poll_once()]
        if not waiting:
            break
        pollables = [p._pollable() for p in waiting]
        try:
            _poll.poll(pollables)
        finally:
            for p in pollables:
                _drop(p)
    results = []
    for p in items:
        if p._error is not None and not return_exceptions:
            raise p._error
        results.append(p._error if p._error is not None else p._value)
    return results


# ------------------------------------------------------------------------ llm


@dataclass
class Usage:
    """Tokens a request consumed."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def _of(cls, raw: _llm.Usage) -> Usage:
        return cls(raw.input_tokens, raw.output_tokens)


@dataclass
class ToolCall:
    """A call the model asks for: ``arguments`` is decoded from JSON (the raw
    text when it is not JSON)."""

    id: str
    name: str
    arguments: Any

    @classmethod
    def _of(cls, raw: _llm.ToolCall) -> ToolCall:
        return cls(raw.id, raw.name, _loads_or_text(raw.arguments_json) if raw.arguments_json else {})

    def result(self, output: Any) -> dict[str, Any]:
        """The ``tool`` message answering this call (``output`` as JSON,
        strings as they are), to append to a conversation."""
        text = output if isinstance(output, str) else _dumps(output, "tool output")
        return {"role": "tool", "content": text, "tool_call_id": self.id}


_FINISH = {
    _llm.FinishReason.STOP: "stop",
    _llm.FinishReason.LENGTH: "length",
    _llm.FinishReason.TOOL_CALLS: "tool_calls",
    _llm.FinishReason.CONTENT_FILTER: "content_filter",
    _llm.FinishReason.OTHER: "other",
}


@dataclass
class Reply:
    """A complete answer from ``llm.chat``."""

    text: str
    tool_calls: list[ToolCall]
    model: str
    usage: Usage
    #: ``"stop"``, ``"length"``, ``"tool_calls"``, ``"content_filter"`` or ``"other"``.
    finish_reason: str

    @classmethod
    def _of(cls, raw: _llm.ChatResponse) -> Reply:
        return cls(
            text=raw.text,
            tool_calls=[ToolCall._of(c) for c in raw.tool_calls],
            model=raw.model,
            usage=Usage._of(raw.usage),
            finish_reason=_FINISH.get(raw.finish_reason, "other"),
        )

    def json(self) -> Any:
        """The answer's text parsed as JSON (for ``json=True`` / ``schema=``)."""
        try:
            return _json.loads(self.text)
        except ValueError as e:
            raise SpellhostError("invalid", f"the answer is not JSON: {e}") from None

    def message(self) -> dict[str, Any]:
        """This answer as an ``assistant`` message, to continue the conversation."""
        m: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            m["tool_calls"] = [dataclasses.asdict(c) for c in self.tool_calls]
        return m

    def __str__(self) -> str:
        return self.text


@dataclass
class StreamEnd:
    """How a stream ended."""

    finish_reason: str
    usage: Usage
    model: str


@dataclass
class ModelInfo:
    """A model the spell may use."""

    id: str
    aliases: list[str]
    default: bool


_ROLES = {
    "system": _llm.Role.SYSTEM,
    "user": _llm.Role.USER,
    "assistant": _llm.Role.ASSISTANT,
    "tool": _llm.Role.TOOL,
}
_ROLE_NAMES = {v: k for k, v in _ROLES.items()}

Messages = str | Sequence[Any]


class ChatOptions(typing.TypedDict, total=False):
    """The keyword options of ``llm.chat``, ``llm.start`` and ``llm.stream``."""

    #: A user message sent last (after ``messages``).
    prompt: str
    #: A system message sent first.
    system: str
    #: ``provider/model`` or an alias; default: the run's model.
    model: str
    max_tokens: int
    temperature: float
    top_p: float
    #: Stop sequence(s).
    stop: str | Sequence[str]
    seed: int
    #: Tools the model may ask for: dicts ``{name, description, parameters}``,
    #: Python functions, or host tool names. ``chat`` never runs them.
    tools: Sequence[Any]
    #: Ask for a JSON object as the answer.
    json: bool
    #: Ask for JSON matching this JSON Schema.
    schema: dict[str, Any]


def _content(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_llm.ContentPart_Text(content)]
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(_llm.ContentPart_Text(part))
        elif isinstance(part, dict) and "text" in part:
            parts.append(_llm.ContentPart_Text(str(part["text"])))
        elif isinstance(part, dict) and "image_url" in part:
            parts.append(_llm.ContentPart_ImageUrl(str(part["image_url"])))
        else:
            raise SpellhostError("invalid", f"message content: unknown part {part!r}")
    return parts


def _message(m: Any) -> _llm.Message:
    if isinstance(m, _llm.Message):
        return m
    if isinstance(m, Reply):
        m = m.message()
    if not isinstance(m, dict):
        raise SpellhostError("invalid", f"a message is a dict with role and content, not {m!r}")
    role = _ROLES.get(m.get("role", ""))
    if role is None:
        raise SpellhostError("invalid", f"message role must be one of {', '.join(_ROLES)}: {m!r}")
    calls = []
    for c in m.get("tool_calls") or []:
        if isinstance(c, ToolCall):
            c = dataclasses.asdict(c)
        args = c.get("arguments", {})
        calls.append(
            _llm.ToolCall(
                str(c.get("id", "")),
                str(c["name"]),
                args if isinstance(args, str) else _dumps(args, "tool call arguments"),
            )
        )
    return _llm.Message(role, _content(m.get("content")), calls, m.get("tool_call_id"))


def _tool_definition(t: Any) -> _llm.ToolDefinition:
    if isinstance(t, _llm.ToolDefinition):
        return t
    if isinstance(t, str):
        info = tool.describe(t)
        if info is None:
            raise SpellhostError("not-found", f"no tool `{t}`", source="tool")
        return _llm.ToolDefinition(info.name, info.description, _dumps(info.parameters))
    if isinstance(t, dict):
        return _llm.ToolDefinition(
            str(t["name"]),
            str(t.get("description", "")),
            _dumps(t.get("parameters") or {"type": "object"}, "tool parameters"),
        )
    spec = _tool_spec(t)
    return _llm.ToolDefinition(spec.name, spec.description, _dumps(spec.parameters))


def _request(
    messages: Messages | None,
    *,
    prompt: str | None = None,
    system: str | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: str | Sequence[str] | None = None,
    seed: int | None = None,
    tools: Sequence[Any] | None = None,
    json: bool = False,
    schema: dict[str, Any] | None = None,
) -> _llm.ChatRequest:
    msgs: list[_llm.Message] = []
    if system is not None:
        msgs.append(_llm.Message(_llm.Role.SYSTEM, _content(system), [], None))
    if isinstance(messages, str):
        msgs.append(_llm.Message(_llm.Role.USER, _content(messages), [], None))
    elif messages is not None:
        msgs.extend(_message(m) for m in messages)
    if prompt is not None:
        msgs.append(_llm.Message(_llm.Role.USER, _content(prompt), [], None))
    if schema is not None:
        fmt: Any = _llm.ResponseFormat_JsonSchema(_dumps(schema, "schema"))
    elif json:
        fmt = _llm.ResponseFormat_Json()
    else:
        fmt = None
    options = _llm.Options(
        model=model,
        temperature=None if temperature is None else float(temperature),
        top_p=None if top_p is None else float(top_p),
        max_tokens=max_tokens,
        stop=[stop] if isinstance(stop, str) else list(stop or []),
        response_format=fmt,
        tools=[_tool_definition(t) for t in tools or []],
        seed=seed,
    )
    return _llm.ChatRequest(msgs, options)


class PendingChat(_Waitable):
    """A chat request in flight (``llm.start``); ``wait()`` returns its Reply."""

    def __init__(self, raw: _llm.PendingChat) -> None:
        self._raw = raw

    def _try_get(self) -> Any:
        result = self._raw.get()
        if result is None:
            return False, None
        if isinstance(result, _Err):
            raise _from_wit(result.value)
        return True, Reply._of(result.value)

    def _pollable(self) -> _poll.Pollable:
        return self._raw.subscribe()

    def wait(self) -> Reply:
        """Waits for the answer."""
        return wait_all([self])[0]


class Stream(_Handle):
    """A streamed answer: iterate for the pieces of text as they arrive.

    After the loop ``finish`` holds how it ended (finish reason, usage,
    model), ``tool_calls`` the calls the model made and ``text`` the whole
    answer. Leaving early and calling ``close()`` (or using ``with``)
    cancels the request.
    """

    def __init__(self, raw: _llm.ChatStream) -> None:
        self._raw: _llm.ChatStream | None = raw
        self.finish: StreamEnd | None = None
        self.tool_calls: list[ToolCall] = []
        self._text: list[str] = []

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._text)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while self._raw is not None:
            ev = _call(self._raw.next)
            if ev is None:
                self.close()
                break
            if isinstance(ev, _llm.StreamEvent_Text):
                self._text.append(ev.value)
                return ev.value
            if isinstance(ev, _llm.StreamEvent_ToolCall):
                self.tool_calls.append(ToolCall._of(ev.value))
            elif isinstance(ev, _llm.StreamEvent_Finish):
                end = ev.value
                self.finish = StreamEnd(_FINISH.get(end.finish_reason, "other"), Usage._of(end.usage), end.model)
        raise StopIteration


class _Llm:
    """Chat with models, concurrently or streamed; embeddings; model listing.

    ``messages`` is a prompt string or a list of messages, each a dict
    ``{"role": "system"|"user"|"assistant"|"tool", "content": str | parts,
    "tool_calls"?: [...], "tool_call_id"?: str}`` (a ``Reply`` counts as its
    assistant message). The keyword options are :class:`ChatOptions`:
    ``prompt``, ``system``, ``model``, ``max_tokens``, ``temperature``,
    ``top_p``, ``stop``, ``seed``, ``tools``, ``json``, ``schema``.
    """

    def ask(
        self,
        prompt: str,
        *,
        model: str | None = None,
        system: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> str:
        """Asks one question and returns the answer's text."""
        return self.chat(
            prompt, model=model, system=system, max_tokens=max_tokens, temperature=temperature
        ).text

    def chat(self, messages: Messages | None = None, /, **options: typing.Unpack[ChatOptions]) -> Reply:
        """Sends a chat request and waits for the whole answer."""
        return Reply._of(_call(_llm.chat, _request(messages, **options)))

    def start(self, messages: Messages | None = None, /, **options: typing.Unpack[ChatOptions]) -> PendingChat:
        """Starts a chat request and returns at once; ``wait()`` on it, or
        ``llm.wait_all([...])`` on several (they run concurrently)."""
        return PendingChat(_llm.start_chat(_request(messages, **options)))

    def wait_all(self, pending: Sequence[PendingChat], *, return_exceptions: bool = False) -> list[Reply]:
        """Waits for several started requests; Replies in the same order."""
        return wait_all(pending, return_exceptions=return_exceptions)

    def stream(self, messages: Messages | None = None, /, **options: typing.Unpack[ChatOptions]) -> Stream:
        """Starts a streamed answer: ``for piece in llm.stream(...)``."""
        return Stream(_call(_llm.stream_chat, _request(messages, **options)))

    def embed(self, texts: str | Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """One embedding vector per text (a single string counts as one text)."""
        inputs = [texts] if isinstance(texts, str) else list(texts)
        return [list(v) for v in _call(_llm.embed, _llm.EmbedRequest(model, inputs)).vectors]

    def models(self) -> list[ModelInfo]:
        """The models this spell may use."""
        return [ModelInfo(m.id, list(m.aliases), m.is_default) for m in _call(_llm.list_models)]


llm = _Llm()


# ---------------------------------------------------------------------- state


def _encode(value: Any) -> bytes:
    return _dumps(value, "state value").encode()


class Bucket:
    """An open state scope holding JSON values (``bytes`` methods for raw
    values). Also a mapping: ``b[key]``, ``b[key] = v``, ``del b[key]``,
    ``key in b``."""

    def __init__(self, scope: Any) -> None:
        self._scope = scope
        self._raw: _state.Bucket | None = None
        self._gen = -1

    def _b(self) -> _state.Bucket:
        if self._raw is None or self._gen != _generation:
            self._raw = _call(_state.open, self._scope)
            self._gen = _generation
        return self._raw

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it is absent. Values that
        are not JSON (raw bytes another spell stored) come back as strings."""
        data = _call(self._b().get, key)
        return default if data is None else _loads_or_text(data)

    def set(self, key: str, value: Any) -> None:
        """Sets ``key`` to ``value`` (any JSON-able value); ``None`` deletes it."""
        if value is None:
            self.delete(key)
        else:
            _call(self._b().set, key, _encode(value))

    def delete(self, key: str) -> None:
        """Removes ``key`` (an absent key is fine)."""
        _call(self._b().delete, key)

    def exists(self, key: str) -> bool:
        """True when ``key`` holds a value."""
        return bool(_call(self._b().exists, key))

    def keys(self, prefix: str = "") -> list[str]:
        """The keys starting with ``prefix``, sorted."""
        return list(_call(self._b().list_keys, prefix))

    def update(self, key: str, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically sets ``key`` to ``fn(old)`` and returns the new value.

        ``old`` is the current value, or ``default`` when absent. Another
        writer getting in between makes ``fn`` run again on its value
        (compare-and-swap; at most 100 tries, then a ``storage`` error).
        """
        b = self._b()
        for _ in range(100):
            current = _call(b.get, key)
            new = fn(default if current is None else _loads_or_text(current))
            if new is None:
                raise SpellhostError(
                    "invalid", f"state.update({key!r}): the function returned None (use delete)", source="state"
                )
            if _call(b.compare_and_swap, key, current, _encode(new)):
                return new
        raise SpellhostError("storage", f"state.update({key!r}): gave up after 100 conflicting writes", source="state")

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        """Sets ``key`` to ``new`` if it holds ``expected`` as this SDK encodes
        it (``None`` = absent); True if it did."""
        exp = None if expected is None else _encode(expected)
        return bool(_call(self._b().compare_and_swap, key, exp, _encode(new)))

    def get_bytes(self, key: str) -> bytes | None:
        """The raw stored bytes of ``key``, or None."""
        data = _call(self._b().get, key)
        return None if data is None else bytes(data)

    def set_bytes(self, key: str, data: bytes) -> None:
        """Stores raw bytes (other SDKs read non-JSON values as strings)."""
        _call(self._b().set, key, bytes(data))

    def compare_and_swap(self, key: str, expected: bytes | None, new: bytes) -> bool:
        """Raw compare-and-swap on bytes."""
        return bool(_call(self._b().compare_and_swap, key, expected, bytes(new)))

    def __getitem__(self, key: str) -> Any:
        data = _call(self._b().get, key)
        if data is None:
            raise KeyError(key)
        return _loads_or_text(data)

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.exists(key)


class _SpellState(Bucket):
    """The spell's private scope, kept across runs. ``state.run`` is this
    run's scratch scope; ``state.shared(name)`` a shared namespace (needs
    ``--allow-state-ns name``)."""

    def __init__(self) -> None:
        super().__init__(_state.Scope_Spell())
        #: Scratch space for this run only.
        self.run = Bucket(_state.Scope_Run())
        self._shared: dict[str, Bucket] = {}

    def shared(self, name: str) -> Bucket:
        """The shared namespace ``name``."""
        if name not in self._shared:
            self._shared[name] = Bucket(_state.Scope_Shared(name))
        return self._shared[name]


state = _SpellState()


# ---------------------------------------------------------------------- event


class Event(dict):
    """An event: a dict with ``topic``, ``payload`` (decoded JSON),
    ``source`` (``host`` or ``spell:<name>``) and ``timestamp_ms``; the keys
    are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def _of(cls, raw: _event.Event) -> Event:
        return cls(
            topic=raw.topic,
            payload=_loads_or_text(raw.payload_json),
            source=raw.source,
            timestamp_ms=raw.timestamp_ms,
        )


class Subscription(_Handle):
    """Events matching a subscription's patterns, buffered in the host."""

    def __init__(self, raw: _event.Subscription) -> None:
        self._raw = raw

    def next(self, timeout_ms: int | None = None) -> Event | None:
        """Waits for the next event, at most ``timeout_ms`` (None: until the
        run's deadline); None on timeout."""
        ev = self._raw.next(timeout_ms)
        return None if ev is None else Event._of(ev)

    def try_next(self) -> Event | None:
        """The next buffered event without waiting, or None."""
        ev = self._raw.try_next()
        return None if ev is None else Event._of(ev)

    def lagged(self) -> int:
        """Events dropped because this subscriber fell behind."""
        return self._raw.lagged()


class _Events:
    """Publish and subscribe to events."""

    def emit(self, topic: str, payload: Any = None) -> None:
        """Publishes ``payload`` (any JSON-able value) on ``topic``."""
        _call(_event.emit, topic, _dumps(payload, "event payload"))

    def subscribe(self, *patterns: str | Iterable[str]) -> Subscription:
        """Subscribes to topic patterns (``"a.b"``, ``"a.*"``, ``"*"``), given
        as arguments or as one list. Sees events published after the call."""
        flat: list[str] = []
        for p in patterns:
            flat.extend([p] if isinstance(p, str) else p)
        return Subscription(_call(_event.subscribe, flat))


event = _Events()


# ------------------------------------------------------------------ log, config


class _Log:
    """Log lines to the host (stderr, filtered by ``--log-level``). Arguments
    are joined with spaces, like ``print``."""

    @staticmethod
    def _log(level: _log.Level, args: tuple[Any, ...]) -> None:
        _log.log(level, " ".join(str(a) for a in args))

    def trace(self, *args: Any) -> None:
        self._log(_log.Level.TRACE, args)

    def debug(self, *args: Any) -> None:
        self._log(_log.Level.DEBUG, args)

    def info(self, *args: Any) -> None:
        self._log(_log.Level.INFO, args)

    def warn(self, *args: Any) -> None:
        self._log(_log.Level.WARN, args)

    warning = warn

    def error(self, *args: Any) -> None:
        self._log(_log.Level.ERROR, args)


log = _Log()


class _Config:
    """Settings passed with ``spellhost run --var key=value`` (strings)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` if the user did not set it."""
        value = _config.get(key)
        return default if value is None else value

    def all(self) -> dict[str, str]:
        """Every setting, sorted by key."""
        return dict(_config.get_all())


config = _Config()


# ----------------------------------------------------------------------- tool


@dataclass
class ToolInfo:
    """A tool as a model sees it, and where it comes from (``builtin``,
    ``plugin:<name>``, ``spell``)."""

    name: str
    description: str
    parameters: dict[str, Any]
    source: str | None = None

    @classmethod
    def _of(cls, raw: _tool.ToolInfo, source: str | None = None) -> ToolInfo:
        return cls(raw.name, raw.description, _loads_or_text(raw.parameters_schema), source)


@dataclass
class _ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[..., Any]
    registered: int = -1  # the generation it was registered with the host in


_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    set: "array",
    dict: "object",
}


def _schema_of(hint: Any) -> tuple[dict[str, Any], bool]:
    """A JSON Schema for a type hint, and whether the hint allows None."""
    description = None
    if typing.get_origin(hint) is typing.Annotated:
        hint, *meta = typing.get_args(hint)
        description = next((m for m in meta if isinstance(m, str)), None)
    optional = False
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # type: ignore[index]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    schema: dict[str, Any] = {}
    if origin is typing.Literal:
        schema["enum"] = list(args)
    elif hint in _JSON_TYPES:
        schema["type"] = _JSON_TYPES[hint]
    elif origin in (list, tuple, set, Sequence, Iterable):
        schema["type"] = "array"
        if args and args[0] is not Ellipsis:
            schema["items"] = _schema_of(args[0])[0]
    elif origin is dict:
        schema["type"] = "object"
    if description:
        schema["description"] = description
    return schema, optional


def _tool_spec(fn: Any, name: str | None = None, description: str | None = None,
               parameters: dict[str, Any] | None = None) -> _ToolSpec:
    """The tool a function stands for (registered or inferred from its
    signature, type hints and docstring)."""
    spec = getattr(fn, "__spellhost_tool__", None)
    if spec is not None and name is None and description is None and parameters is None:
        return spec
    if not callable(fn):
        raise SpellhostError("invalid", f"a tool is a name, a dict or a function, not {fn!r}")
    if parameters is None:
        props: dict[str, Any] = {}
        required: list[str] = []
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception:
            hints = {}
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            schema, optional = _schema_of(hints.get(p.name, Any))
            props[p.name] = schema
            if p.default is p.empty and not optional:
                required.append(p.name)
        parameters = {"type": "object", "properties": props, "required": required}
    doc = inspect.getdoc(fn) or ""
    return _ToolSpec(
        name=name or fn.__name__,
        description=description or doc.split("\n\n", 1)[0].replace("\n", " ") or fn.__name__,
        parameters=parameters,
        handler=fn,
    )


_tools: dict[str, _ToolSpec] = {}


def _ensure_registered(spec: _ToolSpec) -> None:
    """Tells the host of a spell tool (once per run; registering a name
    again replaces it)."""
    if spec.registered != _generation:
        info = _tool.ToolInfo(spec.name, spec.description, _dumps(spec.parameters, "tool parameters"))
        _call(_tool.register, info)
        spec.registered = _generation


def _register(fn: Callable[..., Any], name: str | None = None, description: str | None = None,
              parameters: dict[str, Any] | None = None) -> _ToolSpec:
    spec = _tool_spec(fn, name, description, parameters)
    if _in_run:
        _ensure_registered(spec)  # errors (a bad name or schema) surface here
    _tools[spec.name] = spec
    try:
        fn.__spellhost_tool__ = spec  # type: ignore[attr-defined]
    except AttributeError:  # bound methods, builtins
        pass
    return spec


def _flush_tools() -> None:
    for spec in list(_tools.values()):
        _ensure_registered(spec)


def _dispatch(name: str, arguments_json: str) -> Any:
    """Runs the spell's own tool for an agent: an `ok` JSON text or an `err`."""
    spec = _tools.get(name)
    if spec is None:
        return _Err(f"the spell has no tool `{name}`")
    try:
        args = _json.loads(arguments_json) if arguments_json.strip() else {}
    except ValueError as e:
        return _Err(f"arguments are not JSON: {e}")
    try:
        result = spec.handler(**args) if isinstance(args, dict) else spec.handler(args)
        return _Ok(_dumps(result, f"tool `{name}` result"))
    except SpellhostError as e:
        return _Err(str(e))
    except Exception as e:  # noqa: BLE001 - the model sees the error
        return _Err(f"{type(e).__name__}: {e}")


class PendingCall(_Waitable):
    """A host tool call in flight (``tool.start``); ``wait()`` returns its result."""

    def __init__(self, raw: _tool.PendingCall | None, local: Any = None) -> None:
        self._raw = raw
        if raw is None:
            self._done, self._value = True, local

    def _try_get(self) -> Any:
        result = self._raw.get()
        if result is None:
            return False, None
        if isinstance(result, _Err):
            raise _from_wit(result.value)
        return True, _loads_or_text(result.value)

    def _pollable(self) -> _poll.Pollable:
        return self._raw.subscribe()


def _args(args: dict[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    merged = dict(args or {})
    merged.update(kwargs)
    return merged


class _Tools:
    """Call the host's tools (built-ins, plugins) and offer the spell's own
    Python functions as tools to its agents."""

    def call(self, name: str, args: dict[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """Calls tool ``name`` with arguments (a dict and/or keywords) and
        returns its JSON result decoded. A tool the spell registered is its
        Python function, called directly."""
        arguments = _args(args, kwargs)
        if name in _tools:
            return _tools[name].handler(**arguments)
        return _loads_or_text(_call(_tool.call, name, _dumps(arguments, "tool arguments")))

    def start(self, name: str, args: dict[str, Any] | None = None, /, **kwargs: Any) -> PendingCall:
        """Starts a host tool call without waiting; ``wait()`` on it or
        ``wait_all`` on several (they run concurrently in the host)."""
        arguments = _args(args, kwargs)
        if name in _tools:
            return PendingCall(None, _tools[name].handler(**arguments))
        return PendingCall(_tool.start_call(name, _dumps(arguments, "tool arguments")))

    def list(self) -> list[ToolInfo]:
        """Every tool available to the spell, with its source."""
        _flush_tools()
        return [ToolInfo._of(info, source) for info, source in _tool.list_tools()]

    def describe(self, name: str) -> ToolInfo | None:
        """One tool's description, or None."""
        if name in _tools:
            s = _tools[name]
            return ToolInfo(s.name, s.description, s.parameters, "spell")
        info = _tool.describe(name)
        return None if info is None else ToolInfo._of(info)

    def register(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> Any:
        """Makes a Python function a tool the spell's agents may call.

        Use as ``@tool.register`` or ``@tool.register(name=..., description=...)``,
        or call ``tool.register(fn)``. By default the name is the function's,
        the description the first paragraph of its docstring, and the
        parameters are inferred from its signature and type hints
        (``Annotated[int, "what it is"]`` adds a description). The model's
        arguments are passed as keywords; the return value (any JSON-able
        value) goes back to the model, and so does an exception's message.
        Registering a name again replaces the tool. Returns ``fn`` unchanged.
        Registered at import time (as a decorator), the host learns of it
        when the run first needs it (``Agent``, ``tool.list``, ``workflow``).
        """

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            _register(f, name, description, parameters)
            return f

        return register if fn is None else register(fn)


tool = _Tools()


# ---------------------------------------------------------------------- agent


@dataclass
class ToolResult:
    """One tool call an agent's model made and what came back: ``output``
    (decoded JSON) or ``error`` (the message fed back to the model)."""

    id: str
    name: str
    arguments: Any
    output: Any = None
    error: str | None = None
    duration_ms: int = 0


@dataclass
class Step:
    """One model turn of an agent run."""

    index: int
    text: str
    tool_results: list[ToolResult]
    usage: Usage


@dataclass
class AgentResult:
    """The outcome of an agent run; ``stop_reason`` is ``"answered"`` or
    ``"max_steps"``."""

    answer: str
    steps: list[Step] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = "answered"

    @classmethod
    def _of(cls, raw: _agent.AgentResult) -> AgentResult:
        steps = []
        for s in raw.steps:
            results = []
            for r in s.tool_results:
                call = ToolCall._of(r.call)
                ok = isinstance(r.output, _Ok)
                results.append(
                    ToolResult(
                        call.id,
                        call.name,
                        call.arguments,
                        output=_loads_or_text(r.output.value) if ok else None,
                        error=None if ok else str(r.output.value),
                        duration_ms=r.duration_ms,
                    )
                )
            steps.append(Step(s.index, s.text, results, Usage._of(s.usage)))
        stop = "max_steps" if raw.stop_reason == _agent.StopReason.MAX_STEPS else "answered"
        return cls(raw.answer, steps, Usage._of(raw.usage), stop)

    def __str__(self) -> str:
        return self.answer


_HOOK_POINTS = {
    _hooks.HookPoint.BEFORE_LLM: "before_llm",
    _hooks.HookPoint.AFTER_LLM: "after_llm",
    _hooks.HookPoint.BEFORE_TOOL: "before_tool",
    _hooks.HookPoint.AFTER_TOOL: "after_tool",
}


def _decision(answer: Any) -> Any:
    """A hook's answer (None/True/"proceed", {"modify": p}, False/{"cancel": r})."""
    if answer is None or answer is True or answer == "proceed":
        return _hooks.Decision_Proceed()
    if answer is False:
        return _hooks.Decision_Cancel("cancelled by the spell")
    if isinstance(answer, dict) and "modify" in answer:
        return _hooks.Decision_Modify(_dumps(answer["modify"], "hook payload"))
    if isinstance(answer, dict) and "cancel" in answer:
        return _hooks.Decision_Cancel(str(answer["cancel"]))
    raise SpellhostError("invalid", f"a hook returns None, True, False, {{'modify': ...}} or {{'cancel': ...}}, not {answer!r}")


class AgentRun(_Waitable):
    """An agent run in flight (``Agent.start``). While waiting, the SDK runs
    the spell's Python tools the model calls and answers hooks."""

    def __init__(self, agent: Agent, raw: _agent.AgentRun) -> None:
        self._agent = agent
        self._raw = raw

    def _try_get(self) -> Any:
        while True:
            ev = self._raw.next()
            if ev is None:
                return False, None
            if isinstance(ev, _agent.AgentEvent_CallTool):
                call = ev.value
                self._raw.reply_tool(call.id, _dispatch(call.name, call.arguments_json))
            elif isinstance(ev, _agent.AgentEvent_Hook):
                h = ev.value
                hook = self._agent._on_hook
                try:
                    answer = hook(
                        {"type": "hook", "id": h.id, "point": _HOOK_POINTS.get(h.point, str(h.point)),
                         "payload": _loads_or_text(h.payload_json)}
                    ) if hook else None
                    decision = _decision(answer)
                except Exception as e:  # noqa: BLE001 - a failing hook cancels the call
                    decision = _hooks.Decision_Cancel(f"the spell's hook failed: {type(e).__name__}: {e}")
                self._raw.decide(h.id, decision)
            elif isinstance(ev, _agent.AgentEvent_Done):
                _drop(self._raw)
                result = ev.value
                if isinstance(result, _Err):
                    raise _from_wit(result.value)
                res = AgentResult._of(result.value)
                self._agent.last_result = res
                return True, res

    def _pollable(self) -> _poll.Pollable:
        return self._raw.subscribe()

    def wait(self) -> AgentResult:
        """Waits for the run's result (answer, steps, usage, stop reason)."""
        return wait_all([self])[0]


class Agent(_Handle):
    """A model with tools, run by the host's agent loop.

    ``tools`` lists host tool names (``"calculator"``), Python functions
    (registered with ``tool.register`` as needed), or dicts ``{name,
    description, parameters, handler}``. ``on_hook(call)`` (optional) sees
    every LLM and tool call of its runs (``call`` is ``{type, id, point,
    payload}``) and returns None to proceed, ``{"modify": payload}`` or
    ``{"cancel": reason}``.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        system: str | None = None,
        tools: Sequence[Any] = (),
        max_steps: int | None = 8,
        memory: bool = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
        name: str | None = None,
        on_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        names: list[str] = []
        for t in tools:
            if isinstance(t, str):
                names.append(t)
            elif isinstance(t, dict) and "handler" not in t:
                names.append(str(t["name"]))
            elif isinstance(t, dict):
                spec = _register(t["handler"], t.get("name"), t.get("description"), t.get("parameters"))
                names.append(spec.name)
            else:
                spec = getattr(t, "__spellhost_tool__", None)
                if spec is None or _tools.get(spec.name) is not spec:
                    spec = _register(t)
                names.append(spec.name)
        self._names = names
        self._config = _agent.AgentConfig(
            model=model,
            system=system,
            tools=names,
            max_steps=max_steps,
            memory=memory,
            temperature=None if temperature is None else float(temperature),
            max_tokens=max_tokens,
            name=name,
            hooks=on_hook is not None,
        )
        self._on_hook = on_hook
        self._raw: _agent.Agent | None = None
        self._gen = -1
        #: The result of the last run that finished.
        self.last_result: AgentResult | None = None

    def _handle(self) -> _agent.Agent:
        for n in self._names:
            if n in _tools:
                _ensure_registered(_tools[n])
        if self._raw is None or self._gen != _generation:
            self._raw = _agent.Agent(self._config)
            self._gen = _generation
        return self._raw

    def run(self, input: str) -> str:
        """Runs the agent on ``input`` and returns its answer
        (``last_result`` has the steps and usage)."""
        return self.start(input).wait().answer

    def start(self, input: str) -> AgentRun:
        """Starts a run; ``wait()`` on it for the AgentResult, or
        ``wait_all`` on several runs at once."""
        return AgentRun(self, self._handle().start(input))

    def history(self) -> list[dict[str, Any]]:
        """The conversation so far (with ``memory=True``), as message dicts."""
        out = []
        for m in self._handle().history():
            d: dict[str, Any] = {
                "role": _ROLE_NAMES.get(m.role, "user"),
                "content": "".join(p.value for p in m.content if isinstance(p, _llm.ContentPart_Text)),
            }
            if m.tool_calls:
                d["tool_calls"] = [dataclasses.asdict(ToolCall._of(c)) for c in m.tool_calls]
            if m.tool_call_id is not None:
                d["tool_call_id"] = m.tool_call_id
            out.append(d)
        return out

    def reset(self) -> None:
        """Forgets the conversation."""
        if self._raw is not None and self._gen == _generation:
            self._raw.reset()


# ------------------------------------------------------------------- workflow


class _Workflow:
    """Workflows described as JSON (docs/workflows.md), run in the host."""

    def run(self, definition: dict[str, Any] | str, input: Any = "") -> dict[str, Any]:
        """Runs ``definition`` (a dict or JSON text) on ``input`` (a string;
        anything else is passed as JSON). Returns ``{"output", "steps"}``."""
        _flush_tools()
        text = definition if isinstance(definition, str) else _dumps(definition, "workflow")
        arg = input if isinstance(input, str) else _dumps(input, "workflow input")
        return _loads_or_text(_call(_workflow.run, text, arg))


workflow = _Workflow()


# ---------------------------------------------------------------------- spell


def _output(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return _dumps(value, "the spell's output")


def _failure(e: BaseException) -> str:
    """The run's error message: the error, then the spell's own frames."""
    head = str(e) if isinstance(e, SpellhostError) else "".join(
        traceback.format_exception_only(type(e), e)
    ).strip()
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__]
    if not frames:
        return head
    tb = "".join(traceback.format_list(frames)).rstrip()
    return f"{head}\nTraceback (most recent call last):\n{tb}"


def _run_spell(fn: Callable[..., Any], takes_input: bool, input: str) -> str:
    global _generation, _in_run
    _generation += 1
    _in_run = True
    try:
        return _output(fn(input) if takes_input else fn())
    except BaseException as e:  # noqa: BLE001 - never trap: the error is the run's
        raise _Err(_failure(e)) from None
    finally:
        _in_run = False


def spell(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Exports ``fn`` as the spell's ``run``.

    ``fn(input: str)`` (or ``fn()``) returns the output: a string as it is,
    None as "", anything else as compact JSON. Any exception fails the run
    with its message (and a traceback of the spell's frames).

    componentize-py imports the app module named on its command line and
    exports that module's ``WitWorld`` class; this defines it in ``fn``'s
    module (so the module with ``@spell`` must be the app module) and
    returns ``fn`` unchanged, callable as before.
    """
    try:
        takes_input = bool(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        takes_input = True

    class WitWorld(_wit_world.WitWorld):
        def run(self, input: str) -> str:
            return _run_spell(fn, takes_input, input)

    WitWorld.__module__ = fn.__module__
    WitWorld.__doc__ = inspect.getdoc(fn)
    module = sys.modules.get(fn.__module__)
    if module is not None:
        module.WitWorld = WitWorld  # type: ignore[attr-defined]
    return fn
