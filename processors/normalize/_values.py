"""Coercion of attribute values (OTLP/JSON sends int64 as strings, Langfuse nests JSON in strings)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

_TRUE = frozenset(("true", "1", "yes", "on"))
_FALSE = frozenset(("false", "0", "no", "off"))


def first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first key present with a non-empty value, else None."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def as_count(value: Any) -> int | None:
    """A token count: non-negative integer from int, integral float or numeric string; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        if math.isfinite(value) and value >= 0 and value == int(value):
            return int(value)
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            number = float(text)
        except ValueError:
            return None
        return as_count(number)
    return None


def as_amount(value: Any) -> float | None:
    """A non-negative finite number (cost, seconds) from int, float or numeric string; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def as_text(value: Any) -> str | None:
    """A string for a scalar value; None for None, empty strings and structured values."""
    if value is None or value == "" or isinstance(value, (list, dict)):
        return None
    return value if isinstance(value, str) else str(value)


def parse_json(value: Any) -> Any:
    """A dict/list from a structured value or a JSON string (possibly JSON-quoted twice); else None."""
    if isinstance(value, (dict, list)):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text[0] not in '[{"':
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, str):
        return parse_json(parsed)
    return parsed if isinstance(parsed, (dict, list)) else None


def unquote(value: Any) -> Any:
    """Langfuse stores scalars as JSON text (``"\\"value\\""``): strip one level of JSON quoting."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def to_content(value: Any) -> str | None:
    """Captured content as text: strings as they are, structured values as compact JSON."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)


def first_finish_reason(value: Any) -> str | None:
    """``finish_reasons`` is an array (or a JSON array in a string); take the first element."""
    if isinstance(value, list):
        return as_text(value[0]) if value else None
    if isinstance(value, str):
        if value.startswith("["):
            parsed = parse_json(value)
            if isinstance(parsed, list):
                return as_text(parsed[0]) if parsed else None
        return value or None
    return as_text(value)
