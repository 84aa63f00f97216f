"""P2: SQL-injection payloads in every dashboard filter and sort field change no result and surface no
SQL error; a static check that no dashboard or warehouse module builds SQL from values with f-strings,
``%`` or ``+``; P4: CSV downloads neutralise formula cells."""

from __future__ import annotations

import ast
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from agentotel.dashboard import data
from agentotel.dashboard.format import neutralise_cell, safe_csv
from tests.dashboard.support import dashboard_env, table_counts
from tests.dashboard.test_pages import assert_clean, frames, run_page

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = [
    "' OR '1'='1",
    "'; DROP TABLE spans; --",
    '" OR 1=1 --',
    "x') UNION SELECT name, version FROM agents --",
    "%' AND 1=1 --",
    "1; SELECT pg_sleep(3); --",
    "support-agent' --",
    "\\'; DELETE FROM alerts; --",
    "nul\x00byte",
]
SQL_ERROR_WORDS = ("syntax", "sqlite3", "psycopg", "operationalerror", "programmingerror", "sqlalchemy", "traceback")


def _no_sql_error_on_screen(at) -> None:
    assert_clean(at)
    for element in (*at.warning, *at.text, *at.info):
        assert not any(word in str(element.value).lower() for word in SQL_ERROR_WORDS), element.value


@pytest.mark.slow
@pytest.mark.parametrize("field", ["tr_trace_id", "tr_agent", "tr_service"])
def test_trace_search_fields(seeded, monkeypatch, field):
    dashboard_env(monkeypatch, seeded.url)
    before = table_counts(seeded.engine)
    at = run_page("traces")
    baseline = frames(at)[0]["trace_id"].tolist()
    for payload in PAYLOADS:
        at.sidebar.text_input(key=field).input(payload).run()
        _no_sql_error_on_screen(at)
        if field == "tr_trace_id":  # not a trace id: ignored with a warning, the list is unchanged
            assert frames(at)[0]["trace_id"].tolist() == baseline
        else:  # no agent or service has that name: nothing matches
            assert not at.dataframe
    at.sidebar.text_input(key=field).input("").run()
    assert frames(at)[0]["trace_id"].tolist() == baseline
    assert table_counts(seeded.engine) == before


@pytest.mark.slow
def test_every_data_filter_and_sort_field(seeded):
    """The cached query wrappers behind every select box and sort: a payload matches nothing or is
    refused as an invalid value (ValueError), never reaches SQL as text."""
    url = seeded.url
    end = datetime.now(timezone.utc) + timedelta(minutes=1)
    start = end - timedelta(hours=1)
    before = table_counts(seeded.engine)
    real = data.overview(url, start, end, None)
    assert real["executions"] == 10
    for payload in PAYLOADS:
        for key in ("agent", "service"):
            assert data.overview(url, start, end, {key: payload})["executions"] == 0
            assert data.time_series(url, "executions", start, end, "5min", {key: payload})["value"].sum() == 0
        for key in ("provider", "model", "agent"):
            assert data.llm_stats(url, start, end, ("provider", "model"), {key: payload})["count"].sum() == 0
        for key in ("tool", "agent"):
            assert data.tool_stats(url, start, end, ("tool",), {key: payload})["count"].sum() == 0
        assert data.recent_traces(url, start, end, agent=payload).empty
        assert data.recent_traces(url, start, end, service=payload).empty
        assert data.recent_traces(url, None, None, trace_id=payload).empty
        assert data.evaluation_runs(url, agent=payload).empty
        assert data.agent_versions(url, payload).empty
        assert data.environment_states(url, payload).empty
        assert data.deployments(url, payload).empty
        assert data.trace_spans(url, payload).empty
        assert data.span_content(url, payload, payload) == {}
        assert data.notifications(url, None, payload).empty
        refused = [
            (data.recent_traces, (url, start, end), {"sort": payload}),
            (data.recent_traces, (url, start, end), {"status": payload}),
            (data.top_agents, (url, start, end), {"by": payload}),
            (data.top_models, (url, start, end), {"by": payload}),
            (data.alerts, (url,), {"status": payload}),
            (data.alerts, (url,), {"severity": payload}),
            (data.notifications, (url, payload), {}),
            (data.evaluation_runs, (url,), {"status": payload}),
            (data.time_series, (url, payload, start, end, "5min"), {}),
            (data.overview, (url, start, end, {payload: "x"}), {}),
        ]
        for fn, args, kwargs in refused:
            with pytest.raises(ValueError):
                fn(*args, **kwargs)
    assert data.overview(url, start, end, None) == real
    assert table_counts(seeded.engine) == before


