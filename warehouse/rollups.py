"""Incremental rollups: executions, LLM calls and tool calls aggregated per minute, 10 minutes, hour and day.

``refresh_rollups(engine)`` is watermark-based and idempotent: each run recomputes (delete + insert) every
minute from ``watermark - lateness`` to the newest source row, so re-running adds nothing twice and rows
that arrive up to ``lateness`` (default 15 minutes) after an already rolled-up minute are re-aggregated.
Older back-fills call ``rebuild_rollups(engine, start, end)`` for their time range (repairs) or
``rebuild_minutes(engine, minutes)`` for the minutes they wrote (``agentotel import``). 10-minute and hour
rows are merged from the minute rows of every hour touched, day rows from the hour rows of every day touched
(once per day of a rebuild), so a long range reads day rows in the middle and finer rows only at its edges (a
30-day read: ~30 rows per cell). Sketches are stored binary (``sketch.DTYPE`` records) and merged with array
operations, never decoded row by row. Each bucket also
has a TOTAL row (all dimensions = ``TOTAL``) for unfiltered, ungrouped reads: sum over cells OR read
the total, never both.

Every row belongs to one project (``project_id``, revision tenancy_0002): the project is one more key of each
cell, TOTAL rows included (one per bucket and project), so a reader scoped to projects (row-level security,
``scoping``) sums only its projects' rows, and an unscoped reader merges the projects' rows of a bucket
(sums add, sketches merge: the same totals and quantiles as one row per bucket would give).

Readers use ``read_partials``: rollup rows for the covered part of a range, raw rows turned into the same
per-minute partial aggregates for the rest (the minutes at or after the watermark), so results are fresh
without scanning the span tables for long ranges.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    and_,
    cast,
    delete,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.schema import Column, MetaData, Table

from agentotel.core.utc import as_utc
from agentotel.warehouse import sketch
from agentotel.warehouse.models import AgentExecution, LLMCall, ToolCall
from agentotel.warehouse.rollup_models import RollupExecution, RollupLLM, RollupState, RollupTool
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

MINUTE = 60
TEN_MINUTES = 600
HOUR = 3600
DAY = 86400
MINUTE_MERGED = (TEN_MINUTES, HOUR)  # merged from the minute rows
COARSE_LEVELS = (*MINUTE_MERGED, DAY)  # every level above the minute (day rows are merged from the hour rows)
DEFAULT_LATENESS = timedelta(minutes=15)
FUTURE_SLACK = timedelta(minutes=1)
REBUILD_CHUNK = timedelta(hours=6)
MERGE_GAP = 30  # minutes: dirty runs this close are rebuilt as one range
CHUNK_MINUTES = 120  # one write transaction per 2-hour window of a dense back-fill (hour-aligned)
WINDOW_MINUTES = (1440, 720, 360, 240, CHUNK_MINUTES)  # wider windows for sparse data; each divides a day
WINDOW_ROWS = 20_000  # source rows a window aims at: a sparse back-fill pays pandas' fixed cost per window
_PG_LOCK_KEY = 0x6167656E746F74  # advisory lock: one refresher at a time per database

SUM_COLUMNS_BASE = ("count", "success_count", "duration_count", "duration_sum")
TOTAL = "\x01*"  # dimension value of the per-bucket total rows (a control character: no real name)
PROJECT = "project_id"  # the project column of the source and rollup tables
_PROJECT_KEYED = "agentotel.rollups.project_keyed"  # connection info: the rollup tables carry PROJECT


@dataclass(frozen=True)
class Family:
    """A source table and the rollup table that aggregates it."""

    name: str
    source: Table
    rollup: Table
    time_column: str
    dims: Mapping[str, str]  # filter key -> rollup column
    source_dims: Mapping[str, ColumnElement[Any]]  # rollup column -> source column expression
    extra_sums: Mapping[str, ColumnElement[Any]] = field(default_factory=dict)  # rollup column -> source expression
    project: str | None = PROJECT  # the project key of the rollup rows (None: not keyed by project)

    @property
    def dim_columns(self) -> list[str]:
        return list(self.source_dims)

    @property
    def key_columns(self) -> list[str]:
        """A rollup row's key besides width and bucket: the project (when keyed by it), then the dimensions."""
        return [self.project, *self.source_dims] if self.project else list(self.source_dims)

    def without_project(self) -> Family:
        """This family not keyed by project: what readers merge raw rows by (they sum over the projects
        they see), and the rollups' shape before revision tenancy_0002."""
        return replace(self, project=None) if self.project else self

    @property
    def sum_columns(self) -> list[str]:
        return [*SUM_COLUMNS_BASE, *self.extra_sums]

    @property
    def time(self) -> ColumnElement[Any]:
        return self.source.c[self.time_column]


