"""Agents under evaluation: a Python callable, an OpenAI-compatible chat endpoint, or recorded executions.

Every agent has ``name``, ``version`` and ``async run(case) -> AgentResponse``. ``run`` never raises for
a failure of the agent itself: the error is returned in the response (``error``, ``error_type``), so one
failing case does not stop a run.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from agentotel.evaluation.base import AgentResponse, TestCase, input_as_text, recorded_text
from agentotel.evaluation.executions import recorded_executions


class AgentLoadError(ValueError):
    """A ``module:function`` reference that cannot be loaded."""


def error_type_of(exc: BaseException) -> str:
    return type(exc).__qualname__


class CallableAgent:
    """Any Python callable, sync or async, taking the case input (and ``case=`` if it has that parameter).

    It may return text, a mapping (``output`` plus optional ``input_tokens``, ``output_tokens``, ``model``,
    ``cost_usd``) or an ``AgentResponse``. Sync callables run in a worker thread (the OTel context follows).
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None, version: str = "", timeout: float | None = None):
        if not callable(fn):
            raise TypeError(f"agent must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__qualname__", None) or type(fn).__name__
        self.version = version
        self.timeout = timeout
        self._is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
        try:
            self._wants_case = "case" in inspect.signature(fn).parameters
        except (TypeError, ValueError):  # no introspectable signature (some builtins and C callables)
            self._wants_case = False

    async def run(self, case: TestCase) -> AgentResponse:
        """Call the agent; the latency is measured around the call itself (inside the worker thread for a
        sync callable), so time spent waiting for a free worker or for the event loop is not counted."""
        kwargs = {"case": case} if self._wants_case else {}
        clock = _CallClock()
        try:
            if self._is_async:
                result = await asyncio.wait_for(clock.timed_async(self.fn(case.input, **kwargs)), self.timeout)
            else:
                result = await asyncio.wait_for(asyncio.to_thread(clock.timed, self.fn, case.input, **kwargs), self.timeout)
                if inspect.isawaitable(result):
                    result = await asyncio.wait_for(clock.timed_async(result), self.timeout)
        except Exception as exc:  # noqa: BLE001 - the agent's failure is a result, not a crash
            return AgentResponse(latency_ms=clock.elapsed_ms(), error=str(exc) or error_type_of(exc),
                                 error_type=error_type_of(exc))
        return coerce_response(result, clock.elapsed_ms())


class _CallClock:
    """Times one agent call where it runs: ``timed`` inside the worker thread, ``timed_async`` around the
    awaited coroutine (a coroutine returned by a sync callable adds its time to the thread's)."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.seconds = 0.0

    def timed(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - self.started
            self.started = None

    async def timed_async(self, awaitable: Any) -> Any:
        self.started = time.perf_counter()
        try:
            return await awaitable
        finally:
            self.seconds += time.perf_counter() - self.started
            self.started = None

    def elapsed_ms(self) -> float:
        """The call's time so far (a call cut short by a timeout counts until now)."""
        running = time.perf_counter() - self.started if self.started is not None else 0.0
        return (self.seconds + running) * 1000.0


def coerce_response(result: Any, latency_ms: float) -> AgentResponse:
    """Turn what an agent callable returned into an ``AgentResponse``."""
    if isinstance(result, AgentResponse):
        if not result.latency_ms:
            result.latency_ms = latency_ms
        return result
    if isinstance(result, dict):
        usage = result.get("usage") or {}
        return AgentResponse(
            output=str(result.get("output", result.get("content", ""))),
            latency_ms=float(result.get("latency_ms", latency_ms)),
            input_tokens=result.get("input_tokens", usage.get("input_tokens", usage.get("prompt_tokens"))),
            output_tokens=result.get("output_tokens", usage.get("output_tokens", usage.get("completion_tokens"))),
            model=result.get("model"),
            cost_usd=result.get("cost_usd"),
            raw=result,
        )
    content = getattr(result, "content", None)  # e.g. a LangChain AIMessage
    if isinstance(content, str):
        usage = getattr(result, "usage_metadata", None) or {}
        return AgentResponse(
            output=content,
            latency_ms=latency_ms,
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            raw=result,
        )
    return AgentResponse(output="" if result is None else str(result), latency_ms=latency_ms, raw=result)


