"""Rebuild message lists from flattened attributes (``llm.input_messages.0.message.role`` …)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# wrapper segments OpenInference puts around each list element
_WRAPPERS = ("message", "message_content", "tool_call", "document", "embedding", "tool")


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(isinstance(key, int) for key in converted):
        return [converted[index] for index in sorted(converted)]
    if len(converted) == 1:
        ((key, value),) = converted.items()
        if key in _WRAPPERS and isinstance(value, dict):
            return value
    return converted


def unflatten(attrs: Mapping[str, Any], prefix: str) -> list[Any]:
    """Elements ``prefix<i>.<path>`` as a list of nested dicts (numeric segments become lists)."""
    root: dict[Any, Any] = {}
    cut = len(prefix)
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        node = root
        parts = key[cut:].split(".")
        for part in parts[:-1]:
            segment: Any = int(part) if part.isdigit() else part
            child = node.get(segment)
            if not isinstance(child, dict):
                child = node[segment] = {}
            node = child
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value
    result = _listify(root)
    if isinstance(result, list):
        return result
    if isinstance(result, dict):  # non-numeric element keys: keep what there is, in key order
        return [result[key] for key in sorted(result, key=str)]
    return []