@pytest.mark.slow
def test_hostile_session_state_for_select_boxes(seeded, monkeypatch):
    """A forged widget value for a select box (e.g. a crafted session) is not a query either."""
    dashboard_env(monkeypatch, seeded.url)
    before = table_counts(seeded.engine)
    for page, key in (("overview", "ov_agent"), ("llm", "llm_model"), ("tools", "tl_tool"), ("alerts", "al_severity"),
                      ("analytics", "an_agent"), ("evaluations", "ev_agent")):
        for payload in PAYLOADS[1:2]:
            at = run_page(page, **{key: payload})
            _no_sql_error_on_screen(at)
    assert table_counts(seeded.engine) == before


# ---------------------------------------------------------------------------------------------- static

SQL_METHODS = {"exec_driver_sql", "execute", "executescript", "executemany"}  # conn.execute(...), cursor.execute(...)
SQL_FUNCTIONS = {"text", "literal_column"}  # sqlalchemy's text(...) / sa.text(...), not st.text(...)


DDL = ("CREATE", "DROP", "ALTER", "LOCK", "COMMENT", "TRUNCATE", "GRANT", "REVOKE", "SET ROLE")  # identifiers there
# cannot be bind parameters
QUOTERS = {"q", "_q", "quote", "quote_identifier", "quoted_name"}


def _is_quoting(expr: ast.AST, identifiers: set[str]) -> bool:
    """``q(x)``, a name bound to one, ``", ".join(q(c) for c in cols)``, a string constant, or an f-string or
    conditional made only of those: identifiers (and SQL keywords), not values."""
    if isinstance(expr, ast.Name):
        return expr.id in identifiers
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return all(_is_quoting(v.value, identifiers) for v in expr.values if isinstance(v, ast.FormattedValue))
    if isinstance(expr, ast.IfExp):
        return _is_quoting(expr.body, identifiers) and _is_quoting(expr.orelse, identifiers)
    if not isinstance(expr, ast.Call):
        return False
    if isinstance(expr.func, ast.Name):
        return expr.func.id in QUOTERS
    if isinstance(expr.func, ast.Attribute) and expr.func.attr == "join" and expr.args:
        arg = expr.args[0]
        return isinstance(arg, (ast.GeneratorExp, ast.ListComp)) and _is_quoting(arg.elt, identifiers)
    return False


def _identifier_names(tree: ast.AST) -> set[str]:
    """Names every assignment (``=`` or ``+=``) of which is quoting: found to a fixed point, since one such
    name may be built from another."""
    values: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values.setdefault(node.targets[0].id, []).append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            values.setdefault(node.target.id, []).append(node.value)
    names: set[str] = set()
    while True:
        found = {name for name, exprs in values.items() if all(_is_quoting(e, names) for e in exprs)}
        if found == names:
            return names
        names = found


