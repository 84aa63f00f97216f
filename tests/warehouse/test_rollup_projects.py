"""Issue 20, the rollups: each rollup row belongs to one project (revision tenancy_0002), so a reader scoped to
project A (``warehouse.scoping``: row-level security on PostgreSQL, TEMP views on SQLite) reads A's figures
from the rollups, counts, tokens, cost and quantiles equal to a direct computation over A's raw rows, and the
unscoped reader still reads the figures of A and B together. Rows are written by the receiver's write path
(decode → pipeline → writer), each request stamped with its key's project, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import inspect, text

from agentotel.core.settings import ReceiverSettings
from agentotel.core.utc import as_utc
from agentotel.otlp_receiver.codec import TRACES
from agentotel.otlp_receiver.ingest import build_request_writer
from agentotel.otlp_receiver.tenancy import stamp_project
from agentotel.warehouse import sketch
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.migrate import alembic_config, current_revisions, upgrade
from agentotel.warehouse.models import Base
from agentotel.warehouse.rollups import FAMILIES, TOTAL, catch_up, refresh_rollups, watermark
from agentotel.warehouse.scoping import open_scoped_warehouse
from tests.conftest import drop_postgres_database, new_postgres_database

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
SPAN = timedelta(hours=3)
END = T0 + SPAN
PROJECTS = {"alpha": 40, "beta": 24}  # traces of each project
QUANTILES = (0.5, 0.95, 0.99)
ROLLUPS = ("rollup_executions", "rollup_llm", "rollup_tools")
SOURCE = {"executions": ("agent_executions", "timestamp"), "llm": ("llm_calls", "start_time"),
          "tools": ("tool_calls", "start_time")}  # fmt: skip


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


def _traces(project: str, n: int, seed: int):
    """``n`` agent runs spread over ``[T0, END - 10 min)``: an agent span over 1-3 model calls and 0-1 tool
    calls, durations log-uniform (each project its own spread), two agents and two services."""
    rng = random.Random(seed)
    exporter = InMemorySpanExporter()
    spans = []
    for service in ("svc-a", "svc-b"):
        provider = TracerProvider(resource=Resource.create({"service.name": f"{project}-{service}"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("tests.rollup_projects")
        for _ in range(n // 2):
            start = T0 + timedelta(seconds=rng.uniform(0, SPAN.total_seconds() - 600))
            agent = f"{project}-{rng.choice(('planner', 'writer'))}"  # apart: tenancy_0003 downgrades
            root = tracer.start_span(f"invoke_agent {agent}", start_time=_ns(start), attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent})  # fmt: skip
            context = trace.set_span_in_context(root)
            cursor = start
            for _ in range(rng.randint(1, 3)):
                took = timedelta(milliseconds=10 ** rng.uniform(1, 3.5 if project == "alpha" else 2.5))
                call = tracer.start_span("chat gpt-4o-mini", context=context, kind=SpanKind.CLIENT, start_time=_ns(cursor),
                                         attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                                     "gen_ai.request.model": "gpt-4o-mini",
                                                     "gen_ai.usage.input_tokens": rng.randint(10, 900),
                                                     "gen_ai.usage.output_tokens": rng.randint(1, 300)})  # fmt: skip
                cursor += took
                call.end(end_time=_ns(cursor))
            if rng.random() < 0.7:
                took = timedelta(milliseconds=10 ** rng.uniform(0, 3))
                tool = tracer.start_span("execute_tool lookup", context=context, start_time=_ns(cursor), attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": rng.choice(("lookup", "search"))})
                cursor += took
                tool.end(end_time=_ns(cursor))
            root.end(end_time=_ns(cursor + timedelta(milliseconds=rng.uniform(1, 50))))
        provider.shutdown()
    spans.extend(exporter.get_finished_spans())
    return spans


def write_two_projects(url: str) -> None:
    """The runs of ``PROJECTS`` written by the receiver's writer, each request stamped with its project;
    then one rollup refresh (by the owner, as the receiver's rollup schedule does)."""
    engine = create_db_engine(url)
    writer = build_request_writer(engine, ReceiverSettings())
    for seed, (project, n) in enumerate(PROJECTS.items()):
        request = encode_spans(_traces(project, n, seed))
        stamp_project(request, "traces", project)
        writer.write([(TRACES, request)])
    assert refresh_rollups(engine, now=END) > 0
    engine.dispose()


def _direct(owner, family: str, projects: tuple[str, ...]) -> dict[str, float]:
    """``family``'s figures over ``projects``' raw rows of ``[T0, END)``, computed here."""
    table, time = SOURCE[family]
    tokens = ", input_tokens, output_tokens, total_tokens, cost_usd" if family == "llm" else ""
    listed = ", ".join(f"'{p}'" for p in projects)
    with owner.connect() as conn:
        rows = conn.execute(text(f"SELECT duration_ms, success{tokens} FROM {table} "  # noqa: S608 - constants
                                 f"WHERE project_id IN ({listed}) AND {time} >= :lo AND {time} < :hi"),
                            {"lo": T0, "hi": END}).all()  # fmt: skip
    durations = np.array([float(r[0]) for r in rows])
    whole = sketch.from_values(durations)
    out = {"count": len(rows), "success_count": sum(bool(r[1]) for r in rows)}
    out |= {f"latency_p{round(q * 100)}": sketch.quantile(whole, q) for q in QUANTILES}
    out |= {f"exact_p{round(q * 100)}": float(np.percentile(durations, q * 100, method="inverted_cdf")) for q in QUANTILES}
    if family == "llm":
        out |= {name: sum(r[i] for r in rows) for i, name in enumerate(("input_tokens", "output_tokens", "total_tokens"), 2)}
        out["cost_usd"] = sum(float(r[5]) for r in rows)
    return out


def _assert_figures(reader: AnalyticsEngine, owner, projects: tuple[str, ...], rolled: bool = True) -> None:
    """``reader``'s figures of ``projects`` equal the direct ones (its quantiles: from sketches when ``rolled``,
    else exact)."""
    for family in ("executions", "llm", "tools"):
        expected = _direct(owner, family, projects)
        row = reader.family_summary(family, start=T0, end=END, quantiles=QUANTILES).iloc[0]
        assert row["count"] == expected["count"] > 0 and row["success_count"] == expected["success_count"], family
        for q in QUANTILES:  # the sketch of exactly these rows: the same bucket, so the same value
            name = f"latency_p{round(q * 100)}"
            exact = expected[f"exact_p{round(q * 100)}"]
            assert row[name] == pytest.approx(expected[name] if rolled else exact, rel=1e-12), (family, projects, q)
            assert row[name] == pytest.approx(exact, rel=sketch.RELATIVE_ERROR)
        if family == "llm":
            assert [int(row[c]) for c in ("input_tokens", "output_tokens", "total_tokens")] == [
                expected["input_tokens"], expected["output_tokens"], expected["total_tokens"]]
            assert row["cost_usd"] == pytest.approx(expected["cost_usd"], rel=1e-9) and expected["cost_usd"] > 0


def test_a_scoped_reader_reads_its_projects_figures_from_the_rollups(db_url):
    write_two_projects(db_url)
    owner = create_db_engine(db_url)
    scoped = {project: open_scoped_warehouse(db_url, [project]) for project in PROJECTS}
    try:
        with owner.connect() as conn:  # the reads below are answered by the rollups (all but the last minutes)
            for name, (table, time) in SOURCE.items():  # rolled up to the newest row of either project
                newest = conn.execute(text(f"SELECT max({time}) FROM {table}")).scalar()  # noqa: S608
                assert watermark(conn, FAMILIES[name]) == as_utc(newest) >= END - timedelta(minutes=30), name
            for table in ROLLUPS:  # one TOTAL row per bucket and project
                per_project = dict(conn.execute(text(
                    f"SELECT project_id, count(*) FROM {table} WHERE width_s = 60 AND agent_name = :total "  # noqa: S608
                    "GROUP BY project_id"), {"total": TOTAL}).all())  # fmt: skip
                assert set(per_project) == set(PROJECTS) and min(per_project.values()) > 5, table
        for project, engine in scoped.items():
            with engine.connect() as conn:
                for table in ROLLUPS:  # the scoped reader sees its own rollup rows only
                    seen = set(conn.execute(text(f"SELECT DISTINCT project_id FROM {table}")).scalars())  # noqa: S608
                    assert seen == {project}, table
            _assert_figures(AnalyticsEngine(engine, cache_ttl=0), owner, (project,))
        # the owner (/metrics, maintenance): both projects merged, as one row per bucket gave before
        unscoped = AnalyticsEngine(owner, cache_ttl=0)
        _assert_figures(unscoped, owner, tuple(PROJECTS))
        raw = AnalyticsEngine(owner, cache_ttl=0, use_rollups=False)
        for metric in ("executions", "tokens", "cost", "tool_calls"):  # per 10 minutes and agent: rollups = raw
            rolled = unscoped.get_time_series(metric, T0, END, "10min", group_by="agent")
            exact = raw.get_time_series(metric, T0, END, "10min", group_by="agent")
            assert rolled["value"].to_numpy() == pytest.approx(exact["value"].to_numpy(), rel=1e-9), metric
        alpha = AnalyticsEngine(scoped["alpha"], cache_ttl=0)
        beta = AnalyticsEngine(scoped["beta"], cache_ttl=0)
        series = [e.get_time_series("tokens", T0, END, "10min")["value"].to_numpy() for e in (alpha, beta, unscoped)]
        assert series[0] + series[1] == pytest.approx(series[2]) and series[0].sum() > 0 and series[1].sum() > 0
        by_agent = alpha.get_aggregations("llm_calls", group_by="agent", start=T0, end=END)
        assert by_agent["value"].sum() == _direct(owner, "llm", ("alpha",))["count"]
    finally:
        owner.dispose()
        for engine in scoped.values():
            engine.dispose()


@pytest.fixture
def pg_url():
    url = new_postgres_database()
    yield url
    drop_postgres_database(url)


def _as_reader(url: str, setting: str | None, sql: str):
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}", autocommit=True) as conn:
        conn.execute("SET ROLE agentotel_reader")
        if setting is not None:
            conn.execute("SELECT set_config('agentotel.project', %s, false)", (setting,))
        return conn.execute(sql).fetchall()


