"""opentelemetry-instrumentation-httpx hooks that turn calls to OpenAI-compatible endpoints into LLM spans.

The request hook renames the HTTP client span ``chat {model}`` and adds the GenAI request attributes;
the response hook reads a JSON answer (≤ 1 MiB, replayed to the caller unchanged) for usage, response
model/id and finish reasons. A streamed (SSE) answer is watched as the caller reads it: every chunk is
passed on unchanged and unbuffered, the ``data:`` lines that carry a finish reason or the usage (the final
usage chunk, the Responses API's ``response.completed``) are parsed, and the span is ended when the
stream is exhausted, closed, fails or is garbage-collected (not when the headers arrived), with the time
to the first chunk. Calls made by the OpenAI SDK while our OpenAI instrumentor traces them stay plain
HTTP spans (the SDK span is the LLM span).
"""

from __future__ import annotations

import json
from time import perf_counter
from typing import Any

from opentelemetry.trace import Status, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings, openai_input_messages
from agentotel.instrumentation._context import IN_SDK_CALL, owned_llm_span
from agentotel.instrumentation._events import ContentEvents
from agentotel.instrumentation._guard import report
from agentotel.instrumentation.instruments import GenAIInstruments

_ENDPOINTS = (("/chat/completions", sc.OP_CHAT), ("/embeddings", sc.OP_EMBEDDINGS), ("/responses", sc.OP_CHAT),
              ("/completions", sc.OP_TEXT_COMPLETION))
_MAX_BODY = 1 << 20
_PARAMS = (("temperature", sc.REQUEST_TEMPERATURE), ("top_p", sc.REQUEST_TOP_P),
           ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY), ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY),
           ("seed", sc.REQUEST_SEED))
_STATE = "_agentotel_genai"
_MAX_SSE_LINE = 8 << 20  # longer lines (a huge response.completed) are passed on, not parsed
_NO_CONTENT = ContentSettings()


def _operation(method: bytes, path: str) -> str | None:
    if method != b"POST":
        return None
    for suffix, operation in _ENDPOINTS:
        if path.endswith(suffix):
            return operation
    return None


def _provider(host: str) -> str:
    if host.endswith(".openai.azure.com"):
        return "azure.ai.openai"
    return "openai"


