"""AgentTracer: GenAI semconv spans for home-grown agent loops (the design document's interface).

Each ``trace_*`` call returns a scope usable as a context manager (``with`` / ``async with``) or as a
decorator of a sync or async function::

    tracer = AgentTracer()
    with tracer.trace_agent_call("planner") as run:
        with tracer.trace_llm_call("gpt-4o-mini") as llm:
            llm.record_response(client.chat.completions.create(...))
        with tracer.trace_tool_call("search", call_id="call_1", arguments={"q": "x"}) as tool:
            tool.set_result(search("x"))

    @tracer.trace_tool_call("search")
    async def search(q: str) -> str: ...

``start()`` opens a scope without a ``with``; ``end_trace()`` closes the innermost open one (all of
them with ``root=True``). Telemetry faults never reach the caller; the caller's exceptions propagate
unchanged.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._context import attach_span, detach, effective_context
from agentotel.instrumentation._guard import error_type, report
from agentotel.instrumentation._resources import begin as begin_resources
from agentotel.instrumentation._resources import close_agent
from agentotel.instrumentation._switch import SWITCH
from agentotel.instrumentation.instruments import build_instruments

SCOPE = "agentotel.instrumentation.agent_tracer"
AGENT, TOOL, LLM = "agent", "tool", "llm"

_open_scopes: contextvars.ContextVar[tuple[_Scope, ...]] = contextvars.ContextVar("agentotel_scopes", default=())


class _Scope:
    """One traced call: a context manager, an async context manager and a decorator."""

    def __init__(self, tracer: AgentTracer, kind: str, name: str | None, attrs: dict[str, Any],
                 arguments: Any = None) -> None:
        self._tracer = tracer
        self.kind = kind
        self.name = name
        self._attrs = attrs
        self._arguments = arguments
        self.span: Any = None
        self._token: Any = None
        self._start = 0.0
        self._usage: tuple[int | None, int | None] = (None, None)
        self._response_model: str | None = None
        self._ended = False
        self._resources: Any = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def _clone(self) -> _Scope:
        return _Scope(self._tracer, self.kind, self.name, dict(self._attrs), self._arguments)

    def start(self) -> _Scope:
        """Open the span and make it current (nothing while the telemetry is paused)."""
        if SWITCH.paused:
            self.span = trace.INVALID_SPAN
            self._start = perf_counter()
            return self
        try:
            t = self._tracer
            if self.kind == AGENT:
                span_name, span_kind = (f"invoke_agent {self.name}" if self.name else "invoke_agent"), SpanKind.INTERNAL
            elif self.kind == TOOL:
                span_name, span_kind = f"execute_tool {self.name}", SpanKind.INTERNAL
            else:
                op = self._attrs[sc.OPERATION]
                span_name, span_kind = (f"{op} {self.name}" if self.name else op), SpanKind.CLIENT
            if self._arguments is not None and t.content.on_span:
                self._attrs[sc.TOOL_CALL_ARGUMENTS] = t.content.dumps(self._arguments)
            self.span = t.tracer.start_span(span_name, effective_context(), span_kind, self._attrs)
            self._token = attach_span(self.span, llm=self.kind == LLM)
            if self.kind == AGENT:
                self._resources = begin_resources()
            _open_scopes.set((*_open_scopes.get(), self))
        except Exception as err:  # noqa: BLE001
            report("agent_tracer.start", err)
            self.span = trace.INVALID_SPAN
        self._start = perf_counter()
        return self

    def end(self, error: BaseException | None = None) -> None:
        """Close the span (status ERROR and ``error.type`` when ``error`` is given)."""
        if self._ended:
            return
        self._ended = True
        try:
            if self._token is not None:
                detach(self._token)
                self._token = None
            scopes = _open_scopes.get()
            if self in scopes:
                _open_scopes.set(tuple(s for s in scopes if s is not self))
            etype = error_type(error) if error is not None else None
            span = self.span
            if span is not None and span.is_recording() and error is not None:
                span.set_attribute(sc.ERROR_TYPE, etype)
                span.set_status(Status(StatusCode.ERROR, str(error)[:1024]))
                span.record_exception(error)
            if self._resources is not None:
                close_agent(self._resources, span, self._tracer.instruments, self.name)
            if span is not None:
                span.end()
            self._record_metrics(etype)
        except Exception as err:  # noqa: BLE001
            report("agent_tracer.end", err)

    def _record_metrics(self, etype: str | None) -> None:
        instruments = self._tracer.instruments
        seconds = perf_counter() - self._start
        if self.kind == AGENT:
            instruments.record_agent(self.name, seconds, etype)
        elif self.kind == TOOL:
            instruments.record_tool(self.name, etype)
        else:
            attrs = {k: self._attrs[k] for k in (sc.OPERATION, sc.PROVIDER, sc.REQUEST_MODEL, sc.SERVER_ADDRESS,
                                                 sc.SERVER_PORT) if k in self._attrs}
            if self._response_model:
                attrs[sc.RESPONSE_MODEL] = self._response_model
            instruments.record_duration(seconds, {**attrs, sc.ERROR_TYPE: etype} if etype else attrs)
            instruments.record_usage(attrs, *self._usage)

    def __enter__(self) -> _Scope:
        return self.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.end(exc)

    async def __aenter__(self) -> _Scope:
        return self.start()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.end(exc)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate ``fn``: each call runs in a fresh scope (named after ``fn`` when unnamed)."""
        template = self
        if template.name is None and template.kind != LLM:
            template.name = fn.__name__
            if template.kind == TOOL:
                template._attrs[sc.TOOL_NAME] = fn.__name__
            elif template.kind == AGENT:
                template._attrs[sc.AGENT_NAME] = fn.__name__
        capture = template._tracer.content.on_span

        def scope_for(args: tuple, kwargs: dict) -> _Scope:
            scope = template._clone()
            if capture and scope.kind == TOOL and scope._arguments is None:
                try:
                    bound = inspect.signature(fn).bind_partial(*args, **kwargs)
                    scope._arguments = dict(bound.arguments)
                except (TypeError, ValueError):
                    scope._arguments = {"args": list(args), "kwargs": kwargs}
            return scope

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_traced(*args: Any, **kwargs: Any) -> Any:
                scope = scope_for(args, kwargs).start()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    scope.end(exc)
                    raise
                scope._auto_result(result)
                scope.end()
                return result

            return async_traced

        @functools.wraps(fn)
        def traced(*args: Any, **kwargs: Any) -> Any:
            scope = scope_for(args, kwargs).start()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                scope.end(exc)
                raise
            scope._auto_result(result)
            scope.end()
            return result

        return traced

    # -- recording --------------------------------------------------------------------------------------
    def _auto_result(self, result: Any) -> None:
        if self.kind == TOOL:
            self.set_result(result)
        elif self.kind == LLM and hasattr(result, "usage"):
            self.record_response(result)

    def set_attribute(self, key: str, value: Any) -> None:
        try:
            if self.span is not None and self.span.is_recording():
                self.span.set_attribute(key, value)
        except Exception as err:  # noqa: BLE001
            report("agent_tracer.set_attribute", err)

    def set_result(self, result: Any) -> None:
        """A tool's result (recorded only with content capture on)."""
        if self._tracer.content.on_span:
            self.set_attribute(sc.TOOL_CALL_RESULT, self._tracer.content.dumps(getattr(result, "content", result)))

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None, *,
                  cached_input_tokens: int | None = None, reasoning_tokens: int | None = None,
                  response_model: str | None = None, finish_reasons: list[str] | None = None,
                  response_id: str | None = None) -> None:
        """Token usage and response details of an LLM call."""
        attrs: dict[str, Any] = {}
        for key, value in ((sc.USAGE_INPUT, input_tokens), (sc.USAGE_OUTPUT, output_tokens),
                           (sc.USAGE_CACHE_READ, cached_input_tokens), (sc.USAGE_REASONING, reasoning_tokens)):
            if isinstance(value, int) and value >= 0:
                attrs[key] = value
        if response_model:
            attrs[sc.RESPONSE_MODEL] = response_model
            self._response_model = response_model
        if finish_reasons:
            attrs[sc.RESPONSE_FINISH_REASONS] = tuple(finish_reasons)
        if response_id:
            attrs[sc.RESPONSE_ID] = response_id
        self._usage = (attrs.get(sc.USAGE_INPUT), attrs.get(sc.USAGE_OUTPUT))
        try:
            if self.span is not None and self.span.is_recording():
                self.span.set_attributes(attrs)
        except Exception as err:  # noqa: BLE001
            report("agent_tracer.set_usage", err)

    def record_response(self, response: Any) -> None:
        """Usage, model, id and finish reasons from an OpenAI-style response (object or dict)."""
        try:
            get = response.get if isinstance(response, Mapping) else (lambda k, d=None: getattr(response, k, d))
            usage = get("usage")
            uget = usage.get if isinstance(usage, Mapping) else (lambda k, d=None: getattr(usage, k, d))
            input_tokens = uget("prompt_tokens", None) if usage is not None else None
            output_tokens = uget("completion_tokens", None) if usage is not None else None
            if input_tokens is None and usage is not None:
                input_tokens = uget("input_tokens", None)
            if output_tokens is None and usage is not None:
                output_tokens = uget("output_tokens", None)
            choices = get("choices") or []
            reasons = [c.get("finish_reason") if isinstance(c, Mapping) else getattr(c, "finish_reason", None)
                       for c in choices]
            self.set_usage(input_tokens, output_tokens, response_model=get("model"),
                           finish_reasons=[r for r in reasons if r], response_id=get("id"))
        except Exception as err:  # noqa: BLE001
            report("agent_tracer.record_response", err)