def load_callable(reference: str) -> Callable[..., Any]:
    """Import ``module:function`` (``module.sub:obj.attr``, or ``path/to/file.py:function``)."""
    module_name, sep, attr_path = reference.partition(":")
    if not sep or not module_name or not attr_path:
        raise AgentLoadError(f"agent {reference!r}: expected 'module:function'")
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise AgentLoadError(f"agent {reference!r}: no such file {path}")
        spec = importlib.util.spec_from_file_location(f"_agentotel_agent_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise AgentLoadError(f"agent {reference!r}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise AgentLoadError(f"agent {reference!r}: importing {path} failed: {exc!r}") from exc
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise AgentLoadError(f"agent {reference!r}: cannot import module {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AgentLoadError(f"agent {reference!r}: {module_name} has no attribute {attr_path!r}") from None
    if not callable(obj):
        raise AgentLoadError(f"agent {reference!r}: {attr_path} is not callable")
    return obj


class OpenAIEndpointAgent:
    """An OpenAI-compatible chat completions endpoint (the real ``openai`` client)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "not-needed",
        system_prompt: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        name: str | None = None,
        version: str = "",
        client: Any = None,
    ):
        self._clients = LoopBoundClient(client, base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
        self.model = model
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.name = name or model
        self.version = version

    def messages_for(self, case: TestCase) -> list[dict[str, Any]]:
        if isinstance(case.input, list):
            messages = [dict(m) for m in case.input]
        else:
            messages = [{"role": "user", "content": input_as_text(case.input)}]
        if self.system_prompt and not any(m.get("role") == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages

    async def run(self, case: TestCase) -> AgentResponse:
        kwargs: dict[str, Any] = {"model": self.model, "messages": self.messages_for(case)}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        start = time.perf_counter()
        try:
            completion = await self._clients.get().chat.completions.create(**kwargs)
        except Exception as exc:  # noqa: BLE001
            return AgentResponse(
                latency_ms=(time.perf_counter() - start) * 1000.0,
                model=self.model,
                error=str(exc) or error_type_of(exc),
                error_type=_openai_error_type(exc),
            )
        latency_ms = (time.perf_counter() - start) * 1000.0
        choice = completion.choices[0] if completion.choices else None
        usage = completion.usage
        return AgentResponse(
            output=(choice.message.content or "") if choice is not None else "",
            latency_ms=latency_ms,
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
            model=completion.model or self.model,
            raw=completion.model_dump() if hasattr(completion, "model_dump") else None,
        )

    async def aclose(self) -> None:
        await self._clients.aclose()


class LoopBoundClient:
    """An ``openai.AsyncOpenAI`` per event loop (its connection pool belongs to the loop that opened it, and
    every ``BenchmarkSuite.run`` has its own loop). A client passed in is used as is."""

    def __init__(self, client: Any = None, **options: Any):
        self._given = client
        self._options = options
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def get(self) -> Any:
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from openai import AsyncOpenAI

            client = self._clients[loop] = AsyncOpenAI(**self._options)
        return client

    async def aclose(self) -> None:
        """Close the current loop's client (or the given one)."""
        client = self._given if self._given is not None else self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()


def _openai_error_type(exc: BaseException) -> str:
    code = getattr(exc, "status_code", None)
    return f"{error_type_of(exc)}:{code}" if code else error_type_of(exc)


class RecordedAgent:
    """Production traffic from the warehouse: each recorded execution becomes a case and its response.

    ``test_cases()`` gives one case per execution (id = execution id); ``run`` returns what was recorded,
    so the evaluators score real outputs after the fact. A suite's cases match recordings by id or,
    failing that, by identical input text (latest execution wins).
    """

    def __init__(self, records: Sequence[dict[str, Any]], name: str, version: str = ""):
        self.name = name
        self.version = version
        self._records = list(records)
        self._by_id = {r["id"]: r for r in self._records}
        self._by_input: dict[str, dict[str, Any]] = {}
        for record in sorted(self._records, key=lambda r: r["timestamp"]):
            self._by_input[_norm_input(recorded_text(record.get("input"), "user"))] = record

    @classmethod
    def from_warehouse(
        cls,
        engine: Any,
        agent_name: str,
        agent_version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
        project: str | None = None,
    ) -> RecordedAgent:
        records = recorded_executions(engine, agent_name, agent_version, since, until, limit, project)
        return cls(records, name=agent_name, version=agent_version or "")

    def __len__(self) -> int:
        return len(self._records)

    def test_cases(self) -> list[TestCase]:
        return [
            TestCase(
                id=r["id"],
                input=recorded_text(r.get("input"), "user"),
                tags=tuple(t for t in (r.get("agent_version") and f"version:{r['agent_version']}",) if t),
                metadata={"trace_id": r.get("trace_id"), "timestamp": str(r["timestamp"])},
            )
            for r in self._records
        ]

    def _record_for(self, case: TestCase) -> dict[str, Any] | None:
        return self._by_id.get(case.id) or self._by_input.get(_norm_input(input_as_text(case.input)))

    def evaluated_span(self, case: TestCase) -> tuple[str, str] | None:
        """(trace_id, span_id) of the recorded execution a case evaluates: its evaluation span's parent."""
        record = self._record_for(case)
        if record is None or not record.get("trace_id") or not record.get("span_id"):
            return None
        return record["trace_id"], record["span_id"]

    async def run(self, case: TestCase) -> AgentResponse:
        record = self._record_for(case)
        if record is None:
            return AgentResponse(error="no recorded execution for this case", error_type="NotRecorded")
        failed = not record.get("success", True)
        return AgentResponse(
            output=recorded_text(record.get("output"), "assistant"),
            latency_ms=float(record.get("duration_ms") or 0.0),
            input_tokens=record.get("input_tokens"),
            output_tokens=record.get("output_tokens"),
            cost_usd=record.get("cost_usd"),
            error=(record.get("error_message") or "failed") if failed else None,
            error_type="RecordedError" if failed else None,
            raw={"trace_id": record.get("trace_id"), "span_id": record.get("span_id")},
        )


def _norm_input(text: str) -> str:
    return " ".join(text.split()).lower()
