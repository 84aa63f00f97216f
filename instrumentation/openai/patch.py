"""One wrapper factory per patched OpenAI method (sync and async apart).

Each factory takes the tracer, the instruments and the content settings and returns a wrapt wrapper.
The host's call always runs exactly once; telemetry faults are reported and swallowed; the host's own
exceptions are re-raised unchanged.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._context import (
    IN_SDK_CALL,
    LLM_SPAN_KEY,
    PARENT_CONTEXT_KEY,
    SUPPRESS_KEY,
    SUPPRESS_PLAIN_KEY,
    effective_context,
)
from agentotel.instrumentation._events import ContentEvents
from agentotel.instrumentation._guard import error_type, report
from agentotel.instrumentation._ratelimit import apply, rate_limit_attributes
from agentotel.instrumentation._stream import AsyncStreamProxy, StreamState, SyncStreamProxy
from agentotel.instrumentation._switch import SWITCH
from agentotel.instrumentation.instruments import GenAIInstruments
from agentotel.instrumentation.openai import utils

CHAT, EMBEDDINGS, RESPONSES = "chat", "embeddings", "responses"


class Invocation:
    """One model call in flight: its span, start time and metric attributes.

    ``event`` holds the content event's request part (GenAI attributes and input content) when the
    content mode emits events, else ``None``.
    """

    __slots__ = ("span", "start", "metric_attrs", "instruments", "content", "kind", "token", "flag", "events",
                 "event", "stream_times")

    def __init__(self, span, start, metric_attrs, instruments, content, kind, token, flag, events=None,
                 event=None) -> None:
        self.span = span
        self.start = start
        self.metric_attrs = metric_attrs
        self.instruments = instruments
        self.content = content
        self.kind = kind
        self.token = token
        self.flag = flag
        self.events = events
        self.event = event
        self.stream_times: tuple[float, float | None] | None = None  # (time to first chunk, per later chunk)

    def release(self) -> None:
        """Restore the caller's context (the span stays open for streams)."""
        if self.token is not None:
            IN_SDK_CALL.reset(self.flag)
            context_api.detach(self.token)
            self.token = None

    def fail(self, exc: BaseException) -> None:
        etype = error_type(exc)
        span = self.span
        if span.is_recording():
            span.set_attribute(sc.ERROR_TYPE, etype)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:1024]))
            span.record_exception(exc)
        if self.event is not None:
            self.events.emit(span, {**self.event, sc.ERROR_TYPE: etype})
        span.end()
        self.instruments.record_duration(perf_counter() - self.start, {**self.metric_attrs, sc.ERROR_TYPE: etype})

    def succeed(self, attrs: dict[str, Any], response_model: Any, usage: tuple[int | None, int | None]) -> None:
        span = self.span
        if self.event is not None:
            self.events.emit(span, {**self.event, **attrs})
            if not self.content.on_span:
                attrs.pop(sc.OUTPUT_MESSAGES, None)
        if attrs and span.is_recording():
            span.set_attributes(attrs)
        span.end()
        metric_attrs = self.metric_attrs
        if response_model:
            metric_attrs[sc.RESPONSE_MODEL] = response_model
        self.instruments.record_call(metric_attrs, perf_counter() - self.start, usage, self.stream_times)

    def on_http_response(self, response: Any, result: Any) -> None:
        """The SDK's answer (success or final error): its rate-limit headers onto the span and gauges."""
        attrs = rate_limit_attributes(response.headers)
        if attrs:
            template = self.metric_attrs
            apply(self.span, attrs, self.instruments, template.get(sc.PROVIDER), template.get(sc.REQUEST_MODEL))

    def record_stream_times(self) -> None:
        """Time to first chunk / per chunk of a failed stream (a finished one records them in ``succeed``)."""
        times = self.stream_times
        if times is not None:
            self.instruments.record_ttfc(times[0], self.metric_attrs)
            if times[1] is not None:
                self.instruments.record_tpoc(times[1], self.metric_attrs)


_get_current = context_api.get_current
_attach = context_api.attach
_in_context = trace.set_span_in_context
_CLIENT = SpanKind.CLIENT


