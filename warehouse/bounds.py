"""Checked arguments of the read functions: row limits within bounds, choices from a whitelist, the top
rows of a ranked frame. Sort columns and statuses never reach SQL unless they pass these checks."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pandas as pd

MAX_ROWS = 1000


def check_limit(limit: int, maximum: int = MAX_ROWS) -> int:
    """``limit`` as an int in ``[1, maximum]``; ValueError otherwise."""
    limit = int(limit)
    if not 1 <= limit <= maximum:
        raise ValueError(f"limit must be between 1 and {maximum}")
    return limit


def check_choice(value: str | None, allowed: Collection[str], what: str) -> str | None:
    """``value`` when it is None or one of ``allowed``; ValueError naming ``what`` otherwise."""
    if value is not None and value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(sorted(allowed))}")
    return value


def top_rows(frame: pd.DataFrame, by: str, limit: int) -> pd.DataFrame:
    """The ``limit`` rows with the largest ``by`` (missing values last, ties in their order)."""
    ranked = frame.sort_values(by, ascending=False, na_position="last", kind="stable")
    return ranked.head(check_limit(limit)).reset_index(drop=True)


def wanted(by: str, quantiles: Sequence[float]) -> tuple[float, ...]:
    """The latency quantiles a ranked read computes: those asked for, plus the one it sorts by
    (``latency_p95`` → 0.95); each is a sketch merge, so none is computed only to be thrown away."""
    extra = (int(by[len("latency_p") :]) / 100,) if by.startswith("latency_p") else ()
    return tuple(sorted({*quantiles, *extra}))
