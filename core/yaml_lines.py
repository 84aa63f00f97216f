"""Configuration files whose errors name the line: YAML (or JSON) parsed with the line of every value.

``parse_located`` returns the data and a map from each value's path (a pydantic ``loc``: mapping keys
and list indexes) to its 1-based line, so a validation error is reported as ``file:line: message``.
``error_message`` turns one pydantic error (an item of ``ValidationError.errors()``) into one line.
Server-side only (PyYAML); the instrumentation never imports it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

Loc = tuple[str | int, ...]


class LocatedSyntaxError(ValueError):
    """Text that is not valid YAML/JSON: ``invalid YAML at line L column C: problem``."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class LocatedDocument:
    """Parsed data and the line of each value, keyed by path."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Iterable[Any]) -> int | None:
        """The line of ``loc``, or of its nearest enclosing value the map knows (None if none)."""
        path = tuple(loc)
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def parse_located(text: str, json_syntax: bool = False) -> LocatedDocument:
    """Parse YAML (or strict JSON when ``json_syntax``) and locate every value.

    Mapping entries are located at their key's line, list items at their first line.
    """
    if json_syntax:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LocatedSyntaxError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", exc.lineno) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise LocatedSyntaxError(f"invalid YAML{where}: {problem}", mark.line + 1 if mark else None) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # valid JSON that YAML 1.1 reads differently: no lines, still the data
        node = None
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), node.start_mark.line + 1, lines)
    return LocatedDocument(data, lines)


def _walk(node: yaml.Node, path: Loc, line: int, lines: dict[Loc, int]) -> None:
    lines[path] = line
    if isinstance(node, yaml.MappingNode):
        for key, key_node, value_node in _entries(node):
            _walk(value_node, (*path, key), key_node.start_mark.line + 1, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), item.start_mark.line + 1, lines)


def _entries(node: yaml.MappingNode) -> list[tuple[Any, yaml.Node, yaml.Node]]:
    """(key, key node, value node) of a mapping; keys merged in with ``<<: *anchor`` are located where the
    anchored mapping has them, unless the mapping sets them itself (the first merged source wins, as in PyYAML)."""
    own: list[tuple[Any, yaml.Node, yaml.Node]] = []
    merged: list[tuple[Any, yaml.Node, yaml.Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            merged += [entry for source in sources if isinstance(source, yaml.MappingNode) for entry in _entries(source)]
        elif isinstance(key_node, yaml.ScalarNode):
            key = yaml.safe_load(key_node.value) if key_node.tag != "tag:yaml.org,2002:str" else key_node.value
            own.append((key, key_node, value_node))
    seen = {key for key, _, _ in own}
    for entry in merged:
        if entry[0] not in seen:
            seen.add(entry[0])
            own.append(entry)
    return own


def error_message(error: Mapping[str, Any], skip: int = 0) -> str:
    """One pydantic error as ``field: message`` (the field path from ``loc[skip:]``; list items 1-based).

    Unknown keys read ``unknown field 'x'``, missing ones ``'x' is required``, a value that should be a
    mapping ``must be a mapping, got list``; validator messages lose pydantic's ``Value error,`` prefix.
    """
    loc = [part for part in error.get("loc", ())[skip:]]
    kind, message = error.get("type"), str(error.get("msg", "invalid"))
    if kind == "extra_forbidden" and loc:
        return f"{_path(loc[:-1])}unknown field {loc[-1]!r}"
    if kind == "missing" and loc:
        return f"{_path(loc[:-1])}{loc[-1]!r} is required"
    if kind in ("model_type", "dict_type"):
        value = error.get("input")
        return f"{_path(loc)}must be a mapping, got {'nothing' if value is None else type(value).__name__}"
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return f"{_path(loc)}{message}"


def _path(loc: Sequence[Any]) -> str:
    if not loc:
        return ""
    parts = [f"item {part + 1}" if isinstance(part, int) else repr(part) for part in loc]
    return " ".join(parts) + ": "
