"""RegressionDetector decisions, reports and alerts."""

import json
import sys

import numpy as np
import pytest
from scipy import stats as sps
from sqlalchemy import select
from statsmodels.stats.contingency_tables import mcnemar

from agentotel.evaluation.base import MetricDefinition
from agentotel.evaluation.regression import RegressionDetector, RunSamples
from agentotel.warehouse.models import Alert

LATENCY = {"latency_ms": MetricDefinition("latency_ms", higher_is_better=False, kind="latency", unit="ms")}


def paired_runs(seed=1, factor=1.25, n=40):
    rng = np.random.default_rng(seed)
    ids = [f"case{i}" for i in range(n)]
    base_latency = rng.lognormal(6.5, 0.8, n)  # cases differ a lot
    baseline = {
        "latency_ms": dict(zip(ids, base_latency * rng.lognormal(0, 0.05, n))),
        "accuracy.exact": dict(zip(ids, [1.0] * 30 + [0.0] * 10)),
        "relevance": dict(zip(ids, rng.uniform(0.6, 0.9, n))),
    }
    accuracy = [1.0] * 30 + [0.0] * 10
    for i in range(12):  # 12 cases flip pass -> fail, 1 fails -> passes
        accuracy[i] = 0.0
    accuracy[35] = 1.0
    current = {
        "latency_ms": dict(zip(ids, base_latency * factor * rng.lognormal(0, 0.05, n))),
        "accuracy.exact": dict(zip(ids, accuracy)),
        "relevance": dict(zip(ids, np.array(list(baseline["relevance"].values())) + rng.normal(0, 0.01, n))),
    }
    meta = {"agent_name": "support-bot", "agent_version": "2.0", "benchmark_id": "faq"}
    return (RunSamples.from_mapping(current, LATENCY, run_id="cur", meta=meta),
            RunSamples.from_mapping(baseline, LATENCY, run_id="base", meta={**meta, "agent_version": "1.0"}))


def test_paired_runs_use_wilcoxon_and_mcnemar_and_flag_regressions():
    current, baseline = paired_runs()
    report = RegressionDetector(n_resamples=500).detect_regressions(current, baseline)
    by_metric = {c.metric: c for c in report.comparisons}
    latency, accuracy, relevance = by_metric["latency_ms"], by_metric["accuracy.exact"], by_metric["relevance"]

    assert latency.paired and latency.test == "wilcoxon"
    cur = np.array(list(current.metrics["latency_ms"].values))
    base = np.array(list(baseline.metrics["latency_ms"].values))
    assert latency.p_value_raw == pytest.approx(sps.wilcoxon(cur - base).pvalue)
    assert latency.pct_change == pytest.approx((cur.mean() / base.mean() - 1) * 100)
    assert latency.is_regression and latency.worse and latency.ci_low > 0
    # Unpaired tests drown in the case-to-case spread; they are reported but not used.
    assert latency.mannwhitney_p > 0.05

    assert accuracy.test == "mcnemar" and accuracy.is_regression
    assert accuracy.p_value_raw == pytest.approx(mcnemar([[18, 12], [1, 9]], exact=True).pvalue)
    assert not relevance.is_regression and not relevance.is_improvement

    raw = [c.p_value_raw for c in report.comparisons]
    from statsmodels.stats.multitest import multipletests

    assert [c.p_value for c in report.comparisons] == pytest.approx(list(multipletests(raw, method="fdr_bh")[1]))
    assert report.has_regression and {c.metric for c in report.regressions} == {"accuracy.exact", "latency_ms"}


def test_improvements_thresholds_and_small_samples():
    current, baseline = paired_runs(factor=0.7)
    report = RegressionDetector(n_resamples=200).detect_regressions(current, baseline, metrics=["latency_ms"])
    assert [c.metric for c in report.improvements] == ["latency_ms"] and not report.has_regression

    slower, base = paired_runs(factor=1.03, n=200)  # significant but only 3 % slower: below the 5 % practical threshold
    report = RegressionDetector(bootstrap=False).detect_regressions(slower, base, metrics=["latency_ms"])
    assert report.comparisons[0].significant and not report.has_regression
    per_metric = RegressionDetector(bootstrap=False, thresholds={"latency_ms": 0.01})
    assert per_metric.detect_regressions(slower, base, metrics=["latency_ms"]).has_regression

    tiny = RegressionDetector().detect_regressions({"relevance": [0.1, 0.2]}, {"relevance": [0.9, 0.8]})
    assert tiny.comparisons[0].p_value is None and "too few samples" in tiny.comparisons[0].note
    assert not tiny.has_regression and "Not tested: relevance (2 cases < 5)." in tiny.to_markdown()
    assert tiny.comparisons[0].untested_reason == "2 cases < 5" and not tiny.comparisons[0].testable


