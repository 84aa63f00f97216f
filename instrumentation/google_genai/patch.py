"""Wrapper factories for the Google GenAI client (sync ``Models`` and async ``AsyncModels``).

One ``generate_content {model}`` CLIENT span per model request: the SDK's private ``_generate_content`` /
``_generate_content_stream`` are the single requests under the public methods (which may loop for
automatic function calling and continuation), so each model call is one span with its own usage.
``embed_content`` is one ``embeddings {model}`` span. Python functions run by automatic function calling
become ``execute_tool {name}`` spans. google-genai has no tracing of its own (checked up to 3.6).

The host's call runs exactly once; telemetry faults are reported and swallowed; the host's own exceptions
are re-raised unchanged.
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
from agentotel.instrumentation._guard import report
from agentotel.instrumentation._ratelimit import apply, rate_limit_attributes, retry_info_attributes
from agentotel.instrumentation._stream import AsyncStreamProxy, StreamState, SyncStreamProxy
from agentotel.instrumentation.google_genai import utils
from agentotel.instrumentation.instruments import GenAIInstruments

GENERATE, EMBED = utils.OP_GENERATE_CONTENT, sc.OP_EMBEDDINGS
_get_current = context_api.get_current
_CLIENT = SpanKind.CLIENT


class GeminiCall:
    """One model request in flight: its span, start time and metric attributes."""

    __slots__ = ("span", "start", "metric_attrs", "instruments", "content", "events", "event", "token", "flag",
                 "stream_times", "operation")

    def __init__(self, span: Any, metric_attrs: dict[str, Any], instruments: GenAIInstruments,
                 content: ContentSettings, events: ContentEvents | None, event: dict[str, Any] | None,
                 operation: str) -> None:
        self.span = span
        self.start = perf_counter()
        self.metric_attrs = metric_attrs
        self.instruments = instruments
        self.content = content
        self.events = events
        self.event = event
        self.operation = operation
        self.token: Any = None
        self.flag: Any = None
        self.stream_times: tuple[float, float | None] | None = None

    def release(self) -> None:
        if self.flag is not None:
            IN_SDK_CALL.reset(self.flag)
            self.flag = None
        if self.token is not None:
            context_api.detach(self.token)
            self.token = None

    def rate_limits(self, headers: Any, details: Any = None) -> None:
        """Rate-limit status of an answer: its headers, and a Google error body's RetryInfo/QuotaFailure."""
        attrs = rate_limit_attributes(headers) if headers else None
        if details is not None:
            extra = retry_info_attributes(details)
            if extra:
                attrs = {**(attrs or {}), **extra}
        if attrs:
            template = self.metric_attrs
            apply(self.span, attrs, self.instruments, template.get(sc.PROVIDER), template.get(sc.REQUEST_MODEL))

    def fail(self, exc: BaseException) -> None:
        etype = utils.error_type(exc)
        span = self.span
        response = getattr(exc, "response", None)
        details = getattr(exc, "details", None)
        if response is not None or details is not None:
            self.rate_limits(getattr(response, "headers", None), details)
        if span.is_recording():
            span.set_attribute(sc.ERROR_TYPE, etype)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:1024]))
            span.record_exception(exc)
        if self.event is not None and self.events is not None:
            self.events.emit(span, {**self.event, sc.ERROR_TYPE: etype})
        span.end()
        self.instruments.record_duration(perf_counter() - self.start, {**self.metric_attrs, sc.ERROR_TYPE: etype})

    def succeed(self, attrs: dict[str, Any], usage: tuple[int | None, int | None]) -> None:
        span = self.span
        if self.event is not None and self.events is not None:
            self.events.emit(span, {**self.event, **attrs})
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
        http = getattr(result, "sdk_http_response", None)
        if http is not None:
            self.rate_limits(getattr(http, "headers", None))
        attrs: dict[str, Any] = {}
        if self.operation == EMBED:
            tokens = _embedding_tokens(result)
            if tokens is not None:
                attrs[sc.USAGE_INPUT] = tokens
            self.succeed(attrs, (tokens, None))
            return
        usage = utils.response_attributes(result, attrs, self.content)
        self.succeed(attrs, usage)


def _embedding_tokens(result: Any) -> int | None:
    """Input tokens of an embeddings answer (Vertex AI reports them per embedding; the Gemini API does not)."""
    total = None
    for embedding in getattr(result, "embeddings", None) or ():
        count = getattr(getattr(embedding, "statistics", None), "token_count", None)
        if isinstance(count, (int, float)) and count >= 0:
            total = (total or 0) + int(count)
    return total


