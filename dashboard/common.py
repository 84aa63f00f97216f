"""Chrome shared by every page: login check, time-range picker, auto-refresh, filters, empty states,
guarded loading (no stack traces on screen) and safe CSV downloads.

User-controlled text (span names, content, labels, messages) is never passed to a Markdown-rendering
element (``st.markdown``, ``st.write``, titles, captions, ``st.info``…): only to ``st.text``, ``st.code``,
``st.json``, ``st.dataframe`` and charts, which render it inert.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from agentotel.dashboard import auth, data
from agentotel.dashboard.format import plain_markdown, safe_csv
from agentotel.registry import RegistryError
from agentotel.warehouse.engine import DatabaseError

logger = logging.getLogger("agentotel.dashboard")
T = TypeVar("T")

# label -> (span, granularity of charts)
TIME_RANGES: dict[str, tuple[timedelta, str]] = {
    "Last 15 minutes": (timedelta(minutes=15), "1min"),
    "Last hour": (timedelta(hours=1), "1min"),
    "Last 6 hours": (timedelta(hours=6), "5min"),
    "Last 24 hours": (timedelta(hours=24), "15min"),
    "Last 7 days": (timedelta(days=7), "2h"),
    "Last 30 days": (timedelta(days=30), "1d"),  # daily points, read from the rollups' day rows
}
DEFAULT_RANGE = "Last hour"
CUSTOM_RANGE = "Custom range"
REFRESH_CHOICES = (10, 30, 60)
ALL = "All"
EMPTY_HINT = """export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317
export OTEL_SERVICE_NAME=my-agent
export OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true   # optional: prompts and answers

