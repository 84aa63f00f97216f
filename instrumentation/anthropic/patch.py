"""The Anthropic client's ``request`` (sync and async), for Messages API calls.

Every path to the Messages API (``messages.create``, ``.stream()``, ``.parse()``, the beta variants, raw
responses, LangChain's ``ChatAnthropic``) goes through the client's ``request``, which also starts the SDK's
own span when the SDK traces itself (``anthropic`` 2.x with a tracer: ``anthropic.messages.create``). Per
call, one of two modes:

- **native**: the SDK makes the span. We make none; while the SDK's span is open we add what it leaves out
  (``gen_ai.response.finish_reasons``, reasoning block count, rate-limit status, opt-in content when the SDK
  itself records none, request sampling parameters) and record the GenAI metrics and the content event
  from our own reading of the answer.
- **own** (an SDK without native tracing, or a client whose tracing is off): a ``chat {model}`` CLIENT span
  of ours, with the same attributes as our OpenAI spans.

The host's call runs exactly once; telemetry faults are reported and swallowed; the host's own exceptions
are re-raised unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from time import perf_counter
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, ProxyTracer, SpanKind, Status, StatusCode

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
from agentotel.instrumentation._guard import report
from agentotel.instrumentation._ratelimit import rate_limit_attributes
from agentotel.instrumentation._stream import AsyncStreamProxy, StreamState, SyncStreamProxy
from agentotel.instrumentation.anthropic import utils
from agentotel.instrumentation.instruments import GenAIInstruments

_get_current = context_api.get_current
_CLIENT = SpanKind.CLIENT
# what the SDK's own span lacks and we add to it (it records id, model, usage and time to first chunk itself)
_NATIVE_MISSING = (sc.RESPONSE_FINISH_REASONS, sc.RESPONSE_REASONING_BLOCKS)


def native_tracing(client: Any) -> bool:
    """Whether ``client`` (anthropic ≥ 2) starts its own span for each call: it has a tracer that is not
    a no-op (a proxy tracer counts once the application set a real provider)."""
    try:
        tracer = client._tracer
    except AttributeError:
        return False  # an SDK without native tracing
    if tracer is None:
        return False  # tracing off for this client (open_telemetry=False, ANTHROPIC_OPEN_TELEMETRY=false)
    if isinstance(tracer, ProxyTracer):
        tracer = tracer._tracer  # the real tracer once a provider is set, else a no-op one
    return not isinstance(tracer, NoOpTracer)


class AnthropicCall:
    """One Messages API call in flight.

    ``own``: the span is ours (started here, ended at the end of the call or stream). Otherwise ``span`` is
    the SDK's span, found current when the SDK hands us its answer (``on_http_response``), or ``None``.
    """

    __slots__ = ("span", "own", "start", "metric_attrs", "instruments", "content", "events", "event", "body",
                 "token", "flag", "stream_times", "sdk_content", "answer", "caller_span")

    def __init__(self, span: Any, own: bool, metric_attrs: dict[str, Any], instruments: GenAIInstruments,
                 content: ContentSettings, events: ContentEvents | None, event: dict[str, Any] | None,
                 body: Mapping[str, Any], sdk_content: bool) -> None:
        self.span = span
        self.own = own
        self.start = perf_counter()
        self.metric_attrs = metric_attrs
        self.instruments = instruments
        self.content = content
        self.events = events
        self.event = event
        self.body = body
        self.token: Any = None
        self.flag: Any = None
        self.stream_times: tuple[float, float | None] | None = None
        self.sdk_content = sdk_content  # the SDK records content on its own span
        self.answer: tuple[dict[str, Any], tuple[int | None, int | None]] | None = None
        self.caller_span: Any = None  # native mode: the span current when the call began (not the SDK's)

    def release(self) -> None:
        """Restore the caller's context (a stream's span stays open)."""
        if self.flag is not None:
            IN_SDK_CALL.reset(self.flag)
            self.flag = None
        if self.token is not None:
            context_api.detach(self.token)
            self.token = None

    # the SDK's answer hooks ----------------------------------------------------------------------------
    def on_http_response(self, response: Any, result: Any) -> None:
        """An answer (success or final error), while the call's span is current and open."""
        span = self.span
        extra: dict[str, Any] = {}
        if not self.own:
            current = trace.get_current_span()
            if span is None and current is not self.caller_span and _sdk_span(current):
                self.span = span = current  # the SDK's span
                extra = self._native_request_attributes()
            if span is not None and _is_message(result):
                attrs: dict[str, Any] = {}
                usage = utils.message_attributes(result, attrs, self.content)
                self.answer = (attrs, usage)  # read once: the end of the call takes it from here
                for key in _NATIVE_MISSING:
                    if key in attrs:
                        extra[key] = attrs[key]
                if sc.OUTPUT_MESSAGES in attrs and self.content.on_span and not self.sdk_content:
                    extra[sc.OUTPUT_MESSAGES] = attrs[sc.OUTPUT_MESSAGES]
        limits = rate_limit_attributes(response.headers)
        if limits:
            extra.update(limits)
            self.instruments.record_rate_limits(limits, utils.PROVIDER, self.metric_attrs.get(sc.REQUEST_MODEL))
        if extra and span is not None and span.is_recording():
            span.set_attributes(extra)

    def _native_request_attributes(self) -> dict[str, Any]:
        """What the SDK's span lacks of the request: sampling parameters, stop sequences, opt-in content."""
        attrs: dict[str, Any] = {}
        body = self.body
        for key, attr, cast in utils.REQUEST_PARAMS:
            value = body.get(key)
            if value is not None and type(value) in (int, float):
                attrs[attr] = cast(value)
        stop = body.get("stop_sequences")
        if isinstance(stop, (list, tuple)) and stop:
            attrs[sc.REQUEST_STOP] = tuple(str(s) for s in stop)
        if self.content.on_span and not self.sdk_content:
            attrs.update(utils.request_content(body, self.content))
        return attrs

    def set_on_native(self, attrs: dict[str, Any]) -> None:
        """Attributes for the SDK's span while it is still open (streams: before the SDK ends it)."""
        span = self.span
        if not self.own and span is not None and attrs and span.is_recording():
            span.set_attributes(attrs)

    # outcome -------------------------------------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        etype = utils.error_type(exc)
        span = self.span
        if self.own:
            if span.is_recording():
                span.set_attribute(sc.ERROR_TYPE, etype)
                span.set_status(Status(StatusCode.ERROR, str(exc)[:1024]))
                span.record_exception(exc)
        if self.event is not None and span is not None and self.events is not None:
            self.events.emit(span, {**self.event, sc.ERROR_TYPE: etype})
        if self.own:
            span.end()
        self.instruments.record_duration(perf_counter() - self.start, {**self.metric_attrs, sc.ERROR_TYPE: etype})

    def succeed(self, attrs: dict[str, Any], usage: tuple[int | None, int | None]) -> None:
        span = self.span
        if self.event is not None and span is not None and self.events is not None:
            self.events.emit(span, {**self.event, **attrs})
        if self.own:
            if not self.content.on_span:
                attrs.pop(sc.OUTPUT_MESSAGES, None)
            if attrs and span.is_recording():
                span.set_attributes(attrs)
            span.end()
        metric_attrs = self.metric_attrs
        model = attrs.get(sc.RESPONSE_MODEL)
        if model:
            metric_attrs[sc.RESPONSE_MODEL] = model
        self.instruments.record_call(metric_attrs, perf_counter() - self.start, usage, self.stream_times)

    def finish_result(self, result: Any) -> None:
        """A non-streamed answer: a Message, or a raw response (read when its body is)."""
        answer = self.answer
        if answer is not None:
            self.succeed(answer[0], answer[1])
            return
        message = result
        http = None if _is_message(result) else getattr(result, "http_response", None)
        if http is not None:  # with_raw_response: read the body the SDK read
            message = None
            if http.is_closed and http.headers.get("content-type", "").startswith("application/json"):
                message = http.json()
        attrs: dict[str, Any] = {}
        usage = utils.message_attributes(message, attrs, self.content) if message is not None else (None, None)
        self.succeed(attrs, usage)