def test_unpaired_runs_use_welch_for_scores_and_mann_whitney_for_latency():
    rng = np.random.default_rng(3)
    cur = {"relevance": list(rng.normal(0.6, 0.1, 80)), "latency_ms": list(rng.lognormal(6, 0.3, 80))}
    base = {"relevance": list(rng.normal(0.7, 0.1, 90)), "latency_ms": list(rng.lognormal(6, 0.3, 90))}
    report = RegressionDetector(bootstrap=False).detect_regressions(cur, base)
    by_metric = {c.metric: c for c in report.comparisons}
    assert by_metric["relevance"].test == "welch_t" and not by_metric["relevance"].paired
    assert by_metric["relevance"].p_value_raw == pytest.approx(
        sps.ttest_ind(cur["relevance"], base["relevance"], equal_var=False).pvalue)
    assert by_metric["relevance"].is_regression
    assert by_metric["latency_ms"].test == "mann_whitney_u" and not by_metric["latency_ms"].is_regression


def test_anomaly_score_against_history():
    current, baseline = paired_runs(factor=1.25)
    history = [{"latency_ms": m} for m in (1000.0, 1020.0, 990.0, 1010.0)]
    report = RegressionDetector(bootstrap=False).detect_regressions(current, baseline, history=history)
    latency = next(c for c in report.comparisons if c.metric == "latency_ms")
    assert latency.anomaly_score > 3 and latency.note == "anomalous vs history"
    assert next(c for c in report.comparisons if c.metric == "relevance").anomaly_score is None


def test_reports_in_markdown_and_json():
    detector = RegressionDetector(n_resamples=200)
    with pytest.raises(ValueError, match="call detect_regressions"):
        detector.generate_report()
    detector.detect_regressions(*paired_runs())
    markdown = detector.generate_report("markdown")
    assert markdown.startswith("# Regression report: run cur vs baseline base")
    assert "**REGRESSION** in 2 metric(s): accuracy.exact, latency_ms" in markdown
    assert "| latency_ms |" in markdown and "wilcoxon (paired)" in markdown and "p50 base → cur" in markdown
    assert "beyond baseline p95" in markdown
    data = json.loads(detector.generate_report("json"))
    assert data["has_regression"] is True and data["regressions"] == ["accuracy.exact", "latency_ms"]
    latency = next(m for m in data["metrics"] if m["metric"] == "latency_ms")
    assert {"p_value", "p_value_raw", "effect_size", "cliffs_delta", "pct_change", "ci_low"} <= set(latency)
    assert latency["tail_exceedance"] > 0.05 and latency["percentiles_current"]["p95"] > latency["percentiles_baseline"]["p95"]
    with pytest.raises(ValueError, match="unknown report format"):
        detector.generate_report("html")


def _alerts(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(Alert))]


def test_alert_through_the_alerting_component(engine):
    pytest.importorskip("agentotel.alerting.manager")
    detector = RegressionDetector(bootstrap=False)
    detector.detect_regressions(*paired_runs())
    alert_id = detector.alert_on_regression(engine)
    rows = _alerts(engine)
    assert [r["id"] for r in rows] == [alert_id]
    assert rows[0]["rule_id"] == "evaluation.regression" and rows[0]["status"] == "firing"
    assert rows[0]["labels"]["agent"] == "support-bot" and rows[0]["labels"]["metrics"] == "accuracy.exact,latency_ms"
    assert "latency_ms +" in rows[0]["message"] and "baseline base" in rows[0]["message"]
    assert detector.alert_on_regression(engine) == alert_id  # the manager de-duplicates a firing alert


def test_alert_as_a_plain_row_without_the_alerting_component(engine, monkeypatch):
    monkeypatch.setitem(sys.modules, "agentotel.alerting.manager", None)  # import now raises ImportError
    detector = RegressionDetector(bootstrap=False)
    report = detector.detect_regressions(*paired_runs())
    alert_id = detector.alert_on_regression(engine, severity="critical", labels={"team": "search"})
    row = _alerts(engine)[0]
    assert row["id"] == alert_id and row["severity"] == "critical" and row["acknowledged"] is False
    assert row["labels"]["team"] == "search" and len(row["fingerprint"]) == 32
    no_regression = RegressionDetector(bootstrap=False)
    no_regression.detect_regressions(*reversed(paired_runs(factor=1.0)), metrics=["relevance"])
    assert no_regression.alert_on_regression(engine) is None and len(_alerts(engine)) == 1
    assert report.has_regression


def test_skipping_secondary_tests_keeps_the_verdicts():
    current, baseline = paired_runs()
    full = RegressionDetector(bootstrap=False).detect_regressions(current, baseline)
    fast = RegressionDetector(bootstrap=False, secondary_tests=False).detect_regressions(current, baseline)
    assert [(c.metric, c.test, c.p_value, c.is_regression) for c in full.comparisons] == [
        (c.metric, c.test, c.p_value, c.is_regression) for c in fast.comparisons]
    assert all(c.welch_p is None and c.mannwhitney_p is None for c in fast.comparisons)
