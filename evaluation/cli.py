"""``agentotel eval``: run suites, compare runs, print reports, evaluate production traffic online. This
module declares the arguments; ``evaluation.commands`` does the work.

Exit status: 0 = fine, 1 = a regression was found (so ``eval run --baseline`` can gate CI),
2 = bad input (unknown run, malformed suite, agent that cannot be loaded, a database that cannot be
opened, a usage error).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from agentotel.core.cli_args import add_database_argument, add_project_argument


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
    run.add_argument("--agent-name", help="name to store the run under (default: the callable's or model's); with "
                     "--agent-version it links the run to that registry version, the gate's evidence")
    run.add_argument("--agent-version", default=None, help="version to store the run under (the registry version)")
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
    run.set_defaults(handler=_command("cmd_run"))

    compare = sub.add_parser("compare", help="compare run B with baseline run A; exit 1 on regression")
    compare.add_argument("run_a", metavar="RUN_A", help="baseline run id")
    compare.add_argument("run_b", metavar="RUN_B", help="current run id")
    _comparison_args(compare)
    compare.set_defaults(handler=_command("cmd_compare"))

    report = sub.add_parser("report", help="print a stored run's results")
    report.add_argument("run_id", metavar="RUN_ID")
    add_database_argument(report)
    add_project_argument(report)
    report.add_argument("--format", choices=("markdown", "json"), default="markdown")
    report.set_defaults(handler=_command("cmd_report"))

    runs = sub.add_parser("list", help="list stored runs, newest first")
    add_database_argument(runs)
    add_project_argument(runs)
    runs.add_argument("--agent-name")
    runs.add_argument("--limit", type=_positive_int, default=20)
    runs.set_defaults(handler=_command("cmd_list"))

    online = sub.add_parser("online", help="score a sampled share of production executions continuously")
    add_database_argument(online)
    add_project_argument(online)
    online.add_argument("--config", dest="online_config", metavar="FILE",
                        help="online evaluation config, YAML or JSON (default: AGENTOTEL_ONLINE_EVALUATION, else every "
                             "agent at --sample-rate with --evaluator)")
    online.add_argument("--agent", dest="agents", action="append", metavar="NAME",
                        help="evaluate this agent only (repeatable; without --config)")
    online.add_argument("--sample-rate", type=_rate, default=None, help="share of executions scored (default 0.1)")
    online.add_argument("--evaluator", action="append", dest="evaluators", metavar="NAME",
                        help="evaluator (repeatable; default relevance, coherence, toxicity; 'judge' needs a model)")
    online.add_argument("--interval", type=_positive_float, default=None, help="seconds between ticks (default 10)")
    online.add_argument("--once", action="store_true", help="one tick, then exit")
    online.add_argument("--status", action="store_true", help="print what online evaluation has done, then exit")
    online.add_argument("--api-key", help="API key for a judge (default OPENAI_API_KEY)")
    online.set_defaults(handler=_command("cmd_online"))


def _comparison_args(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)
    add_project_argument(parser)
    parser.add_argument("--threshold", type=_non_negative_float, default=None,
                        help="practical threshold for every metric: absolute for scores and pass rates, a share of "
                             "the baseline for latency/cost/counts (default per kind: 0.05 for scores, 10%% for "
                             "latency, 5%% for cost and counts)")
    parser.add_argument("--metric-threshold", action="append", dest="metric_thresholds", metavar="METRIC=VALUE",
                        type=_pair, default=[], help="practical threshold of one metric (repeatable)")
    parser.add_argument("--floor", action="append", dest="floors", metavar="METRIC_OR_KIND=VALUE", type=_pair,
                        default=[], help="absolute floor of a metric or kind, e.g. latency=5 (ms), cost=0.00001 (USD) "
                                         "(repeatable; a change below it is never a regression)")
    parser.add_argument("--tail", action="append", default=[], metavar="METRIC_OR_KIND",
                        help="also decide on the p95/p99 of this metric or kind, e.g. latency (repeatable)")
    parser.add_argument("--history", action="append", dest="history_metrics", default=[], metavar="METRIC",
                        help="also decide on this metric's mean against the agent's earlier runs of the suite (repeatable)")
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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _rate(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"a share in [0, 1], got {text}")
    return value


def _pair(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), _non_negative_float(value)


def _iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from None


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        # imported on use only: keeps `agentotel` start-up (and its other commands) free of the server stack
        from agentotel.evaluation import commands

        result: int = getattr(commands, name)(args)
        return result

    return handler
