"""A small OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

Usage::

    from tests.support.fake_openai import FakeLLMServer

    with FakeLLMServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        server.requests   # [(path, json_body, headers), ...] as received

Endpoints (``base_url`` ends in ``/v1``):

- ``POST /v1/chat/completions``: plain or streaming (``stream=True``; a final usage chunk when
  ``stream_options.include_usage``). When ``tools`` are offered and the last message is not a tool
  result, the model asks for the first tool (arguments built from its JSON schema, or
  ``server.tool_arguments``); after a tool result it answers ``"Final answer: <tool result>"``;
  otherwise it answers ``"echo: <last user text>"``.
- ``POST /v1/embeddings``: 8-dimensional vectors, usage reported.
- ``POST /v1/responses``: the Responses API, plain or streaming (typed SSE events); with function tools
  offered it calls the first one unless the last input item is a ``function_call_output``, which it
  then answers with ``"Final answer: <output>"`` (as for chat).

Behaviour switches, per request as headers (``extra_headers=...``) or for the whole server as
constructor arguments / attributes:

- ``X-Fake-Status: 429|500|...`` / ``server.fail_next(status, times)``: an OpenAI error body with that status.
- ``X-Fake-Chunks: N`` / ``stream_chunks=N``: number of content chunks in a streamed answer.
- ``X-Fake-No-Usage: 1``: omit usage everywhere.
- ``X-Fake-Fail-Midstream: 1``: cut a stream after two chunks with an ``error`` event.
- ``X-Fake-Delay: seconds``: sleep before answering.
- ``X-Fake-Malformed: 1``: a JSON-valid, off-schema chat answer (wrong types, junk choices).
- ``server.response_headers``: extra headers sent with every answer (e.g. ``x-ratelimit-*``).

Scripted answers (agents and judges under evaluation): ``FakeLLMServer(responder=fn)`` answers a plain chat
completion with the text ``fn(request_json)`` returns (usage counted in words, the requested model named
unchanged); a responder that raises makes it answer 500 with an OpenAI error body carrying the exception's
message. ``server.bodies`` are the JSON bodies received; :func:`last_user_text` reads a request's question.

The pure builders (:func:`chat_completion`, :func:`chat_chunks`, :func:`embeddings`,
:func:`response_object`, :func:`handle`) are reused by in-process ``httpx.MockTransport`` servers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED = 1_700_000_000


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _prompt_tokens(messages: list[Mapping[str, Any]]) -> int:
    return sum(_words(_text_of(m.get("content"))) for m in messages)


def _sample_value(schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    return {"integer": 3, "number": 1.5, "boolean": True, "array": [], "object": {}}.get(kind, "x")


def _tool_arguments(tool: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    if override is not None:
        return dict(override)
    params = (tool.get("function") or tool).get("parameters") or {}
    props = params.get("properties") or {}
    return {name: _sample_value(spec) for name, spec in props.items()}


def _tool_name(tool: Mapping[str, Any]) -> str:
    return (tool.get("function") or tool).get("name", "tool")


def _reply(body: Mapping[str, Any], tool_arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """Decide the assistant turn: ``{"content": str|None, "tool_calls": list|None, "finish": str}``."""
    messages = list(body.get("messages") or [])
    last = messages[-1] if messages else {}
    tools = body.get("tools") or []
    if tools and last.get("role") != "tool":
        tool = tools[0]
        call = {
            "id": "call_fake_1",
            "type": "function",
            "function": {
                "name": _tool_name(tool),
                "arguments": json.dumps(_tool_arguments(tool, tool_arguments)),
            },
        }
        return {"content": None, "tool_calls": [call], "finish": "tool_calls"}
    if last.get("role") == "tool":
        return {"content": f"Final answer: {_text_of(last.get('content'))}", "tool_calls": None, "finish": "stop"}
    user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    return {"content": f"echo: {_text_of(user.get('content'))}", "tool_calls": None, "finish": "stop"}


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user message of a chat request (``""`` when there is none)."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def chat_completion(body: Mapping[str, Any], *, usage: bool = True, tool_arguments=None,
                    text: str | None = None) -> dict[str, Any]:
    """A ``chat.completion`` object answering ``body`` (with ``text``: that scripted answer, the model as asked)."""
    turn = _reply(body, tool_arguments) if text is None else {"content": text, "tool_calls": None, "finish": "stop"}
    message: dict[str, Any] = {"role": "assistant", "content": turn["content"]}
    if turn["tool_calls"]:
        message["tool_calls"] = turn["tool_calls"]
    n = int(body.get("n") or 1)
    result: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": CREATED,
        "model": f"{body.get('model', 'fake')}-2024-01-01" if text is None else body.get("model", "fake"),
        "system_fingerprint": "fp_fake",
        "choices": [
            {"index": i, "message": message, "finish_reason": turn["finish"], "logprobs": None} for i in range(n)
        ],
    }
    if usage:
        completion = _words(turn["content"] or "") if turn["content"] else 5
        result["usage"] = _usage(_prompt_tokens(body.get("messages") or []), completion)
    return result


def chat_chunks(body: Mapping[str, Any], *, chunks: int = 5, usage: bool = True, tool_arguments=None):
    """The ``chat.completion.chunk`` objects of a streamed answer (content split into ``chunks`` pieces)."""
    turn = _reply(body, tool_arguments)
    model = f"{body.get('model', 'fake')}-2024-01-01"
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if turn["tool_calls"]:
        call = turn["tool_calls"][0]
        out.append(chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                          "function": {"name": call["function"]["name"], "arguments": ""}}]}))
        out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]}))
        completion = 5
    else:
        text = turn["content"] or ""
        pieces = [f"t{i} " for i in range(max(0, chunks - 1))] + [text]
        out.extend(chunk({"content": piece}) for piece in pieces)
        completion = len(pieces)
    out.append(chunk({}, turn["finish"]))
    include = bool((body.get("stream_options") or {}).get("include_usage"))
    if usage and include:
        out.append({**base, "choices": [], "usage": _usage(_prompt_tokens(body.get("messages") or []), completion)})
    return out


def embeddings(body: Mapping[str, Any], *, usage: bool = True) -> dict[str, Any]:
    """An embeddings list for ``body["input"]`` (string or list)."""
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    data = [{"object": "embedding", "index": i, "embedding": [0.125 * (j + 1) for j in range(8)]}
            for i, _ in enumerate(items)]
    result: dict[str, Any] = {"object": "list", "data": data, "model": body.get("model", "fake-embed")}
    if usage:
        tokens = sum(_words(str(x)) for x in items)
        result["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return result


def _responses_turn(body: Mapping[str, Any], tool_arguments: Mapping[str, Any] | None) -> tuple[str, dict | None]:
    """(answer text, function call item or None) of a Responses API request: as for chat, the model calls the
    first offered function tool unless the last input item is a tool result, which it then echoes."""
    raw = body.get("input")
    items = [raw] if isinstance(raw, str) else list(raw or [])
    last = items[-1] if items else {}
    last_type = last.get("type") if isinstance(last, Mapping) else None
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping) and t.get("type", "function") == "function"]
    if tools and last_type != "function_call_output":
        tool = tools[0]
        return "", {"type": "function_call", "id": "fc_fake_1", "call_id": "call_fake_1", "status": "completed",
                    "name": _tool_name(tool), "arguments": json.dumps(_tool_arguments(tool, tool_arguments))}
    if last_type == "function_call_output":
        return f"Final answer: {last.get('output')}", None
    text_in = raw if isinstance(raw, str) else " ".join(_text_of(m.get("content")) for m in items
                                                        if isinstance(m, Mapping))
    return f"echo: {text_in}", None


def response_object(body: Mapping[str, Any], *, usage: bool = True, status: str = "completed",
                    tool_arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Responses API ``response`` object answering ``body["input"]`` (a function call when tools are offered)."""
    raw = body.get("input")
    text_in = raw if isinstance(raw, str) else " ".join(_text_of(m.get("content")) for m in raw or []
                                                        if isinstance(m, Mapping))
    text, call = _responses_turn(body, tool_arguments)
    result: dict[str, Any] = {
        "id": "resp_fake",
        "object": "response",
        "created_at": CREATED,
        "model": f"{body.get('model', 'fake')}-2024-01-01",
        "status": status,
        "output": [call] if call else [{"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant",
                                        "content": [{"type": "output_text", "text": text, "annotations": []}]}],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"),
    }
    if usage:
        out_tokens = _words(text) if text else 5
        result["usage"] = {"input_tokens": _words(text_in), "output_tokens": out_tokens,
                           "total_tokens": _words(text_in) + out_tokens,
                           "input_tokens_details": {"cached_tokens": 0},
                           "output_tokens_details": {"reasoning_tokens": 0}}
    return result


