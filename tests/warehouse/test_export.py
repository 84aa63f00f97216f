"""Exports read back equal to the source rows (CSV, Parquet, JSON lines; SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest
import zstandard
from sqlalchemy import insert, select

from agentotel.cli import main
from agentotel.warehouse.export import export_table, neutralise_cell
from agentotel.warehouse.models import Base, Span
from tests.warehouse.support import generate, load

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=timezone.utc)


def _source(engine, table: str, where=None) -> list[dict]:
    t = Base.metadata.tables[table]
    stmt = select(t)
    if where is not None:
        stmt = stmt.where(where(t))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def _key(row: dict) -> tuple:
    return (row.get("trace_id"), row.get("span_id"), row.get("id"))


def _text(value) -> str:
    """How a source value is written to CSV."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _plain(value):
    """How a source value is written to JSON lines."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value


def _read(path, compression):
    raw = open(path, "rb").read()
    if compression == "gzip":
        raw = gzip.decompress(raw)
    elif compression == "zstd":
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    return raw.decode("utf-8")


@pytest.fixture
def seeded(engine):
    load(engine, generate(25, T0, timedelta(hours=2), seed=11))
    return engine


@pytest.mark.parametrize("table", ["spans", "llm_calls", "agent_executions"])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_csv_reads_back_equal(seeded, tmp_path, table, compression):
    out = tmp_path / f"{table}.csv"
    result = export_table(seeded, table, "csv", out, compression=compression, chunk_size=7)
    rows = list(csv.DictReader(io.StringIO(_read(out, compression))))
    source = _source(seeded, table)
    assert result.rows == len(rows) == len(source) > 0
    got = {_key(r): r for r in rows}
    for row in source:
        exported = got[tuple(_text(v) if v is not None else None for v in _key(row))]
        assert exported == {k: _text(v) for k, v in row.items()}


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_json_lines_read_back_equal(seeded, tmp_path, compression):
    out = tmp_path / "spans.jsonl"
    export_table(seeded, "spans", "json", out, compression=compression, chunk_size=10)
    rows = [json.loads(line) for line in _read(out, compression).splitlines()]
    source = {_key(r): {k: _plain(v) for k, v in r.items()} for r in _source(seeded, "spans")}
    assert len(rows) == len(source)
    for row in rows:
        assert row == source[_key(row)]


@pytest.mark.parametrize("compression", [None, "zstd", "gzip"])
def test_parquet_reads_back_equal(seeded, tmp_path, compression):
    out = tmp_path / "x.parquet"
    export_table(seeded, "llm_calls", "parquet", out, compression=compression, chunk_size=9)
    table = pq.read_table(out)
    assert table.num_rows == len(_source(seeded, "llm_calls"))
    source = {_key(r): r for r in _source(seeded, "llm_calls")}
    for row in table.to_pylist():
        assert row == source[_key(row)]
    spans_out = tmp_path / "spans.parquet"
    export_table(seeded, "spans", "parquet", spans_out)
    spans = {_key(r): r for r in _source(seeded, "spans")}
    for row in pq.read_table(spans_out).to_pylist():
        expected = spans[_key(row)]
        for column in ("attributes", "resource_attributes", "events", "links"):
            row[column] = json.loads(row[column]) if row[column] is not None else None
        assert row == expected


def test_filters_and_empty_result(seeded, tmp_path):
    since, until = T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)
    out = tmp_path / "f.jsonl"
    result = export_table(seeded, "agent_executions", "json", out, since=since, until=until, agent="planner")
    expected = _source(seeded, "agent_executions", lambda t: (t.c.timestamp >= since) & (t.c.timestamp < until) & (t.c.agent_name == "planner"))
    assert result.rows == len(expected)
    assert {json.loads(line)["id"] for line in out.read_text().splitlines()} == {r["id"] for r in expected}
    empty = tmp_path / "empty.parquet"
    assert export_table(seeded, "alerts", "parquet", empty).rows == 0
    assert pq.read_table(empty).num_rows == 0 and "rule_id" in pq.read_table(empty).column_names
    with pytest.raises(ValueError):
        export_table(seeded, "alembic_version", "csv", tmp_path / "x.csv")
    with pytest.raises(ValueError):
        export_table(seeded, "metrics", "csv", tmp_path / "x.csv", agent="planner")


def test_csv_formulas_neutralised_and_secrets_never_exported(engine, tmp_path):
    data = generate(1, T0, timedelta(minutes=1), seed=12)
    span = data["spans"][0]
    span.update(name="=HYPERLINK(\"http://x\")", status_message="+1+2", agent_name="@SUM(A1)", input="-2+3",
                attributes={"api_key": "sk-live-123", "nested": {"Authorization": "Bearer abc"}, "ok": "-x"})
    with engine.begin() as conn:
        conn.execute(insert(Span.__table__), [span])
    out = tmp_path / "s.csv"
    export_table(engine, "spans", "csv", out)
    text = out.read_text()
    assert "sk-live-123" not in text and "Bearer abc" not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["name"] == "'=HYPERLINK(\"http://x\")"
    assert row["status_message"] == "'+1+2" and row["agent_name"] == "'@SUM(A1)" and row["input"] == "'-2+3"
    assert json.loads(row["attributes"])["api_key"] == "[REDACTED]"
    jl = tmp_path / "s.jsonl"
    export_table(engine, "spans", "json", jl)
    exported = json.loads(jl.read_text())
    assert exported["name"] == span["name"]  # only CSV cells are neutralised
    assert exported["attributes"] == {"api_key": "[REDACTED]", "nested": {"Authorization": "[REDACTED]"}, "ok": "-x"}
    assert neutralise_cell("plain") == "plain" and neutralise_cell("\tx") == "'\tx"


def test_cli_export(seeded, db_url, tmp_path, capsys):
    out = tmp_path / "cli.csv.gz"
    assert main(["export", "--table", "tool_calls", "--format", "csv", "--compression", "gzip", "--db", db_url,
                 "--since", "2026-10-05T08:30:00Z", str(out)]) == 0
    assert "exported" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(out.read_bytes()).decode())))
    expected = _source(seeded, "tool_calls", lambda t: t.c.start_time >= T0 + timedelta(minutes=30))
    assert len(rows) == len(expected) > 0
    assert main(["export", "--table", "spans", "--format", "csv", "--db", db_url, "--since", "yesterday", str(out)]) == 2
    assert "invalid time" in capsys.readouterr().err


def test_scheduled_export_writes_each_period_once(seeded, tmp_path):
    from agentotel.warehouse.export import export_period

    now = T0 + timedelta(hours=1, minutes=20)
    out = tmp_path / "exports"
    first = export_period(seeded, "agent_executions", "json", out, timedelta(hours=1), now=now, compression="gzip")
    assert first is not None and first.path.endswith("agent_executions-20261005T080000Z.jsonl.gz")
    rows = [json.loads(line) for line in gzip.decompress(open(first.path, "rb").read()).decode().splitlines()]
    expected = _source(seeded, "agent_executions", lambda t: (t.c.timestamp >= T0) & (t.c.timestamp < T0 + timedelta(hours=1)))
    assert first.rows == len(rows) == len(expected) > 0
    assert export_period(seeded, "agent_executions", "json", out, timedelta(hours=1), now=now, compression="gzip") is None
    assert [p.name for p in out.iterdir()] == ["agent_executions-20261005T080000Z.jsonl.gz"]
