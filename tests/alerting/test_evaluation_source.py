"""``evaluation:<metric>`` in alert rules reads online evaluation scores of production executions too
(issue 18: "faithfulness p50 < 0.7 for 10m"), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from agentotel.alerting.config import parse_rules
from agentotel.alerting.engine import RuleEngine
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.sources import WarehouseMetricSource
from agentotel.core.utc import utcnow
from agentotel.warehouse.evaluation_models import EvaluationResultRecord

RULES = """
rules:
  - id: faithfulness-low
    type: threshold
    metric: "evaluation:judge.faithfulness"
    filters: {source: online}
    group_by: [agent, agent_version]
    window: 10m
    step: 10s
    aggregation: median
    op: "<"
    value: 0.7
    for: 10m
    message: "{agent} {agent_version}: faithfulness p50 {value:.2f}"
"""


def test_online_scores_fire_a_p50_rule_held_for_ten_minutes(engine):
    start = utcnow().replace(microsecond=0)
    rows = []
    for i in range(120):  # one scored execution every 10 s for 20 minutes, per version
        at = start - timedelta(minutes=10) + timedelta(seconds=10 * i)
        for version, value in (("1.2.0", 0.9), ("1.3.0", 0.4 if i % 4 else 0.95)):
            rows.append({"execution_id": f"{version}-{i}", "trace_id": f"{i:032x}", "span_id": f"{i:016x}",
                         "agent_name": "support-agent", "agent_version": version, "execution_time": at,
                         "evaluated_at": at, "name": "judge.faithfulness", "score_value": value,
                         "evaluator": "judge:faithfulness", "source": "online"})
    with engine.begin() as conn:
        conn.execute(insert(EvaluationResultRecord), rows)
    engine_ = RuleEngine(engine, parse_rules(RULES, "rules.yaml"), WarehouseMetricSource(engine))
    assert engine_.evaluate(start).errors == {}
    assert AlertManager(engine).get_active_alerts() == []  # pending: below 0.7, not yet for 10 minutes
    assert engine_.evaluate(start + timedelta(minutes=10, seconds=5)).errors == {}
    [alert] = AlertManager(engine).get_active_alerts()
    assert alert["labels"]["agent_version"] == "1.3.0" and alert["value"] == 0.4
    assert alert["message"] == "support-agent 1.3.0: faithfulness p50 0.40"