def response_events(body: Mapping[str, Any], *, chunks: int = 5, usage: bool = True,
                    tool_arguments: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The typed SSE events of a streamed Responses API answer (the sequence the ``.stream()`` helper needs:
    created, output item and content part opened, text deltas, parts and item done, completed)."""
    final = response_object(body, usage=usage, tool_arguments=tool_arguments)
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    if final["output"][0]["type"] == "function_call":
        item = final["output"][0]
        events = [{"type": "response.created", "response": started},
                  {"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": ""}},
                  {"type": "response.function_call_arguments.delta", "item_id": item["id"], "output_index": 0,
                   "delta": item["arguments"]},
                  {"type": "response.function_call_arguments.done", "item_id": item["id"], "output_index": 0,
                   "arguments": item["arguments"], "name": item["name"]},
                  {"type": "response.output_item.done", "output_index": 0, "item": item},
                  {"type": "response.completed", "response": final}]
        for number, event in enumerate(events):
            event["sequence_number"] = number
        return events
    [message] = final["output"]
    part = message["content"][0]
    where = {"item_id": message["id"], "output_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**message, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **where, "content_index": 0,
         "part": {"type": "output_text", "text": "", "annotations": []}},
    ]
    pieces = [f"t{i} " for i in range(max(0, chunks - 1))] + [part["text"]] if chunks else []
    events.extend({"type": "response.output_text.delta", **where, "content_index": 0, "delta": piece,
                   "logprobs": []} for piece in pieces)
    text = "".join(pieces)
    final = {**final, "output": [{**message, "content": [{**part, "text": text}]}]}  # what the deltas spelled
    events += [
        {"type": "response.output_text.done", **where, "content_index": 0, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "content_index": 0, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0,
         "item": {**message, "content": [{**part, "text": text}]}},
        {"type": "response.completed", "response": final},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


# JSON-valid but off-schema: wrong types and missing fields (the SDK parses it leniently)
MALFORMED: dict[str, Any] = {
    "id": 123, "object": "chat.completion", "model": None,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": None}, "junk"],
    "usage": {"prompt_tokens": "seven", "completion_tokens": -1, "prompt_tokens_details": "none"},
}


def error_body(status: int) -> dict[str, Any]:
    kinds = {429: ("rate_limit_exceeded", "Rate limit reached"), 500: ("server_error", "The server had an error")}
    code, message = kinds.get(status, ("invalid_request_error", f"fake error {status}"))
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


def _sse(events: list[dict[str, Any]], typed: bool, done: bool) -> bytes:
    parts = []
    for event in events:
        prefix = f"event: {event['type']}\n" if typed else ""
        parts.append(f"{prefix}data: {json.dumps(event)}\n\n")
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def handle(
    path: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    stream_chunks: int = 5,
    tool_arguments: Mapping[str, Any] | None = None,
) -> tuple[int, str, bytes]:
    """Answer one request: ``(status, content_type, body_bytes)``. Shared by the server and mock transports."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    status = int(headers.get("x-fake-status", "200"))
    if status >= 400:
        return status, "application/json", json.dumps(error_body(status)).encode()
    chunks = int(headers.get("x-fake-chunks", stream_chunks))
    usage = headers.get("x-fake-no-usage") != "1"
    streaming = bool(body.get("stream"))
    if headers.get("x-fake-malformed") == "1":
        return 200, "application/json", json.dumps(MALFORMED).encode()
    if path.endswith("/chat/completions"):
        if not streaming:
            result = chat_completion(body, usage=usage, tool_arguments=tool_arguments)
            return 200, "application/json", json.dumps(result).encode()
        events = chat_chunks(body, chunks=chunks, usage=usage, tool_arguments=tool_arguments)
        if headers.get("x-fake-fail-midstream") == "1":
            events = events[:3] + [{"error": {"message": "stream broke", "type": "server_error", "code": "server_error"}}]
        return 200, "text/event-stream", _sse(events, typed=False, done=True)
    if path.endswith("/embeddings"):
        return 200, "application/json", json.dumps(embeddings(body, usage=usage)).encode()
    if path.endswith("/responses"):
        if not streaming:
            result = response_object(body, usage=usage, tool_arguments=tool_arguments)
            return 200, "application/json", json.dumps(result).encode()
        events = response_events(body, chunks=chunks, usage=usage, tool_arguments=tool_arguments)
        return 200, "text/event-stream", _sse(events, typed=True, done=False)
    return 404, "application/json", json.dumps(error_body(404)).encode()


class FakeLLMServer:
    """The fake OpenAI-compatible server on a free loopback port (a context manager)."""

    def __init__(self, *, stream_chunks: int = 5, tool_arguments: Mapping[str, Any] | None = None,
                 responder: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.stream_chunks = stream_chunks
        self.tool_arguments = tool_arguments
        self.responder = responder
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.response_headers: dict[str, str] = {}
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests received, in order."""
        return [body for _, body, _ in self.requests]

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with an error of ``status``."""
        with self._lock:
            self._failures.extend([status] * times)

    def _next_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def start(self) -> FakeLLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()
                # headers and body are written separately: without this, Nagle + delayed ACK add 40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                headers = dict(self.headers.items())
                server.requests.append((self.path, body, headers))
                delay = float(headers.get("X-Fake-Delay") or headers.get("x-fake-delay") or 0)
                if delay:
                    time.sleep(min(delay, 30.0))
                failure = server._next_failure()
                if failure is not None:
                    headers = {**headers, "x-fake-status": str(failure)}
                if failure is None and server.responder is not None and self.path.endswith("/chat/completions") \
                        and not body.get("stream"):
                    status, ctype, payload = server._scripted(body)
                else:
                    status, ctype, payload = handle(self.path, body, headers, stream_chunks=server.stream_chunks,
                                                    tool_arguments=server.tool_arguments)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                for name, value in server.response_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def _scripted(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        assert self.responder is not None
        try:
            text = self.responder(body)
        except Exception as exc:  # noqa: BLE001 - the scripted endpoint failing, as a real one does
            error = {"error": {"message": str(exc), "type": "server_error", "param": None, "code": "server_error"}}
            return 500, "application/json", json.dumps(error).encode()
        return 200, "application/json", json.dumps(chat_completion(body, text=text)).encode()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
