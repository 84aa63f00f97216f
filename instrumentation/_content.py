"""Opt-in message content capture: the setting (read once) and the JSON shapes of semconv's messages."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
MAX_LENGTH_ENV = "AGENTOTEL_CAPTURE_MAX_LENGTH"
DEFAULT_MAX_LENGTH = 8192

_ON = {"true", "1", "yes", "span_only", "span_and_event", "event_only"}


@dataclass(frozen=True)
class ContentSettings:
    """Whether to record prompts/completions/tool arguments, and the per-value length limit."""

    capture: bool = False
    max_length: int = DEFAULT_MAX_LENGTH

    @classmethod
    def resolve(cls, capture: bool | None = None, max_length: int | None = None) -> ContentSettings:
        """Argument > environment > default (off)."""
        if capture is None:
            capture = os.environ.get(CAPTURE_ENV, "").strip().lower() in _ON
        if max_length is None:
            try:
                max_length = int(os.environ.get(MAX_LENGTH_ENV, DEFAULT_MAX_LENGTH))
            except ValueError:
                max_length = DEFAULT_MAX_LENGTH
        return cls(capture=bool(capture), max_length=max(16, max_length))

    def clip(self, text: str) -> str:
        if len(text) <= self.max_length:
            return text
        return text[: self.max_length - 12] + "…[truncated]"

    def dumps(self, value: Any) -> str:
        """JSON of ``value`` with every string in it clipped to the length limit (stays valid JSON)."""
        if isinstance(value, str):
            return self.clip(value)
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except (TypeError, ValueError):  # e.g. non-string keys, cycles
            text = None
        if text is not None and len(text) <= self.max_length:
            return text  # no string inside can exceed the limit
        return json.dumps(self._clip_tree(value, 0), default=str, ensure_ascii=False)

    def _clip_tree(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.clip(value)
        if depth > 20:
            return self.clip(str(value))
        if isinstance(value, Mapping):
            return {str(k): self._clip_tree(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clip_tree(v, depth + 1) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.clip(str(value))


def text_parts(content: Any) -> list[dict[str, Any]]:
    """Semconv message parts for an OpenAI/LangChain ``content`` (string or list of typed parts)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, list):
        for item in content:
            if isinstance(item, str):
                parts.append({"type": "text", "content": item})
            elif isinstance(item, Mapping):
                kind = item.get("type")
                if kind in ("text", "input_text", "output_text"):
                    parts.append({"type": "text", "content": item.get("text", "")})
                elif kind in ("image_url", "input_image"):
                    parts.append({"type": "uri", "modality": "image", "uri": str(item.get("image_url", ""))[:256]})
                else:
                    parts.append({"type": str(kind or "unknown")})
    return parts


def openai_input_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system instruction parts, input messages) from an OpenAI ``messages`` list."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for msg in messages or []:
        if not isinstance(msg, Mapping):
            continue
        role = msg.get("role", "user")
        if role in ("system", "developer"):
            system.extend(text_parts(msg.get("content")))
            continue
        parts = text_parts(msg.get("content"))
        for call in msg.get("tool_calls") or []:
            fn = call.get("function") or {}
            parts.append({"type": "tool_call", "id": call.get("id"), "name": fn.get("name"),
                          "arguments": fn.get("arguments")})
        if role == "tool":
            parts = [{"type": "tool_call_response", "id": msg.get("tool_call_id"), "response": msg.get("content")}]
        entry: dict[str, Any] = {"role": role, "parts": parts}
        if msg.get("name"):
            entry["name"] = msg["name"]
        out.append(entry)
    return system, out