def _start(tracer, instruments, content: ContentSettings, kind: str, instance, kwargs,
           events: ContentEvents | None = None) -> Invocation | None:
    """Open the span for a call, or ``None`` when this call is not ours to trace."""
    if SWITCH.paused:
        return None
    ctx = _get_current()
    get = ctx.get
    if get(SUPPRESS_KEY) or get(SUPPRESS_PLAIN_KEY):
        return None
    owner: Any = get(LLM_SPAN_KEY)
    if owner is not None and owner.is_recording():
        return None  # a higher-level instrumentor (LangChain, AgentTracer) owns this LLM call
    model = kwargs.get("model")
    template, name = utils.call_template(instance, model if isinstance(model, str) else None,
                                         sc.OP_EMBEDDINGS if kind == EMBEDDINGS else sc.OP_CHAT)
    metric_attrs = template.copy()
    attrs = template.copy()
    if kind == CHAT:
        utils.chat_request_attributes(kwargs, attrs)
    elif kind == RESPONSES:
        utils.responses_request_attributes(kwargs, attrs)
    else:
        fmt = kwargs.get("encoding_format")
        if isinstance(fmt, str):
            attrs[sc.REQUEST_ENCODING_FORMATS] = (fmt,)
    request = None
    if content.capture and kind != EMBEDDINGS:
        try:
            request = (utils.chat_request_content(kwargs, content) if kind == CHAT
                       else utils.responses_request_content(kwargs, content))
        except Exception as err:  # noqa: BLE001
            report("openai.request_content", err)
    parent = ctx if get(PARENT_CONTEXT_KEY) is None else effective_context(ctx)
    # one attribute batch at start (the content too, in the span modes): one cleaning pass in the SDK
    span = tracer.start_span(name, parent, _CLIENT, {**attrs, **request} if request and content.on_span else attrs)
    event = {**attrs, **request} if request and events is not None and span.is_recording() else None
    token = _attach(_in_context(span, parent))
    inv = Invocation(span, perf_counter(), metric_attrs, instruments, content, kind, token, None, events, event)
    inv.flag = IN_SDK_CALL.set(inv)  # the SDK's answer hooks (rate limits) find the call here
    return inv


def _finish(inv: Invocation, result: Any, attrs: dict[str, Any] | None = None) -> None:
    """Record a non-streamed result (or a stream's final response; ``attrs``: what the stream added)."""
    if type(result).__name__ == "LegacyAPIResponse":  # with_raw_response: parse once, cached by openai
        result = result.parse()
    if attrs is None:
        attrs = {}
    usage = utils.usage_attributes(getattr(result, "usage", None), attrs)
    response_model = getattr(result, "model", None)
    if isinstance(response_model, str):
        attrs[sc.RESPONSE_MODEL] = response_model
    else:
        response_model = None
    kind = inv.kind
    if kind != EMBEDDINGS:
        response_id = getattr(result, "id", None)
        if isinstance(response_id, str):
            attrs[sc.RESPONSE_ID] = response_id
        if kind == CHAT:
            choices = getattr(result, "choices", None) or ()
            attrs[sc.RESPONSE_FINISH_REASONS] = tuple(getattr(c, "finish_reason", None) or "" for c in choices)
            if inv.content.capture:
                attrs[sc.OUTPUT_MESSAGES] = inv.content.dumps(utils.chat_output_messages(choices))
        else:
            reason = utils.responses_finish_reason(result)
            if reason:
                attrs[sc.RESPONSE_FINISH_REASONS] = (reason,)
            if inv.content.capture:
                attrs[sc.OUTPUT_MESSAGES] = inv.content.dumps(utils.responses_output_messages(result))
    inv.succeed(attrs, response_model, usage)