# in the agent's code, before the LLM client is created:
from agentotel.instrumentation import instrument
instrument()"""


@dataclass(frozen=True)
class PageContext:
    """What every page needs: who is looking, at which warehouse, over which window, in which time zone
    (UTC unless the browser's is chosen: tables and charts show the same one)."""

    url: str
    user: auth.User
    start: datetime
    end: datetime
    granularity: str
    range_label: str
    tz: tzinfo = field(default=timezone.utc)
    tz_name: str = "UTC"

    @property
    def time_format(self) -> str:
        """The d3 time format of chart axes and tooltips: 24-hour, with the day when the window spans days."""
        return "%H:%M" if self.end - self.start <= timedelta(hours=24) else "%b %d %H:%M"


def page(title: str, role: str = "viewer") -> PageContext:
    """Log-in check, title, and the sidebar's time range (a preset or a custom from/to), time zone and
    auto-refresh controls."""
    user = auth.require_login(role)
    st.title(title)
    _show_flash()
    with st.sidebar:
        choices = [*TIME_RANGES, CUSTOM_RANGE]
        label = st.selectbox("Time range", choices, index=kept_index(choices, DEFAULT_RANGE), key="time_range")
        st.session_state[KEPT] = label
        tz, tz_name = _time_zone()
        start, end, granularity = _window(label, tz, tz_name)
        refresh = st.checkbox("Auto-refresh", value=False, key="auto_refresh", disabled=label == CUSTOM_RANGE)
        interval = st.selectbox("Every (seconds)", REFRESH_CHOICES, index=1, key="refresh_seconds", disabled=not refresh)
        st.caption("Signed in as")
        st.text(f"{user.name} ({user.role})")
        projects = _projects(user)
        if auth.AuthConfig.from_env().enabled and st.button("Sign out", key="sign_out"):
            if auth.logout():
                st.stop()  # OIDC: the browser is on its way to /auth/logout (a rerun could drop that redirect)
            st.rerun()
    if refresh and label != CUSTOM_RANGE:
        _auto_refresh(int(interval))
    return PageContext(data.reader_url(data.db_url(), projects), user, start, end, granularity, label, tz, tz_name)


ALL_MY_PROJECTS = "All my projects"
KEPT_PROJECT = "_kept_project"  # like KEPT: the project chosen on any page


def _projects(user: auth.User) -> tuple[str, ...] | None:
    """The projects this page reads (None: every project): the user's, or the one of them chosen in the
    sidebar when they have several."""
    if user.projects is None:
        return None
    if not user.projects:
        st.caption("No project: you see no data (ask an admin to map you to one)")
        return ()
    st.caption("Projects: " + ", ".join(user.projects))
    if len(user.projects) == 1:
        return user.projects
    choices = [ALL_MY_PROJECTS, *user.projects]
    kept = st.session_state.get(KEPT_PROJECT, ALL_MY_PROJECTS)
    picked = st.selectbox("Project", choices, index=choices.index(kept) if kept in choices else 0, key="project")
    st.session_state[KEPT_PROJECT] = picked
    return user.projects if picked in (None, ALL_MY_PROJECTS) else (picked,)


def _time_zone() -> tuple[tzinfo, str]:
    """UTC, or the browser's time zone when the toggle is on (and the browser told us which)."""
    browser = getattr(st.context, "timezone", None)
    wanted = st.toggle("Browser time zone", value=False, key="tz_browser",
                       help=f"Show times in {browser} instead of UTC" if browser else "Show times in the browser's time zone")
    if wanted and browser:
        try:
            return ZoneInfo(str(browser)), str(browser)
        except (ZoneInfoNotFoundError, ValueError):
            st.caption("The browser's time zone is unknown here; showing UTC.")
    return timezone.utc, "UTC"


def _window(label: str, tz: tzinfo, tz_name: str) -> tuple[datetime, datetime, str]:
    """The [start, end) of a preset (ending now, rounded up to 10 s so reruns share cache entries) or of the
    custom from/to (read in the chosen time zone)."""
    if label != CUSTOM_RANGE:
        span, granularity = TIME_RANGES.get(label, TIME_RANGES[DEFAULT_RANGE])
        end = _ceil_now(cache_bucket(span))
        return end - span, end, granularity
    now = datetime.now(tz).replace(second=0, microsecond=0, tzinfo=None)
    start = st.datetime_input(f"From ({tz_name})", value=now - timedelta(hours=1), key="time_from", step=timedelta(minutes=5))
    end = st.datetime_input(f"To ({tz_name})", value=now + timedelta(minutes=1), key="time_to", step=timedelta(minutes=5))
    start_at = _aware(start or now - timedelta(hours=1), tz)
    end_at = _aware(end or now, tz)
    if end_at <= start_at:
        st.warning("The end of the range is before its start; showing the hour before the end.")
        start_at = end_at - timedelta(hours=1)
    return start_at, end_at, granularity_for(end_at - start_at)


def _aware(value: datetime, tz: tzinfo) -> datetime:
    return (value.replace(tzinfo=tz) if value.tzinfo is None else value).astimezone(timezone.utc)


def granularity_for(span: timedelta) -> str:
    """A chart bucket that gives about 60-180 buckets over ``span``, and a day per bucket past 16 days: those
    read the rollups' day rows (a 30-day chart at 6 hours grouped ~90k hour rows per chart at 1M spans)."""
    for limit, granularity in ((timedelta(hours=3), "1min"), (timedelta(hours=12), "5min"), (timedelta(days=2), "15min"),
                               (timedelta(days=8), "2h"), (timedelta(days=16), "6h")):
        if span <= limit:
            return granularity
    return "1d"


KEPT = "_kept_time_range"  # the time range chosen on any page (a widget's own state ends with its page)


def kept_index(choices: Sequence[str], default: str) -> int:
    """The index of the time range this session chose last, on whichever page: Streamlit drops a widget's
    state when a page without it runs, so the choice is kept beside it (``KEPT``)."""
    value = st.session_state.get(KEPT, default)
    return list(choices).index(value if value in choices else default)


def cache_bucket(span: timedelta) -> int:
    """Seconds to which a preset window's end is rounded up: about 1/120 of the window, 10 s to 5 minutes.
    Every read is keyed by its window, so reruns and auto-refreshes within a bucket share cache entries
    (a 30-day view is no longer recomputed every 10 s), while a short window stays fresh."""
    return int(min(300, max(10, span.total_seconds() // 120)))


def flash(message: str, detail: str = "") -> None:
    """Show ``message`` (fixed text) and ``detail`` (inert) after the rerun that an action triggers."""
    st.session_state["_flash"] = (message, detail)
    st.rerun()


def _show_flash() -> None:
    message, detail = st.session_state.pop("_flash", (None, None))
    if message:
        st.success(message)
        if detail:
            st.text(detail)


def _ceil_now(seconds: int) -> datetime:
    """Now, rounded up to ``seconds`` so that reruns within that time share cache entries."""
    now = time.time()
    return datetime.fromtimestamp(math.ceil(now / seconds) * seconds, tz=timezone.utc)


def _auto_refresh(seconds: int) -> None:
    """Rerun the whole page every ``seconds`` (a fragment ticks; a full run resets the clock)."""
    st.session_state["_last_full_run"] = time.monotonic()

    @st.fragment(run_every=seconds)
    def _tick() -> None:
        if time.monotonic() - st.session_state.get("_last_full_run", 0.0) >= seconds - 0.5:
            st.rerun()

    _tick()


def load(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``fn(*args, **kwargs)``, or None with a friendly message: a bad filter value or a refused action
    is a warning with its reason, a database failure an error without details (those go to the log),
    never a stack trace."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the page must keep working
        _report(exc)
        return None


def load_many(calls: dict[str, tuple]) -> dict[str, Any]:
    """Several ``(fn, *args)`` reads, each result or None (after the message ``load`` shows). They run one
    after the other on purpose: the work is mostly pandas under the GIL, and in sequence the analytics
    engine's cache lets later reads reuse the partial aggregates of earlier ones."""
    return {name: load(call[0], *call[1:]) for name, call in calls.items()}


def _report(exc: BaseException) -> None:
    if isinstance(exc, DatabaseError):
        logger.error("warehouse query failed", exc_info=exc)
        st.error("The warehouse could not answer this query. Check that the database is reachable and "
                 "migrated (agentotel db upgrade); details are in the dashboard log.")
    elif _is_refusal(exc):  # the reason first, escaped: it may quote names from telemetry
        st.warning("Refused: " + plain_markdown(str(exc)[:800]))
    else:
        logger.error("dashboard section failed", exc_info=exc)
        st.error("This section could not be loaded; details are in the dashboard log.")


def _is_refusal(exc: BaseException) -> bool:
    """Errors that explain themselves: invalid values, missing things (an unknown alert is a KeyError),
    a registry's refusal."""
    return isinstance(exc, (ValueError, LookupError, RegistryError))


def empty_state(what: str = "telemetry") -> None:
    """Explain how to get data here instead of showing an empty chart."""
    st.info(f"No {what} in this time range yet. Point an instrumented agent at the receiver "
            "(started with agentotel up or agentotel receive):")
    st.code(EMPTY_HINT, language="bash")


def choice(label: str, options: Sequence[str], key: str, container: Any = None) -> str | None:
    """A select box with an ``All`` entry; returns None for All."""
    where = container or st.sidebar
    picked = where.selectbox(label, [ALL, *[o for o in options if o is not None]], key=key)
    return None if picked in (None, ALL) else picked


def filters_of(**values: str | None) -> dict[str, str]:
    """The non-empty filters, for the analytics functions."""
    return {k: v for k, v in values.items() if v}


def download_csv(frame: pd.DataFrame, filename: str, key: str, label: str = "Download CSV") -> None:
    """A download button whose CSV has formula-like cells neutralised."""
    st.download_button(label, data=safe_csv(frame), file_name=filename, mime="text/csv", key=key)


def chart_frame(frame: pd.DataFrame, ctx: PageContext | None = None, columns: Sequence[str] = ("timestamp", "bucket")
                ) -> pd.DataFrame:
    """A copy with its time ``columns`` as wall-clock times of the page's time zone (UTC by default), without
    an offset: the browser draws them as they are, so a chart shows the same times as the tables."""
    out = frame.copy()
    tz = ctx.tz if ctx is not None else timezone.utc
    for column in columns:
        if column in out:
            out[column] = pd.to_datetime(out[column], utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    return out


def localize(frame: pd.DataFrame, ctx: PageContext, columns: Sequence[str]) -> pd.DataFrame:
    """A copy with the datetime ``columns`` in the page's time zone (for tables)."""
    out = frame.copy()
    for column in columns:
        if column in out:
            out[column] = pd.to_datetime(out[column], utc=True).dt.tz_convert(ctx.tz)
    return out


def time_column(ctx: PageContext, label: str) -> Any:
    """A table column of times, 24-hour, labelled with the page's time zone."""
    return st.column_config.DatetimeColumn(f"{label} ({ctx.tz_name})", format="YYYY-MM-DD HH:mm:ss")


CLICKABLE: tuple[Literal["single-row"], Literal["single-cell"]] = ("single-row", "single-cell")  # a click on any cell picks its row (the checkbox picks it too)


def picked_row(event: Any) -> int | None:
    """The row a click picked in a table drawn with ``selection_mode=CLICKABLE`` (its checkbox or any of its
    cells), or None."""
    selection = getattr(event, "selection", None)
    if selection is None:
        return None
    for cell in list(getattr(selection, "cells", None) or []):  # a cell click wins over a default row
        if isinstance(cell, dict) and "row" in cell:
            return int(cell["row"])
        if isinstance(cell, (list, tuple)) and cell:
            return int(cell[0])
    rows = list(getattr(selection, "rows", None) or [])
    return int(rows[0]) if rows else None


def table_height(rows: int, limit: int = 720) -> int:
    """Pixels that show ``rows`` rows of a table (and its header) without a scroll bar, up to ``limit``."""
    return min(35 * (rows + 1) + 3, limit)


def cost_column(label: str = "cost", width: Any = None) -> Any:
    """A cost column precise enough for single calls (a cent would round them all to $0.00)."""
    return st.column_config.NumberColumn(label, format="$%.6f", width=width)


def query_value(key: str, pattern: Any = None) -> str | None:
    """A query parameter of the page's URL (``?trace=…``), or None when absent or not matching ``pattern``."""
    value = st.query_params.get(key)
    if not value:
        return None
    value = str(value).strip()
    if pattern is not None and not pattern.match(value):
        return None
    return value