class ContentStreamState(StreamState):
    """Accumulates a streamed ``generate_content`` answer (each chunk a ``GenerateContentResponse``)."""

    __slots__ = ("call", "first", "last", "count", "model", "response_id", "usage", "reasons", "reasoning",
                 "thinking", "parts", "headers")

    def __init__(self, call: GeminiCall) -> None:
        self.call = call
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: Any = None
        self.reasons: dict[int, str] = {}
        self.reasoning = 0
        self.thinking: dict[int, bool] = {}  # candidate index → inside a run of thought parts
        self.parts: dict[int, list[Any]] | None = {} if call.content.capture else None
        self.headers: Any = None

    def on_chunk(self, chunk: Any) -> None:
        now = perf_counter()
        self.count += 1
        if self.first is None:
            self.first = now
            self.model = getattr(chunk, "model_version", None)  # fields that older SDK versions lack
            self.response_id = getattr(chunk, "response_id", None)
            http = getattr(chunk, "sdk_http_response", None)
            self.headers = getattr(http, "headers", None)
        self.last = now
        usage = chunk.usage_metadata
        if usage is not None:
            self.usage = usage  # running counts; the last chunk has the totals
        for position, candidate in enumerate(chunk.candidates or ()):
            index = candidate.index if candidate.index is not None else position
            reason = candidate.finish_reason
            if reason is not None:
                self.reasons[index] = utils.finish_reason(candidate) or ""
            content = candidate.content
            for part in (content.parts if content is not None else None) or ():
                thought = bool(part.thought)
                if thought and not self.thinking.get(index):
                    self.reasoning += 1
                self.thinking[index] = thought
                if self.parts is not None:
                    self.parts.setdefault(index, []).append(part)

    def _output(self) -> list[dict[str, Any]]:
        messages = []
        for index in sorted(set(self.parts or {}) | set(self.reasons)):
            merged: list[dict[str, Any]] = []
            for value in (self.parts or {}).get(index, ()):
                converted = utils.part(value)
                if converted is None:
                    continue
                last = merged[-1] if merged else None
                if (last is not None and converted["type"] in ("text", "reasoning") and last["type"] == converted["type"]):
                    last["content"] = (last.get("content") or "") + (converted.get("content") or "")
                else:
                    merged.append(converted)
            reason = self.reasons.get(index)
            messages.append({"role": "assistant", "parts": merged,
                             "finish_reason": utils.FINISH_REASONS.get(reason, reason) if reason else None})
        return messages

    def finish(self, exc: BaseException | None) -> None:
        call = self.call
        attrs: dict[str, Any] = {}
        if self.headers:
            call.rate_limits(self.headers)
        if self.first is not None:
            ttfc = self.first - call.start
            attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            last = self.last if self.last is not None else self.first
            call.stream_times = (ttfc, (last - self.first) / (self.count - 1) if self.count > 1 else None)
        if exc is not None:
            times = call.stream_times
            if times is not None:
                call.instruments.record_ttfc(times[0], call.metric_attrs)
                if times[1] is not None:
                    call.instruments.record_tpoc(times[1], call.metric_attrs)
            if attrs and call.span.is_recording():
                call.span.set_attributes(attrs)
            call.fail(exc)
            return
        if isinstance(self.model, str) and self.model:
            attrs[sc.RESPONSE_MODEL] = utils.model_name(self.model)
        if isinstance(self.response_id, str) and self.response_id:
            attrs[sc.RESPONSE_ID] = self.response_id
        if self.reasons:
            attrs[sc.RESPONSE_FINISH_REASONS] = tuple(self.reasons[i] for i in sorted(self.reasons))
        if self.reasoning:
            attrs[sc.RESPONSE_REASONING_BLOCKS] = self.reasoning
        usage = utils.usage_attributes(self.usage, attrs)
        if self.parts is not None:
            attrs[sc.OUTPUT_MESSAGES] = call.content.dumps(self._output())
        call.succeed(attrs, usage)