class ChatStreamState(StreamState):
    """Accumulates a streamed chat completion."""

    __slots__ = ("inv", "first", "count", "last", "finish_reasons", "usage", "model", "response_id", "texts",
                 "calls")

    def __init__(self, inv: Invocation) -> None:
        self.inv = inv
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.finish_reasons: dict[int, str] = {}
        self.usage: Any = None
        self.model: str | None = None
        self.response_id: str | None = None
        self.texts: dict[int, list[str]] | None = {} if inv.content.capture else None
        self.calls: dict[int, dict[int, dict[str, Any]]] = {}

    def on_chunk(self, chunk: Any) -> None:
        self.count += 1
        if self.first is None:
            self.first = perf_counter()
            self.model = chunk.model
            self.response_id = chunk.id
        choices = chunk.choices
        if choices:
            for choice in choices:
                if choice.finish_reason:
                    self.finish_reasons[choice.index] = choice.finish_reason
                if self.texts is not None:
                    self._capture(choice)
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
        self.last = perf_counter() if self.count > 1 else self.first

    def _capture(self, choice: Any) -> None:
        delta = choice.delta
        if delta is None:
            return
        if delta.content and self.texts is not None:
            self.texts.setdefault(choice.index, []).append(delta.content)
        for call in delta.tool_calls or ():
            calls = self.calls.setdefault(choice.index, {})
            entry = calls.setdefault(call.index, {"type": "tool_call", "id": None, "name": None, "arguments": ""})
            if call.id:
                entry["id"] = call.id
            fn = call.function
            if fn is not None:
                if fn.name:
                    entry["name"] = fn.name
                if fn.arguments:
                    entry["arguments"] += fn.arguments

    def finish(self, exc: BaseException | None) -> None:
        inv = self.inv
        attrs: dict[str, Any] = {}
        if self.first is not None:
            ttfc = self.first - inv.start
            attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            inv.stream_times = (ttfc, (self.last - self.first) / (self.count - 1)
                                if self.count > 1 and self.last is not None else None)
        if exc is not None:
            inv.record_stream_times()
            if attrs and inv.span.is_recording():
                inv.span.set_attributes(attrs)
            inv.fail(exc)
            return
        usage = utils.usage_attributes(self.usage, attrs)
        if isinstance(self.model, str):
            attrs[sc.RESPONSE_MODEL] = self.model
        if isinstance(self.response_id, str):
            attrs[sc.RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attrs[sc.RESPONSE_FINISH_REASONS] = tuple(self.finish_reasons[i] for i in sorted(self.finish_reasons))
        if self.texts is not None:
            indexes = sorted(set(self.texts) | set(self.calls) | set(self.finish_reasons))
            messages = []
            for i in indexes:
                parts: list[dict[str, Any]] = []
                if self.texts.get(i):
                    parts.append({"type": "text", "content": "".join(self.texts[i])})
                parts.extend(self.calls.get(i, {}).values())
                messages.append({"role": "assistant", "parts": parts, "finish_reason": self.finish_reasons.get(i)})
            attrs[sc.OUTPUT_MESSAGES] = inv.content.dumps(messages)
        inv.succeed(attrs, self.model if isinstance(self.model, str) else None, usage)


class ResponsesStreamState(StreamState):
    """Accumulates a streamed Responses API answer (typed events)."""

    __slots__ = ("inv", "first", "count", "last", "final", "model", "response_id")

    def __init__(self, inv: Invocation) -> None:
        self.inv = inv
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.final: Any = None
        self.model: str | None = None
        self.response_id: str | None = None

    def on_chunk(self, event: Any) -> None:
        kind = event.type
        if kind.endswith(".delta"):
            self.count += 1
            now = perf_counter()
            if self.first is None:
                self.first = now
            self.last = now
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = event.response
        elif kind == "response.created":
            self.model = event.response.model
            self.response_id = event.response.id

    def finish(self, exc: BaseException | None) -> None:
        inv = self.inv
        attrs: dict[str, Any] = {}
        if self.first is not None:
            ttfc = self.first - inv.start
            attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            last = self.last if self.last is not None else self.first
            inv.stream_times = (ttfc, (last - self.first) / (self.count - 1) if self.count > 1 else None)
        if exc is not None:
            inv.record_stream_times()
            if attrs and inv.span.is_recording():
                inv.span.set_attributes(attrs)
            inv.fail(exc)
            return
        if self.final is not None:
            _finish(inv, self.final, attrs)
            return
        if isinstance(self.model, str):
            attrs[sc.RESPONSE_MODEL] = self.model
        if isinstance(self.response_id, str):
            attrs[sc.RESPONSE_ID] = self.response_id
        inv.succeed(attrs, self.model, (None, None))


def _is_stream(result: Any) -> bool:
    return hasattr(result, "_iterator") or type(result).__name__ in ("Stream", "AsyncStream")


def _state_for(inv: Invocation) -> StreamState:
    return ResponsesStreamState(inv) if inv.kind == RESPONSES else ChatStreamState(inv)


def _begin(kind: str, tracer, instruments: GenAIInstruments, content: ContentSettings, instance, kwargs,
           events: ContentEvents | None = None):
    """The call's telemetry, or None (a fault of ours never stops the host's call)."""
    try:
        return _start(tracer, instruments, content, kind, instance, kwargs, events)
    except Exception as err:  # noqa: BLE001
        report(f"openai.{kind}.start", err)
        return None


def _failed(inv: Invocation, kind: str, exc: BaseException) -> None:
    """Record the host's exception (the caller re-raises it unchanged)."""
    try:
        inv.release()
        inv.fail(exc)
    except Exception as err:  # noqa: BLE001
        report(f"openai.{kind}.fail", err)


def _returned(inv: Invocation, kind: str, kwargs, result, stream_proxy):
    """Finish the telemetry of a returned call; a stream is handed back wrapped in ``stream_proxy``."""
    try:
        inv.release()
        if kwargs.get("stream") is True:
            if _is_stream(result):
                return stream_proxy(result, _state_for(inv))
            inv.succeed({}, None, (None, None))  # a raw response around a stream: nothing to read
        else:
            _finish(inv, result)
    except Exception as err:  # noqa: BLE001
        report(f"openai.{kind}.finish", err)
        _end_quietly(inv)
    return result


def sync_wrapper(kind: str, tracer, instruments: GenAIInstruments, content: ContentSettings,
                 events: ContentEvents | None = None):
    """Wrapper for a synchronous ``create``."""

    def traced(wrapped, instance, args, kwargs):
        inv = _begin(kind, tracer, instruments, content, instance, kwargs, events)
        if inv is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(inv, kind, exc)
            raise
        return _returned(inv, kind, kwargs, result, SyncStreamProxy)

    return traced


def async_wrapper(kind: str, tracer, instruments: GenAIInstruments, content: ContentSettings,
                  events: ContentEvents | None = None):
    """Wrapper for an asynchronous ``create``."""

    async def traced(wrapped, instance, args, kwargs):
        inv = _begin(kind, tracer, instruments, content, instance, kwargs, events)
        if inv is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(inv, kind, exc)
            raise
        return _returned(inv, kind, kwargs, result, AsyncStreamProxy)

    return traced


def _finish_helper_stream(helper: Any) -> None:
    """End the span of the raw stream under a ``.stream()`` helper (its ``close`` only closes the response)."""
    try:
        raw = getattr(helper, "_raw_stream", None)
        if isinstance(raw, (SyncStreamProxy, AsyncStreamProxy)):
            raw._self_finish(None)
    except Exception as err:  # noqa: BLE001
        report("openai.stream_helper.close", err)


def helper_close_wrapper(wrapped, instance, args, kwargs):
    """``close()`` of the ``.stream()`` helpers' streams (sync): the span ends with the stream.

    The helpers call the traced ``create(stream=True)`` when entered, so that call is the one LLM span;
    exhausting the stream ends it as usual, and leaving the ``with`` block early ends it here.
    """
    try:
        return wrapped(*args, **kwargs)
    finally:
        _finish_helper_stream(instance)


async def async_helper_close_wrapper(wrapped, instance, args, kwargs):
    """``close()`` of the async ``.stream()`` helpers' streams."""
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _finish_helper_stream(instance)


def _end_quietly(inv: Invocation) -> None:
    try:
        if getattr(inv.span, "end_time", 1) is None:
            inv.span.end()
    except Exception:  # noqa: BLE001
        pass
