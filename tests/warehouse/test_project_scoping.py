"""Issue 20 point 2, readers: an engine scoped to project B (``warehouse.scoping``: row-level security as
``agentotel_reader`` on PostgreSQL, TEMP views on SQLite) and ``agentotel export --project B`` see none of
A's rows (the rollups included), on SQLite and PostgreSQL; a scope of no project sees nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agentotel.cli import main
from agentotel.core.settings import ReceiverSettings
from agentotel.otlp_receiver.codec import TRACES
from agentotel.otlp_receiver.ingest import build_request_writer
from agentotel.otlp_receiver.tenancy import stamp_project
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.rollups import refresh_rollups
from agentotel.warehouse.scoping import open_scoped_warehouse
from tests.otlp_receiver.test_bad_input import span_request

ROWS = {"alpha": 3, "beta": 2}


def write_projects(url: str) -> None:
    """``ROWS`` spans of each project written by the receiver's writer, each request stamped with its project."""
    engine = create_db_engine(url)
    writer = build_request_writer(engine, ReceiverSettings())
    for project, n in ROWS.items():
        request = span_request(n)
        stamp_project(request, "traces", project)
        writer.write([(TRACES, request)])
    engine.dispose()


def _per_project(engine, table: str) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text(f"SELECT project_id, count(*) FROM {table} GROUP BY project_id")).all())  # noqa: S608


def test_a_scoped_reader_sees_only_its_project(db_url):
    write_projects(db_url)
    beta = open_scoped_warehouse(db_url, ["beta"])
    both = open_scoped_warehouse(db_url, ["alpha", "beta"])
    none = open_scoped_warehouse(db_url, [])
    try:
        assert _per_project(beta, "spans") == {"beta": 2}
        assert _per_project(beta, "agent_executions") == {"beta": 2}
        assert _per_project(both, "spans") == ROWS
        assert _per_project(none, "spans") == {} and _per_project(none, "agent_executions") == {}
        with beta.connect() as conn:  # a join of scoped tables stays scoped
            assert conn.execute(text("SELECT count(*) FROM spans s JOIN agent_executions e ON e.trace_id = s.trace_id "
                                     "WHERE s.project_id = 'alpha'")).scalar() == 0  # fmt: skip
        # the rollups are project tables too (tenancy_0002): after a refresh, beta reads only its own rows
        owner = create_db_engine(db_url)
        refresh_rollups(owner)
        owner.dispose()
        assert _per_project(beta, "rollup_executions") == {"beta": 8}  # a cell and its TOTAL, at 4 widths
        assert _per_project(both, "rollup_executions") == {"alpha": 8, "beta": 8}
        assert _per_project(none, "rollup_executions") == {}
        with beta.connect() as conn:  # the API keys: empty on SQLite, refused on PostgreSQL (no grant)
            if beta.dialect.name == "sqlite":
                assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar() == 0
            else:
                with pytest.raises(DBAPIError, match="permission denied"):
                    conn.execute(text("SELECT count(*) FROM api_keys"))
    finally:
        for engine in (beta, both, none):
            engine.dispose()


@pytest.mark.slow
def test_export_of_a_project_holds_none_of_another(db_url, tmp_path, capsys):
    write_projects(db_url)
    for project, n in ROWS.items():
        out = tmp_path / f"{project}.jsonl"
        assert main(["export", "--table", "spans", "--format", "json", "--project", project, "--db", db_url, str(out)]) == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == n and {r["project_id"] for r in rows} == {project}
    assert main(["export", "--table", "spans", "--format", "json", "--project", "Bad!", "--db", db_url,
                 str(tmp_path / "x.jsonl")]) == 2  # fmt: skip
    assert "invalid project name" in capsys.readouterr().err
    assert main(["export", "--table", "spans", "--format", "json", "--project", "alpha", "--db", db_url,
                 str(tmp_path / "no-such-dir" / "x.jsonl")]) == 2  # fmt: skip

    # every export is in the security audit log: who, which table, which projects, how many rows (or why not)
    from agentotel.warehouse import security_audit

    engine = create_db_engine(db_url)
    try:
        exports = [e for e in security_audit.audit_log(engine) if e["action"] == "export"][::-1]
    finally:
        engine.dispose()
    assert [(e["target"], e["outcome"]) for e in exports] == [("spans (json)", "ok")] * len(ROWS) + [
        ("spans (json)", "failed")]
    assert [e["detail"].split(" to ")[0] for e in exports[:len(ROWS)]] == [f"{n} rows of projects {p}"
                                                                          for p, n in ROWS.items()]
    assert exports[-1]["detail"].startswith("projects alpha: ") and all(e["actor"] for e in exports)


def test_a_replayed_span_id_never_overwrites_another_projects_rows(db_url):
    """A key of alpha sending the very trace and span ids of beta's rows (with other content) changes none of
    beta's spans or runs: the spans are kept first-come, the run's upsert leaves another project's row."""
    engine = create_db_engine(db_url)
    writer = build_request_writer(engine, ReceiverSettings())
    request = span_request(80)  # 80 runs: PostgreSQL's COPY path of the writer (64 rows and more) as well
    stamp_project(request, "traces", "beta")
    writer.write([(TRACES, request)])
    for span in request.resource_spans[0].scope_spans[0].spans:
        span.name = "forged"
        span.status.code = 2  # ERROR
    stamp_project(request, "traces", "alpha")
    writer.write([(TRACES, request)])
    with engine.connect() as conn:
        spans = conn.execute(text("SELECT project_id, name FROM spans")).all()
        runs = conn.execute(text("SELECT project_id, success, error_message FROM agent_executions")).all()
    assert sorted(spans) == [("beta", "chat m")] * 80
    assert sorted(runs) == [("beta", True, None)] * 80
    engine.dispose()
