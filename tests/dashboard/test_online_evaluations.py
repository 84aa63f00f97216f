"""The Evaluations page charts online evaluation scores per agent version (issue 18), on SQLite and
PostgreSQL: executions scored by the real online evaluator, read through evaluation.online."""

from __future__ import annotations

from datetime import timedelta

from agentotel.evaluation.online import OnlineAgentConfig, OnlineConfig, OnlineEvaluator
from tests.dashboard.support import dashboard_env
from tests.dashboard.test_pages import assert_clean, frames, run_page
from tests.evaluation.test_online import executions


def test_online_scores_per_agent_version(engine, db_url, monkeypatch):
    executions(engine, 6, version="1.2.0", ago=timedelta(minutes=20))
    executions(engine, 4, first=100, version="1.3.0", ago=timedelta(minutes=5))
    config = OnlineConfig(agents=(OnlineAgentConfig(sample_rate=1.0, evaluators=("coherence", "toxicity")),),
                          lookback=timedelta(hours=1))  # a first start scores what started within the look-back
    assert OnlineEvaluator(engine, config).tick().scored == 10
    dashboard_env(monkeypatch, db_url)
    at = run_page("evaluations", ev_online_metric="coherence")
    assert_clean(at)
    assert any(i.value.startswith("No evaluation runs yet") for i in at.info)  # no benchmark runs: online still shows
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) >= 1
    per_version = frames(at)[-1].set_index("agent_version")
    assert per_version.loc["1.2.0", "executions"] == 6 and per_version.loc["1.3.0", "executions"] == 4
    assert per_version.loc["1.2.0", "mean"] == 1.0


def test_no_online_scores_says_how_to_start(db_url, monkeypatch):
    dashboard_env(monkeypatch, db_url)
    at = run_page("evaluations")
    assert_clean(at)
    assert any(i.value.startswith("No online scores yet") for i in at.info)
    assert any("agentotel eval online" in c.value for c in at.code)