def _sql_building(node: ast.AST, identifiers: frozenset[str] = frozenset()) -> bool:
    """An f-string interpolating values (quoted identifiers and DDL statements aside), a ``%`` or ``+``
    on a string, or ``.format()``."""
    if isinstance(node, ast.JoinedStr):
        head = next((v.value for v in node.values if isinstance(v, ast.Constant)), "")
        if str(head).lstrip().upper().startswith(DDL):
            return False
        return any(isinstance(v, ast.FormattedValue) and not _is_quoting(v.value, set(identifiers))
                   for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        if isinstance(node.op, ast.Add) and all(isinstance(side, ast.JoinedStr) for side in (node.left, node.right)):
            return _sql_building(node.left, identifiers) or _sql_building(node.right, identifiers)
        return any(isinstance(side, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(side, "value", ""), str)
                   for side in (node.left, node.right)) or _sql_building(node.left, identifiers) \
            or _sql_building(node.right, identifiers)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return True
    return False


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    identifiers = frozenset(_identifier_names(tree))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            base = func.value.id if isinstance(func.value, ast.Name) else ""
            is_sql = func.attr in SQL_METHODS or (func.attr in SQL_FUNCTIONS and base in ("sa", "sqlalchemy"))
        else:
            is_sql = getattr(func, "id", "") in SQL_FUNCTIONS
        if is_sql and node.args and _sql_building(node.args[0], identifiers):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_sql_built_from_values_in_dashboard_or_the_reads_it_calls():
    # Alembic revisions are left out: they run once, at an upgrade, on constants of their own file (table and role
    # names); no value of a request or a row reaches them
    migrations = ROOT / "warehouse" / "migrations"
    modules = [*sorted((ROOT / "dashboard").rglob("*.py")),
               *sorted(p for p in (ROOT / "warehouse").rglob("*.py") if migrations not in p.parents),
               ROOT / "alerting" / "queries.py", ROOT / "evaluation" / "runs.py", ROOT / "evaluation" / "executions.py"]
    assert len(modules) > 10
    offences = [o for path in modules for o in _offences(path)]
    assert offences == []


def test_static_check_catches_offenders(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("conn.execute(text(f\"SELECT * FROM spans WHERE agent_name = '{agent}'\"))\n"
                   "conn.exec_driver_sql('DELETE FROM x WHERE id = %s' % ident)\n"
                   "conn.execute(text('SELECT 1 FROM t WHERE a = ' + value))\n"
                   "conn.execute(text('SELECT :a').bindparams(a=value))\n"
                   "cols = ', '.join(q(c) for c in names)\n"
                   "conn.execute(text(f'SELECT {cols} FROM {q(table)} WHERE a = :a'), {'a': value})\n"
                   "conn.execute(text(f'SELECT {cols} FROM t WHERE a = {value}'))\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert sorted(int(o.rsplit(":", 1)[1]) for o in _offences(bad)) == [1, 2, 3, 7]
    finally:
        ROOT = saved


def _runtime_imports(tree: ast.Module) -> set[str]:
    """The modules imported outside ``if TYPE_CHECKING:`` blocks."""
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in node.body}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pages_hold_no_sql_and_no_raw_html():
    """The dashboard reads through the components' APIs (no SQL of its own, no fallback for a component
    that is shipped in the same wheel); nothing renders HTML; every download is neutralised."""
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "unsafe_allow_html" not in source, path
        assert "st.html" not in source and "components.html" not in source, path
        assert not {m for m in _runtime_imports(ast.parse(source)) if m.split(".")[0] in ("sqlalchemy", "psycopg")}, path
        assert not re.search(r"\b(select|text)\(\s*[\"'A-Za-z]", source.replace("st.text(", "")), path
        assert "except ImportError" not in source, path
        if path.parent.name == "views":
            assert "download_button" not in source, path  # common.download_csv neutralises


# ---------------------------------------------------------------------------------------------- CSV


def test_csv_neutralises_formula_cells():
    frame = pd.DataFrame({
        "agent": ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "plain", None],
        "count": [1, -2, 3, 4, 5, 6, 7],
        "=cost": [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    })
    parsed = pd.read_csv(io.BytesIO(safe_csv(frame)), keep_default_na=False)
    assert list(parsed.columns) == ["agent", "count", "'=cost"]
    assert parsed["agent"].tolist()[:6] == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tcmd", "plain"]
    assert parsed["count"].tolist() == [1, -2, 3, 4, 5, 6, 7]  # numbers stay numbers
    assert neutralise_cell(-5) == -5 and neutralise_cell("-5") == "'-5"
