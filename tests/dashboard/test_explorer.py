"""The explorer pages (Streamlit AppTest, in-process) on a seeded SQLite and PostgreSQL warehouse: the trace
list and its filters, a trace opened by URL and by a row click, the typed span pane, sessions and users,
call lists, the agent graph and resource use, evaluation cases and the case diff, the time zone and the
custom range; content stays inert everywhere."""

from __future__ import annotations

from datetime import timedelta, timezone
from types import SimpleNamespace

import pytest

from tests.conftest import DIALECTS
from tests.dashboard.support import dashboard_env
from tests.dashboard.test_pages import assert_clean, frames, metrics, run_page, texts
from tests.support.conversations import SUPPORT_TURNS, UNIQUE_WORD, write_conversations


@pytest.fixture(scope="module", params=DIALECTS)
def explorer(request, tmp_path_factory):
    from agentotel.evaluation.online import OnlineAgentConfig, OnlineConfig, OnlineEvaluator
    from tests.dashboard.support import dashboard_warehouse, seed_components, seed_telemetry

    with dashboard_warehouse(request.param, tmp_path_factory.mktemp("explorer")) as (url, engine):
        facts = write_conversations(engine)
        components = seed_components(engine, seed_telemetry(engine))
        config = OnlineConfig(agents=(OnlineAgentConfig(sample_rate=1.0, evaluators=("coherence",)),),
                              lookback=timedelta(hours=2))
        OnlineEvaluator(engine, config).tick()  # scores on the traces' runs
        yield SimpleNamespace(url=url, engine=engine, facts=facts, runs=components.run_ids, dialect=request.param)


def markdown_of(at) -> list[str]:
    """Every element that renders Markdown: hostile content must never reach one."""
    return ([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
            + [w.value for w in at.warning] + [e.value for e in at.error] + [s.value for s in at.success])


def tree_of(at):
    return next(f for f in frames(at) if "span" in f and "type" in f)


def open_page(page: str, query: dict | None = None, **state):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.support import VIEWS

    at = AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=90)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