_ex = AgentExecution.__table__
_llm = LLMCall.__table__
_tool = ToolCall.__table__

FAMILIES: dict[str, Family] = {
    "executions": Family(
        name="executions",
        source=_ex,
        rollup=RollupExecution.__table__,
        time_column="timestamp",
        dims={"agent": "agent_name", "service": "service_name"},
        source_dims={"agent_name": _ex.c.agent_name, "service_name": _ex.c.service_name},
    ),
    "llm": Family(
        name="llm",
        source=_llm,
        rollup=RollupLLM.__table__,
        time_column="start_time",
        dims={"agent": "agent_name", "service": "service_name", "provider": "provider", "model": "model"},
        source_dims={
            "agent_name": _llm.c.agent_name,
            "service_name": _llm.c.service_name,
            "provider": _llm.c.provider,
            # named as /metrics names it (the model that answered, else the one asked for): analytics_0002
            "model": func.coalesce(_llm.c.response_model, _llm.c.request_model),
        },
        extra_sums={
            "input_tokens": func.coalesce(_llm.c.input_tokens, 0),
            "output_tokens": func.coalesce(_llm.c.output_tokens, 0),
            "total_tokens": func.coalesce(
                _llm.c.total_tokens, func.coalesce(_llm.c.input_tokens, 0) + func.coalesce(_llm.c.output_tokens, 0)
            ),
            "cost_usd": func.coalesce(_llm.c.cost_usd, 0.0),
        },
    ),
    "tools": Family(
        name="tools",
        source=_tool,
        rollup=RollupTool.__table__,
        time_column="start_time",
        dims={"agent": "agent_name", "service": "service_name", "tool": "tool_name"},
        source_dims={"agent_name": _tool.c.agent_name, "service_name": _tool.c.service_name, "tool_name": _tool.c.tool_name},
    ),
}

_DURATION: dict[str, ColumnElement[Any]] = {"executions": _ex.c.duration_ms, "llm": _llm.c.duration_ms,
                                            "tools": _tool.c.duration_ms}  # fmt: skip
_SUCCESS: dict[str, ColumnElement[Any]] = {"executions": _ex.c.success, "llm": _llm.c.success, "tools": _tool.c.success}


# ---------------------------------------------------------------------------------------------- raw rows


def frame_from_result(result) -> pd.DataFrame:
    """A DataFrame built column by column (much faster than from row objects holding dicts)."""
    names = list(result.keys())
    rows = result.fetchall()
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    columns = list(zip(*rows, strict=True))
    return pd.DataFrame({name: list(values) for name, values in zip(names, columns, strict=True)})