class AgentTracer:
    """Traces agent runs, tool calls and LLM calls with GenAI semconv spans and agentotel metrics."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None,
                 capture_content: bool | None = None) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=sc.SCHEMA_URL)
        self.instruments = build_instruments(SCOPE, meter_provider)
        self.content = ContentSettings.resolve(capture_content)

    def trace_agent_call(self, name: str | None = None, *, agent_id: str | None = None,
                         description: str | None = None, version: str | None = None,
                         conversation_id: str | None = None,
                         attributes: Mapping[str, Any] | None = None) -> _Scope:
        """An ``invoke_agent {name}`` span."""
        attrs: dict[str, Any] = {sc.OPERATION: sc.OP_INVOKE_AGENT}
        for key, value in ((sc.AGENT_NAME, name), (sc.AGENT_ID, agent_id), (sc.AGENT_DESCRIPTION, description),
                           (sc.AGENT_VERSION, version), (sc.CONVERSATION_ID, conversation_id)):
            if value is not None:
                attrs[key] = str(value)
        attrs.update(attributes or {})
        return _Scope(self, AGENT, name, attrs)

    def trace_tool_call(self, name: str | None = None, *, call_id: str | None = None,
                        description: str | None = None, arguments: Any = None,
                        attributes: Mapping[str, Any] | None = None) -> _Scope:
        """An ``execute_tool {name}`` span (arguments/result recorded only with content capture)."""
        attrs: dict[str, Any] = {sc.OPERATION: sc.OP_EXECUTE_TOOL, sc.TOOL_TYPE: "function"}
        for key, value in ((sc.TOOL_NAME, name), (sc.TOOL_CALL_ID, call_id), (sc.TOOL_DESCRIPTION, description)):
            if value is not None:
                attrs[key] = str(value)
        attrs.update(attributes or {})
        return _Scope(self, TOOL, name, attrs, arguments)

    def trace_llm_call(self, model: str | None = None, *, provider: str = "openai", operation: str = sc.OP_CHAT,
                       server_address: str | None = None, server_port: int | None = None,
                       attributes: Mapping[str, Any] | None = None) -> _Scope:
        """A ``chat {model}`` span; record usage with ``record_response()`` / ``set_usage()``.

        Instrumented client calls inside it (e.g. the OpenAI SDK) make no second LLM span.
        """
        attrs: dict[str, Any] = {sc.OPERATION: operation, sc.PROVIDER: provider}
        if model:
            attrs[sc.REQUEST_MODEL] = model
        if server_address:
            attrs[sc.SERVER_ADDRESS] = server_address
            if server_port:
                attrs[sc.SERVER_PORT] = server_port
        attrs.update(attributes or {})
        return _Scope(self, LLM, model, attrs)

    @staticmethod
    def add_span_attribute(key: str, value: Any) -> None:
        """Set an attribute on the current span (no-op when nothing records)."""
        try:
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attribute(key, value)
        except Exception as err:  # noqa: BLE001
            report("agent_tracer.add_span_attribute", err)

    @staticmethod
    def end_trace(error: BaseException | None = None, *, root: bool = False) -> None:
        """Close the innermost scope opened in this context (every open one with ``root=True``)."""
        scopes = _open_scopes.get()
        for scope in reversed(scopes if root else scopes[-1:]):
            scope.end(error)
