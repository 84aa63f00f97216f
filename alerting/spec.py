"""Building blocks of the rules-file models (rules, channels, settings): the base model, field types and
one-line error messages in the rules file's wording.

Keys given as ``null`` count as not given; an unknown key names the allowed ones. ``describe`` turns one
pydantic error into ``(path, message, at)``: ``path`` is the value the message is about, ``at`` the value
whose line is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from agentotel.core.durations import parse_duration

Loc = tuple[str | int, ...]


class Spec(BaseModel):
    """A mapping of a configuration file: unknown keys are refused with the allowed ones named."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              coerce_numbers_to_str=True)
    key_noun: ClassVar[str] = "key"

    @classmethod
    def allowed_keys(cls) -> list[str]:
        return sorted(f.alias or name for name, f in cls.model_fields.items())

    @classmethod
    def unknown_key_message(cls, key: Any) -> str:
        return f"unknown {cls.key_noun} {key!r} (allowed: {', '.join(cls.allowed_keys())})"

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        allowed = set(cls.allowed_keys())
        for key in data:
            if key not in allowed:
                raise UnknownKey(key, cls.unknown_key_message(key))
        return {k: v for k, v in data.items() if v is not None}


class FieldError(ValueError):
    """A problem with ``field`` found by a model-level check (reported at the field's line)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownKey(ValueError):
    """A key the model does not have (reported at the key's line)."""

    def __init__(self, key: Any, message: str) -> None:
        super().__init__(message)
        self.key = key


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, not {_shown(value)}")
    return float(value)


def _positive_number(value: Any) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError(f"must be a positive number, not {_shown(value)}")
    return number


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, not {_shown(value)}")
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"must be text, not {_shown(value)}")
    return str(value)


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a mapping, not {_shown(value)}")
    return {str(k): _text(v) for k, v in value.items()}


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Number = Annotated[float, BeforeValidator(_number)]
PositiveNumber = Annotated[float, BeforeValidator(_positive_number)]
PositiveInt = Annotated[int, BeforeValidator(_positive_int)]
Text = Annotated[str, BeforeValidator(_text)]
TextMap = Annotated[dict[str, str], BeforeValidator(_text_map)]


def _shown(value: Any) -> str:
    if isinstance(value, (dict, Mapping)):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Problem:
    """One validation error: the value it is about (``path``), the message, the value to locate (``at``)."""

    path: Loc
    message: str
    at: Loc


_KINDS = {
    "missing": "is required",
    "list_type": "must be a list",
    "dict_type": "must be a mapping", "model_type": "must be a mapping", "model_attributes_type": "must be a mapping",
    "string_type": "must be text",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "int_type": "must be an integer", "int_parsing": "must be an integer", "int_from_float": "must be an integer",
    "float_type": "must be a number", "float_parsing": "must be a number",
}


def describe(error: Mapping[str, Any], tags: Mapping[str, Any] | None = None) -> Problem:
    """One pydantic error in the rules file's wording. ``tags``: discriminator → the allowed values."""
    loc: Loc = tuple(error.get("loc", ()))
    kind, ctx = error.get("type"), error.get("ctx") or {}
    value = error.get("input")
    cause = ctx.get("error")
    if isinstance(cause, UnknownKey):
        return Problem(loc, str(cause), (*loc, cause.key))
    if isinstance(cause, FieldError):
        return Problem((*loc, cause.field), str(cause), (*loc, cause.field))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        name = str(ctx.get("discriminator", "type")).strip("'")
        allowed = ", ".join((tags or {}).get(name, ())) or str(ctx.get("expected_tags", "")).replace("'", "")
        given = f", not {_shown(ctx['tag'])}" if "tag" in ctx else ""
        return Problem(loc, f"{name!r} must be one of {allowed}{given}", (*loc, name))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return Problem(loc, f"must be one of {expected}, not {_shown(value)}", loc)
    if kind == "too_short":
        return Problem(loc, "must not be empty" if ctx.get("min_length") == 1 else
                       f"needs at least {ctx.get('min_length')} items", loc)
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return Problem(loc, str(ctx["error"]), loc)
    if kind in _KINDS:
        suffix = "" if kind == "missing" else f", not {_shown(value)}"
        return Problem(loc, _KINDS[str(kind)] + suffix, loc)
    return Problem(loc, str(error.get("msg", "invalid")).replace("Input should be", "must be"), loc)


def field_path(loc: Loc) -> str:
    """``("labels", "team")`` as ``labels.team``; list indexes as ``[n]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def summary(exc: ValidationError) -> str:
    """The first error of ``exc`` as one line: ``field: message``."""
    problem = describe(exc.errors()[0])
    return f"{field_path(problem.path)}: {problem.message}" if problem.path else problem.message