class MessageStreamState(StreamState):
    """Reads a streamed Message's events (``message_start`` … ``message_stop``) as the caller reads them."""

    __slots__ = ("call", "first", "last", "count", "model", "response_id", "usage", "stop", "reasoning", "blocks")

    def __init__(self, call: AnthropicCall) -> None:
        self.call = call
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: dict[str, Any] = {}
        self.stop: str | None = None
        self.reasoning = 0
        # index → [type, text pieces, id, name] when content is captured
        self.blocks: dict[int, list[Any]] | None = {} if call.content.capture else None

    def on_chunk(self, event: Any) -> None:
        kind = event.type
        if kind == "content_block_delta":
            now = perf_counter()
            self.count += 1
            if self.first is None:
                self.first = now
            self.last = now
            if self.blocks is not None:
                delta = event.delta
                block = self.blocks.get(event.index)
                if block is not None:
                    piece = (getattr(delta, "text", None) or getattr(delta, "thinking", None)
                             or getattr(delta, "partial_json", None))
                    if piece:
                        block[1].append(piece)
        elif kind == "content_block_start":
            block = event.content_block
            btype = block.type
            if btype in ("thinking", "redacted_thinking"):
                self.reasoning += 1
            if self.blocks is not None:
                self.blocks[event.index] = [btype, [], getattr(block, "id", None), getattr(block, "name", None)]
        elif kind == "message_start":
            message = event.message
            self.model = message.model
            self.response_id = message.id
            self._merge_usage(message.usage)
        elif kind == "message_delta":
            self.stop = getattr(event.delta, "stop_reason", None)
            self._merge_usage(getattr(event, "usage", None))
            if self.stop:
                self.call.set_on_native({sc.RESPONSE_FINISH_REASONS: (self.stop,)})
        elif kind == "message_stop":
            call = self.call
            if not call.own:  # the SDK ends its span when the body ends, right after this event
                attrs: dict[str, Any] = {}
                if self.reasoning:
                    attrs[sc.RESPONSE_REASONING_BLOCKS] = self.reasoning
                if self.blocks is not None and call.content.on_span and not call.sdk_content:
                    attrs[sc.OUTPUT_MESSAGES] = call.content.dumps([self._output()])
                call.set_on_native(attrs)

    def _merge_usage(self, usage: Any) -> None:
        if usage is None:
            return
        for name in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = getattr(usage, name, None)
            if value is not None:
                self.usage[name] = value
        details = getattr(usage, "output_tokens_details", None)
        if details is not None:
            self.usage["output_tokens_details"] = details

    def _output(self) -> dict[str, Any]:
        blocks = []
        for index in sorted(self.blocks or {}):
            btype, pieces, block_id, name = (self.blocks or {})[index]
            text = "".join(pieces)
            if btype == "tool_use":
                try:
                    arguments: Any = json.loads(text) if text else {}
                except ValueError:
                    arguments = text
                blocks.append({"type": "tool_use", "id": block_id, "name": name, "input": arguments})
            elif btype == "thinking":
                blocks.append({"type": "thinking", "thinking": text})
            else:
                blocks.append({"type": btype, "text": text})
        return utils.output_message(blocks, self.stop)

    def finish(self, exc: BaseException | None) -> None:
        call = self.call
        attrs: dict[str, Any] = {}
        if self.first is not None:
            ttfc = self.first - call.start
            if call.own:
                attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            last = self.last if self.last is not None else self.first
            call.stream_times = (ttfc, (last - self.first) / (self.count - 1) if self.count > 1 else None)
        if exc is not None:
            times = call.stream_times
            if times is not None:
                call.instruments.record_ttfc(times[0], call.metric_attrs)
                if times[1] is not None:
                    call.instruments.record_tpoc(times[1], call.metric_attrs)
            if attrs and call.own and call.span.is_recording():
                call.span.set_attributes(attrs)
            call.fail(exc)
            return
        if isinstance(self.model, str):
            attrs[sc.RESPONSE_MODEL] = self.model
        if isinstance(self.response_id, str):
            attrs[sc.RESPONSE_ID] = self.response_id
        if self.stop:
            attrs[sc.RESPONSE_FINISH_REASONS] = (self.stop,)
        if self.reasoning:
            attrs[sc.RESPONSE_REASONING_BLOCKS] = self.reasoning
        usage = utils.usage_attributes(self.usage, attrs) if self.usage else (None, None)
        if self.blocks is not None:
            attrs[sc.OUTPUT_MESSAGES] = call.content.dumps([self._output()])
        call.succeed(attrs, usage)