def _start(operation: str, tracer: Any, instruments: GenAIInstruments, content: ContentSettings,
           events: ContentEvents | None, instance: Any, kwargs: dict[str, Any], streaming: bool) -> GeminiCall | None:
    ctx = _get_current()
    get = ctx.get
    if get(SUPPRESS_KEY) or get(SUPPRESS_PLAIN_KEY):
        return None
    owner: Any = get(LLM_SPAN_KEY)
    if owner is not None and owner.is_recording():
        return None  # a higher-level instrumentor (LangChain, AgentTracer) owns this model call
    model = utils.model_name(kwargs.get("model"))
    provider, address, port = utils.server_of(getattr(instance, "_api_client", None))
    template: dict[str, Any] = {sc.OPERATION: operation, sc.PROVIDER: provider}
    if model:
        template[sc.REQUEST_MODEL] = model
    if address:
        template[sc.SERVER_ADDRESS] = address
        template[sc.SERVER_PORT] = port
    attrs = template.copy()
    config = kwargs.get("config")
    request = None
    if operation == GENERATE:
        utils.request_attributes(config, attrs)
        if streaming:
            attrs[sc.REQUEST_STREAM] = True
        if content.capture:
            try:
                request = utils.request_content(kwargs.get("contents"), config, content)
            except Exception as err:  # noqa: BLE001
                report("google_genai.request_content", err)
    parent = ctx if get(PARENT_CONTEXT_KEY) is None else effective_context(ctx)
    span = tracer.start_span(f"{operation} {model}" if model else operation, parent, _CLIENT,
                             {**attrs, **request} if request and content.on_span else attrs)
    event = {**attrs, **request} if request and events is not None and span.is_recording() else None
    call = GeminiCall(span, template, instruments, content, events, event, operation)
    call.token = context_api.attach(trace.set_span_in_context(span, parent))
    call.flag = IN_SDK_CALL.set(call)
    return call


def _begin(operation, tracer, instruments, content, events, instance, kwargs, streaming) -> GeminiCall | None:
    try:
        return _start(operation, tracer, instruments, content, events, instance, kwargs, streaming)
    except Exception as err:  # noqa: BLE001 - a fault of ours never stops the host's call
        report(f"google_genai.{operation}.start", err)
        return None


def _failed(call: GeminiCall, exc: BaseException) -> None:
    try:
        call.release()
        call.fail(exc)
    except Exception as err:  # noqa: BLE001
        report("google_genai.fail", err)


def _returned(call: GeminiCall, result: Any) -> Any:
    try:
        call.release()
        call.finish_result(result)
    except Exception as err:  # noqa: BLE001
        report("google_genai.finish", err)
        _end_quietly(call)
    return result


def _streamed(call: GeminiCall, result: Any, proxy: type) -> Any:
    try:
        call.release()
        return proxy(result, ContentStreamState(call))
    except Exception as err:  # noqa: BLE001
        report("google_genai.stream", err)
        _end_quietly(call)
        return result


def _end_quietly(call: GeminiCall) -> None:
    try:
        if getattr(call.span, "end_time", 1) is None:
            call.span.end()
    except Exception:  # noqa: BLE001
        pass


def sync_wrapper(operation: str, tracer, instruments: GenAIInstruments, content: ContentSettings,
                 events: ContentEvents | None):
    """``Models._generate_content`` / ``Models.embed_content``."""

    def traced(wrapped, instance, args, kwargs):
        call = _begin(operation, tracer, instruments, content, events, instance, kwargs, False)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        return _returned(call, result)

    return traced


def async_wrapper(operation: str, tracer, instruments: GenAIInstruments, content: ContentSettings,
                  events: ContentEvents | None):
    """``AsyncModels._generate_content`` / ``AsyncModels.embed_content``."""

    async def traced(wrapped, instance, args, kwargs):
        call = _begin(operation, tracer, instruments, content, events, instance, kwargs, False)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        return _returned(call, result)

    return traced


def sync_stream_wrapper(operation: str, tracer, instruments: GenAIInstruments, content: ContentSettings,
                        events: ContentEvents | None):
    """``Models._generate_content_stream``: a generator (the request is sent on the first ``next``)."""

    def traced(wrapped, instance, args, kwargs):
        call = _begin(operation, tracer, instruments, content, events, instance, kwargs, True)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        return _streamed(call, result, SyncStreamProxy)

    return traced


def async_stream_wrapper(operation: str, tracer, instruments: GenAIInstruments, content: ContentSettings,
                         events: ContentEvents | None):
    """``AsyncModels._generate_content_stream``: awaiting it sends the request, then an async generator."""

    async def traced(wrapped, instance, args, kwargs):
        call = _begin(operation, tracer, instruments, content, events, instance, kwargs, True)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        return _streamed(call, result, AsyncStreamProxy)

    return traced


# --------------------------------------------------------------------------- automatic function calling

def _tool_start(tracer: Any, content: ContentSettings, args: tuple, kwargs: dict[str, Any]) -> tuple[Any, Any, str]:
    call_args = args[0] if args else kwargs.get("args")
    function = args[1] if len(args) > 1 else kwargs.get("function_to_invoke")
    name = getattr(function, "__name__", None) or "tool"
    attrs: dict[str, Any] = {sc.OPERATION: sc.OP_EXECUTE_TOOL, sc.TOOL_NAME: name, sc.TOOL_TYPE: "function"}
    if content.on_span and call_args is not None:
        attrs[sc.TOOL_CALL_ARGUMENTS] = content.dumps(call_args)
    parent = _get_current()
    span = tracer.start_span(f"{sc.OP_EXECUTE_TOOL} {name}", parent, SpanKind.INTERNAL, attrs)
    token = context_api.attach(trace.set_span_in_context(span, parent))
    return span, token, name


