"""Evaluation pipeline figures: regression-detection power and false-positive rate, detector speed,
and BenchmarkSuite throughput. One command: ``.venv/bin/python benchmarks/evaluation.py [--trials N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentotel.evaluation.agents import CallableAgent  # noqa: E402
from agentotel.evaluation.base import TestCase  # noqa: E402
from agentotel.evaluation.benchmark import BenchmarkSuite  # noqa: E402
from agentotel.evaluation.factory import build_evaluators  # noqa: E402
from agentotel.evaluation.regression import RegressionDetector  # noqa: E402
from agentotel.evaluation.suite import suite_from_cases  # noqa: E402
from tests.evaluation.test_simulation import draw  # noqa: E402  (the simulation's ten-metric run model)


def detection(trials: int) -> None:
    print(f"regression detection, 10 metrics, n=200 per arm, unpaired, {trials} trials per row (BH, alpha 0.05)")
    detector = RegressionDetector(bootstrap=False, secondary_tests=False)
    for factor in (1.0, 1.05, 1.10, 1.20):
        rng = np.random.default_rng(int(factor * 1000))
        hits = others = 0
        start = time.perf_counter()
        for _ in range(trials):
            flagged = {c.metric for c in detector.detect_regressions(draw(rng, factor), draw(rng)).regressions}
            hits += "latency_ms" in flagged
            others += bool(flagged - {"latency_ms"})
        per = (time.perf_counter() - start) / trials * 1000
        print(f"  latency x{factor:.2f}: latency flagged in {hits / trials:6.1%}, other metric flagged in "
              f"{others / trials:5.1%}  ({per:.1f} ms per comparison)")
    rng = np.random.default_rng(99)
    with_bh = RegressionDetector(bootstrap=False, threshold=0.0, secondary_tests=False)
    flagged = raw = 0
    for _ in range(trials):
        report = with_bh.detect_regressions(draw(rng), draw(rng))
        flagged += report.has_regression
        raw += any(c.p_value_raw < 0.05 for c in report.comparisons)
    print(f"  no change, threshold 0: any regression with BH {flagged / trials:.1%}; "
          f"any raw p<0.05 without correction {raw / trials:.1%}")


def deciding_checks(trials: int) -> None:
    """False-positive rate of the opt-in tail (p95/p99 quantile test) and history (prediction-interval t)
    checks, measured like the others: both runs and every earlier run drawn from the same model."""
    names = ["latency_ms", "score0", "accuracy.exact"]
    print(f"tail and history checks, no true change, n=200 per arm, {trials} trials per row "
          f"(tail on latency p95/p99; history on {', '.join(names)}; BH over all 10 metrics + checks)")
    for k in (3, 5, 10):
        for threshold in (None, 0.0):
            rng = np.random.default_rng(1000 + k)
            detector = RegressionDetector(bootstrap=False, secondary_tests=False, threshold=threshold,
                                          tail=["latency"], history_metrics=names)
            tail = history = anything = 0
            for _ in range(trials):
                earlier = [draw(rng) for _ in range(k)]
                flagged = {c.metric for c in detector.detect_regressions(draw(rng), draw(rng), history=earlier).regressions}
                tail += any(m.endswith((".p95", ".p99")) for m in flagged)
                history += any(m.endswith(".history") for m in flagged)
                anything += bool(flagged)
            label = "default thresholds" if threshold is None else "threshold 0"
            print(f"  {k:2} earlier runs, {label:18}: tail flagged {tail / trials:5.1%}, history flagged "
                  f"{history / trials:5.1%}, any regression {anything / trials:5.1%}")


def throughput(n_cases: int) -> None:
    async def agent(question: str) -> str:
        await asyncio.sleep(0.01)
        return "The capital of France is Paris. It lies on the Seine."

    cases = [TestCase(f"c{i}", f"What is the capital of France? #{i}", expected="Paris",
                      context=("Paris is the capital of France, on the Seine.",), required_points=("Paris",),
                      tags=(f"t{i % 5}",)) for i in range(n_cases)]
    suite = suite_from_cases("throughput", cases)
    print(f"BenchmarkSuite throughput, {n_cases} cases, agent = 10 ms async sleep, 6 heuristic evaluators + performance")
    for concurrency in (1, 8, 32):
        bench = BenchmarkSuite(build_evaluators([]), concurrency=concurrency, show_progress=False)
        start = time.perf_counter()
        run = bench.run(suite, CallableAgent(agent))
        wall = time.perf_counter() - start
        print(f"  concurrency {concurrency:2}: {n_cases / wall:7.1f} cases/s (wall {wall:.2f} s incl. aggregation, "
              f"{len(run.summary['metrics'])} metrics)")
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        bench = BenchmarkSuite(build_evaluators([]), concurrency=32, engine=engine, show_progress=False)
        start = time.perf_counter()
        bench.run(suite, CallableAgent(agent))
        print(f"  concurrency 32 + stored in SQLite: {n_cases / (time.perf_counter() - start):7.1f} cases/s")
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    detection(args.trials)
    deciding_checks(args.trials)
    throughput(args.cases)


if __name__ == "__main__":
    main()
