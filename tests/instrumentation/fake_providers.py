"""Loopback fakes of the Anthropic Messages API and the Gemini REST API, for tests and benchmarks.

Usage::

    with FakeAnthropicServer() as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=0)
    with FakeGeminiServer() as server:
        client = genai.Client(api_key="k", http_options={"base_url": server.base_url})

Both answer like the real services (same JSON shapes, SSE event sequences and error envelopes):

- Anthropic ``POST /v1/messages`` (also ``?beta=true``): plain or streamed (``message_start``,
  ``content_block_start`` / ``_delta`` / ``_stop``, ``ping``, ``message_delta``, ``message_stop``). With
  ``tools`` offered and no ``tool_result`` in the last turn, the model calls the first tool (``tool_use``
  block, arguments from its ``input_schema``; streamed as ``input_json_delta`` pieces); after a tool result
  it answers ``"Final answer: <result>"``; otherwise ``"echo: <last user text>"``. ``thinking`` enabled
  adds a ``thinking`` block first. Usage has ``cache_read_input_tokens`` / ``cache_creation_input_tokens``
  (``server.cache_read``, ``server.cache_creation``).
- Gemini ``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``,
  ``:embedContent``, ``:batchEmbedContents``: function declarations → a ``functionCall`` part; after a
  ``functionResponse`` → ``"Final answer: …"``; ``thinkingConfig.includeThoughts`` adds a thought part;
  ``usageMetadata`` with ``cachedContentTokenCount`` (``server.cache_read``) and ``thoughtsTokenCount``.

Switches per request (headers) or per server (attributes): ``X-Fake-Status: 429|500|…`` (the provider's
error envelope; Gemini's 429 carries QuotaFailure + RetryInfo), ``X-Fake-Chunks: N`` / ``stream_chunks``,
``X-Fake-Fail-Midstream: 1`` (an ``error`` event after two events), ``X-Fake-Delay: seconds``;
``server.response_headers`` are sent with every answer (e.g. rate-limit headers).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _schema_sample(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    props = (schema or {}).get("properties") or {}
    kinds = {"integer": 3, "number": 1.5, "boolean": True, "array": [], "object": {}}
    return {name: kinds.get(str(spec.get("type", "")).lower(), "x") for name, spec in props.items()}


def _sse(events: list[tuple[str | None, dict[str, Any]]]) -> bytes:
    out = []
    for name, data in events:
        out.append((f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n")
    return "".join(out).encode()


class _LoopbackServer:
    """A threaded HTTP server on a free loopback port; subclasses answer in ``answer``."""

    def __init__(self, *, stream_chunks: int = 4) -> None:
        self.stream_chunks = stream_chunks
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.response_headers: dict[str, str] = {}
        self.cache_read = 0
        self.cache_creation = 0
        self._httpd: ThreadingHTTPServer | None = None

    def reset(self) -> None:
        self.requests.clear()
        self.response_headers = {}
        self.cache_read = self.cache_creation = 0
        self.stream_chunks = 4

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, path: str, body: dict[str, Any], headers: Mapping[str, str]
               ) -> tuple[int, str, bytes, dict[str, str]]:  # pragma: no cover - interface
        raise NotImplementedError

    def start(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((self.path, body, headers))
                delay = float(headers.get("x-fake-delay") or 0)
                if delay:
                    time.sleep(min(delay, 30.0))
                status, ctype, payload, extra = server.answer(self.path, body, headers)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in {**server.response_headers, **extra}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name=type(self).__name__, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------- Anthropic

ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                    429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def _anthropic_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for block in content:
            if isinstance(block, Mapping):
                if block.get("type") == "text":
                    texts.append(str(block.get("text", "")))
                elif block.get("type") == "tool_result":
                    texts.append(_anthropic_text(block.get("content")))
        return " ".join(texts)
    return ""


def anthropic_turn(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """(content blocks, stop_reason) of the assistant's answer to ``body``."""
    messages = list(body.get("messages") or [])
    last = messages[-1] if messages else {}
    content = last.get("content")
    tool_result = isinstance(content, list) and any(
        isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content)
    blocks: list[dict[str, Any]] = []
    thinking = body.get("thinking") or {}
    if isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive"):
        blocks.append({"type": "thinking", "thinking": "Let me think about this.", "signature": "sig_fake"})
    tools = body.get("tools") or []
    if tool_result:
        blocks.append({"type": "text", "text": f"Final answer: {_anthropic_text(content)}"})
        return blocks, "end_turn"
    if tools:
        tool = tools[0]
        blocks.append({"type": "tool_use", "id": "toolu_fake_1", "name": tool.get("name", "tool"),
                       "input": _schema_sample(tool.get("input_schema"))})
        return blocks, "tool_use"
    user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    blocks.append({"type": "text", "text": f"echo: {_anthropic_text(user.get('content'))}"})
    return blocks, "end_turn"


