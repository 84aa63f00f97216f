"""``agentotel up --demo`` evaluates production traffic online (issue 18, done when): every live execution of
the demo is scored within 60 s of its arrival in the warehouse, and the scores show on the dashboard's
Evaluations page, per agent version."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from tests.agentotel.test_up import Up, poll
from tests.dashboard.support import dashboard_env
from tests.dashboard.test_pages import assert_clean, frames, run_page

LIVE_WAIT_S = 240.0  # the back-fill of 7 days comes first; live turns follow every few seconds


@pytest.mark.slow
def test_up_demo_scores_live_executions_within_a_minute(tmp_path, monkeypatch):
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.evaluation_models import EvaluationResultRecord, OnlineClaim
    from agentotel.warehouse.models import AgentExecution

    started = datetime.now(timezone.utc)
    up = Up(tmp_path, "--demo", "--no-dashboard")
    engine = None
    try:
        up.wait_for(r"^agentotel up: warehouse ")
        url = f"sqlite:///{tmp_path}/monitoring.db"
        engine = create_db_engine(url)

        def live_scored():
            with engine.connect() as conn:
                return conn.execute(select(func.count(func.distinct(EvaluationResultRecord.execution_id))).where(
                    EvaluationResultRecord.execution_time >= started)).scalar_one() >= 5

        poll(live_scored, LIVE_WAIT_S, "five live executions scored online", up)
        time.sleep(15)  # let a few more arrive and be scored
        with engine.connect() as conn:
            # executions that arrived (ended) more than 60 s ago must have been looked at, and the sampled
            # ones scored within 60 s of their end (arrival is later than the end)
            now = datetime.now(timezone.utc)
            live = conn.execute(select(AgentExecution.id, AgentExecution.end_time).where(
                AgentExecution.timestamp >= started, AgentExecution.end_time.is_not(None))).all()
            claims = dict(conn.execute(select(OnlineClaim.execution_id, OnlineClaim.status).where(
                OnlineClaim.execution_time >= started)).all())
            scored = dict(conn.execute(select(EvaluationResultRecord.execution_id,
                                              func.min(EvaluationResultRecord.evaluated_at)).where(
                EvaluationResultRecord.execution_time >= started).group_by(EvaluationResultRecord.execution_id)).all())
        ends = {execution_id: end for execution_id, end in live}
        overdue = [e for e, end in ends.items() if (now - end).total_seconds() > 60 and e not in claims]
        assert not overdue, f"{len(overdue)} of {len(ends)} live executions not looked at within 60 s"
        delays = sorted((scored[e] - ends[e]).total_seconds() for e in scored if e in ends)
        assert delays and delays[-1] <= 60, delays
        print(f"\nup --demo: {len(delays)} live executions scored online, delay after their end: "
              f"median {delays[len(delays) // 2]:.1f} s, max {delays[-1]:.1f} s")

        dashboard_env(monkeypatch, url)
        at = run_page("evaluations", ev_online_window="Last hour")
        assert_clean(at)
        per_version = frames(at)[-1]
        assert {"agent_name", "agent_version", "executions", "mean"} <= set(per_version.columns)
        assert per_version["executions"].sum() >= 5
    finally:
        if engine is not None:
            engine.dispose()
        up.interrupt(group=True)
