"""The explorer's reads on SQLite and PostgreSQL, over conversations written by the real trace pipeline:
the trace list's per-trace figures and filters, full-text search kept in step by the database (insert,
content filled later by an update, retention delete), sessions, users, call lists, the agent graph and
per-agent resource use, a trace's span tree."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, update

from agentotel.warehouse import agent_graph, executions, llm_calls, search, sessions, tool_calls, traces
from agentotel.warehouse.models import Span
from tests.support.conversations import CPU_SECONDS, RSS_PEAK, UNIQUE_WORD, write_conversations


@pytest.fixture
def written(engine):
    facts = write_conversations(engine)
    now = datetime.now(timezone.utc)
    return engine, facts, search.SearchFilter(start=now - timedelta(hours=1), end=now + timedelta(minutes=1))


def _with(flt: search.SearchFilter, **values) -> search.SearchFilter:
    return search.SearchFilter.from_mapping({**{k: v for k, v in vars(flt).items() if v is not None}, **values})


def test_trace_list_has_per_trace_figures(written):
    engine, facts, window = written
    listed = traces.recent_traces(engine, search=window).set_index("trace_id")
    assert len(listed) == 6
    first = listed.loc[facts.traces["support-0"]]
    assert (first.agent_name, first.agent_version, first.session, first.user) == ("support-agent", "1.2.0",
                                                                                  "conv-alice-1", "alice")
    assert (first.llm_calls, first.tool_calls, first.input_tokens, first.output_tokens) == (2, 1, 460, 70)
    assert first.cost_usd > 0 and first.input_preview == "Where is my order 1234?"
    assert first.models == "gpt-4o-mini→gpt-4o-mini-2024-07-18"  # requested → answered, as /metrics names it
    nested = listed.loc[facts.traces["sql-1"]]
    assert (nested.llm_calls, nested.input_tokens, nested.status, nested.span_count) == (3, 510, "error", 6)
    hostile = listed.loc[facts.traces["hostile"]]
    assert pd_isna(hostile.session) and "<script>" in hostile.input_preview


def pd_isna(value) -> bool:
    return value is None or value != value


@pytest.mark.parametrize(("values", "labels"), [
    ({"agent": "SUPPORT"}, {"support-0", "support-1", "support-2"}),  # substring, any case
    ({"agent": "writer"}, set()),  # the trace's agent (its root's), not a sub-agent
    ({"service": "analyt"}, {"sql-0", "sql-1"}),
    ({"model": "2024-07"}, {"support-0", "support-1", "support-2"}),  # the response model
    ({"provider": "anthro"}, {"sql-0", "sql-1"}),
    ({"tool": "web"}, {"hostile"}),
    ({"status": "error"}, {"sql-1"}),
    ({"min_cost": 0.002}, {"sql-0", "sql-1"}),
    ({"max_tokens": 550}, {"support-0", "support-1", "support-2", "hostile"}),
    ({"min_duration_ms": 1000, "max_duration_ms": 2000}, {"support-0", "support-1", "support-2", "sql-0", "sql-1",
                                                         "hostile"}),
    ({"attribute": "tenant=acme"}, {"support-0"}),
    ({"attribute": "deployment.environment=prod"}, {"support-0", "support-1", "support-2", "sql-0", "sql-1",
                                                    "hostile"}),  # a resource attribute
    ({"attribute": "gen_ai.request.max_tokens=512"}, {"support-0", "support-1", "support-2", "sql-0", "sql-1",
                                                      "hostile"}),  # a number
    ({"session": "conv-bob-7"}, {"sql-0", "sql-1"}),
    ({"user": "alice"}, {"support-0", "support-1", "support-2"}),
    ({"text": "refund"}, {"support-1", "support-2"}),  # turn 3 repeats the history
    ({"text": "REFUNDS blender"}, set()),  # every word must occur (as a prefix)
    ({"text": "blend"}, {"support-1", "support-2"}),  # a prefix
    ({"text": UNIQUE_WORD}, {"hostile"}),
    ({"text": "shipped"}, {"support-0", "support-1", "support-2"}),  # a tool's result
    ({"agent": "%"}, set()),  # LIKE wildcards are literal
])
def test_trace_filters(written, values, labels):
    engine, facts, window = written
    found = set(traces.recent_traces(engine, search=_with(window, **values))["trace_id"])
    assert found == {facts.traces[label] for label in labels}


@pytest.mark.parametrize("values", [{"status": "broken"}, {"min_cost": 2, "max_cost": 1}, {"attribute": "=x"},
                                    {"text": "%%%"}, {"colour": "red"}])
def test_bad_filters_are_refused(values):
    with pytest.raises(ValueError):
        search.SearchFilter.from_mapping(values)


@pytest.mark.parametrize("cap", [50_000, 0])  # PostgreSQL: few hits read first / a common word tested per trace
def test_content_search_takes_either_path(written, monkeypatch, cap):
    engine, facts, window = written
    monkeypatch.setattr(search, "INDEXED_HITS", cap)
    for text, labels in (("refund", {"support-1", "support-2"}), (UNIQUE_WORD, {"hostile"}), ("absentword", set())):
        found = set(traces.recent_traces(engine, search=_with(window, text=text))["trace_id"])
        assert found == {facts.traces[label] for label in labels}, (text, cap)
    assert len(llm_calls.llm_call_list(engine, _with(window, text="blender"))) == 4
    assert list(sessions.sessions(engine, _with(window, text="invoices"))["session"]) == ["conv-bob-7"]


def test_cost_of_a_trace_whose_root_is_no_run(engine):
    """An HTTP span above the agent: the root has no run of its own, its trace's cost is summed from its calls."""
    from agentotel.core.settings import ReceiverSettings
    from agentotel.processors.pipeline import build_trace_pipeline
    from agentotel.processors.records import SpanBatch
    from tests.support.conversations import turn

    now = datetime.now(timezone.utc)
    spans = turn("support-agent", "1.2.0", "Where is my order?", "Tomorrow.", int(now.timestamp() * 1e9) - 60 * 10**9,
                 conversation=None, user=None, model="gpt-4o", response_model="gpt-4o", provider="openai",
                 tool="lookup_order", tool_args={}, tool_result="{}")
    http = dataclasses.replace(spans[0], span_id="00000000000000aa", parent_span_id=None, name="POST /chat",
                               attributes={"http.request.method": "POST"}, kind="SERVER")
    spans[0].parent_span_id = http.span_id
    build_trace_pipeline(engine, ReceiverSettings(redact_pii=False)).consume(SpanBatch(spans=[http, *spans]))
    window = search.SearchFilter(start=now - timedelta(hours=1), end=now + timedelta(minutes=1))
    listed = traces.recent_traces(engine, search=window, sort="cost_usd")
    assert listed["name"].tolist() == ["POST /chat"] and listed["cost_usd"].iloc[0] > 0
    assert listed["agent_name"].iloc[0] == "support-agent"  # the trace's agent: its run's
    assert len(traces.recent_traces(engine, search=_with(window, min_cost=listed["cost_usd"].iloc[0] / 2))) == 1
    assert traces.recent_traces(engine, search=_with(window, min_tokens=10_000)).empty


