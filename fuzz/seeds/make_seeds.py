#!/usr/bin/env python3
"""Writes the hand-made seeds of every fuzz target into fuzz/corpus/<target>/.

Run once to start a corpus; `just fuzz` grows it and `cargo fuzz cmin`
keeps it small. Each seed is named by the hash of its bytes, as libFuzzer
names what it keeps.
"""
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


# manifest: every manifest in the tree, and the shapes the docs show.
for path in ROOT.glob("**/*.spell.toml"):
    if "target" not in path.parts:
        put("manifest", path.read_text())
put("manifest", '[spell]\nname = "x"\nversion = "1.0.0"\n\n[requests]\nnet = ["api.example.com:443", "*.example.org", "127.0.0.1:8080"]\nread = ["data"]\nwrite = ["out"]\nmodels = ["openai/*"]\nstate_namespaces = ["shared"]\nenv = ["HOME"]\n\n[limits]\nfuel = 1000000\nmemory = "64MiB"\ntimeout = "30s"\nmax_output = "1MiB"\nmax_llm_tokens = 5000\nmax_llm_cost = 0.5\nmax_handles = 100\nstate_quota = "1MiB"\nstate_keys = 10\n')
put("manifest", '[spell]\nname = "t"\nversion = "0.1.0"\nkind = "tool"\n[limits]\nmemory = "1.5GB"\ntimeout = "1h 2m"\n')

# net_policy: grant, "host port", addresses.
for grant, host, addrs in [
    ("api.example.com", "api.example.com 443", ["93.184.216.34", "10.0.0.1"]),
    ("*.example.org:443", "a.b.example.org 443", ["2606:2800:220:1::1", "::ffff:127.0.0.1"]),
    ("localhost:8080", "localhost 8080", ["127.0.0.1", "::1"]),
    ("127.0.0.1:11434", "127.0.0.1 11434", ["127.0.0.1"]),
    ("[::1]:9000", "[::1] 9000", ["::1"]),
    ("*", "example.com 80", ["169.254.169.254", "100.64.0.1", "8.8.8.8"]),
    ("EXAMPLE.com.", "example.COM. 443", ["192.168.1.1"]),
]:
    put("net_policy", "\n".join([grant, host] + addrs) + "\n")

# SSE bodies as the providers send them.
OPENAI_STREAM = (
    'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt","choices":[{"index":0,"delta":{"content":"lo é"},"finish_reason":null}]}\n\n'
    'data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"calc","arguments":"{\\"a\\""}}]},"finish_reason":null}]}\n\n'
    'data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}\n\n'
    'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}\n\n'
    "data: [DONE]\n\n"
)
ANTHROPIC_STREAM = (
    'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":"claude","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}\n\n'
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    ': ping\n\n'
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"calc","input":{}}}\n\n'
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\": 1}"}}\n\n'
    'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n'
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":7}}\n\n'
    'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
ANTHROPIC_ERROR = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
GEMINI_STREAM = (
    'data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"modelVersion":"gemini"}\r\n\r\n'
    'data: {"candidates":[{"content":{"parts":[{"text":"lo"},{"functionCall":{"name":"calc","args":{"a":1}}}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2}}\r\n\r\n'
)
for body in [OPENAI_STREAM, ANTHROPIC_STREAM, ANTHROPIC_ERROR, GEMINI_STREAM,
             "data: a\ndata: b\r\n\rid: 1\nretry: 5\n\n:comment\ndata\n\n", b"data:\xff\xfe\n\n"]:
    raw = body.encode() if isinstance(body, str) else body
    put("sse", bytes([3]) + raw)
for selector, body in [(0, OPENAI_STREAM), (1, ANTHROPIC_STREAM), (1, ANTHROPIC_ERROR), (2, GEMINI_STREAM),
                       (0, 'data: {"error":{"message":"rate limited","type":"rate_limit"}}\n\n'),
                       (0, 'data: {"choices":[{"delta":{"content":"cut"}}]}\n\n')]:
    put("provider_stream", bytes([selector]) + body.encode())

