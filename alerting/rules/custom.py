"""Custom rules: ``function: "package.module:callable"`` called as ``fn(source, now, **params)``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import PrivateAttr, model_validator

from agentotel.alerting.rules.base import EvalContext, Rule, Sample
from agentotel.alerting.spec import FieldError, Text


class CustomRule(Rule):
    """The callable returns a bool, a number (active when truthy), a dict ``{labels, value, active[, clear]}``
    or a list of such dicts."""

    type: Literal["custom"]
    function: Text
    params: dict[str, Any] = {}
    _func: Callable[..., Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _import(self) -> CustomRule:
        try:
            self._func = import_callable(self.function)
        except ValueError as exc:
            raise FieldError("function", str(exc)) from None
        return self

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        if self._func is None:
            raise RuntimeError(f"rule {self.id!r}: function {self.function!r} was not imported")
        result = self._func(ctx.series, ctx.now, **self.params)  # the source, through the round's cache
        items = result if isinstance(result, list) else [result]
        out = []
        for item in items:
            if isinstance(item, Mapping):
                active = bool(item.get("active", False))
                value = item.get("value")
                out.append(Sample({str(k): str(v) for k, v in (item.get("labels") or {}).items()},
                                  None if value is None else float(value), active, bool(item.get("clear", not active))))
            elif item is not None:
                active = bool(item)
                value = None if isinstance(item, bool) else float(item)
                out.append(Sample({}, value, active, not active))
        return out


def import_callable(spec: str) -> Callable[..., Any]:
    """The callable named ``package.module:attr``; ``ValueError`` saying why it cannot be had."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"must look like 'package.module:function', not {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # the user's module may fail to import in any way: report it, never a traceback
        raise ValueError(f"cannot import {spec!r}: {type(exc).__name__}: {exc}") from None
    if not callable(obj):
        raise ValueError(f"{spec!r} is not callable")
    return obj