def test_sorts_by_cost_tokens_and_calls(written):
    engine, facts, window = written
    by_cost = traces.recent_traces(engine, search=window, sort="cost_usd")
    assert by_cost["cost_usd"].is_monotonic_decreasing and by_cost["cost_usd"].iloc[0] > by_cost["cost_usd"].iloc[-1]
    page = traces.recent_traces(engine, search=window, sort="cost_usd", limit=2, offset=1)  # ranked, then read
    assert page.equals(by_cost.iloc[1:3].reset_index(drop=True)), (page, by_cost)
    slowest = traces.recent_traces(engine, search=window, sort="duration_ms")
    assert slowest["duration_ms"].is_monotonic_decreasing and len(slowest) > 3
    page = traces.recent_traces(engine, search=window, sort="duration_ms", limit=2, offset=2)
    assert page.equals(slowest.iloc[2:4].reset_index(drop=True)), (page, slowest)
    by_calls = traces.recent_traces(engine, search=window, sort="llm_calls", descending=False)
    assert by_calls["llm_calls"].is_monotonic_increasing


def test_content_index_follows_updates_and_deletes(written):
    engine, facts, window = written
    trace_id, span_id = facts.traces["support-0"], facts.agent_spans["support-0"]
    assert not search.content_hits(engine, "kumquat")
    with engine.begin() as conn:  # content filled later (as the log-content hook does)
        conn.execute(update(Span).where(Span.trace_id == trace_id, Span.span_id == span_id)
                     .values(input='[{"role": "user", "parts": [{"type": "text", "content": "kumquats please"}]}]'))
    assert search.content_hits(engine, "kumquat") == [(trace_id, span_id)]
    assert search.content_hits(engine, "order 1234") != []
    with engine.begin() as conn:  # retention
        conn.execute(delete(Span).where(Span.trace_id == trace_id))
    assert not search.content_hits(engine, "kumquat")
    assert search.rebuild_content_index(engine) == 22  # the 26 spans with content, less the 4 deleted
    assert set(traces.recent_traces(engine, search=_with(window, text=UNIQUE_WORD))["trace_id"]) == {facts.traces["hostile"]}