@pytest.mark.postgres
def test_plain_sql_as_the_reader_role_sees_only_its_projects_rollup_rows(pg_url):
    write_two_projects(pg_url)
    for table in ROLLUPS:
        beta = dict(_as_reader(pg_url, "beta", f"SELECT project_id, count(*) FROM {table} GROUP BY 1"))  # noqa: S608
        assert set(beta) == {"beta"} and beta["beta"] > 0, table
        assert _as_reader(pg_url, "beta", f"SELECT count(*) FROM {table} WHERE project_id = 'alpha'") == [(0,)]  # noqa: S608
        assert _as_reader(pg_url, None, f"SELECT count(*) FROM {table}") == [(0,)], table  # fail closed  # noqa: S608
        assert _as_reader(pg_url, "", f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608
    names = {r[0] for r in _as_reader(pg_url, None, "SELECT name FROM rollup_state")}  # the watermarks: readable
    assert names >= set(FAMILIES)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_reader(pg_url, "beta", "DELETE FROM rollup_llm")


REVISION = "tenancy_0002"


def _write(engine, projects: dict[str, int]) -> None:
    writer = build_request_writer(engine, ReceiverSettings())
    for seed, (project, n) in enumerate(projects.items()):
        request = encode_spans(_traces(project, n, seed))
        stamp_project(request, "traces", project)
        writer.write([(TRACES, request)])


def _back_before_the_revision(engine) -> None:
    """Down to just before ``REVISION`` (the rows written at the head stay; the rollups are not keyed by
    project any more: the revision's downgrade forgets their rows and watermarks)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, ScriptDirectory.from_config(cfg).get_revision(REVISION).down_revision)
    assert REVISION not in current_revisions(engine)
    assert "project_id" not in {c["name"] for c in inspect(engine).get_columns("rollup_llm")}
    assert _rollup_rows(engine) == dict.fromkeys(ROLLUPS, 0)
    with engine.connect() as conn:
        assert all(watermark(conn, family) is None for family in FAMILIES.values())


def _rollup_rows(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in ROLLUPS}  # noqa: S608


@pytest.mark.slow
def test_the_revision_keeps_rollups_of_the_default_project_and_drops_mixed_ones(empty_url):
    """Before the revision the rollup code of today rolls up unkeyed (its older revisions run it); the revision
    labels a default-only warehouse's rows ``default``, and forgets the rows that mixed projects (readers read
    raw rows until the catch-up rebuilds them per project); its downgrade forgets the rollups too."""
    engine = create_db_engine(empty_url)
    try:
        upgrade(engine)
        _write(engine, {"default": 20})  # at the head: the writer of today needs today's schema
        _back_before_the_revision(engine)
        assert refresh_rollups(engine, now=END) > 0
        before = _rollup_rows(engine)
        summary = AnalyticsEngine(engine, cache_ttl=0).family_summary("llm", start=T0, end=END)
        upgrade(engine)
        assert "project_id" in {c["name"] for c in inspect(engine).get_columns("rollup_llm")}
        assert _rollup_rows(engine) == before
        with engine.connect() as conn:
            for table in ROLLUPS:
                assert conn.execute(text(f"SELECT DISTINCT project_id FROM {table}")).scalars().all() == ["default"]  # noqa: S608
            assert all(watermark(conn, family) is not None for family in FAMILIES.values())
        default = open_scoped_warehouse(empty_url, ["default"])
        try:
            after = AnalyticsEngine(default, cache_ttl=0).family_summary("llm", start=T0, end=END)
        finally:
            default.dispose()
        assert after.to_dict("records") == summary.to_dict("records")

        _write(engine, PROJECTS)  # two more projects, rolled up unkeyed below
        _back_before_the_revision(engine)
        assert refresh_rollups(engine, now=END) > 0 and min(_rollup_rows(engine).values()) > 0
        upgrade(engine)
        assert _rollup_rows(engine) == dict.fromkeys(ROLLUPS, 0)  # mixed rows are not labelled default
        with engine.connect() as conn:
            assert all(watermark(conn, family) is None for family in FAMILIES.values())
        alpha = open_scoped_warehouse(empty_url, ["alpha"])
        try:
            _assert_figures(AnalyticsEngine(alpha, cache_ttl=0), engine, ("alpha",), rolled=False)  # raw meanwhile
            assert catch_up(engine, now=END) > 0
            with alpha.connect() as conn:
                assert conn.execute(text("SELECT DISTINCT project_id FROM rollup_llm")).scalars().all() == ["alpha"]
            _assert_figures(AnalyticsEngine(alpha, cache_ttl=0), engine, ("alpha",))
            _assert_figures(AnalyticsEngine(engine, cache_ttl=0), engine, ("default", *PROJECTS))
        finally:
            alpha.dispose()
    finally:
        engine.dispose()


def test_the_rollup_models_match_the_migrations(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if any(t in repr(d) for t in ROLLUPS)]
    assert diffs == []
    for table in ROLLUPS:
        key = inspect(engine).get_pk_constraint(table)["constrained_columns"]
        assert key == [c.name for c in Base.metadata.tables[table].primary_key.columns] and key[2] == "project_id"