def raw_frame(
    conn: Connection,
    family: Family,
    start: datetime,
    end: datetime,
    filters: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Source rows of ``family`` in ``[start, end)``: time, project (when ``family`` is keyed by it), dims
    ('' for NULL), success, duration, sums."""
    cols = [family.time.label("t")]
    if family.project:
        cols.append(family.source.c[PROJECT].label(family.project))
    cols += [expr.label(name) for name, expr in family.source_dims.items()]
    cols += [_SUCCESS[family.name].label("success"), _DURATION[family.name].label("duration")]
    cols += [expr.label(name) for name, expr in family.extra_sums.items()]
    stmt = select(*cols).where(family.time >= start, family.time < end)
    for column, values in (filters or {}).items():
        stmt = stmt.where(_source_filter(family.source_dims[column], values))
    frame = frame_from_result(conn.execute(stmt))
    frame["t"] = pd.to_datetime(frame["t"], utc=True)
    for name in family.dim_columns:
        frame[name] = frame[name].fillna("").astype(str)
    frame["success"] = frame["success"].fillna(True).astype(bool)
    frame["duration"] = pd.to_numeric(frame["duration"], errors="coerce").astype(float)
    for name in family.extra_sums:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").fillna(0)
    return frame


def _source_filter(expr, values: Sequence[str]):
    values = list(values)
    named = [v for v in values if v != ""]
    clauses = []
    if named:
        clauses.append(expr.in_(named))
    if len(named) != len(values):
        clauses.append(expr.is_(None))
    return clauses[0] if len(clauses) == 1 else (clauses[0] | clauses[1])


def partials_from_raw(frame: pd.DataFrame, family: Family, width_s: int = MINUTE) -> pd.DataFrame:
    """Per-``width_s`` partial aggregates (the rollup row shape, with a ``duration_sketch`` sketch)."""
    keys = ["bucket", *family.key_columns]
    columns = [*keys, *family.sum_columns, "duration_sketch"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.assign(
        bucket=frame["t"].dt.floor(f"{width_s}s"),
        count=1,
        success_count=frame["success"].astype("int64"),
        duration_count=frame["duration"].notna().astype("int64"),
        duration_sum=frame["duration"].fillna(0.0),
    )
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped[family.sum_columns].sum().reset_index()
    cell = grouped.ngroup().to_numpy()  # the row of ``out`` (both in first-seen order)
    timed = frame["duration"].notna().to_numpy()
    values = frame["duration"].to_numpy(float)[timed]
    out["duration_sketch"] = sketch.encode_grouped(
        cell[timed], sketch.bucket_keys(values), np.ones(values.size, dtype=np.int64), len(out)
    )
    return out[columns]


def quantile_column(q: float) -> str:
    """Name of the column holding the ``q`` quantile in ``merge_partials`` output."""
    return f"q_{q:g}"


def merge_partials(
    frame: pd.DataFrame,
    keys: Sequence[str],
    sum_columns: Sequence[str],
    with_hist: bool,
    quantiles: Sequence[float] = (),
) -> pd.DataFrame:
    """Combine partial aggregates that share ``keys``: sums add, sketches merge.

    With ``quantiles`` the merged sketches are not kept: their quantiles are computed for all groups at
    once (``quantile_column(q)`` columns), which is what readers need and much faster.
    """
    keys = list(keys)
    qcols = [quantile_column(q) for q in quantiles] if with_hist else []
    if frame.empty:
        if not keys:  # one total row, even over no data
            row: dict[str, Any] = {**{c: 0 for c in sum_columns}, **{c: float("nan") for c in qcols}}
            if with_hist and not quantiles:
                row["duration_sketch"] = b""
            return pd.DataFrame([row])
        return pd.DataFrame(columns=[*keys, *sum_columns, *(qcols or (["duration_sketch"] if with_hist else []))])
    numeric = frame[[*keys, *sum_columns]].copy()
    for name in sum_columns:
        numeric[name] = pd.to_numeric(numeric[name], errors="coerce").fillna(0)
    codes: Any
    if not keys:
        summed = numeric[list(sum_columns)].sum().to_frame().T
        codes = np.zeros(len(frame), dtype=np.int64)
    else:
        summed = numeric.groupby(keys, sort=True, dropna=False)[list(sum_columns)].sum().reset_index()
        # group codes follow the (sorted) order of the groupby result above
        codes = frame.groupby(keys, sort=True, dropna=False).ngroup().to_numpy() if with_hist else None
    if with_hist and quantiles:
        values = sketch.grouped_quantiles(codes, frame["duration_sketch"].tolist(), len(summed), quantiles)
        for j, column in enumerate(qcols):
            summed[column] = values[:, j]
    elif with_hist:
        summed["duration_sketch"] = sketch.merge_grouped(codes, frame["duration_sketch"].tolist(), len(summed))
    return summed


# ---------------------------------------------------------------------------------------------- refresh


def refresh_rollups(engine: Engine, lateness: timedelta = DEFAULT_LATENESS, now: datetime | None = None) -> int:
    """Bring every rollup family up to date; returns the number of rollup rows written.

    Safe to call often and from several processes: on PostgreSQL one refresher runs at a time (advisory
    lock; the others return 0 at once), and on SQLite the write transaction serialises them.
    """
    now = now or datetime.now(timezone.utc)
    written = 0
    with engine.connect() as conn:
        conn.info["write"] = True
        with conn.begin():
            if conn.dialect.name == "postgresql":
                if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY}).scalar():
                    return 0
            for family in FAMILIES.values():
                written += _refresh_family(conn, family, lateness, now)
    return written


def refresh_minutes(engine: Engine, minutes: Iterable[int], now: datetime | None = None) -> int | None:
    """Recompute exactly the minutes a writer changed (``minutes`` as Unix ns // 60e9) and advance each
    watermark to the newest row among them; returns rows written, or None when another refresher holds
    the lock (the caller keeps its minutes for the next call).

    The receiver's path: its cost follows what was written, where ``refresh_rollups`` re-reads the whole
    lateness window on every call (~15 minutes of rows, every few seconds, under sustained ingest).
    Nearby runs of minutes are merged and the work is cut into windows (``window_minutes``), each its own
    short transaction (a 7-day back-fill no longer holds the write lock for minutes).
    """
    return _rebuild_chunked(engine, minute_ranges(minutes), now or datetime.now(timezone.utc), advance=True)


def catch_up(
    engine: Engine,
    lateness: timedelta = DEFAULT_LATENESS,
    now: datetime | None = None,
    cancel: threading.Event | None = None,
) -> int | None:
    """What ``refresh_rollups`` does, in windows: from each family's ``watermark - lateness`` (or its oldest
    row) to its newest row, one short transaction per window, each advancing the watermarks — a start after
    an unclean stop (or the first one on a filled warehouse) catches up without holding the write lock for
    the whole range, and readers meanwhile read the not-yet-rolled-up minutes raw. ``cancel`` stops it
    between windows (what is done stays done). Returns rows written, or None when another refresher holds
    the lock on PostgreSQL."""
    now = now or datetime.now(timezone.utc)
    limit = now + FUTURE_SLACK
    spans: list[tuple[int, int]] = []
    with engine.connect() as conn:
        for family in FAMILIES.values():
            newest = conn.execute(select(func.max(family.time)).where(family.time < limit)).scalar()
            if newest is None:
                continue
            mark = watermark(conn, family)
            if mark is None:
                lo = as_utc(conn.execute(select(func.min(family.time))).scalar() or newest)
            else:
                lo = min(mark, as_utc(newest)) - lateness
            spans.append((int(_floor(lo, MINUTE).timestamp()) // MINUTE, int(_floor(as_utc(newest), MINUTE).timestamp()) // MINUTE + 1))
    if not spans:
        return 0
    return _rebuild_chunked(engine, spans, now, advance=True, cancel=cancel)


def rebuild_minutes(engine: Engine, minutes: Iterable[int]) -> int:
    """Recompute the rollups of exactly these minutes without moving a watermark (a back-fill, e.g.
    ``agentotel import``, beside receivers that keep the watermark themselves); returns rows written."""
    return _rebuild_chunked(engine, minute_ranges(minutes), datetime.now(timezone.utc), advance=False) or 0


def minute_ranges(minutes: Iterable[int], gap: int = 0) -> list[tuple[int, int]]:
    """Runs of consecutive minutes as half-open ``(first, last + 1)`` pairs, in order; with ``gap``, runs
    at most ``gap`` minutes apart are one range (the minutes between them are recomputed too: cheaper
    than another pass over the same hour's coarse rows)."""
    ranges: list[list[int]] = []
    for minute in sorted(set(minutes)):
        if ranges and minute <= ranges[-1][1] + gap:
            ranges[-1][1] = minute + 1
        else:
            ranges.append([minute, minute + 1])
    return [(lo, hi) for lo, hi in ranges]


def merge_ranges(ranges: Iterable[tuple[int, int]], gap: int = MERGE_GAP) -> list[tuple[int, int]]:
    """Half-open minute ranges, sorted, with those at most ``gap`` minutes apart merged into one."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + gap:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def chunk_ranges(
    ranges: Iterable[tuple[int, int]], span: int = CHUNK_MINUTES, whole: bool = False
) -> list[list[tuple[int, int]]]:
    """Merged ranges cut at every multiple of ``span`` minutes (hour-aligned when ``span`` is a multiple
    of 60) and grouped per window: one transaction each, and every hour's coarse rows in one window. With
    ``whole``, each window's pieces become one range from its first to its last minute (sparse data: one
    pass over a few rows instead of one query and one pandas pass per piece)."""
    windows: dict[int, list[tuple[int, int]]] = {}
    for lo, hi in merge_ranges(ranges):
        while lo < hi:
            window = lo // span
            cut = min(hi, (window + 1) * span)
            windows.setdefault(window, []).append((lo, cut))
            lo = cut
    if whole:
        return [[(windows[w][0][0], windows[w][-1][1])] for w in sorted(windows)]
    return [windows[w] for w in sorted(windows)]


def window_minutes(engine: Engine, ranges: Sequence[tuple[int, int]], families: Sequence[str] | None = None) -> int:
    """The widest of ``WINDOW_MINUTES`` whose windows hold about ``WINDOW_ROWS`` source rows at the density of
    ``ranges`` (one count over their extent): 7 days of a demo's history is 7 transactions, not 84, while
    a dense back-fill still holds the write lock for one 2-hour window at a time."""
    return _window(engine, ranges, families)[0]


def _window(engine: Engine, ranges: Sequence[tuple[int, int]], families: Sequence[str] | None) -> tuple[int, bool]:
    """``window_minutes``, and whether a whole window of the extent holds at most ``WINDOW_ROWS`` rows (then
    rebuilding each window's whole extent costs no more than its dirty pieces: ``chunk_ranges(whole=True)``)."""
    merged = merge_ranges(ranges)
    if not merged or merged[-1][1] - merged[0][0] <= CHUNK_MINUTES:
        return CHUNK_MINUTES, False
    lo, hi = _minute_time(merged[0][0]), _minute_time(merged[-1][1])
    with engine.connect() as conn:
        rows = sum(conn.execute(select(func.count()).select_from(FAMILIES[name].source).where(
            FAMILIES[name].time >= lo, FAMILIES[name].time < hi)).scalar_one() for name in families or FAMILIES)
    per_minute = rows / sum(b - a for a, b in merged)  # over the dirty minutes: at least the extent's density
    minutes = next((m for m in WINDOW_MINUTES if per_minute * m <= WINDOW_ROWS), CHUNK_MINUTES)
    return minutes, per_minute * minutes <= WINDOW_ROWS


def _rebuild_chunked(
    engine: Engine,
    ranges: Sequence[tuple[int, int]],
    now: datetime,
    advance: bool,
    families: Sequence[str] | None = None,
    cancel: threading.Event | None = None,
) -> int | None:
    """Rebuild ``ranges`` window by window, each in its own transaction (on PostgreSQL under the refresh
    lock: None when another refresher holds it); with ``advance``, each window moves the watermarks."""
    written = 0
    ranges = list(ranges)
    minutes, sparse = _window(engine, ranges, families)
    chunks = chunk_ranges(ranges, minutes, whole=sparse)
    pending: int | None = None  # a day whose hours were rebuilt but not yet its day rows
    for i, chunk in enumerate(chunks):
        day = chunk[0][0] // 1440
        if cancel is not None and cancel.is_set():
            if pending is not None:  # leave no day row behind its hours
                written += _with_lock(engine, lambda conn, d=pending: _rebuild_day_rows(conn, families, d)) or 0
            break
        # day rows once per day of the rebuild: in the transaction of its last window
        last_of_day = i == len(chunks) - 1 or chunks[i + 1][0][0] // 1440 != day

        def window(conn: Connection, chunk=chunk, last_of_day=last_of_day) -> int:
            return sum(_rebuild_window(conn, FAMILIES[name], chunk, now if advance else None, last_of_day)
                       for name in families or FAMILIES)

        done = _with_lock(engine, window)
        if done is None:
            return None
        written += done
        pending = None if last_of_day else day
    return written


def stored_family(conn: Connection, family: Family) -> Family:
    """``family`` keyed as its rollup table is stored: by project from revision tenancy_0002 on, without it
    before (the older revisions that rebuild rollups, analytics_0002 and analytics_0003, run this code on
    their own schema). Looked up once per connection once the project is there."""
    if family.project is None or conn.info.get(_PROJECT_KEYED):
        return family
    if family.project in {column["name"] for column in inspect(conn).get_columns(family.rollup.name)}:
        conn.info[_PROJECT_KEYED] = True  # tenancy_0002 adds it to the three tables at once
        return family
    rollup = family.rollup  # the table as it was: without the column (not even in an INSERT's RETURNING)
    columns = (Column(c.name, c.type, primary_key=c.primary_key) for c in rollup.columns if c.name != family.project)
    return replace(family, project=None, rollup=Table(rollup.name, MetaData(), *columns))


def _with_lock(engine: Engine, work) -> int | None:
    """``work(conn)`` in one write transaction, on PostgreSQL under the refresh lock (None: another
    refresher holds it)."""
    with engine.connect() as conn:
        conn.info["write"] = True
        with conn.begin():
            if conn.dialect.name == "postgresql":
                if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY}).scalar():
                    return None
            return int(work(conn))