def test_content_index_of_a_partitioned_warehouse(written):
    """PostgreSQL: partitioning rebuilds ``spans``; its content index keeps working for new spans, and
    retention's whole-partition drops prune it."""
    engine, facts, window = written
    if engine.dialect.name != "postgresql":
        pytest.skip("time partitioning is PostgreSQL's")
    from agentotel.warehouse import schema_manager
    from agentotel.warehouse.retention import apply_retention

    schema_manager.enable_partitioning(engine)
    write_conversations(engine, minutes_ago=15)  # a second copy of every conversation, after the rebuild
    assert len(traces.recent_traces(engine, search=_with(window, text=UNIQUE_WORD))) == 2
    with engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM span_content_index").scalar()
    apply_retention(engine, timedelta(minutes=1), now=datetime.now(timezone.utc) + timedelta(days=3))
    with engine.connect() as conn:
        assert before > 0 and conn.exec_driver_sql("SELECT count(*) FROM span_content_index").scalar() == 0


def test_sessions_and_users(written):
    engine, facts, window = written
    listed = sessions.sessions(engine, window).set_index("session")
    assert list(listed.index) == ["conv-bob-7", "conv-alice-1"]  # most recent activity first
    alice = listed.loc["conv-alice-1"]
    assert (alice.traces, alice.turns, alice.runs, alice.errors, alice.user, alice.agents) == (
        3, 3, 3, 0, "alice", "support-agent")
    assert (alice.input_tokens, alice.output_tokens) == (3 * 460, 3 * 70)
    bob = listed.loc["conv-bob-7"]
    assert (bob.traces, bob.turns, bob.runs, bob.errors) == (2, 2, 4, 1)  # the sub-agent's runs are not turns
    assert bob.agents == "sql-agent, sql-writer" and bob.input_tokens == 2 * 510  # nested calls counted once
    assert list(sessions.sessions(engine, _with(window, text="blender"))["session"]) == ["conv-alice-1"]
    assert list(sessions.sessions(engine, _with(window, agent="writer"))["session"]) == ["conv-bob-7"]

    turns = sessions.session_turns(engine, "conv-alice-1")
    assert list(turns["trace_id"]) == facts.sessions["conv-alice-1"]
    assert "Where is my order 1234?" in turns["input"].iloc[0] and "refund of 49 EUR" in turns["output"].iloc[1]
    assert list(turns["tools"]) == ["lookup_order"] * 3
    assert list(sessions.session_turns(engine, "conv-bob-7")["tools"]) == ["run_sql", "run_sql (failed)"]
    assert sessions.session_turns(engine, "no-such-session").empty

    people = sessions.users(engine, window).set_index("user")
    assert set(people.index) == {"alice", "bob"}
    assert (people.loc["alice", "sessions"], people.loc["alice", "traces"], people.loc["bob", "errors"]) == (1, 3, 1)
    by_runs = sessions.users(engine, window, sort="runs")  # ranked by the sort's figure, then read whole
    assert list(by_runs["user"]) == ["bob", "alice"] and list(by_runs["runs"]) == [4, 3]
    assert list(sessions.users(engine, window, sort="runs", descending=False)["user"]) == ["alice", "bob"]
    assert sessions.users(engine, window, sort="runs", limit=1).equals(by_runs.iloc[:1])


