"""What ``agentotel eval run | compare | report | list | online`` do (the arguments are declared in
``evaluation.cli``). Bad input ends in ``CommandError``: one line, exit 2. With ``--format json`` standard
output holds exactly one JSON document; everything else goes to standard error."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
from typing import Any

from sqlalchemy import Engine

from agentotel.core.errors import CommandError
from agentotel.core.settings import DatabaseSettings, EvaluationSettings
from agentotel.evaluation import runs
from agentotel.evaluation.agents import (
    AgentLoadError,
    CallableAgent,
    OpenAIEndpointAgent,
    RecordedAgent,
    load_callable,
)
from agentotel.evaluation.base import Agent
from agentotel.evaluation.benchmark import BenchmarkSuite
from agentotel.evaluation.comparator import AgentComparator
from agentotel.evaluation.factory import EvaluatorConfigError, build_evaluators
from agentotel.evaluation.online import (
    DEFAULT_EVALUATORS,
    OnlineAgentConfig,
    OnlineConfig,
    OnlineConfigError,
    OnlineEvaluator,
    load_online_config,
    online_status,
)
from agentotel.evaluation.power import power_guidance, power_markdown
from agentotel.evaluation.regression import RegressionDetector, RegressionReport
from agentotel.evaluation.suite import SuiteError, load_suite, suite_from_cases
from agentotel.warehouse.engine import open_warehouse
from agentotel.warehouse.projects import require_project


def _engine(args: argparse.Namespace) -> Engine:
    return open_warehouse(DatabaseSettings.resolve(args))  # quiet: migration chatter would bury the results


def _project(args: argparse.Namespace, engine: Engine) -> str:
    """The project the command reads and writes (``--project`` > ``AGENTOTEL_PROJECT`` > ``default``)."""
    return require_project(engine, EvaluationSettings.resolve(args).project)


def _detector(args: argparse.Namespace) -> RegressionDetector:
    try:
        return RegressionDetector(alpha=args.alpha, threshold=args.threshold, min_samples=args.min_samples,
                                  thresholds=dict(args.metric_thresholds), floors=dict(args.floors), tail=args.tail,
                                  history_metrics=args.history_metrics)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _note(text: str) -> None:
    print(text, file=sys.stderr)


def _build_agent(args: argparse.Namespace, engine: Engine, settings: EvaluationSettings, project: str) -> Agent:
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
    agent = RecordedAgent.from_warehouse(engine, args.recorded, args.agent_version, args.since, args.until, args.limit,
                                         project)
    if not len(agent):
        raise CommandError(f"no recorded executions with input for agent {args.recorded!r}"
                           + (f" version {args.agent_version!r}" if args.agent_version else ""))
    return agent


def cmd_run(args: argparse.Namespace) -> int:
    """``eval run``: run a suite (or recorded executions) against an agent, print power guidance; compare
    with ``--baseline`` (exit 1 on a regression)."""
    settings = EvaluationSettings.resolve(args)
    as_json = args.format == "json"
    if not args.suite and not args.recorded:
        raise CommandError("a suite file is required (or --recorded AGENT_NAME)")
    try:
        suite = load_suite(args.suite) if args.suite else None
    except SuiteError as exc:
        raise CommandError(str(exc)) from None
    engine = _engine(args)
    project = _project(args, engine)
    detector = _detector(args)
    if args.baseline:
        try:
            runs.load_run(engine, args.baseline, project)
        except runs.RunNotFoundError as exc:
            raise CommandError(str(exc)) from None
    agent = _build_agent(args, engine, settings, project)
    if suite is None:
        assert isinstance(agent, RecordedAgent)
        suite = suite_from_cases(f"recorded:{agent.name}", agent.test_cases())
    try:
        evaluators = build_evaluators(args.evaluators or suite.evaluators, settings=settings)
    except EvaluatorConfigError as exc:
        raise CommandError(str(exc)) from None
    progress = False if args.no_progress or as_json else None  # JSON: nothing but the document on stdout
    bench = BenchmarkSuite(
        evaluators, concurrency=args.concurrency, batch_size=args.batch_size, engine=engine,
        show_progress=progress, seed=args.seed, project=project,
    )
    run = bench.run(suite, agent)
    link = _link(engine, run.agent_name, args.agent_version, project)
    power = power_guidance(run, detector, alpha=args.alpha)
    for row in power:
        if row.warning():
            _note(f"warning: {row.warning()}")
    report = None
    if args.baseline:
        report = runs.compare_runs(engine, run.run_id, args.baseline, detector=detector, metrics=args.metrics,
                                   project=project)
    if as_json:
        print(json.dumps({
            "run": {"id": run.run_id, "status": run.status, "suite": run.benchmark_id,
                    "suite_hash": run.meta.get("suite_hash"), "agent_name": run.agent_name,
                    "agent_version": run.agent_version, "cases": len(run.cases), "errors": run.errors},
            "linked": link,
            "summary": run.summary,
            "power": [row.to_dict() for row in power],
            "comparison": report.to_dict() if report is not None else None,
        }, indent=2, default=str))
    else:
        print(f"run {run.run_id}: {run.status}, {len(run.cases)} case(s), {run.errors} error(s)")
        print(link["message"])
        print(_summary_markdown(run.summary))
        print()
        print(power_markdown(power, alpha=args.alpha))
        if report is not None:
            print(detector.generate_report("markdown", report))
    if report is None:
        return 0
    return _verdict(report, detector, engine, args, project)


def _link(engine: Engine, agent_name: str, agent_version: str | None, project: str) -> dict[str, Any]:
    """Which registry version of ``project`` the run counts for (the gate's evidence), and what to do if none."""
    if not agent_version:
        return {"agent_name": agent_name, "agent_version": None, "registry": None,
                "message": f"not linked to a registry version: add --agent-name NAME --agent-version VERSION to make "
                           f"this run evidence for 'agentotel registry promote' (stored as agent {agent_name!r})"}
    source = runs.registry_source(engine, agent_name, agent_version, project)
    if source == "registry":
        message = f"linked to registry version {agent_name}@{agent_version}"
    else:
        message = (f"linked to {agent_name}@{agent_version}, which is not registered yet: "
                   f"'agentotel registry register {agent_name} {agent_version}' before promoting it")
    return {"agent_name": agent_name, "agent_version": agent_version, "registry": source, "message": message}


def cmd_compare(args: argparse.Namespace) -> int:
    """``eval compare A B``: B against baseline A; 1 on a regression."""
    engine = _engine(args)
    project = _project(args, engine)
    detector = _detector(args)
    try:
        report = runs.compare_runs(engine, args.run_b, args.run_a, detector=detector, metrics=args.metrics,
                                   project=project)
    except (runs.RunNotFoundError, runs.RunNotComparableError) as exc:
        raise CommandError(str(exc)) from None
    print(detector.generate_report(args.format, report))
    return _verdict(report, detector, engine, args, project)


def _verdict(report: RegressionReport, detector: RegressionDetector, engine: Engine, args: argparse.Namespace,
             project: str) -> int:
    for c in report.untestable:
        _note(f"not tested: {c.metric}: {c.untested_reason}")
    if not report.has_regression:
        return 0
    if args.alert:
        alert = detector.alert_on_regression(engine, report, project=project)
        _note(f"alert raised: {alert}")
    _note(f"regression in: {', '.join(c.metric for c in report.regressions)}")
    return 1


def cmd_report(args: argparse.Namespace) -> int:
    """``eval report RUN``: a stored run's results, strong and weak areas, recommendations."""
    engine = _engine(args)
    try:
        run = runs.load_run(engine, args.run_id, _project(args, engine))
    except runs.RunNotFoundError as exc:
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
    """``eval list``: stored runs, newest first."""
    engine = _engine(args)
    for run in runs.list_runs(engine, agent_name=args.agent_name, limit=args.limit, project=_project(args, engine)):
        print(f"{run.id}  {run.timestamp.isoformat()}  {run.status:9}  {run.benchmark_id}  "
              f"{run.agent_name or ''} {run.agent_version or ''}".rstrip())
    return 0


def cmd_online(args: argparse.Namespace) -> int:
    """``eval online``: score a sampled share of production executions, every ``--interval`` seconds."""
    settings = EvaluationSettings.resolve(args)
    engine = _engine(args)
    project = _project(args, engine)
    if args.status:
        status = online_status(engine, project)
        print(f"scores stored: {status.scores}; executions: "
              + (", ".join(f"{n} {s}" for s, n in sorted(status.claims.items())) or "none looked at yet"))
        for name, at in sorted(status.watermarks.items()):
            print(f"watermark {name}: {at.isoformat()}")
        if status.last_scored_at:
            print(f"last scored at {status.last_scored_at.isoformat()}")
        return 0
    try:
        config = _online_config(args, settings)
        evaluator = OnlineEvaluator(engine, config, settings, project=project)
    except OnlineConfigError as exc:
        raise CommandError(str(exc)) from None
    if args.once:
        stats = evaluator.tick()
        print(f"{stats.candidates} execution(s) looked at: {stats.scored} scored ({stats.scores} scores), "
              f"{stats.skipped} skipped, {stats.failed} failed")
        return 0
    agents = ", ".join(f"{a.agent} at {a.sample_rate:.0%}" for a in config.agents)
    _note(f"online evaluation of {agents} every {config.interval:g} s (Ctrl-C stops)")
    stop = threading.Event()
    try:
        evaluator.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _online_config(args: argparse.Namespace, settings: EvaluationSettings) -> OnlineConfig:
    flags = args.agents or args.evaluators or args.sample_rate is not None
    if settings.online_config and not flags:
        config = load_online_config(settings.online_config)
    else:
        rate = 0.1 if args.sample_rate is None else args.sample_rate
        evaluators = tuple(args.evaluators) if args.evaluators else DEFAULT_EVALUATORS
        config = OnlineConfig(agents=tuple(OnlineAgentConfig(a, evaluators, rate) for a in (args.agents or ["*"])))
    if args.interval is not None:
        config = dataclasses.replace(config, interval=args.interval)
    return config


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
