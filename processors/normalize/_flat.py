"""Rebuild message lists from flattened attributes (``llm.input_messages.0.message.role`` …)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# wrapper segments OpenInference puts around each list element
_WRAPPERS = frozenset(
    ("message", "message_content", "tool_call", "document", "embedding", "tool", "prompt", "completion")
)


def _listify(node: Any) -> Any:
    if type(node) is not dict:
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key in _WRAPPERS and type(value) is dict:
            return _listify(value)
    if all(type(key) is int for key in node):
        return [_listify(node[index]) for index in sorted(node)]
    return {key: _listify(value) for key, value in node.items()}


def _insert(root: dict[Any, Any], path: str, value: Any) -> None:
    node = root
    parts = path.split(".")
    for part in parts[:-1]:
        segment: Any = int(part) if part.isdigit() else part
        child = node.get(segment)
        if type(child) is not dict:
            child = node[segment] = {}
        node = child
    last = parts[-1]
    node[int(last) if last.isdigit() else last] = value


def _as_list(root: dict[Any, Any]) -> list[Any]:
    result = _listify(root)
    if isinstance(result, list):
        return result
    if isinstance(result, dict):  # non-numeric element keys: keep what there is, in key order
        return [result[key] for key in sorted(result, key=str)]
    return [result]


def unflatten(attrs: Mapping[str, Any], prefix: str) -> list[Any]:
    """Elements ``prefix<i>.<path>`` as a list of nested dicts (numeric segments become lists)."""
    return unflatten_many(attrs, (prefix,))[0]


def unflatten_many(attrs: Mapping[str, Any], prefixes: tuple[str, ...]) -> list[list[Any]]:
    """``unflatten`` for several prefixes in one pass over the attributes (empty list when absent)."""
    roots: list[dict[Any, Any]] = [{} for _ in prefixes]
    cuts = [len(prefix) for prefix in prefixes]
    for key, value in attrs.items():
        if not key.startswith(prefixes):
            continue
        for index, prefix in enumerate(prefixes):
            if key.startswith(prefix):
                _insert(roots[index], key[cuts[index] :], value)
                break
    return [_as_list(root) if root else [] for root in roots]
