"""data_export: stream a warehouse table to CSV, Parquet or JSON lines, chunk by chunk.

Rows are read with a server-side cursor (``stream_results``) in chunks of ``chunk_size`` and written as they
come, so a table larger than memory exports in bounded memory. Timestamps are ISO 8601 UTC; JSON columns
are written as JSON text (CSV, Parquet) or nested objects (JSON lines). CSV cells that a spreadsheet would
run as a formula (starting with ``= + - @``, tab or carriage return) are prefixed with ``'``. Columns or
JSON keys that look like secrets (api keys, passwords, authorization headers) are never exported.
``export_period`` is the scheduled form: the last complete hour (day, …) of a table into a directory.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import JSON, Boolean, DateTime, Engine, Float, Integer, Table, select

from agentotel.core.secrets import is_secret_key, redact_secrets
from agentotel.core.utc import as_utc
from agentotel.warehouse.models import Base

FORMATS = ("csv", "parquet", "json")
COMPRESSIONS = ("gzip", "zstd")
EXPORT_TABLES = (
    "spans", "llm_calls", "tool_calls", "agent_executions", "metrics", "agents", "logs", "evaluation_runs", "alerts",
)
TIME_COLUMNS = {
    "spans": "start_time", "llm_calls": "start_time", "tool_calls": "start_time", "agent_executions": "timestamp",
    "metrics": "timestamp", "agents": "last_seen_at", "logs": "timestamp", "evaluation_runs": "timestamp",
    "alerts": "timestamp",
}
AGENT_COLUMNS = {
    "spans": "agent_name", "llm_calls": "agent_name", "tool_calls": "agent_name", "agent_executions": "agent_name",
    "agents": "name", "evaluation_runs": "agent_name",
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class ExportResult:
    """What an export wrote."""

    table: str
    rows: int
    path: str


def neutralise_cell(value: str) -> str:
    """Prefix a CSV text cell with ``'`` when a spreadsheet would evaluate it (RELIABILITY P4)."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value



def export_table(
    engine: Engine,
    table: str,
    fmt: str,
    out: str | Path,
    since: datetime | None = None,
    until: datetime | None = None,
    agent: str | None = None,
    compression: str | None = None,
    chunk_size: int = 50_000,
) -> ExportResult:
    """Write the rows of ``table`` (filtered by time ``[since, until)`` and agent) to ``out``."""
    if table not in EXPORT_TABLES:
        raise ValueError(f"unknown table {table!r}; exportable: {', '.join(EXPORT_TABLES)}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    if compression is not None and compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}")
    if agent and table not in AGENT_COLUMNS:
        raise ValueError(f"table {table} has no agent column to filter on")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    source: Table = Base.metadata.tables[table]
    columns = [c for c in source.columns if not is_secret_key(c.name)]
    stmt = select(*columns)
    time_column = source.c[TIME_COLUMNS[table]]
    if since is not None:
        stmt = stmt.where(time_column >= as_utc(since))
    if until is not None:
        stmt = stmt.where(time_column < as_utc(until))
    if agent:
        stmt = stmt.where(source.c[AGENT_COLUMNS[table]] == agent)
    stmt = stmt.order_by(time_column, *source.primary_key.columns)
    writers: dict[str, type[_CsvWriter | _JsonWriter | _ParquetWriter]] = {
        "csv": _CsvWriter, "json": _JsonWriter, "parquet": _ParquetWriter}
    writer = writers[fmt](columns, compression)
    rows = 0
    path = Path(out)
    with engine.connect() as conn, writer.open(path):
        result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(stmt)
        for chunk in result.partitions(chunk_size):
            writer.write([_clean(row._mapping, columns) for row in chunk])
            rows += len(chunk)
    return ExportResult(table, rows, str(path))