def _body(stream: Any) -> dict[str, Any] | None:
    raw = getattr(stream, "_stream", None)  # httpx.ByteStream keeps the request body as bytes
    if not isinstance(raw, (bytes, bytearray)) or len(raw) > _MAX_BODY:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class GenAIHooks:
    """Request/response hooks (sync and async) bound to the instruments and content settings."""

    def __init__(self, instruments: GenAIInstruments, content: ContentSettings,
                 events: ContentEvents | None = None) -> None:
        self.instruments = instruments
        self.content = content
        self.events = events

    # request -------------------------------------------------------------------------------------------
    def request_hook(self, span: Any, request: Any) -> None:
        try:
            self._on_request(span, request)
        except Exception as err:  # noqa: BLE001
            report("httpx.request_hook", err)

    async def async_request_hook(self, span: Any, request: Any) -> None:
        self.request_hook(span, request)

    def _on_request(self, span: Any, request: Any) -> None:
        if IN_SDK_CALL.get() or owned_llm_span() is not None or not span.is_recording():
            return
        url = request.url
        operation = _operation(request.method, url.path)
        if operation is None:
            return
        body = _body(request.stream) or {}
        model = body.get("model") if isinstance(body.get("model"), str) else None
        attrs: dict[str, Any] = {sc.OPERATION: operation, sc.PROVIDER: _provider(url.host or ""),
                                 sc.SERVER_ADDRESS: url.host, sc.SERVER_PORT: url.port or (443 if url.scheme == "https" else 80)}
        if model:
            attrs[sc.REQUEST_MODEL] = model
        for key, attr in _PARAMS:
            if type(body.get(key)) in (int, float):
                attrs[attr] = body[key]
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens")
        if type(max_tokens) is int:
            attrs[sc.REQUEST_MAX_TOKENS] = max_tokens
        streaming = body.get("stream") is True
        if streaming:
            attrs[sc.REQUEST_STREAM] = True
        event = None
        if self.content.capture and isinstance(body.get("messages"), list):
            system, messages = openai_input_messages(body["messages"])
            request = {sc.INPUT_MESSAGES: self.content.dumps(messages)}
            if system:
                request[sc.SYSTEM_INSTRUCTIONS] = self.content.dumps(system)
            if self.events is not None:
                event = {**attrs, **request}
            if self.content.on_span:
                attrs.update(request)
        span.update_name(f"{operation} {model}" if model else operation)
        span.set_attributes(attrs)
        metric_attrs = {k: attrs[k] for k in (sc.OPERATION, sc.PROVIDER, sc.REQUEST_MODEL, sc.SERVER_ADDRESS,
                                              sc.SERVER_PORT) if k in attrs}
        setattr(span, _STATE, (metric_attrs, perf_counter(), streaming, event))

    # response ------------------------------------------------------------------------------------------
    def response_hook(self, span: Any, request: Any, response: Any) -> None:
        try:
            state = getattr(span, _STATE, None)
            if state is None:
                return
            if self._watch_stream(span, state, response, _SSEWatch):
                return
            self._on_response(span, state, response, self._read_sync(response))
        except Exception as err:  # noqa: BLE001
            report("httpx.response_hook", err)

    async def async_response_hook(self, span: Any, request: Any, response: Any) -> None:
        try:
            state = getattr(span, _STATE, None)
            if state is None:
                return
            if self._watch_stream(span, state, response, _AsyncSSEWatch):
                return
            self._on_response(span, state, response, await self._read_async(response))
        except Exception as err:  # noqa: BLE001
            report("httpx.async_response_hook", err)

    @staticmethod
    def _json_response(response: Any) -> bool:
        headers = _headers(response.headers)
        length = headers.get("content-length")
        return (headers.get("content-type", "").startswith("application/json") and length is not None
                and length.isdigit() and int(length) <= _MAX_BODY)

    def _read_sync(self, response: Any) -> bytes | None:
        stream = response.stream
        if not self._json_response(response) or not hasattr(stream, "_httpcore_stream"):
            return None
        chunks = list(stream._httpcore_stream)
        stream._httpcore_stream = _Replay(chunks, stream._httpcore_stream)
        return b"".join(chunks)

    async def _read_async(self, response: Any) -> bytes | None:
        stream = response.stream
        if not self._json_response(response) or not hasattr(stream, "_httpcore_stream"):
            return None
        chunks = [chunk async for chunk in stream._httpcore_stream]
        stream._httpcore_stream = _AsyncReplay(chunks, stream._httpcore_stream)
        return b"".join(chunks)

    def _on_response(self, span: Any, state: tuple, response: Any, raw: bytes | None) -> None:
        metric_attrs, start, _, event = state
        status = response.status_code
        attrs: dict[str, Any] = {}
        usage: tuple[int | None, int | None] = (None, None)
        if status >= 400:
            attrs[sc.ERROR_TYPE] = str(status)
        elif raw:
            usage = _response_attributes(json.loads(raw), attrs, self.content)
        self._complete(span, metric_attrs, start, event, attrs, usage)

    def _complete(self, span: Any, metric_attrs: dict[str, Any], start: float, event: dict[str, Any] | None,
                  attrs: dict[str, Any], usage: tuple[int | None, int | None]) -> None:
        """Record the call's outcome on the (still open) span, the event and the metrics."""
        if sc.ERROR_TYPE in attrs:
            metric_attrs = {**metric_attrs, sc.ERROR_TYPE: attrs[sc.ERROR_TYPE]}
        elif sc.RESPONSE_MODEL in attrs:
            metric_attrs = {**metric_attrs, sc.RESPONSE_MODEL: attrs[sc.RESPONSE_MODEL]}
        if event is not None and self.events is not None:
            self.events.emit(span, {**event, **attrs})
            if not self.content.on_span:
                attrs.pop(sc.OUTPUT_MESSAGES, None)
        if span.is_recording():
            span.set_attributes(attrs)
        self.instruments.record_duration(perf_counter() - start, metric_attrs)
        self.instruments.record_usage(metric_attrs, usage[0], usage[1])

    # streamed answers ----------------------------------------------------------------------------------
    def _watch_stream(self, span: Any, state: tuple, response: Any, watch_cls: type) -> bool:
        """Wrap an SSE answer's byte stream and postpone the span's end to the stream's end."""
        if not state[2] or response.status_code >= 400:
            return False
        stream = response.stream
        original = getattr(stream, "_httpcore_stream", None)
        if original is None or not _headers(response.headers).get("content-type", "").startswith(
                "text/event-stream"):
            return False
        ending = _DeferredEnd(span)

        def done(watch: _SSEWatch, exc: BaseException | None) -> None:
            self._on_stream_done(span, state, watch, exc, ending)

        stream._httpcore_stream = watch_cls(original, done)
        span.end = ending  # the contrib transport ends the span when the headers are in: wait for the body
        return True

    def _on_stream_done(self, span: Any, state: tuple, watch: _SSEWatch, exc: BaseException | None,
                        ending: _DeferredEnd) -> None:
        metric_attrs, start, _, event = state
        try:
            attrs: dict[str, Any] = {}
            usage: tuple[int | None, int | None] = (None, None)
            if watch.first is not None:
                attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = watch.first - start
            if watch.usage_line is not None:
                body = json.loads(watch.usage_line)
                if isinstance(body, dict) and isinstance(body.get("response"), dict):
                    body = body["response"]  # Responses API: response.completed
                usage = _response_attributes(body, attrs, _NO_CONTENT)
                attrs.pop(sc.RESPONSE_FINISH_REASONS, None)  # the usage chunk has no choices
            if watch.finish_reasons:
                attrs[sc.RESPONSE_FINISH_REASONS] = tuple(watch.finish_reasons[i] for i in sorted(watch.finish_reasons))
            if exc is not None:
                attrs[sc.ERROR_TYPE] = type(exc).__qualname__
                if span.is_recording():
                    span.set_status(Status(StatusCode.ERROR, str(exc)[:1024]))
            self._complete(span, metric_attrs, start, event, attrs, usage)
        finally:
            ending.release()


