"""The search and filter controls shared by the trace, session, user and call lists (sidebar): full-text
search in captured content, agent and service (case-insensitive substrings), status, and under "More
filters" model, provider, tool, latency / cost / token ranges, an attribute ``key=value``, session and user.

``search_filters(prefix, fields)`` draws the fields a list supports (keys ``<prefix>_<field>``) and returns
the values for ``data.search_filter`` (the warehouse's ``SearchFilter``), empty ones left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from agentotel.dashboard import data

ENCRYPTED_NOTE = ("Captured content is encrypted at rest (AGENTOTEL_MASTER_KEY): search in content is off; "
                  "opening a trace or session decrypts it and is audited.")

STATUSES = {"Any status": None, "Errors only": "error", "Successful only": "ok"}
MAIN = ("text", "agent", "service", "status")
MORE = ("model", "provider", "tool", "duration", "cost", "tokens", "attribute", "session", "user")
ALL_FIELDS = (*MAIN, *MORE)
LABELS = {
    "text": ("Search content", "words in prompts, answers, tool calls"),
    "agent": ("Agent", "part of an agent name"),
    "service": ("Service", "part of a service name"),
    "model": ("Model", "part of a model name"),
    "provider": ("Provider", "e.g. openai"),
    "tool": ("Tool", "part of a tool name"),
    "attribute": ("Attribute", "key=value, e.g. tenant=acme"),
    "session": ("Session id", "gen_ai.conversation.id"),
    "user": ("User id", "user.id / enduser.id"),
}
RANGES = {"duration": ("Latency (ms)", "min_duration_ms", "max_duration_ms", 100.0),
          "cost": ("Cost (USD)", "min_cost", "max_cost", 0.001),
          "tokens": ("Tokens (in + out)", "min_tokens", "max_tokens", 100.0)}


def search_filters(prefix: str, fields: Sequence[str] = ALL_FIELDS, container: Any = None,
                   group_more: bool = True) -> dict[str, Any]:
    """Draw the filter controls of ``fields`` (in ``container``, the sidebar by default; the less common
    ones under "More filters" unless ``group_more`` is off) and return their non-empty values."""
    where = container or st.sidebar
    values: dict[str, Any] = {}
    with where:
        for field in (f for f in MAIN if f in fields):
            _field(prefix, field, values)
        more = [f for f in MORE if f in fields]
        if more and group_more:
            with st.expander("More filters", expanded=_any_set(prefix, more)):
                for field in more:
                    _field(prefix, field, values)
        else:
            for field in more:
                _field(prefix, field, values)
    return values


def _any_set(prefix: str, fields: Sequence[str]) -> bool:
    for field in fields:
        keys = [f"{prefix}_{field}"] if field not in RANGES else [f"{prefix}_{field}_min", f"{prefix}_{field}_max"]
        if any(st.session_state.get(k) not in (None, "", 0, 0.0) for k in keys):
            return True
    return False


def _field(prefix: str, field: str, values: dict[str, Any]) -> None:
    key = f"{prefix}_{field}"
    if field == "status":
        status = STATUSES.get(st.selectbox("Status", list(STATUSES), key=key), None)
        if status:
            values["status"] = status
    elif field in RANGES:
        label, low, high, step = RANGES[field]
        left, right = st.columns(2)
        lo = left.number_input(f"{label} from", min_value=0.0, value=None, step=step, key=f"{key}_min")
        hi = right.number_input("to", min_value=0.0, value=None, step=step, key=f"{key}_max")
        if lo is not None:
            values[low] = int(lo) if field == "tokens" else float(lo)
        if hi is not None:
            values[high] = int(hi) if field == "tokens" else float(hi)
    else:
        label, placeholder = LABELS[field]
        off = field == "text" and data.content_encrypted(data.db_url())
        text = st.text_input(label, key=key, placeholder=placeholder, disabled=off,
                             help=ENCRYPTED_NOTE if off else None).strip()
        if off:
            st.caption(ENCRYPTED_NOTE)
            return
        if text:
            values[field] = text
