"""Captured content rendered as a conversation: one chat bubble per message (system / user / assistant /
tool), tool calls as cards with their arguments as formatted JSON, tool results, reasoning folded, long
text folded after ``FOLD_CHARS``.

Inert by construction: message text goes only to ``st.text`` and ``st.code`` (never Markdown or HTML);
labels that Streamlit renders as Markdown (expander titles, chat names) are fixed words and numbers of ours.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import streamlit as st

from agentotel.core.messages import Message, Part

FOLD_CHARS = 1500
AVATARS = {"system": "⚙️", "user": "🧑", "assistant": "🤖", "tool": "🔧"}


def conversation(messages: Sequence[Message], empty: str = "(no content captured)") -> None:
    """Messages as chat bubbles, in order."""
    if not messages:
        st.text(empty)
        return
    for message in messages:
        role = message.role if message.role in AVATARS else "other"
        with st.chat_message("assistant" if role == "other" else role, avatar=AVATARS.get(role, "💬")):
            if role in ("system", "tool", "other"):
                st.text(f"{message.role[:40]}")  # the role as it was sent (inert)
            for part in message.parts:
                show_part(part)
            if message.finish_reason:
                st.text(f"finish reason: {message.finish_reason[:64]}")


def show_part(part: Part) -> None:
    if part.kind == "text":
        long_text(part.text)
    elif part.kind == "tool_call":
        with st.container(border=True):
            st.text(f"🔧 tool call: {part.name or '?'}" + (f"   id {part.call_id}" if part.call_id else ""))
            st.code(pretty(part.arguments), language="json", wrap_lines=True)
    elif part.kind == "tool_result":
        with st.container(border=True):
            st.text("↩ tool result" + (f" for {part.call_id}" if part.call_id else ""))
            long_text(part.text, code=True)
    elif part.kind == "reasoning":
        with st.expander(f"Reasoning ({len(part.text):,} characters)"):
            st.text(part.text)
    else:
        st.text(f"[{(part.name or 'part')[:40]}]")
        st.code(part.text[:FOLD_CHARS], language="json", wrap_lines=True)


def long_text(text: str, code: bool = False) -> None:
    """Text shown inert, the first ``FOLD_CHARS`` characters at once and the rest in an expander."""
    show = (lambda t: st.code(t, language=None, wrap_lines=True)) if code else (lambda t: st.text(t, wrap=True))
    if len(text) <= FOLD_CHARS:
        show(text)
        return
    show(text[:FOLD_CHARS] + " …")
    with st.expander(f"Show all {len(text):,} characters"):
        show(text)


def pretty(value: Any) -> str:
    """JSON arguments indented; text that is not JSON as it is."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
