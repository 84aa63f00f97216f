"""Provider rate-limit status: response headers into span attributes and gauges.

Read from every answer of a traced call (errors included):

- OpenAI: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (reset as a duration, ``6m0s``, ``20ms``);
- Anthropic: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``
  (reset as an RFC 3339 time);
- any provider: ``retry-after`` (seconds or an HTTP date), ``retry-after-ms``; Gemini's error details
  (``google.rpc.RetryInfo`` ``retryDelay``, ``google.rpc.QuotaFailure``) are read by its instrumentor.

The names are ours (``agentotel.ratelimit.<kind>.<field>``, see ``core.semconv``). The same values are
recorded as gauges per provider and request model, plus ``…remaining_ratio`` (remaining / limit) for the
alert rules. The stainless-generated SDKs (``openai``, ``anthropic``) hand every answer to
``_process_response`` (success) or ``_make_status_error_from_response`` (final error) while the call's
span is current; :func:`sdk_response_wrappers` hooks both and gives the answer to the call in flight
(``IN_SDK_CALL``), else to a higher-level instrumentor's LLM span (LangChain).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from agentotel.core import semconv as sc
from agentotel.core.retry_after import retry_after_seconds
from agentotel.instrumentation._context import IN_SDK_CALL, owned_llm_span
from agentotel.instrumentation._guard import report

_LIMIT, _REMAINING, _RESET = sc.RATELIMIT_LIMIT, sc.RATELIMIT_REMAINING, sc.RATELIMIT_RESET
_RETRY, _RETRY_MS = "retry", "retry_ms"


def _table() -> dict[str, tuple[str, str]]:
    """header name → (attribute, how to read it)."""
    table: dict[str, tuple[str, str]] = {}
    for kind in ("requests", "tokens"):
        for field in (_LIMIT, _REMAINING, _RESET):
            table[f"x-ratelimit-{field}-{kind}"] = (sc.ratelimit_key(kind, field), field)
    for kind in sc.RATELIMIT_KINDS:
        for field in (_LIMIT, _REMAINING, _RESET):
            table[f"anthropic-ratelimit-{kind.replace('_', '-')}-{field}"] = (sc.ratelimit_key(kind, field), field)
    table["retry-after"] = (sc.RATELIMIT_RETRY_AFTER, _RETRY)
    table["retry-after-ms"] = (sc.RATELIMIT_RETRY_AFTER, _RETRY_MS)
    return table


HEADERS: dict[str, tuple[str, str]] = _table()
_HEADERS_BYTES = {name.encode("ascii"): spec for name, spec in HEADERS.items()}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


_durations: dict[str, float | None] = {}  # "6m0s" → 360.0: OpenAI repeats a few values


def _duration(text: str) -> float | None:
    if text in _durations:
        return _durations[text]
    parts = _DURATION_PART.findall(text)
    seconds = sum(float(n) * _UNIT[u] for n, u in parts) if parts and "".join(n + u for n, u in parts) == text \
        else None
    if len(_durations) > 512:
        _durations.clear()
    _durations[text] = seconds
    return seconds



def reset_seconds(value: str, now: float | None = None) -> float | None:
    """Seconds until a window resets: a number of seconds, a Go-style duration (``1m30s``, ``20ms``) or an
    RFC 3339 / ISO 8601 time; ``None`` when unreadable."""
    text = value.strip()
    if not text:
        return None
    if text[-1].isdigit():  # a bare number (a time ends in a digit too, or in Z / an offset)
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return max(0.0, number) if math.isfinite(number) else None
    elif text[-1] in "smh":  # a Go-style duration (a time ends in a digit or Z)
        seconds = _duration(text)
        if seconds is not None:
            return seconds
    elif text.lower() in ("inf", "infinity", "nan", "-inf"):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _put(out: dict[str, Any], spec: tuple[str, str], raw: str) -> None:
    attr, how = spec
    if how == _LIMIT or how == _REMAINING:
        raw = raw.strip()
        if raw.isdigit():
            out[attr] = int(raw)
    elif how == _RESET:
        seconds = reset_seconds(raw)
        if seconds is not None:
            out[attr] = seconds
    elif how == _RETRY_MS:
        try:
            millis = float(raw)
        except ValueError:
            return
        if math.isfinite(millis):
            out[attr] = max(0.0, millis / 1000.0)
    elif attr not in out:  # retry-after; retry-after-ms is the more precise one
        seconds = retry_after_seconds(raw)
        if seconds is not None and math.isfinite(seconds):
            out[attr] = seconds


def rate_limit_attributes(headers: Any) -> dict[str, Any] | None:
    """Span attributes of the rate-limit headers in ``headers`` (httpx/httpx2 ``Headers``, a mapping or
    (name, value) pairs); ``None`` when there are none. One pass, no decoding of other headers."""
    out: dict[str, Any] | None = None
    entries = getattr(headers, "_list", None)  # httpx / httpx2: (raw key, lower-case key, value) bytes
    if isinstance(entries, list):
        table = _HEADERS_BYTES
        for entry in entries:
            spec = table.get(entry[1])
            if spec is not None:
                if out is None:
                    out = {}
                _put(out, spec, entry[2].decode("latin-1"))
        return out or None
    items = headers.items() if isinstance(headers, Mapping) or hasattr(headers, "items") else headers or ()
    for key, value in items:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        spec = HEADERS.get(str(key).lower())
        if spec is not None:
            if out is None:
                out = {}
            _put(out, spec, value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return out or None


def apply(span: Any, attrs: dict[str, Any] | None, instruments: Any, provider: str | None, model: Any) -> None:
    """Put ``attrs`` on ``span`` (when recording) and record them as gauges for (provider, model)."""
    if not attrs:
        return
    if span is not None and span.is_recording():
        span.set_attributes(attrs)
    if instruments is not None:
        instruments.record_rate_limits(attrs, provider, model if isinstance(model, str) else None)


def _from_options(options: Any) -> Any:
    body = getattr(options, "json_data", None)
    return body.get("model") if isinstance(body, Mapping) else None


def _deliver(provider: str, instruments: Any, response: Any, options: Any, result: Any) -> None:
    """Hand one answer to the call in flight, else to a higher-level instrumentor's LLM span."""
    call = IN_SDK_CALL.get()
    on_response = getattr(call, "on_http_response", None)
    if on_response is not None:
        on_response(response, result)
        return
    span = owned_llm_span()
    if span is None:
        return
    apply(span, rate_limit_attributes(response.headers), instruments, provider, _from_options(options))


