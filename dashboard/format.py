"""Numbers for humans and safe CSV downloads (no Streamlit here, so it is testable on its own)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

# OWASP CSV injection: cells that a spreadsheet would read as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any, digits: int = 1) -> str:
    """12 -> "12", 12345 -> "12.3k", 4.2e6 -> "4.2M"; missing -> "–"."""
    if _missing(value):
        return "–"
    value = float(value)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.{digits}f}{suffix}"
    return f"{value:.0f}" if value == int(value) else f"{value:.{digits}f}"


def duration_ms(value: Any) -> str:
    """850 -> "850 ms", 1234 -> "1.23 s", 95000 -> "1.6 min"."""
    if _missing(value):
        return "–"
    value = float(value)
    if abs(value) < 1:
        return f"{value:.2f} ms"
    if abs(value) < 1000:
        return f"{value:.0f} ms"
    if abs(value) < 60_000:
        return f"{value / 1000:.2f} s"
    if abs(value) < 3_600_000:
        return f"{value / 60_000:.1f} min"
    return f"{value / 3_600_000:.1f} h"


def usd(value: Any) -> str:
    """0.01234 -> "$0.0123", 12.5 -> "$12.50", 12345 -> "$12.3k"."""
    if _missing(value):
        return "–"
    value = float(value)
    if abs(value) >= 10_000:
        return "$" + number(value)
    if abs(value) >= 1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.4f}"


def percent(value: Any, digits: int = 1) -> str:
    """0.1234 -> "12.3%"; missing -> "–"."""
    if _missing(value):
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


def neutralise_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would evaluate gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_csv(frame: pd.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV with formula-like text cells (and headers) neutralised."""
    out = frame.copy()
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise_cell)
    return out.to_csv(index=False).encode("utf-8")


def usd_precise(value: Any) -> str:
    """A cost with enough precision for one call: 0.000045 -> "$0.000045", 0.0239 -> "$0.0239",
    12.5 -> "$12.50"."""
    if _missing(value):
        return "–"
    value = float(value)
    if value == 0 or abs(value) >= 1:
        return usd(value)
    digits = max(4, min(8, 2 - math.floor(math.log10(abs(value))) + 1))
    return f"${value:.{digits}f}".rstrip("0").rstrip(".") if digits > 4 else f"${value:.4f}"


def byte_size(value: Any) -> str:
    """334900000 -> "319.4 MiB"; missing -> "–"."""
    if _missing(value):
        return "–"
    value = float(value)
    for size, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(value) >= size:
            return f"{value / size:.1f} {suffix}"
    return f"{value:.0f} B"


def seconds(value: Any) -> str:
    """CPU or wall seconds: 0.25 -> "250 ms", 12.3 -> "12.30 s"."""
    if _missing(value):
        return "–"
    return duration_ms(float(value) * 1000)


def finite(value: Any) -> Any:
    """None for NaN and ±infinity (a flat baseline gives an infinite z-score: not a number to show)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(float(value)):
        return None
    return value


def finite_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose float columns hold NaN (an empty cell) instead of ±infinity."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "f":
            out[column] = out[column].replace([math.inf, -math.inf], math.nan)
    return out


_MARKDOWN_SPECIAL = set("\\`*_{}[]()<>#+-.!|~:$&\"'=^")


def plain_markdown(text: str) -> str:
    """``text`` escaped so that a Markdown-rendering element shows it literally: every ASCII punctuation
    character that Markdown, HTML or Streamlit's directives (``:red[…]``, ``:material/…:``, ``$…$``) could
    read is backslash-escaped (CommonMark: any ASCII punctuation may be), line breaks kept."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in str(text)).replace("\n", "  \n")