# Non-streamed answers.
for selector, body in [
    (0, {"id": "c1", "object": "chat.completion", "model": "gpt", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "calc", "arguments": "{\"a\":1}"}}]}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}),
    (0, {"choices": []}),
    (1, {"id": "m1", "type": "message", "role": "assistant", "model": "claude", "content": [{"type": "text", "text": "Hi"}, {"type": "tool_use", "id": "t1", "name": "calc", "input": {"a": 1}}, {"type": "thinking", "thinking": "x"}], "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 4}}),
    (2, {"candidates": [{"content": {"parts": [{"text": "Hi"}, {"functionCall": {"name": "calc", "args": {"a": 1}}}], "role": "model"}, "finishReason": "MAX_TOKENS"}], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2}}),
    (2, {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}),
    (2, {"promptFeedback": {"blockReason": "SAFETY"}}),
]:
    put("provider_chat", bytes([selector]) + json.dumps(body).encode())

# Tool arguments; the index is the tool's place in spellhost_tools::builtins().
TOOLS = ["calculator", "json_query", "text", "template", "datetime", "hash", "uuid", "read_file",
         "write_file", "list_dir", "http_fetch", "csv_query", "encode", "memory"]
for name, args in [
    ("calculator", {"expression": "2^10 + sqrt(16) * (3 - 1) / 4 % 5"}),
    ("calculator", {"expression": "((((1))))+-+-1e308*10"}),
    ("json_query", {"input": {"a": [1, 2]}, "filter": ".a[]"}),
    ("text", {"operation": "find", "text": "a A a", "pattern": "a", "case_insensitive": True, "limit": 2}),
    ("text", {"operation": "replace", "text": "aaa", "pattern": "(a+)", "replacement": "$1$1"}),
    ("text", {"operation": "split", "text": "a,b", "pattern": ","}),
    ("template", {"template": "{% for i in items %}{{ i | upper }}{% endfor %}", "context": {"items": ["a"]}}),
    ("template", {"template": "{{ x"}),
    ("datetime", {"operation": "add", "instant": "2024-01-31T10:00:00Z", "duration": "1 month 3h 20m"}),
    ("datetime", {"operation": "diff", "from": "2024-01-01T00:00:00Z", "to": "2024-03-02T06:00:00Z"}),
    ("datetime", {"operation": "now", "timezone": "Europe/Paris"}),
    ("hash", {"text": "zz", "input_encoding": "hex"}),
    ("hash", {"text": "abc", "algorithm": "crc32"}),
    ("uuid", {"count": 3}),
    ("read_file", {"path": "/etc/passwd"}),
    ("write_file", {"path": "/tmp/x", "content": "y"}),
    ("list_dir", {"path": "/"}),
    ("http_fetch", {"url": "http://169.254.169.254/latest"}),
    ("csv_query", {"csv": "n,name\n1,a\n2,b\n", "sql": "SELECT name FROM data WHERE n > 1"}),
    ("csv_query", {"csv": "1;x\n", "has_header": False, "delimiter": ";", "table": "t", "sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 5) SELECT * FROM c"}),
    ("encode", {"operation": "decode", "encoding": "base64", "text": "aGk="}),
    ("encode", {"operation": "decode", "encoding": "url", "text": "%ff%2"}),
    ("memory", {"operation": "list"}),
]:
    put("tool_args", bytes([TOOLS.index(name)]) + json.dumps(args).encode())

# The script bridge's shapes: 0 chat request, 1 agent config, 2 hook decision, 3 tool.
for selector, value in [
    (0, "just a prompt"),
    (0, {"prompt": "hi", "system": "be brief", "model": "openai/gpt", "temperature": 0.2, "max_tokens": 10, "stop": ["x"], "seed": 1, "json": True}),
    (0, {"messages": [{"role": "user", "content": [{"text": "a"}, {"image_url": "http://x/y.png"}]}, {"role": "assistant", "tool_calls": [{"id": "1", "name": "f", "arguments": {"a": 1}}]}, {"role": "tool", "tool_call_id": "1", "content": "2"}], "schema": {"type": "object"}, "tools": [{"name": "f", "description": "d", "parameters": {"type": "object"}}]}),
    (0, {"prompt": "hi", "temprature": 1}),
    (1, {"model": "m", "system": "s", "tools": ["calculator", {"name": "uuid"}], "max_steps": 3, "memory": True, "name": "a", "hooks": False}),
    (2, {"modify": {"x": [1, 2]}}),
    (2, {"cancel": "no"}),
    (2, False),
    (3, {"name": "f", "parameters": [], "handler": "fn"}),
]:
    put("script_json", bytes([selector]) + (value.encode() if isinstance(value, str) else json.dumps(value).encode()))