def sdk_response_wrappers(provider: str, instruments: Any) -> tuple[Callable[..., Any], Callable[..., Any],
                                                                      Callable[..., Any]]:
    """wrapt wrappers for a stainless SDK's ``SyncAPIClient._process_response``,
    ``AsyncAPIClient._process_response`` and ``BaseClient._make_status_error_from_response``."""

    def process_response(wrapped, instance, args, kwargs):
        result = wrapped(*args, **kwargs)
        try:
            response = kwargs.get("response")
            if response is not None:
                _deliver(provider, instruments, response, kwargs.get("options"), result)
        except Exception as err:  # noqa: BLE001 - never raise into the host
            report(f"{provider}.rate_limits", err)
        return result

    async def async_process_response(wrapped, instance, args, kwargs):
        result = await wrapped(*args, **kwargs)
        try:
            response = kwargs.get("response")
            if response is not None:
                _deliver(provider, instruments, response, kwargs.get("options"), result)
        except Exception as err:  # noqa: BLE001
            report(f"{provider}.rate_limits", err)
        return result

    def status_error(wrapped, instance, args, kwargs):
        error = wrapped(*args, **kwargs)
        try:
            response = args[0] if args else kwargs.get("response")
            if response is not None:
                _deliver(provider, instruments, response, None, error)
        except Exception as err:  # noqa: BLE001
            report(f"{provider}.rate_limits", err)
        return error

    return process_response, async_process_response, status_error


def wrap_sdk_responses(base_client_module: Any, provider: str, instruments: Any) -> list[tuple[Any, str]]:
    """Hook the answers of a stainless SDK (the module ``openai._base_client``, ``anthropic._base_client``,
    or its name); returns what was wrapped, for ``unwrap``. Missing methods (other SDK versions) are skipped."""
    import importlib

    from wrapt import wrap_function_wrapper

    module = base_client_module
    if isinstance(module, str):
        try:
            module = importlib.import_module(module)
        except ImportError:
            return []
    sync_hook, async_hook, error_hook = sdk_response_wrappers(provider, instruments)
    patched = []
    for cls_name, method, hook in (("SyncAPIClient", "_process_response", sync_hook),
                                   ("AsyncAPIClient", "_process_response", async_hook),
                                   ("BaseClient", "_make_status_error_from_response", error_hook)):
        owner = getattr(module, cls_name, None)
        if owner is None or not hasattr(owner, method):
            continue
        wrap_function_wrapper(owner, method, hook)
        patched.append((owner, method))
    return patched


def retry_info_attributes(details: Any) -> dict[str, Any] | None:
    """Rate-limit attributes from a Google API error body (``{"error": {"details": [...]}}``): the
    ``RetryInfo`` delay, and a ``QuotaFailure`` as an exhausted quota (remaining 0 of ``quotaValue``)."""
    error = details.get("error", details) if isinstance(details, Mapping) else None
    items = error.get("details") if isinstance(error, Mapping) else None
    if not isinstance(items, list):
        return None
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind = str(item.get("@type", ""))
        if kind.endswith("google.rpc.RetryInfo"):
            delay = item.get("retryDelay")
            seconds = reset_seconds(delay) if isinstance(delay, str) else None
            if seconds is not None:
                out[sc.RATELIMIT_RETRY_AFTER] = seconds
        elif kind.endswith("google.rpc.QuotaFailure"):
            for violation in item.get("violations") or ():
                if not isinstance(violation, Mapping):
                    continue
                metric = str(violation.get("quotaMetric", "")) + str(violation.get("quotaId", ""))
                which = "tokens" if "token" in metric.lower() else "requests"
                out[sc.ratelimit_key(which, _REMAINING)] = 0
                value = str(violation.get("quotaValue", "")).strip()
                if value.isdigit():
                    out[sc.ratelimit_key(which, _LIMIT)] = int(value)
    return out or None
