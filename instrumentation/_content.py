"""Opt-in message content capture: the setting (read once) and the JSON shapes of semconv's messages.

Modes (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, semconv.md 1.4): ``true``/``SPAN_ONLY``
put the content on the spans; ``EVENT_ONLY`` on a ``gen_ai.client.inference.operation.details`` log
record only; ``SPAN_AND_EVENT`` on both. Anything else (unset, ``false``, ``NO_CONTENT``) captures none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
MAX_LENGTH_ENV = "AGENTOTEL_CAPTURE_MAX_LENGTH"
DEFAULT_MAX_LENGTH = 8192

# json.dumps(value, default=str, ensure_ascii=False), without building an encoder per call
_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode
_fast_encode: Callable[[Any], str] = _encode
try:  # the C encoder built once, without the circular-reference check (a cycle ends in RecursionError)
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    _c_encoder = c_make_encoder(None, str, encode_basestring, None, ": ", ", ", False, False, True)

    def _c_encode(value: Any) -> str:
        return "".join(_c_encoder(value, 0))

    _fast_encode = _c_encode
except (ImportError, TypeError):  # no C accelerator
    pass

SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT = "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"
_MODES = {"true": SPAN_ONLY, "1": SPAN_ONLY, "yes": SPAN_ONLY, "span_only": SPAN_ONLY,
          "event_only": EVENT_ONLY, "span_and_event": SPAN_AND_EVENT}


def parse_mode(value: str | None) -> str | None:
    """The capture mode a setting names (``None``: no content)."""
    return _MODES.get((value or "").strip().lower())


@dataclass(frozen=True)
class ContentSettings:
    """Whether to record prompts/completions/tool arguments, where (span, event), and the length limit.

    ``on_span`` / ``on_event`` are derived from ``capture`` and ``mode`` once, for the hot paths.
    """

    capture: bool = False
    max_length: int = DEFAULT_MAX_LENGTH
    mode: str = SPAN_ONLY
    on_span: bool = field(init=False, repr=False, compare=False)
    on_event: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in (SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT):
            raise ValueError(f"unknown content capture mode {self.mode!r}")
        object.__setattr__(self, "on_span", bool(self.capture) and self.mode != EVENT_ONLY)
        object.__setattr__(self, "on_event", bool(self.capture) and self.mode != SPAN_ONLY)

    @classmethod
    def resolve(cls, capture: bool | str | None = None, max_length: int | None = None) -> ContentSettings:
        """Argument > environment > default (off).

        ``capture`` may be a bool (``True``: on, in the environment's mode if it names one, else
        ``SPAN_ONLY``) or a mode string as in the environment variable.
        """
        env_mode = parse_mode(os.environ.get(CAPTURE_ENV))
        if capture is None:
            mode = env_mode
        elif isinstance(capture, str):
            mode = parse_mode(capture)
        else:
            mode = (env_mode or SPAN_ONLY) if capture else None
        if max_length is None:
            try:
                max_length = int(os.environ.get(MAX_LENGTH_ENV, DEFAULT_MAX_LENGTH))
            except ValueError:
                max_length = DEFAULT_MAX_LENGTH
        return cls(capture=mode is not None, max_length=max(16, max_length), mode=mode or SPAN_ONLY)

    def clip(self, text: str) -> str:
        if len(text) <= self.max_length:
            return text
        return text[: self.max_length - 12] + "…[truncated]"

    def dumps(self, value: Any) -> str:
        """JSON of ``value`` with every string in it clipped to the length limit (stays valid JSON)."""
        if isinstance(value, str):
            return self.clip(value)
        try:
            text = _fast_encode(value)
        except (TypeError, ValueError, RecursionError):  # e.g. non-string keys, cycles
            text = None
        if text is not None and len(text) <= self.max_length:
            return text  # no string inside can exceed the limit
        return _encode(self._clip_tree(value, 0))

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