@pytest.mark.slow
def test_trace_list_figures_and_filters(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = run_page("traces")
    assert_clean(at)
    listed = frames(at)[0].set_index("trace_id")
    support = listed.loc[explorer.facts.traces["support-0"]]
    assert support["agent"] == "support-agent 1.2.0" and support["input_preview"] == "Where is my order 1234?"
    assert (support["input_tokens"], support["output_tokens"], support["llm_calls"], support["tool_calls"]) == (460, 70, 2, 1)
    assert support["models"] == "gpt-4o-mini→gpt-4o-mini-2024-07-18" and support["user"] == "alice"
    assert support["session_link"] == "sessions?session=conv-alice-1"
    assert support["cost_usd"] > 0

    at.sidebar.text_input(key="tr_text").input("refund").run()  # full-text search in captured content
    assert_clean(at)
    assert set(frames(at)[0]["trace_id"]) == {explorer.facts.traces["support-1"], explorer.facts.traces["support-2"]}
    at.sidebar.text_input(key="tr_text").input("").run()
    at.sidebar.text_input(key="tr_attribute").input("tenant=acme").run()
    assert frames(at)[0]["trace_id"].tolist() == [explorer.facts.traces["support-0"]]
    at.sidebar.text_input(key="tr_attribute").input("").run()
    at.sidebar.number_input(key="tr_cost_min").set_value(0.002).run()
    assert {a.split()[0] for a in frames(at)[0]["agent"]} == {"sql-agent"}
    at.sidebar.number_input(key="tr_cost_max").set_value(0.001).run()  # from above to: refused, explained
    assert any("bound is above" in w.value for w in at.warning)
    assert not at.exception

    at = run_page("traces", tr_sort="Most expensive first")
    costs = frames(at)[0]["cost_usd"].tolist()
    assert costs == sorted(costs, reverse=True)


def test_a_row_click_opens_the_trace(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = run_page("traces")
    first = frames(at)[0]["trace_id"].iloc[0]
    at.session_state["tr_list"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    assert at.query_params.get("trace") == first
    assert any(t.value.startswith(f"trace {first}") for t in at.text)


@pytest.mark.slow
def test_trace_by_url_with_typed_span_panes(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    trace = explorer.facts.traces["sql-0"]
    at = open_page("traces", {"trace": trace})
    assert_clean(at)
    tree = tree_of(at)
    assert tree["type"].tolist() == ["agent", "llm", "tool", "agent", "llm", "llm"]
    assert tree["span"].iloc[3].startswith("    ▾ 🤖 invoke_agent sql-writer") and tree["span"].iloc[4].startswith("        ")
    assert tree["span"].iloc[2].startswith("  ") and "🔧" in tree["span"].iloc[2]  # type icons
    assert [("⚠" in label) for label in tree["span"]] == [e == "⚠" for e in tree["error"]]  # failures marked
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart"), "the waterfall"
    shown = metrics(at)  # the root (agent) span's pane: totals and resource use
    assert shown["Peak RSS"] == "319.4 MiB" and shown["Thread CPU time"] == "250 ms" and shown["LLM calls"] == "3"
    assert "How many invoices were unpaid in March?" in texts(at)  # its conversation as chat
    assert at.get("chat_message")

    at = open_page("traces", {"trace": trace, "span": explorer.facts.tool_spans["sql-0"]})  # a tool span
    assert_clean(at)
    code = "\n".join(c.value for c in at.code)
    assert '"query": "SELECT 1"' in code and "17" in code

    at = open_page("traces", {"trace": trace})
    llm_span = tree_of(at)  # the tree has no span ids shown: take the model call's from the warehouse
    from agentotel.warehouse.traces import trace_spans

    model_span = trace_spans(explorer.engine, trace).iloc[1]["span_id"]
    at = open_page("traces", {"trace": trace, "span": model_span})
    assert_clean(at)
    pane = metrics(at)
    assert pane["Provider"] == "anthropic" and pane["Tokens in / out"] == "200 / 30" and pane["Cost"].startswith("$0.00105")
    pairs = next(f for f in frames(at) if "field" in f)
    fields = dict(zip(pairs["field"], pairs["value"]))
    assert fields["temperature"] == "0.2" and fields["finish reason"] == "tool_calls"
    assert "tool call: run_sql" in texts(at)  # the tool call as a card
    assert len(llm_span) == 6

    at = open_page("traces", {"trace": "f" * 32})
    assert any("No trace with this id" in w.value for w in at.warning)
    at = open_page("traces", {"trace": "<script>"})  # not a trace id: the list
    assert_clean(at)
    assert "trace_id" in frames(at)[0]


def test_hostile_content_is_inert_in_the_trace_view(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = open_page("traces", {"trace": explorer.facts.traces["hostile"]})
    assert_clean(at)
    assert UNIQUE_WORD in texts(at)  # shown …
    assert not any(UNIQUE_WORD in m or "<script>" in m or "](http" in m for m in markdown_of(at))  # … never as Markdown
    at = open_page("traces", {"trace": explorer.facts.traces["hostile"], "span": explorer.facts.tool_spans["hostile"]})
    assert_clean(at)
    assert UNIQUE_WORD in texts(at)
    assert not any(UNIQUE_WORD in m or "<script>" in m for m in markdown_of(at))


def test_scores_attached_to_a_trace(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = open_page("traces", {"trace": explorer.facts.traces["support-0"]})
    assert_clean(at)
    scores = next(f for f in frames(at) if "source" in f)
    assert "coherence" in set(scores["name"]) and set(scores["source"]) == {"online"}


@pytest.mark.slow
def test_sessions_list_and_transcript(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = run_page("sessions")
    assert_clean(at)
    listed = frames(at)[0].set_index("session")
    assert list(listed.index) == ["conv-bob-7", "conv-alice-1"]
    assert (listed.loc["conv-alice-1", "turns"], listed.loc["conv-bob-7", "errors"]) == (3, 1)
    at.session_state["ss_list"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert at.query_params.get("session") == "conv-alice-1"

    at = open_page("sessions", {"session": "conv-alice-1"})
    assert_clean(at)
    body = texts(at)
    positions = [body.index(question) for question, _ in SUPPORT_TURNS]
    assert positions == sorted(positions)  # the turns in order
    assert all(answer in body for _, answer in SUPPORT_TURNS)
    links = [m.value for m in at.markdown if "Open trace" in m.value]
    assert links == [f"[Open trace](traces?trace={t})" for t in explorer.facts.sessions["conv-alice-1"]]
    assert metrics(at)["Turns"] == "3" and metrics(at)["User"] == "alice"

    at = run_page("sessions")
    at.sidebar.text_input(key="ss_text").input("invoices").run()
    assert frames(at)[0]["session"].tolist() == ["conv-bob-7"]


def test_users(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = run_page("users")
    assert_clean(at)
    people = frames(at)[0].set_index("user")
    assert set(people.index) == {"alice", "bob"} and people.loc["alice", "traces"] == 3
    at = open_page("users", {"user": "bob"})
    assert_clean(at)
    assert metrics(at)["Sessions"] == "1" and metrics(at)["Failed runs"] == "1"
    sessions_of, traces_of = frames(at)[0], frames(at)[1]
    assert sessions_of["open"].tolist() == ["sessions?session=conv-bob-7"]
    assert set(traces_of["open"]) == {f"traces?trace={t}" for t in explorer.facts.sessions["conv-bob-7"]}


def test_call_lists(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = run_page("llm")
    assert_clean(at)
    assert "gpt-4o-mini-2024-07-18" in set(frames(at)[0]["model"])  # per model, named as /metrics names it
    calls = next(f for f in frames(at) if "input_preview" in f)
    assert "gpt-4o-mini→gpt-4o-mini-2024-07-18" in set(calls["model"])
    at.text_input(key="llmc_text").input("blender").run()
    calls = next(f for f in frames(at) if "input_preview" in f)
    assert len(calls) == 4 and set(calls["provider"]) == {"openai"}  # turns 2 and 3, two calls each

    at = run_page("tools")
    assert_clean(at)
    calls = next(f for f in frames(at) if "arguments" in f)
    assert {"lookup_order", "run_sql", "web_search"} <= set(calls["tool_name"])
    at.selectbox(key="tlc_status").set_value("Errors only").run()
    failed = next(f for f in frames(at) if "arguments" in f)
    assert set(failed["tool_name"]) <= {"run_sql", "lookup_order"} and not failed["success"].any()


def test_agent_graph_and_resources(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = run_page("agents", ag_name="sql-agent")
    assert_clean(at)
    assert at.get("graphviz_chart"), "the agent graph"
    dot = at.get("graphviz_chart")[0].proto.spec
    assert '"agent:sql-agent" -> "agent:sql-writer"' in dot and '"agent:sql-agent" -> "tool:run_sql"' in dot
    edges = next(f for f in frames(at) if "p95_ms" in f)
    assert edges.set_index(["source", "target"]).loc[("sql-agent", "run_sql"), "errors"] == 2  # one per seed
    used = next(f for f in frames(at) if "rss_peak_p95" in f)
    assert used["rss_peak_p95"].iloc[0] == 334_900_000


def test_evaluation_cases_and_case_diff(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    at = run_page("evaluations")
    assert_clean(at)
    cases = next(f for f in frames(at) if "case_id" in f and "expected" in f)
    assert len(cases) == 20 and cases["input"].notna().all() and cases["expected"].notna().all()
    assert any(c.startswith("score:") for c in cases.columns)
    diff = next(f for f in frames(at) if "verdict" in f)
    assert diff["verdict"].iloc[0] in ("worse", "error")  # regressed cases first
    assert "Cohen's d" not in diff  # (the statistics sit in the metric comparison)
    comparison = next(f for f in frames(at) if "is_regression" in f)
    assert {"p_value", "p_value_raw", "effect_size", "ci_low", "ci_high"} <= set(comparison.columns)
    at.session_state["ev_cases"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    assert any(c.value == cases["input"].iloc[0] for c in at.code)  # the selected case's texts, inert


def test_time_zone_toggle_and_custom_range(explorer, monkeypatch):
    dashboard_env(monkeypatch, explorer.url)
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.support import VIEWS

    at = AppTest.from_file(str(VIEWS / "traces.py"), default_timeout=90)
    at.context["timezone"] = "Asia/Kolkata"
    at.run()
    utc_first = frames(at)[0]["start_time"].iloc[0]
    at.sidebar.toggle(key="tz_browser").set_value(True).run()
    assert_clean(at)
    local_first = frames(at)[0]["start_time"].iloc[0]
    assert str(local_first.tz) == "Asia/Kolkata" and local_first == utc_first  # the same instant, shown in IST
    assert local_first.utcoffset() == timedelta(hours=5, minutes=30)

    from agentotel.warehouse.traces import trace_spans

    first = trace_spans(explorer.engine, explorer.facts.traces["sql-0"])["start_time"].iloc[0]  # the 2 sql turns
    start = first.astimezone(timezone.utc).replace(tzinfo=None) - timedelta(seconds=30)
    at = run_page("traces", time_range="Custom range", time_from=start, time_to=start + timedelta(seconds=110))
    assert_clean(at)
    listed = frames(at)[0]
    assert set(listed["trace_id"]) == set(explorer.facts.sessions["conv-bob-7"])