def _sdk_span(span: Any) -> bool:
    """Whether ``span`` (current while the SDK handles the answer) is the SDK's own recording span: a span
    the SDK did not start (sampled out) leaves the caller's current, which must not get the call's attributes."""
    if not span.is_recording():
        return False
    scope = getattr(span, "instrumentation_scope", None)
    return scope is None or str(getattr(scope, "name", "")).startswith("com.anthropic")


def _is_message(result: Any) -> bool:
    """A parsed Message (``Message``, ``ParsedMessage``, ``BetaMessage``…): one of the SDK's response types."""
    return type(result).__module__.startswith("anthropic.types")


def _is_stream(result: Any) -> bool:
    return hasattr(result, "_iterator") and hasattr(result, "response")


def _start(tracer: Any, instruments: GenAIInstruments, content: ContentSettings, events: ContentEvents | None,
           client: Any, args: tuple, kwargs: dict[str, Any]) -> AnthropicCall | None:
    """The call's telemetry, or ``None`` when the request is not a Messages call of ours to trace."""
    options = args[1] if len(args) > 1 else kwargs.get("options")
    if not utils.is_messages_call(options):
        return None
    ctx = _get_current()
    get = ctx.get
    if get(SUPPRESS_KEY) or get(SUPPRESS_PLAIN_KEY):
        return None
    owner: Any = get(LLM_SPAN_KEY)
    if owner is not None and owner.is_recording():
        return None  # a higher-level instrumentor (LangChain, AgentTracer) owns this LLM call
    raw_body = getattr(options, "json_data", None)
    body: Mapping[str, Any] = raw_body if isinstance(raw_body, Mapping) else {}
    model = body.get("model")
    model = model if isinstance(model, str) else None
    address, port = utils.server_of(client)
    template: dict[str, Any] = {sc.OPERATION: sc.OP_CHAT, sc.PROVIDER: utils.PROVIDER}
    if model:
        template[sc.REQUEST_MODEL] = model
    if address:
        template[sc.SERVER_ADDRESS] = address
        template[sc.SERVER_PORT] = port
    attrs = template.copy()
    utils.request_attributes(body, attrs)
    if kwargs.get("stream") is True:
        attrs[sc.REQUEST_STREAM] = True
    request = None
    if content.capture:
        try:
            request = utils.request_content(body, content)
        except Exception as err:  # noqa: BLE001
            report("anthropic.request_content", err)
    native = native_tracing(client)
    sdk_content = bool(getattr(getattr(client, "_otel", None), "records_content", False)) if native else False
    if native:
        event = {**attrs, **request} if request and events is not None else None
        call = AnthropicCall(None, False, template.copy(), instruments, content, events, event, body, sdk_content)
        call.caller_span = trace.get_current_span(ctx)
    else:
        parent = ctx if get(PARENT_CONTEXT_KEY) is None else effective_context(ctx)
        span = tracer.start_span(f"{sc.OP_CHAT} {model}" if model else sc.OP_CHAT, parent, _CLIENT,
                                 {**attrs, **request} if request and content.on_span else attrs)
        event = {**attrs, **request} if request and events is not None and span.is_recording() else None
        call = AnthropicCall(span, True, template.copy(), instruments, content, events, event, body, False)
        call.token = context_api.attach(trace.set_span_in_context(span, parent))
    call.flag = IN_SDK_CALL.set(call)
    return call


