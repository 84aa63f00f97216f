"""A compact OpenAI-compatible chat server on loopback for the demo workload (no network, no keys).

``POST /v1/chat/completions`` answers every model name. With ``tools`` offered and no tool result yet,
the model asks for the first tool; after a tool result it answers with it. Latency depends on the model
(``MODEL_LATENCY_S``: o3 is the slow one, so the dashboard has something to compare; ``latency_scale``
shrinks it for tests), usage is reported, and a request header ``X-Demo-Fail: 429`` (or any status)
returns an OpenAI-style error instead. ``stop()`` returns at once, also while answers are being delayed.
"""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# seconds per answer, (fastest, slowest); the demo's back-filled history uses the same ranges
MODEL_LATENCY_S: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.45), "gpt-4o": (0.3, 0.9), "claude-3-5-sonnet": (0.4, 1.1), "o3": (2.0, 4.0),
}
DEFAULT_LATENCY_S = (0.1, 0.3)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _tokens(text: str) -> int:
    return max(1, len(text.split()) * 4 // 3)


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """The ``chat.completion`` answering ``body``."""
    messages = list(body.get("messages") or [])
    last = messages[-1] if messages else {}
    tools = body.get("tools") or []
    model = str(body.get("model") or "demo")
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if tools and last.get("role") != "tool":
        function = (tools[0].get("function") or {}) if isinstance(tools[0], dict) else {}
        properties = (function.get("parameters") or {}).get("properties") or {}
        user: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        arguments = {name: _text(user.get("content"))[:80] for name in properties}
        message["tool_calls"] = [{"id": f"call_{zlib.crc32(json.dumps(arguments).encode()):08x}", "type": "function",
                                  "function": {"name": function.get("name", "tool"), "arguments": json.dumps(arguments)}}]
        finish = "tool_calls"
        completion = 12
    else:
        if last.get("role") == "tool":
            answer = f"Based on the {body.get('tools') and 'tool' or 'lookup'} result: {_text(last.get('content'))[:200]}"
        else:
            user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
            answer = f"Here is a concise answer about: {_text(user.get('content'))[:200]}"
        message["content"] = answer
        finish = "stop"
        completion = _tokens(answer)
    prompt = sum(_tokens(_text(m.get("content"))) for m in messages) + 20 * len(tools)
    return {
        "id": f"chatcmpl-demo-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{model}-2024-08-06" if model.startswith("gpt") else model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "agentotel-demo-llm"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1_000_000:
            self._send(413, {"error": {"message": "request too large", "type": "invalid_request_error"}})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"unknown path {self.path}", "type": "invalid_request_error"}})
            return
        low, high = MODEL_LATENCY_S.get(str(body.get("model")), DEFAULT_LATENCY_S)
        server: _Server = self.server  # type: ignore[assignment]
        server.received += 1
        if server.stopping.wait(random.uniform(low, high) * server.latency_scale):
            self._send(503, {"error": {"message": "demo LLM server stopping", "type": "server_error"}})
            return
        fail = self.headers.get("X-Demo-Fail")
        if fail and fail.isdigit():
            status = int(fail)
            kind = "rate_limit_error" if status == 429 else "server_error"
            self._send(status, {"error": {"message": f"demo failure {status}", "type": kind, "code": kind}})
            return
        self._send(200, chat_completion(body))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], latency_scale: float) -> None:
        super().__init__(address, _Handler)
        self.stopping = threading.Event()  # set by stop(): delayed answers return at once
        self.latency_scale = max(0.0, latency_scale)
        self.received = 0  # chat requests taken (a test's way to know one is being answered)


class DemoLLMServer:
    """``with DemoLLMServer() as server: OpenAI(base_url=server.base_url, api_key="demo")``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_scale: float = 1.0) -> None:
        self._server = _Server((host, port), latency_scale)
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-llm", daemon=True)

    @property
    def received(self) -> int:
        """Chat completion requests received so far."""
        return self._server.received

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> DemoLLMServer:
        self._thread.start()
        return self

    def interrupt(self) -> None:
        """Answers being delayed return at once (503); the server keeps listening until ``stop()``."""
        self._server.stopping.set()

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never started otherwise
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> DemoLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