class _DeferredEnd:
    """Stands in for ``span.end`` until the streamed body is done; then the span ends once."""

    def __init__(self, span: Any) -> None:
        self._span = span
        self._end_time: int | None = None

    def __call__(self, end_time: int | None = None) -> None:
        self._end_time = end_time  # asked to end (the transport returned): wait for the stream

    def release(self) -> None:
        span = self._span
        try:
            del span.end  # the class's end again
        except AttributeError:
            pass
        span.end()


class _SSEWatch:
    """Pass-through over the transport's byte stream of an SSE answer.

    The caller gets every chunk unchanged as it arrives. Only complete ``data:`` lines that carry a
    non-null ``finish_reason`` or ``usage`` are parsed (one line held back at a time, at most
    ``_MAX_SSE_LINE`` bytes); ``done(watch, exc)`` runs once, when the stream ends, fails, is closed or
    collected.
    """

    def __init__(self, original: Any, done: Any) -> None:
        self._original = original
        self._done = done
        self._tail = b""
        self._finished = False
        self.first: float | None = None
        self.usage_line: bytes | None = None
        self.finish_reasons: dict[int, str] = {}

    def __iter__(self):
        try:
            for chunk in self._original:
                if self.first is None:
                    self.first = perf_counter()
                self._feed(chunk)
                yield chunk
        except GeneratorExit:
            self._finish(None)
            raise
        except BaseException as exc:
            self._finish(exc)
            raise
        self._finish(None)

    def close(self) -> None:
        try:
            if hasattr(self._original, "close"):
                self._original.close()
        finally:
            self._finish(None)

    def __del__(self) -> None:
        if not self._finished:
            self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self._done(self, exc)
        except Exception as err:  # noqa: BLE001
            report("httpx.stream_done", err)

    def _feed(self, chunk: bytes) -> None:
        try:
            data = self._tail + chunk if self._tail else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                self._tail = data if len(data) <= _MAX_SSE_LINE else b""
                return
            self._tail = data[cut + 1:]
            if b'"usage"' in data or b'"finish_reason"' in data:
                for line in data[:cut].split(b"\n"):
                    self._line(line)
        except Exception as err:  # noqa: BLE001
            report("httpx.stream_chunk", err)

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:") or len(line) > _MAX_SSE_LINE:
            return
        if b'"usage"' in line and b'"usage":null' not in line and b'"usage": null' not in line:
            self.usage_line = line[5:]
        if b'"finish_reason"' in line and (line.count(b'"finish_reason":null') + line.count(b'"finish_reason": null')
                                           < line.count(b'"finish_reason"')):
            chunk = json.loads(line[5:])
            for choice in chunk.get("choices") or () if isinstance(chunk, dict) else ():
                if isinstance(choice, dict) and choice.get("finish_reason"):
                    index = choice.get("index")
                    self.finish_reasons[index if isinstance(index, int) else 0] = str(choice["finish_reason"])


