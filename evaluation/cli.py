"""``agentotel eval``: run suites, compare runs, print reports.

Exit status: 0 = fine, 1 = a regression was found (so ``eval run --baseline`` can gate CI),
2 = bad input (unknown run, malformed suite, agent that cannot be loaded).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from agentotel.core.cli_args import add_database_argument
from agentotel.core.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate agents: run suites, compare runs, reports")
    sub = parser.add_subparsers(dest="eval_command", required=True, metavar="ACTION")

    run = sub.add_parser("run", help="run a test suite against an agent and store the run")
    run.add_argument("suite", nargs="?", help="suite file (.yaml/.yml/.json); optional with --recorded")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--agent", help="agent callable as module:function (sync or async)")
    source.add_argument("--endpoint", help="OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1); needs --model")
    source.add_argument("--recorded", metavar="AGENT_NAME", help="evaluate recorded executions of this agent")
    run.add_argument("--model", help="model for --endpoint")
    run.add_argument("--api-key", help="API key for --endpoint (default OPENAI_API_KEY)")
    run.add_argument("--agent-name", help="name to store the run under (default: the callable's or model's)")
    run.add_argument("--agent-version", default=None, help="version to store the run under")
    run.add_argument("--since", type=_iso, help="--recorded: executions at or after this ISO time")
    run.add_argument("--until", type=_iso, help="--recorded: executions before this ISO time")
    run.add_argument("--limit", type=int, default=1000, help="--recorded: at most this many executions")
    run.add_argument("--evaluator", action="append", dest="evaluators", metavar="NAME",
                     help="evaluator to use (repeatable; default: the suite's, else all heuristics)")
    run.add_argument("--baseline", metavar="RUN_ID", help="compare with this run; exit 1 on regression")
    run.add_argument("--concurrency", type=_positive_int, default=4, help="cases in flight at once (default 4)")
    run.add_argument("--batch-size", type=_positive_int, default=None, help="cases per batch (default: all)")
    run.add_argument("--timeout", type=float, default=None, help="seconds per case for a callable agent")
    run.add_argument("--seed", type=int, default=0, help="seed for randomness and bootstrap (default 0)")
    _comparison_args(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(handler=cmd_run)

    compare = sub.add_parser("compare", help="compare run B with baseline run A; exit 1 on regression")
    compare.add_argument("run_a", metavar="RUN_A", help="baseline run id")
    compare.add_argument("run_b", metavar="RUN_B", help="current run id")
    _comparison_args(compare)
    compare.set_defaults(handler=cmd_compare)

    report = sub.add_parser("report", help="print a stored run's results")
    report.add_argument("run_id", metavar="RUN_ID")
    add_database_argument(report)
    report.add_argument("--format", choices=("markdown", "json"), default="markdown")
    report.set_defaults(handler=cmd_report)

    runs = sub.add_parser("list", help="list stored runs, newest first")
    add_database_argument(runs)
    runs.add_argument("--agent-name")
    runs.add_argument("--limit", type=_positive_int, default=20)
    runs.set_defaults(handler=cmd_list)


def _comparison_args(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)
    parser.add_argument("--threshold", type=float, default=0.05,
                        help="practical threshold: absolute for scores, relative for latency/cost (default 0.05)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level after BH (default 0.05)")
    parser.add_argument("--min-samples", type=_positive_int, default=5,
                        help="fewest cases per run for a metric to be tested (default 5)")
    parser.add_argument("--metric", action="append", dest="metrics", metavar="NAME",
                        help="compare only this metric (repeatable; default: every shared metric)")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    parser.add_argument("--alert", action="store_true", help="raise an alert when a regression is found")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from None


def _engine(args: argparse.Namespace):
    from agentotel.core.settings import DatabaseSettings
    from agentotel.warehouse.engine import open_warehouse

    return open_warehouse(DatabaseSettings.resolve(args))  # quiet: migration chatter would bury the results


def _detector(args: argparse.Namespace):
    from agentotel.evaluation.regression import RegressionDetector

    try:
        return RegressionDetector(alpha=args.alpha, threshold=args.threshold, min_samples=args.min_samples)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _build_agent(args: argparse.Namespace, engine: Any, settings: Any):
    from agentotel.evaluation.agents import (
        AgentLoadError,
        CallableAgent,
        OpenAIEndpointAgent,
        RecordedAgent,
        load_callable,
    )

    if args.agent:
        try:
            fn = load_callable(args.agent)
        except AgentLoadError as exc:
            raise CommandError(str(exc)) from None
        return CallableAgent(fn, name=args.agent_name or args.agent, version=args.agent_version or "", timeout=args.timeout)
    if args.endpoint:
        if not args.model:
            raise CommandError("--endpoint needs --model")
        return OpenAIEndpointAgent(
            args.endpoint, args.model, api_key=settings.openai_api_key or "not-needed",
            name=args.agent_name or args.model, version=args.agent_version or "",
        )
    agent = RecordedAgent.from_warehouse(engine, args.recorded, args.agent_version, args.since, args.until, args.limit)
    if not len(agent):
        raise CommandError(f"no recorded executions with input for agent {args.recorded!r}"
                           + (f" version {args.agent_version!r}" if args.agent_version else ""))
    return agent


def cmd_run(args: argparse.Namespace) -> int:
    from agentotel.core.settings import EvaluationSettings
    from agentotel.evaluation import store
    from agentotel.evaluation.agents import RecordedAgent
    from agentotel.evaluation.benchmark import BenchmarkSuite
    from agentotel.evaluation.factory import EvaluatorConfigError, build_evaluators
    from agentotel.evaluation.suite import SuiteError, load_suite, suite_from_cases

    settings = EvaluationSettings.resolve(args)
    if not args.suite and not args.recorded:
        raise CommandError("a suite file is required (or --recorded AGENT_NAME)")
    try:
        suite = load_suite(args.suite) if args.suite else None
    except SuiteError as exc:
        raise CommandError(str(exc)) from None
    engine = _engine(args)
    detector = _detector(args)
    if args.baseline:
        try:
            store.load_run(engine, args.baseline)
        except store.RunNotFoundError as exc:
            raise CommandError(str(exc)) from None
    agent = _build_agent(args, engine, settings)
    if suite is None:
        assert isinstance(agent, RecordedAgent)
        suite = suite_from_cases(f"recorded:{agent.name}", agent.test_cases())
    try:
        evaluators = build_evaluators(args.evaluators or suite.evaluators, settings=settings)
    except EvaluatorConfigError as exc:
        raise CommandError(str(exc)) from None
    bench = BenchmarkSuite(
        evaluators, concurrency=args.concurrency, batch_size=args.batch_size, engine=engine,
        show_progress=False if args.no_progress else None, seed=args.seed,
    )
    run = bench.run(suite, agent)
    print(f"run {run.run_id}: {run.status}, {len(run.cases)} case(s), {run.errors} error(s)")
    print(_summary_markdown(run.summary) if args.format == "markdown" else json.dumps(run.summary, indent=2, default=str))
    if not args.baseline:
        return 0
    report = store.compare_runs(engine, run.run_id, args.baseline, threshold=args.threshold, detector=detector,
                                metrics=args.metrics)
    print(detector.generate_report(args.format, report))
    return _verdict(report, detector, engine, args)


def cmd_compare(args: argparse.Namespace) -> int:
    from agentotel.evaluation import store

    engine = _engine(args)
    detector = _detector(args)
    try:
        report = store.compare_runs(engine, args.run_b, args.run_a, threshold=args.threshold, detector=detector,
                                    metrics=args.metrics)
    except (store.RunNotFoundError, store.RunNotComparableError) as exc:
        raise CommandError(str(exc)) from None
    print(detector.generate_report(args.format, report))
    return _verdict(report, detector, engine, args)


def _verdict(report: Any, detector: Any, engine: Any, args: argparse.Namespace) -> int:
    if not report.has_regression:
        return 0
    if args.alert:
        alert = detector.alert_on_regression(engine, report)
        print(f"alert raised: {alert}", file=sys.stderr)
    print(f"regression in: {', '.join(c.metric for c in report.regressions)}", file=sys.stderr)
    return 1


def cmd_report(args: argparse.Namespace) -> int:
    from agentotel.evaluation import store
    from agentotel.evaluation.comparator import AgentComparator

    engine = _engine(args)
    try:
        run = store.load_run(engine, args.run_id)
    except store.RunNotFoundError as exc:
        raise CommandError(str(exc)) from None
    comparator = AgentComparator()
    areas = comparator.identify_strong_weak_areas(run) if run.results.get("cases") else {"strong": [], "weak": []}
    advice = comparator.recommend_improvements(run) if run.results.get("cases") else []
    if args.format == "json":
        print(json.dumps({
            "id": run.id, "benchmark_id": run.benchmark_id, "status": run.status, "agent_name": run.agent_name,
            "agent_version": run.agent_version, "timestamp": run.timestamp.isoformat(),
            "completed_at": run.completed_at.isoformat() if run.completed_at else None,
            "error_message": run.error_message, "metadata": run.meta, "summary": run.summary,
            "strong_areas": [a.to_dict() for a in areas["strong"]], "weak_areas": [a.to_dict() for a in areas["weak"]],
            "recommendations": [r.to_dict() for r in advice],
        }, indent=2, default=str))
        return 0
    agent = f"{run.agent_name or '?'}" + (f" {run.agent_version}" if run.agent_version else "")
    print(f"# Evaluation run {run.id}\n")
    print(f"- suite: {run.benchmark_id} (hash {str(run.meta.get('suite_hash', ''))[:12]})\n- agent: {agent}")
    print(f"- status: {run.status}\n- started: {run.timestamp.isoformat()}")
    if run.error_message:
        print(f"- error: {run.error_message}")
    if run.summary:
        print()
        print(_summary_markdown(run.summary))
    for title, items in (("Strong areas", areas["strong"]), ("Weak areas", areas["weak"])):
        if items:
            print(f"\n## {title}\n")
            for a in items:
                print(f"- {a.tag}: {a.metric} {a.value:.3f} (overall {a.reference:.3f}, n={a.n})")
    if advice:
        print("\n## Recommendations\n")
        for r in advice:
            print(f"- [{r.priority}] {r.area}: {r.observation} → {r.action}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from agentotel.evaluation import store

    engine = _engine(args)
    for run in store.list_runs(engine, agent_name=args.agent_name, limit=args.limit):
        print(f"{run.id}  {run.timestamp.isoformat()}  {run.status:9}  {run.benchmark_id}  "
              f"{run.agent_name or ''} {run.agent_version or ''}".rstrip())
    return 0


def _summary_markdown(summary: dict[str, Any]) -> str:
    lines = ["| metric | n | mean | 95% CI (t) | 95% CI (bootstrap) | median | std |", "|---|---:|---:|---|---|---:|---:|"]
    for name, s in (summary.get("metrics") or {}).items():
        lines.append(
            f"| {name} | {s.get('n')} | {_f(s.get('mean'))} | [{_f(s.get('ci_low'))}, {_f(s.get('ci_high'))}] "
            f"| [{_f(s.get('bootstrap_ci_low'))}, {_f(s.get('bootstrap_ci_high'))}] | {_f(s.get('median'))} | {_f(s.get('std'))} |"
        )
    perf = summary.get("performance") or {}
    latency = perf.get("latency_ms") or {}
    if perf:
        lines += [
            "",
            f"latency ms p50 {_f(latency.get('p50'))}, p95 {_f(latency.get('p95'))}, p99 {_f(latency.get('p99'))}, "
            f"max {_f(latency.get('max'))}; throughput {_f(perf.get('throughput_rps'))} req/s; "
            f"error rate {_f(perf.get('error_rate'))}; cost/request {_f(perf.get('cost_usd_per_request'))} USD",
        ]
        if perf.get("errors_by_type"):
            lines.append("errors by type: " + ", ".join(f"{k}={v}" for k, v in perf["errors_by_type"].items()))
        resources = perf.get("resources") or {}
        if resources:
            lines.append(f"CPU mean {_f(resources.get('cpu_percent_mean'))}%, RSS max {_f(resources.get('memory_rss_max_mb'))} MB")
    return "\n".join(lines)


def _f(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