def _anthropic_input_tokens(body: Mapping[str, Any]) -> int:
    system = body.get("system")
    total = _words(_anthropic_text(system)) if system else 0
    return total + sum(_words(_anthropic_text(m.get("content"))) for m in body.get("messages") or [])


class FakeAnthropicServer(_LoopbackServer):
    """The fake Anthropic Messages API (``base_url`` without ``/v1``: the SDK adds it)."""

    def usage(self, body: Mapping[str, Any], output: int) -> dict[str, Any]:
        return {"input_tokens": _anthropic_input_tokens(body), "output_tokens": output,
                "cache_read_input_tokens": self.cache_read, "cache_creation_input_tokens": self.cache_creation}

    def message(self, body: Mapping[str, Any]) -> dict[str, Any]:
        blocks, stop = anthropic_turn(body)
        output = sum(_words(b.get("text") or b.get("thinking") or json.dumps(b.get("input"))) for b in blocks)
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": f"{body.get('model')}-20250929",
                "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": self.usage(body, output)}

    def events(self, body: Mapping[str, Any], chunks: int, fail: bool) -> list[tuple[str | None, dict[str, Any]]]:
        final = self.message(body)
        start = {**final, "content": [], "stop_reason": None, "usage": {**final["usage"], "output_tokens": 1}}
        events: list[tuple[str | None, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start}),
                                                          ("ping", {"type": "ping"})]
        for index, block in enumerate(final["content"]):
            kind = block["type"]
            if kind == "text":
                opened: dict[str, Any] = {"type": "text", "text": ""}
                text = block["text"]
                pieces = [f"t{i} " for i in range(max(0, chunks - 1))] + [text]
                deltas = [{"type": "text_delta", "text": p} for p in pieces]
            elif kind == "thinking":
                opened = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                          {"type": "signature_delta", "signature": block["signature"]}]
            else:
                opened = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                args = json.dumps(block["input"])
                cut = len(args) // 2
                deltas = [{"type": "input_json_delta", "partial_json": args[:cut]},
                          {"type": "input_json_delta", "partial_json": args[cut:]}]
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": opened}))
            events.extend(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
                          for d in deltas)
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        text_chunks = sum(1 for name, e in events if name == "content_block_delta")
        events.append(("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
                                         "usage": {"output_tokens": text_chunks}}))
        events.append(("message_stop", {"type": "message_stop"}))
        if fail:
            events = events[:3] + [("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                         "message": "Overloaded"}})]
        return events

    def answer(self, path, body, headers):
        extra = {"request-id": "req_fake"}
        status = int(headers.get("x-fake-status", "200"))
        if status >= 400:
            kind = ANTHROPIC_ERRORS.get(status, "api_error")
            if status == 429:
                extra["retry-after"] = "0"
            payload = {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}, "request_id": "req_fake"}
            return status, "application/json", json.dumps(payload).encode(), extra
        if not path.startswith("/v1/messages") or path.startswith("/v1/messages/"):
            return 404, "application/json", json.dumps(
                {"type": "error", "error": {"type": "not_found_error", "message": path}}).encode(), extra
        if not body.get("stream"):
            return 200, "application/json", json.dumps(self.message(body)).encode(), extra
        chunks = int(headers.get("x-fake-chunks", self.stream_chunks))
        events = self.events(body, chunks, headers.get("x-fake-fail-midstream") == "1")
        return 200, "text/event-stream", _sse(events), extra


# ------------------------------------------------------------------------------------------------- Gemini

def _gemini_text(content: Any) -> str:
    if not isinstance(content, Mapping):
        return ""
    texts = []
    for part in content.get("parts") or []:
        if isinstance(part, Mapping):
            if "text" in part and not part.get("thought"):
                texts.append(str(part["text"]))
            elif "functionResponse" in part:
                response = (part["functionResponse"] or {}).get("response")
                texts.append(json.dumps(response.get("result", response) if isinstance(response, Mapping)
                                        else response))
    return " ".join(texts)


class FakeGeminiServer(_LoopbackServer):
    """The fake Gemini API (``http_options={"base_url": server.base_url}``; the SDK adds ``/v1beta``)."""

    def usage(self, body: Mapping[str, Any], output: int, thoughts: int) -> dict[str, Any]:
        prompt = sum(_words(_gemini_text(c)) for c in body.get("contents") or [])
        if body.get("systemInstruction"):
            prompt += _words(_gemini_text(body["systemInstruction"]))
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": output,
                 "totalTokenCount": prompt + output + thoughts}
        if self.cache_read:
            usage["cachedContentTokenCount"] = self.cache_read
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def turn(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        contents = list(body.get("contents") or [])
        last = contents[-1] if contents else {}
        parts: list[dict[str, Any]] = []
        thinking = ((body.get("generationConfig") or {}).get("thinkingConfig") or {})
        if thinking.get("includeThoughts") or thinking.get("include_thoughts"):
            parts.append({"text": "Let me think about this.", "thought": True})
        declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
        answered = any("functionResponse" in p for p in last.get("parts") or [] if isinstance(p, Mapping))
        if answered:
            parts.append({"text": f"Final answer: {_gemini_text(last)}"})
        elif declarations:
            decl = declarations[0]
            schema = (decl.get("parameters") or decl.get("parametersJsonSchema")
                      or decl.get("parameters_json_schema"))
            parts.append({"functionCall": {"name": decl.get("name"), "args": _schema_sample(schema)}})
        else:
            user = next((c for c in reversed(contents) if c.get("role", "user") == "user"), {})
            parts.append({"text": f"echo: {_gemini_text(user)}"})
        return parts

    def response(self, body: Mapping[str, Any], model: str) -> dict[str, Any]:
        parts = self.turn(body)
        output = sum(_words(p.get("text", "") or json.dumps(p.get("functionCall"))) for p in parts
                     if not p.get("thought"))
        thoughts = sum(_words(p["text"]) for p in parts if p.get("thought"))
        return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": self.usage(body, output, thoughts), "modelVersion": f"{model}-001",
                "responseId": "resp_fake"}

    def chunks(self, body: Mapping[str, Any], model: str, count: int) -> list[dict[str, Any]]:
        final = self.response(body, model)
        [candidate] = final["candidates"]
        pieces: list[dict[str, Any]] = []
        for part in candidate["content"]["parts"]:
            if "text" in part and not part.get("thought") and count > 1:
                pieces.extend({"text": f"t{i} "} for i in range(count - 1))
            pieces.append(part)
        out = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            chunk: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": [piece]}, "index": 0}],
                                     "modelVersion": final["modelVersion"], "responseId": "resp_fake"}
            usage = dict(final["usageMetadata"])
            if not last:  # like the service: running counts, the final chunk has the totals
                usage = {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
            else:
                chunk["candidates"][0]["finishReason"] = "STOP"
            chunk["usageMetadata"] = usage
            out.append(chunk)
        return out

    def answer(self, path, body, headers):
        status = int(headers.get("x-fake-status", "200"))
        if status >= 400:
            names = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                     500: "INTERNAL", 503: "UNAVAILABLE"}
            error: dict[str, Any] = {"code": status, "message": f"fake {status}", "status": names.get(status, "UNKNOWN")}
            if status == 429:
                error["details"] = [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                        {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
                         "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier", "quotaValue": "250000"}]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}]
            return status, "application/json", json.dumps({"error": error}).encode(), {}
        route, _, _ = path.partition("?")
        model = route.rsplit("/", 1)[-1].split(":", 1)[0]
        if route.endswith(":generateContent"):
            return 200, "application/json", json.dumps(self.response(body, model)).encode(), {}
        if route.endswith(":streamGenerateContent"):
            count = int(headers.get("x-fake-chunks", self.stream_chunks))
            chunks = self.chunks(body, model, count)
            if headers.get("x-fake-fail-midstream") == "1":
                payload = "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks[:2]).encode()
                error = {"error": {"code": 500, "message": "stream broke", "status": "INTERNAL"}}
                payload += f"data: {json.dumps(error)}\r\n\r\n".encode()
                return 200, "text/event-stream", payload, {}
            return 200, "text/event-stream", "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode(), {}
        if route.endswith(":batchEmbedContents"):
            requests = body.get("requests") or []
            return 200, "application/json", json.dumps(
                {"embeddings": [{"values": [0.125 * (j + 1) for j in range(8)]} for _ in requests]}).encode(), {}
        if route.endswith(":embedContent"):
            return 200, "application/json", json.dumps(
                {"embedding": {"values": [0.125 * (j + 1) for j in range(8)]}}).encode(), {}
        return 404, "application/json", json.dumps(
            {"error": {"code": 404, "message": path, "status": "NOT_FOUND"}}).encode(), {}
