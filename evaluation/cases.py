"""Evaluation results case by case: a run's per-case table, two runs compared case by case (regressed
cases first), and the scores attached to a trace (online evaluation results and benchmark cases that ran
in it). Reads only; runs are stored by ``evaluation.runs``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from agentotel.evaluation.runs import load_run
from agentotel.warehouse.evaluation_models import EvaluationResultRecord

CASE_COLUMNS = ["case_id", "tags", "input", "expected", "output", "error", "latency_ms", "input_tokens",
                "output_tokens", "cost_usd", "model", "trace_id", "span_id"]
DIFF_COLUMNS = ["case_id", "metric", "baseline", "current", "delta", "verdict", "regressed", "trace_current",
                "trace_baseline", "output_baseline", "output_current"]
SCORE_COLUMNS = ["source", "name", "value", "label", "explanation", "span_id", "at"]


def _value(score: Any) -> float | None:
    value = getattr(score, "value", None)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value)


def run_cases(engine: Engine, run_id: str) -> pd.DataFrame:
    """One row per case of a stored run: ``CASE_COLUMNS`` (``expected`` as text; runs stored before inputs
    were kept have no input) and one column per metric (``score:<name>``) with the case's value."""
    run = load_run(engine, run_id)
    rows = []
    metrics = sorted({name for case in run.cases for name in case.scores})
    for case in run.cases:
        expected = case.expected
        if isinstance(expected, list):
            expected = " | ".join(map(str, expected))
        row = {"case_id": case.case_id, "tags": ", ".join(case.tags), "input": case.input, "expected": expected,
               "output": case.output, "error": case.error, "latency_ms": case.latency_ms,
               "input_tokens": case.input_tokens, "output_tokens": case.output_tokens, "cost_usd": case.cost_usd,
               "model": case.model, "trace_id": case.trace_id, "span_id": case.span_id}
        for name in metrics:
            row[f"score:{name}"] = _value(case.scores.get(name))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*CASE_COLUMNS, *(f"score:{m}" for m in metrics)])


def case_diff(engine: Engine, current_run_id: str, baseline_run_id: str, tolerance: float = 1e-9) -> pd.DataFrame:
    """The cases both runs scored, one row per case and metric: baseline and current value, ``delta``
    (current - baseline), ``verdict`` (worse / better / same, by the metric's direction; ``error`` when the
    current run failed the case, ``fixed`` when only the baseline did), ``regressed``, both traces and both
    outputs. Regressed cases first (largest loss first), then improvements, then the rest."""
    current, baseline = load_run(engine, current_run_id), load_run(engine, baseline_run_id)
    definitions = {**baseline.metric_definitions, **current.metric_definitions}
    before = {c.case_id: c for c in baseline.cases}
    rows = []
    for case in current.cases:
        old = before.get(case.case_id)
        if old is None:
            continue
        names = sorted(set(case.scores) | set(old.scores)) or ["(run)"]
        for name in names:
            a, b = _value(old.scores.get(name)), _value(case.scores.get(name))
            higher = definitions[name].higher_is_better if name in definitions else True
            delta = None if a is None or b is None else b - a
            if case.error and not old.error:
                verdict = "error"
            elif old.error and not case.error:
                verdict = "fixed"
            elif delta is None or abs(delta) <= tolerance:
                verdict = "same"
            else:
                verdict = "better" if (delta > 0) == higher else "worse"
            loss = 0.0 if delta is None else (-delta if higher else delta)
            rows.append({"case_id": case.case_id, "metric": name, "baseline": a, "current": b, "delta": delta,
                         "verdict": verdict, "regressed": verdict in ("worse", "error"), "trace_current": case.trace_id,
                         "trace_baseline": old.trace_id, "output_baseline": old.output, "output_current": case.output,
                         "_loss": loss})
    if not rows:
        return pd.DataFrame(columns=DIFF_COLUMNS)
    frame = pd.DataFrame(rows)
    rank = frame["verdict"].map({"error": 0, "worse": 1, "better": 3, "fixed": 3, "same": 4}).fillna(5)
    frame = frame.assign(_rank=rank).sort_values(["_rank", "_loss", "case_id", "metric"],
                                                 ascending=[True, False, True, True], kind="stable")
    return frame[DIFF_COLUMNS].reset_index(drop=True)


def trace_scores(engine: Engine, trace_id: str) -> pd.DataFrame:
    """Evaluation scores attached to a trace: online evaluation results of its runs (``source`` online),
    newest first."""
    r = EvaluationResultRecord
    query = (select(r.name, r.score_value, r.score_label, r.explanation, r.span_id, r.evaluated_at, r.error_type)
             .where(r.trace_id == str(trace_id).lower()).order_by(r.evaluated_at.desc(), r.name))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out = [{"source": "online", "name": row.name, "value": row.score_value,
            "label": row.score_label or (f"failed: {row.error_type}" if row.error_type else None),
            "explanation": row.explanation, "span_id": row.span_id, "at": row.evaluated_at} for row in rows]
    return pd.DataFrame(out, columns=SCORE_COLUMNS)