def _tool_end(span: Any, token: Any, name: str, instruments: GenAIInstruments, content: ContentSettings,
              result: Any, exc: BaseException | None) -> None:
    context_api.detach(token)
    if span.is_recording():
        if exc is not None:
            cause = exc.__cause__ or exc.__context__ or exc
            span.set_attribute(sc.ERROR_TYPE, type(cause).__qualname__)
            span.set_status(Status(StatusCode.ERROR, str(cause)[:1024]))
        elif content.on_span:
            span.set_attribute(sc.TOOL_CALL_RESULT, content.dumps(result))
    span.end()
    instruments.record_tool(name, "error" if exc is not None else None)


def tool_wrapper(tracer, instruments: GenAIInstruments, content: ContentSettings):
    """``_extra_utils.invoke_function_from_dict_args(args, function)``: one ``execute_tool`` span."""

    def traced(wrapped, instance, args, kwargs):
        try:
            span, token, name = _tool_start(tracer, content, args, kwargs)
        except Exception as err:  # noqa: BLE001
            report("google_genai.tool.start", err)
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            try:
                _tool_end(span, token, name, instruments, content, None, exc)
            except Exception as err:  # noqa: BLE001
                report("google_genai.tool.end", err)
            raise
        try:
            _tool_end(span, token, name, instruments, content, result, None)
        except Exception as err:  # noqa: BLE001
            report("google_genai.tool.end", err)
        return result

    return traced


def async_tool_wrapper(tracer, instruments: GenAIInstruments, content: ContentSettings):
    """``_extra_utils.invoke_function_from_dict_args_async``."""

    async def traced(wrapped, instance, args, kwargs):
        try:
            span, token, name = _tool_start(tracer, content, args, kwargs)
        except Exception as err:  # noqa: BLE001
            report("google_genai.tool.start", err)
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            try:
                _tool_end(span, token, name, instruments, content, None, exc)
            except Exception as err:  # noqa: BLE001
                report("google_genai.tool.end", err)
            raise
        try:
            _tool_end(span, token, name, instruments, content, result, None)
        except Exception as err:  # noqa: BLE001
            report("google_genai.tool.end", err)
        return result

    return traced


# -- automatic function calling: the SDK's own agent loop ----------------------------------------------
AFC_AGENT_NAME = "gemini-automatic-function-calling"


def runs_functions(config: Any) -> bool:
    """Whether ``generate_content`` will call Python functions itself (automatic function calling)."""
    if config is None:
        return False
    get = config.get if isinstance(config, dict) else lambda key: getattr(config, key, None)
    tools = get("tools") or ()
    if not any(callable(tool) for tool in tools):
        return False
    afc = get("automatic_function_calling")
    disabled = afc.get("disable") if isinstance(afc, dict) else getattr(afc, "disable", None)
    return not disabled


def _agent_scope(agents: Any, instance: Any, kwargs: dict[str, Any]) -> Any:
    """An ``invoke_agent`` scope around one function-calling loop, unless an agent span is already current
    (the application's own agent owns the loop then)."""
    try:
        if not runs_functions(kwargs.get("config")):
            return None
        current = trace.get_current_span()
        if (getattr(current, "attributes", None) or {}).get(sc.OPERATION) == sc.OP_INVOKE_AGENT:
            return None
        provider = utils.server_of(getattr(instance, "_api_client", None))[0]
        model = kwargs.get("model")
        return agents.trace_agent_call(AFC_AGENT_NAME, attributes={
            sc.PROVIDER: provider, **({sc.REQUEST_MODEL: str(model)} if model else {})})
    except Exception as err:  # noqa: BLE001 - telemetry never breaks the host
        report("google_genai.afc", err)
        return None


def afc_wrapper(agents: Any):
    """``Models.generate_content``: the loop of model requests and function calls as one agent span."""

    def traced(wrapped, instance, args, kwargs):
        scope = _agent_scope(agents, instance, kwargs)
        if scope is None:
            return wrapped(*args, **kwargs)
        with scope:
            return wrapped(*args, **kwargs)

    return traced


def async_afc_wrapper(agents: Any):
    """``AsyncModels.generate_content``, as :func:`afc_wrapper`."""

    async def traced(wrapped, instance, args, kwargs):
        scope = _agent_scope(agents, instance, kwargs)
        if scope is None:
            return await wrapped(*args, **kwargs)
        async with scope:
            return await wrapped(*args, **kwargs)

    return traced
