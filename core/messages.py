"""Captured content as a conversation: the JSON text of ``spans.input`` / ``spans.output`` (OTel GenAI
messages ``[{"role", "parts": [...]}]``, the processors' normal form; also OpenAI-style ``{"role",
"content", "tool_calls"}`` lists, a ``{"messages": [...]}`` document, or plain text) read into ``Message``
objects with typed parts (text, tool call, tool result, reasoning, other). Pure and total: any text gives
a list, never an exception. Used by the warehouse (input previews) and the dashboard (chat rendering).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class Part:
    """``kind``: text | tool_call | tool_result | reasoning | other. ``text`` holds the text, a tool result's
    response as text, or the JSON of an ``other`` part; ``arguments`` a tool call's arguments (parsed when
    they are JSON)."""

    kind: str
    text: str = ""
    name: str | None = None
    call_id: str | None = None
    arguments: Any = None


@dataclass(frozen=True)
class Message:
    role: str
    parts: tuple[Part, ...] = field(default_factory=tuple)
    finish_reason: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.parts if p.kind == "text" and p.text)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{", '"'):
            try:
                return json.loads(stripped)
            except ValueError:
                return value
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, indent=2)
    except (TypeError, ValueError):
        return str(value)


def _part(item: Any) -> Part:
    if not isinstance(item, dict):
        return Part("text", _as_text(item))
    kind = str(item.get("type") or "")
    if kind == "text" or (not kind and ("content" in item or "text" in item)):
        return Part("text", _as_text(item.get("content", item.get("text"))))
    if kind in ("tool_call", "function_call", "tool_use"):
        function: dict[str, Any] = item["function"] if isinstance(item.get("function"), dict) else {}
        return Part("tool_call", name=_opt(item.get("name") or function.get("name")),
                    call_id=_opt(item.get("id") or item.get("call_id")),
                    arguments=_json(item.get("arguments", item.get("input", function.get("arguments")))))
    if kind in ("tool_call_response", "tool_result", "function_call_output"):
        return Part("tool_result", _as_text(_json(item.get("response", item.get("content", item.get("output"))))),
                    call_id=_opt(item.get("id") or item.get("tool_use_id") or item.get("call_id")))
    if kind in ("reasoning", "thinking"):
        return Part("reasoning", _as_text(item.get("content", item.get("thinking", item.get("text")))))
    return Part("other", _as_text(item), name=kind or None)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _message(item: Any, default_role: str) -> Message:
    if not isinstance(item, dict):
        return Message(default_role, (Part("text", _as_text(item)),))
    role = str(item.get("role") or default_role)
    parts: list[Part] = []
    if isinstance(item.get("parts"), list):
        parts = [_part(p) for p in item["parts"]]
    else:
        content = _json(item.get("content"))
        if role == "tool" and content is not None:
            parts.append(Part("tool_result", _as_text(content), call_id=_opt(item.get("tool_call_id") or item.get("id"))))
        elif isinstance(content, list):
            parts = [_part(p) for p in content]
        elif content is not None:
            parts.append(Part("text", _as_text(content)))
        calls = _json(item.get("tool_calls"))
        for call in calls if isinstance(calls, list) else []:
            parts.append(_part({**call, "type": "tool_call"} if isinstance(call, dict) else call))
    finish = item.get("finish_reason")
    return Message(role, tuple(parts), None if finish is None else str(finish))


def parse_messages(text: str | None, default_role: str = "user") -> list[Message]:
    """The messages in captured content; plain text is one message of ``default_role``."""
    if text is None or text == "":
        return []
    value = _json(text)
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, list) and value and all(isinstance(v, dict) and ("role" in v or "parts" in v) for v in value):
        return [_message(v, default_role) for v in value]
    if isinstance(value, dict) and ("role" in value or "parts" in value):
        return [_message(value, default_role)]
    return [Message(default_role, (Part("text", _as_text(value)),))]


def last_user_text(text: str | None) -> str:
    """The text of the last user message (else of the last message) of captured input: what was asked."""
    messages = parse_messages(text)
    for message in reversed(messages):
        if message.role == "user" and message.text:
            return message.text
    for message in reversed(messages):
        if message.text:
            return message.text
    return ""


def preview(text: str | None, limit: int = 160) -> str:
    """One line of at most ``limit`` characters: the last user message of captured input."""
    line = " ".join(last_user_text(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