def export_period(
    engine: Engine,
    table: str,
    fmt: str,
    directory: str | Path,
    period: timedelta,
    now: datetime | None = None,
    compression: str | None = None,
) -> ExportResult | None:
    """Scheduled exports: write the last complete ``period`` (aligned to the epoch, UTC) of ``table`` to
    ``directory/<table>-<YYYYmmddTHHMMSSZ>.<ext>``; None when that file already exists (safe to call on
    every tick). The file appears atomically (written under a temporary name, then renamed)."""
    if period < timedelta(minutes=1):
        raise ValueError("period must be at least one minute")
    now = as_utc(now or datetime.now(timezone.utc))
    seconds = int(period.total_seconds())
    end = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, timezone.utc)
    start = end - period
    suffix = {"csv": ".csv", "json": ".jsonl", "parquet": ".parquet"}[fmt] + {"gzip": ".gz", "zstd": ".zst", None: ""}[compression]
    target = Path(directory) / f"{table}-{start:%Y%m%dT%H%M%SZ}{suffix}"
    if target.exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    result = export_table(engine, table, fmt, partial, since=start, until=end, compression=compression)
    partial.replace(target)
    return ExportResult(table, result.rows, str(target))


def _clean(row, columns) -> dict[str, Any]:
    out = {}
    for column in columns:
        value = row[column.name]
        if _is_json(column.type) and value is not None:
            value = redact_secrets(value)
        out[column.name] = value
    return out


@contextmanager
def _binary_sink(path: Path, compression: str | None) -> Iterator[IO[bytes]]:
    if compression == "gzip":
        with gzip.GzipFile(path, "wb") as gz:
            yield cast(IO[bytes], gz)
    elif compression == "zstd":
        import zstandard

        with open(path, "wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as handle:
            yield handle
    else:
        with open(path, "wb") as handle:
            yield handle


class _TextWriter:
    def __init__(self, columns, compression: str | None) -> None:
        self.columns = columns
        self.compression = compression
        self.text: io.TextIOWrapper = io.TextIOWrapper(io.BytesIO())  # replaced by open()

    @contextmanager
    def open(self, path: Path):
        with _binary_sink(path, self.compression) as sink:
            self.text = io.TextIOWrapper(sink, encoding="utf-8", newline="")
            self.start()
            yield self
            self.text.flush()
            self.text.detach()

    def start(self) -> None:
        pass


class _CsvWriter(_TextWriter):
    def start(self) -> None:
        self.csv = csv.writer(self.text, lineterminator="\n")
        self.csv.writerow([c.name for c in self.columns])

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.csv.writerows([[_csv_cell(row[c.name]) for c in self.columns] for row in rows])


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, (dict, list)):
        return neutralise_cell(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    if isinstance(value, str):
        return neutralise_cell(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class _JsonWriter(_TextWriter):
    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.text.write(json.dumps(row, default=_json_default, ensure_ascii=False, allow_nan=True))
            self.text.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class _ParquetWriter:
    def __init__(self, columns, compression: str | None) -> None:
        import pyarrow as pa

        self.pa = pa
        self.columns = columns
        self.compression = compression or "none"
        self.schema = pa.schema([pa.field(c.name, _arrow_type(c.type)) for c in columns])
        self.json_columns = [c.name for c in columns if _is_json(c.type)]

    @contextmanager
    def open(self, path: Path):
        import pyarrow.parquet as pq

        with pq.ParquetWriter(str(path), self.schema, compression=self.compression) as writer:
            self.writer = writer
            yield self

    def write(self, rows: list[dict[str, Any]]) -> None:
        columns = {}
        for field in self.schema:
            values = [row[field.name] for row in rows]
            if field.name in self.json_columns:
                values = [None if v is None else json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in values]
            elif self.pa.types.is_timestamp(field.type):
                values = [None if v is None else as_utc(v) for v in values]
            columns[field.name] = self.pa.array(values, type=field.type)
        self.writer.write_table(self.pa.table(columns, schema=self.schema))


def _is_json(sa_type) -> bool:
    """A JSON column, also behind a type decorator (``types.ContentJSON``: content that may be encrypted)."""
    return isinstance(getattr(sa_type, "impl_instance", sa_type), JSON) or isinstance(sa_type, JSON)


def _arrow_type(sa_type):
    import pyarrow as pa

    if _is_json(sa_type):
        return pa.string()
    impl = getattr(sa_type, "impl", sa_type)
    if isinstance(impl, DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(impl, Boolean):
        return pa.bool_()
    if isinstance(impl, Integer):
        return pa.int64()
    if isinstance(impl, Float):
        return pa.float64()
    return pa.string()


def _iso(value: datetime) -> str:
    return as_utc(value).isoformat()