def test_call_lists(written):
    engine, facts, window = written
    calls = llm_calls.llm_call_list(engine, window, sort="cost_usd")
    assert len(calls) == 14 and calls["cost_usd"].is_monotonic_decreasing
    mini = calls[calls["provider"] == "openai"]
    assert "gpt-4o-mini→gpt-4o-mini-2024-07-18" in set(mini["model"])
    assert len(llm_calls.llm_call_list(engine, _with(window, session="conv-alice-1"))) == 6
    assert len(llm_calls.llm_call_list(engine, _with(window, model="claude", agent="writer"))) == 2
    assert set(llm_calls.llm_call_list(engine, _with(window, text="kumquat"))["trace_id"]) == set()
    tools = tool_calls.tool_call_list(engine, window)
    assert len(tools) == 6 and set(tools["tool_name"]) == {"lookup_order", "run_sql", "web_search"}
    failed = tool_calls.tool_call_list(engine, _with(window, status="error"))
    assert list(failed["tool_name"]) == ["run_sql"] and failed["error_message"].iloc[0] == "timeout"
    looked_up = tool_calls.tool_call_list(engine, _with(window, tool="lookup", user="alice")).iloc[0]
    assert '"order_id": 1234' in looked_up["arguments"] and "shipped" in looked_up["result"]
    with pytest.raises(ValueError):
        llm_calls.llm_call_list(engine, window, sort="cost_usd; DROP TABLE spans")


def test_agent_graph_and_resources(written):
    engine, facts, window = written
    edges = agent_graph.agent_graph(engine, window.start, window.end, agent="sql-agent", version="2.1.0")
    table = {(r.source, r.target): r for r in edges.itertuples()}
    assert set(table) == {("(entry)", "sql-agent"), ("sql-agent", "run_sql"), ("sql-agent", "sql-writer"),
                          ("sql-agent", "claude-3-5-sonnet"), ("sql-writer", "claude-3-5-sonnet")}
    assert (table[("sql-agent", "run_sql")].calls, table[("sql-agent", "run_sql")].errors) == (2, 1)
    assert table[("sql-agent", "claude-3-5-sonnet")].calls == 4 and table[("sql-agent", "run_sql")].p95_ms == 120
    newest = agent_graph.agent_graph(engine, window.start, window.end, agent="sql-agent", version="2.1.0", runs=1)
    newest_calls = {(r.source, r.target): r.calls for r in newest.itertuples()}
    assert newest_calls[("(entry)", "sql-agent")] == 1  # one run: its own trace only
    assert sum(newest_calls.values()) < sum(r.calls for r in edges.itertuples())
    everything = agent_graph.agent_graph(engine, window.start, window.end)
    assert ("support-agent", "gpt-4o-mini-2024-07-18") in {(r.source, r.target) for r in everything.itertuples()}

    used = executions.agent_resources(engine, window.start, window.end).set_index("agent_name")
    assert used.loc["support-agent", "runs"] == 3
    assert used.loc["support-agent", "rss_peak_p95"] == RSS_PEAK
    assert used.loc["support-agent", "cpu_time_p50"] == pytest.approx(CPU_SECONDS)
    assert used.loc["support-agent", "rss_growth_p95"] == 3_000_000


def test_span_tree_of_a_trace(written):
    engine, facts, _ = written
    spans = traces.trace_spans(engine, facts.traces["sql-0"])
    assert spans["name"].tolist()[:4] == ["invoke_agent sql-agent", "chat claude-3-5-sonnet", "execute_tool run_sql",
                                          "invoke_agent sql-writer"]
    assert spans["depth"].tolist() == [0, 1, 1, 1, 2, 1] and spans["child_count"].tolist() == [4, 0, 0, 1, 0, 0]
    assert spans["tool_name"].iloc[2] == "run_sql" and spans["input_tokens"].iloc[1] == 200
    runs = traces.trace_executions(engine, facts.traces["sql-0"])
    assert runs["metadata"].iloc[0]["agentotel.process.memory.rss_peak"] == RSS_PEAK
    order, depth, children = traces.tree_order(["a", "b", "c", "d"], ["b", "a", None, "gone"])  # a cycle, a lost parent
    assert sorted(order) == [0, 1, 2, 3] and depth[2] == 0 and depth[3] == 0