def _begin(tracer, instruments, content, events, client, args, kwargs) -> AnthropicCall | None:
    try:
        return _start(tracer, instruments, content, events, client, args, kwargs)
    except Exception as err:  # noqa: BLE001 - a fault of ours never stops the host's call
        report("anthropic.start", err)
        return None


def _failed(call: AnthropicCall, exc: BaseException) -> None:
    try:
        call.release()
        call.fail(exc)
    except Exception as err:  # noqa: BLE001
        report("anthropic.fail", err)


def _returned(call: AnthropicCall, result: Any, stream_proxy: type) -> Any:
    try:
        call.release()
        if _is_message(result):
            call.finish_result(result)
        elif _is_stream(result):
            return stream_proxy(result, MessageStreamState(call))
        elif getattr(result, "http_response", None) is not None and not result.http_response.is_closed:
            call.succeed({}, (None, None))  # a raw response still to be read (streamed): nothing to read here
        else:
            call.finish_result(result)
    except Exception as err:  # noqa: BLE001
        report("anthropic.finish", err)
        _end_quietly(call)
    return result


def _end_quietly(call: AnthropicCall) -> None:
    try:
        if call.own and getattr(call.span, "end_time", 1) is None:
            call.span.end()
    except Exception:  # noqa: BLE001
        pass


def sync_wrapper(tracer, instruments: GenAIInstruments, content: ContentSettings, events: ContentEvents | None):
    """Wrapper for ``SyncAPIClient.request``."""

    def traced(wrapped, instance, args, kwargs):
        call = _begin(tracer, instruments, content, events, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        return _returned(call, result, SyncStreamProxy)

    return traced


def async_wrapper(tracer, instruments: GenAIInstruments, content: ContentSettings, events: ContentEvents | None):
    """Wrapper for ``AsyncAPIClient.request``."""

    async def traced(wrapped, instance, args, kwargs):
        call = _begin(tracer, instruments, content, events, instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        return _returned(call, result, AsyncStreamProxy)

    return traced