def _rebuild_day_rows(conn: Connection, families: Sequence[str] | None, day: int) -> int:
    lo = _minute_time(day * 1440)
    return sum(rebuild_days(conn, FAMILIES[name], lo, lo + timedelta(days=1)) for name in families or FAMILIES)


def _rebuild_window(
    conn: Connection, family: Family, pieces: Sequence[tuple[int, int]], now: datetime | None, days: bool = True
) -> int:
    """The minute rows of ``pieces`` (one window), then the coarse rows of the hours they touch, once, and
    (with ``days``) the day rows of their days; with ``now``, the watermark advances to the newest row
    among them."""
    family = stored_family(conn, family)
    written = 0
    newest = None
    for lo, hi in pieces:
        start, end = _minute_time(lo), _minute_time(hi)
        written += _rebuild_minute_rows(conn, family, start, end, chunk=end - start)  # a window: sized to its rows
        if now is not None:
            found = conn.execute(
                select(func.max(family.time)).where(family.time >= start, family.time < min(end, now + FUTURE_SLACK))
            ).scalar()
            if found is not None:
                newest = as_utc(found) if newest is None else max(newest, as_utc(found))
    hours = merge_ranges(((lo // 60, -(-hi // 60)) for lo, hi in pieces), gap=0)
    for h0, h1 in hours:
        written += _rebuild_coarse(conn, family, _minute_time(h0 * 60), _minute_time(h1 * 60), days=False)
    if days and hours:
        written += rebuild_days(conn, family, _minute_time(hours[0][0] * 60), _minute_time(hours[-1][1] * 60))
    if now is None or newest is None:
        return written
    state_table = RollupState.__table__
    old = conn.execute(select(state_table.c.watermark).where(state_table.c.name == family.name)).scalar()
    if old is None or as_utc(old) < newest:
        insert_on_conflict(
            conn,
            state_table,
            [{"name": family.name, "watermark": newest, "updated_at": now, "rows_written": written}],
            ["name"],
            update_columns=["watermark", "updated_at", "rows_written"],
        )
    return written


def _minute_time(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=timezone.utc)


def rebuild_rollups(engine: Engine, start: datetime, end: datetime, families: Sequence[str] | None = None) -> int:
    """Recompute the rollups of ``[start, end)`` (after a back-fill or a delete) in windows of at most a day
    (``window_minutes``), one short transaction each; returns rows written."""
    lo = int(_floor(start, MINUTE).timestamp()) // MINUTE
    hi = int(_ceil(end, MINUTE).timestamp()) // MINUTE
    if lo >= hi:
        return 0
    return _rebuild_chunked(engine, [(lo, hi)], datetime.now(timezone.utc), advance=False, families=families) or 0


def _refresh_family(conn: Connection, family: Family, lateness: timedelta, now: datetime) -> int:
    family = stored_family(conn, family)
    state_table = RollupState.__table__
    watermark = conn.execute(select(state_table.c.watermark).where(state_table.c.name == family.name)).scalar()
    limit = now + FUTURE_SLACK
    newest = conn.execute(select(func.max(family.time)).where(family.time < limit)).scalar()
    if newest is None:
        return 0
    if watermark is None:  # from the oldest row (there is one: ``newest`` exists)
        lo = as_utc(conn.execute(select(func.min(family.time))).scalar() or newest)
    else:
        lo = min(as_utc(watermark), as_utc(newest)) - lateness
    hi = _floor(as_utc(newest), MINUTE) + timedelta(seconds=MINUTE)
    written = rebuild_range(conn, family, lo, hi)
    insert_on_conflict(
        conn,
        state_table,
        [{"name": family.name, "watermark": as_utc(newest), "updated_at": now, "rows_written": written}],
        ["name"],
        update_columns=["watermark", "updated_at", "rows_written"],
    )
    return written


def rebuild_range(conn: Connection, family: Family, start: datetime, end: datetime) -> int:
    """Delete and recompute the minute rows of ``[floor(start), ceil(end))`` and the hour rows over them."""
    family = stored_family(conn, family)
    lo = _floor(start, MINUTE)
    hi = _ceil(end, MINUTE)
    written = _rebuild_minute_rows(conn, family, lo, hi)
    return written + _rebuild_coarse(conn, family, _floor(lo, HOUR), _ceil(hi, HOUR))


def _rebuild_minute_rows(
    conn: Connection, family: Family, lo: datetime, hi: datetime, chunk: timedelta = REBUILD_CHUNK
) -> int:
    """Delete and recompute the minute rows of ``[lo, hi)`` (minute-aligned), skipping empty stretches, reading
    the source rows ``chunk`` at a time."""
    written = 0
    cursor = lo
    while cursor < hi:
        first = conn.execute(select(func.min(family.time)).where(family.time >= cursor, family.time < hi)).scalar()
        if first is None:
            conn.execute(_delete_rows(family, MINUTE, cursor, hi))
            break
        first = _floor(as_utc(first), MINUTE)
        if first > cursor:
            conn.execute(_delete_rows(family, MINUTE, cursor, first))
        chunk_end = min(hi, first + chunk)
        partials = with_totals(partials_from_raw(raw_frame(conn, family, first, chunk_end), family, MINUTE), family)
        conn.execute(_delete_rows(family, MINUTE, first, chunk_end))
        written += _insert(conn, family, partials, MINUTE)
        cursor = chunk_end
    return written


def with_totals(partials: pd.DataFrame, family: Family) -> pd.DataFrame:
    """``partials`` plus one ``TOTAL`` row per bucket and project (every dimension = ``TOTAL``): the
    unfiltered, ungrouped reads (the dashboard's main charts) then read one row per minute and project instead
    of one per cell."""
    if partials.empty:
        return partials
    keys = ["bucket", family.project] if family.project else ["bucket"]
    totals = merge_partials(partials, keys, family.sum_columns, with_hist=True)
    for column in family.dim_columns:
        totals[column] = TOTAL
    return pd.concat([partials, totals[partials.columns]], ignore_index=True)


def _rebuild_coarse(conn: Connection, family: Family, lo: datetime, hi: datetime, days: bool = True) -> int:
    """Recompute the 10-minute and hour rows of ``[lo, hi)`` (hour-aligned) from the minute rows, then (with
    ``days``) the day rows of the days they touch from the hour rows."""
    written = _merge_level(conn, family, MINUTE, MINUTE_MERGED, lo, hi)
    if days:
        written += rebuild_days(conn, family, lo, hi)
    return written


def rebuild_days(conn: Connection, family: Family, lo: datetime, hi: datetime) -> int:
    """Recompute the day rows of the days ``[lo, hi)`` touches from their hour rows."""
    return _merge_level(conn, stored_family(conn, family), HOUR, (DAY,), _floor(lo, DAY), _ceil(hi, DAY))


def _merge_level(conn: Connection, family: Family, source: int, widths: Sequence[int], lo: datetime, hi: datetime) -> int:
    """Replace the ``widths`` rows of ``[lo, hi)`` by the merge of its ``source``-width rows."""
    rollup = family.rollup
    stmt = select(*rollup.columns).where(rollup.c.width_s == source, rollup.c.bucket >= lo, rollup.c.bucket < hi)
    rows = frame_from_result(conn.execute(stmt))
    for width in widths:
        conn.execute(_delete_rows(family, width, lo, hi))
    if rows.empty:
        return 0
    buckets = pd.to_datetime(rows["bucket"], utc=True)
    written = 0
    for width in widths:
        coarse = merge_partials(
            rows.assign(bucket=buckets.dt.floor(f"{width}s")), ["bucket", *family.key_columns], family.sum_columns, with_hist=True
        )
        written += _insert(conn, family, coarse, width)
    return written


def segments(lo: datetime, hi: datetime, widths: Sequence[int]) -> list[tuple[int, datetime, datetime]]:
    """Cover ``[lo, hi)`` (minute-aligned) with as few rollup rows as possible: the coarsest aligned
    ``widths`` in the middle, finer ones at the edges (minutes always allowed)."""
    levels = sorted({MINUTE, *widths}, reverse=True)

    def cover(a: datetime, b: datetime, index: int) -> list[tuple[int, datetime, datetime]]:
        if a >= b:
            return []
        width = levels[index]
        if width == MINUTE:
            return [(MINUTE, a, b)]
        inner_a, inner_b = _ceil(a, width), _floor(b, width)
        if inner_a >= inner_b:
            return cover(a, b, index + 1)
        return [*cover(a, inner_a, index + 1), (width, inner_a, inner_b), *cover(inner_b, b, index + 1)]

    return cover(lo, hi, 0)


def _delete_rows(family: Family, width_s: int, lo: datetime, hi: datetime):
    rollup = family.rollup
    return delete(rollup).where(rollup.c.width_s == width_s, rollup.c.bucket >= lo, rollup.c.bucket < hi)


def _insert(conn: Connection, family: Family, partials: pd.DataFrame, width_s: int) -> int:
    if partials.empty:
        return 0
    frame = partials.assign(width_s=width_s)
    rows = frame.astype(object).to_dict("records")
    for row in rows:
        row["bucket"] = pd.Timestamp(row["bucket"]).to_pydatetime()
        for name in ("count", "success_count", "duration_count"):
            row[name] = int(row[name])
        for name in family.extra_sums:
            row[name] = int(row[name]) if name != "cost_usd" else float(row[name])
        row["duration_sum"] = float(row["duration_sum"])
    keys = ["width_s", "bucket", *family.key_columns]
    insert_on_conflict(conn, family.rollup, rows, keys, update_columns=[*family.sum_columns, "duration_sketch"])
    return len(rows)


# ---------------------------------------------------------------------------------------------- reading


def watermark(conn: Connection, family: Family) -> datetime | None:
    """The newest source time rolled up for ``family`` (None: never refreshed)."""
    state_table = RollupState.__table__
    value = conn.execute(select(state_table.c.watermark).where(state_table.c.name == family.name)).scalar()
    return as_utc(value) if value is not None else None


def read_partials(
    conn: Connection,
    family: Family,
    start: datetime,
    end: datetime,
    width_s: int | None,
    filters: Mapping[str, Sequence[str]],
    group_columns: Sequence[str],
    with_hist: bool,
    quantiles: Sequence[float] = (),
) -> pd.DataFrame:
    """Partial aggregates over ``[start, end)`` from rollups + raw tail, merged per bucket and group (over
    every project ``conn`` sees: its scope, or all of them).

    ``width_s`` is the output granularity in seconds (a multiple of 60) or None for one bucket over the
    whole range. Returns columns ``bucket`` (when width_s), the group columns, the sums and, with
    ``with_hist``, ``duration_sketch`` (or the ``quantiles`` columns). Requires rollups to exist (see ``watermark``).
    """
    mark = watermark(conn, family)
    covered = _floor(mark, MINUTE) if mark else start
    pieces: list[pd.DataFrame] = []
    m0 = min(_ceil(start, MINUTE), end)
    m1 = max(m0, min(_floor(end, MINUTE), covered))
    # raw head [start, m0) and tail [m1, end)
    merged = family.without_project()  # the rows of every project the reader sees, together
    for lo, hi in ((start, m0), (m1, end)):
        if lo < hi:
            pieces.append(partials_from_raw(raw_frame(conn, merged, lo, hi, filters), merged, MINUTE))
    if m0 < m1:
        usable = [w for w in COARSE_LEVELS if width_s is None or width_s % w == 0]
        pieces.append(_read_rollup(conn, family, segments(m0, m1, usable), filters, group_columns, width_s, with_hist))
    frame = pd.concat([p for p in pieces if not p.empty], ignore_index=True) if any(not p.empty for p in pieces) else None
    keys = (["bucket"] if width_s else []) + list(group_columns)
    if frame is None:
        empty = pd.DataFrame(columns=[*keys, *family.sum_columns, "duration_sketch"])
        return merge_partials(empty, keys, family.sum_columns, with_hist, quantiles)
    if width_s:
        frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True).dt.floor(f"{width_s}s")
    return merge_partials(frame, keys, family.sum_columns, with_hist, quantiles)


def _read_rollup(
    conn: Connection,
    family: Family,
    pieces: Sequence[tuple[int, datetime, datetime]],
    filters: Mapping[str, Sequence[str]],
    group_columns: Sequence[str],
    width_s: int | None,
    with_hist: bool,
) -> pd.DataFrame:
    """The rollup rows of every ``(width, lo, hi)`` piece in one statement (one round trip)."""
    rollup = family.rollup
    spans = [and_(rollup.c.width_s == width, rollup.c.bucket >= lo, rollup.c.bucket < hi) for width, lo, hi in pieces]
    where = [spans[0] if len(spans) == 1 else or_(*spans)]
    where += [rollup.c[column].in_([str(v) for v in values]) for column, values in filters.items()]
    first_dim = rollup.c[family.dim_columns[0]]
    # the per-bucket TOTAL rows (one per project) answer unfiltered, ungrouped reads; every other read skips them
    where.append(first_dim == TOTAL if not filters and not group_columns else first_dim != TOTAL)
    # the output bucket computed by the database, as Unix seconds: fewer rows when summed, and no per-row
    # timestamp parsing (14k hour rows of a 30-day read at 6-hour granularity become 2.4k integers)
    bucket = [epoch_bucket(conn, rollup.c.bucket, width_s).label("bucket")] if width_s else []
    group = [*bucket, *(rollup.c[c] for c in group_columns)]
    if with_hist and conn.dialect.name != "postgresql":
        stmt = select(*group, *(rollup.c[c] for c in family.sum_columns), rollup.c.duration_sketch).where(and_(*where))
    else:
        # Sum in the database: one row per (bucket, group) instead of one per cell; a whole-range read
        # (``width_s`` None) groups by the groups alone, not by hour. On PostgreSQL the sketches too: a sketch
        # is a run of records, and runs concatenated are a valid input of the merge (``sketch.decode_many``):
        # a 30-day read with percentiles gets ~20 rows instead of ~20k.
        cols = [*group, *(func.sum(rollup.c[c]).label(c) for c in family.sum_columns)]
        if with_hist:
            cols.append(func.string_agg(rollup.c.duration_sketch, literal(b"", LargeBinary)).label("duration_sketch"))
        stmt = select(*cols).where(and_(*where))
        if group:
            stmt = stmt.group_by(*group)
    frame = frame_from_result(conn.execute(stmt))
    if frame.empty:
        return frame
    if "bucket" in frame:
        frame["bucket"] = pd.to_datetime(frame["bucket"].astype("int64"), unit="s", utc=True)
    return frame


def epoch_bucket(conn: Connection, column, width_s: int) -> ColumnElement[int]:
    """``column`` (a UTC timestamp) floored to ``width_s`` seconds, as Unix seconds, in SQL."""
    if conn.dialect.name == "postgresql":
        seconds = cast(func.extract("epoch", column), BigInteger)
    else:  # SQLite stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC
        seconds = cast(func.strftime("%s", column), Integer)
    return (seconds // width_s) * width_s


# ---------------------------------------------------------------------------------------------- time




_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _floor(value: datetime, seconds: int) -> datetime:
    value = as_utc(value)
    delta = value - _EPOCH
    whole = int(delta.total_seconds() // seconds) * seconds
    return _EPOCH + timedelta(seconds=whole)


def _ceil(value: datetime, seconds: int) -> datetime:
    floored = _floor(value, seconds)
    return floored if floored == as_utc(value) else floored + timedelta(seconds=seconds)


__all__ = [
    "FAMILIES",
    "Family",
    "catch_up",
    "merge_partials",
    "partials_from_raw",
    "raw_frame",
    "read_partials",
    "rebuild_days",
    "rebuild_minutes",
    "rebuild_rollups",
    "refresh_minutes",
    "refresh_rollups",
    "watermark",
]