class _AsyncSSEWatch(_SSEWatch):
    """The same watch over an async byte stream."""

    async def __aiter__(self):
        try:
            async for chunk in self._original:
                if self.first is None:
                    self.first = perf_counter()
                self._feed(chunk)
                yield chunk
        except GeneratorExit:
            self._finish(None)
            raise
        except BaseException as exc:
            self._finish(exc)
            raise
        self._finish(None)

    async def aclose(self) -> None:
        try:
            if hasattr(self._original, "aclose"):
                await self._original.aclose()
        finally:
            self._finish(None)


def _headers(headers: Any) -> dict[str, str]:
    """Lower-cased header dict from an ``httpx.Headers`` or a list of byte pairs."""
    items = headers.multi_items() if hasattr(headers, "multi_items") else headers
    out = {}
    for key, value in items:
        key = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        out[key.lower()] = value
    return out


def _response_attributes(body: Any, attrs: dict[str, Any], content: ContentSettings) -> tuple[int | None, int | None]:
    if not isinstance(body, dict):
        return None, None
    if isinstance(body.get("model"), str):
        attrs[sc.RESPONSE_MODEL] = body["model"]
    if isinstance(body.get("id"), str):
        attrs[sc.RESPONSE_ID] = body["id"]
    choices = body.get("choices")
    if isinstance(choices, list):
        attrs[sc.RESPONSE_FINISH_REASONS] = tuple(str(c.get("finish_reason") or "") for c in choices
                                                   if isinstance(c, dict))
        if content.capture:
            attrs[sc.OUTPUT_MESSAGES] = content.dumps([
                {"role": "assistant", "parts": [{"type": "text", "content": (c.get("message") or {}).get("content")}],
                 "finish_reason": c.get("finish_reason")} for c in choices if isinstance(c, dict)])
    raw_usage = body.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    input_tokens = usage.get("prompt_tokens", usage.get("input_tokens"))
    output_tokens = usage.get("completion_tokens", usage.get("output_tokens"))
    input_tokens = input_tokens if type(input_tokens) is int else None
    output_tokens = output_tokens if type(output_tokens) is int else None
    if input_tokens is not None:
        attrs[sc.USAGE_INPUT] = input_tokens
    if output_tokens is not None:
        attrs[sc.USAGE_OUTPUT] = output_tokens
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    if isinstance(details, dict) and type(details.get("cached_tokens")) is int and details["cached_tokens"]:
        attrs[sc.USAGE_CACHE_READ] = details["cached_tokens"]
    return input_tokens, output_tokens


class _Replay:
    """Gives the already-read body back to the client; closes the original stream."""

    def __init__(self, chunks: list[bytes], original: Any) -> None:
        self._chunks = chunks
        self._original = original

    def __iter__(self):
        yield from self._chunks

    def close(self) -> None:
        if hasattr(self._original, "close"):
            self._original.close()


class _AsyncReplay:
    def __init__(self, chunks: list[bytes], original: Any) -> None:
        self._chunks = chunks
        self._original = original

    async def __aiter__(self):
        for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        if hasattr(self._original, "aclose"):
            await self._original.aclose()
