"""Ingest cost of encryption at rest: the receiver's trace pipeline (normalize → cost → redact → sample →
[encrypt] → write) over the same batches of GenAI spans with captured content, into a fresh warehouse, with
and without a master key, rounds interleaved (off, on, off, on …) so load drifts hit both alike.

One command: ``.venv/bin/python benchmarks/encryption.py [--db sqlite|postgresql|URL] [--spans 20000] [--rounds 3]``
(``postgresql``: a fresh database per round on ``AGENTOTEL_BENCH_PG``'s server, dropped after it).
Bounded: at most ``--rounds`` rounds of ``--spans`` spans each, and no new round after ``--max-seconds``.
Prints spans per second of each, the cost of encryption and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentotel.core.settings import DatabaseSettings  # noqa: E402
from agentotel.processors.pipeline import build_trace_pipeline  # noqa: E402
from agentotel.processors.records import SpanBatch, SpanRecord  # noqa: E402
from agentotel.warehouse.content_keys import new_master_key  # noqa: E402
from agentotel.warehouse.engine import open_warehouse  # noqa: E402

BATCH = 500
QUESTION = "Where is my order {n}? I ordered a blender last week and the tracking page says nothing since. " * 3
ANSWER = "Order {n} ships tomorrow from Rotterdam; the carrier will send a tracking link by e-mail. " * 3


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def batches(spans: int) -> list[list[SpanRecord]]:
    """Agent → LLM → tool traces (a third of the spans each), content on every span: ~1 KB per LLM span."""
    out: list[list[SpanRecord]] = []
    now = time.time_ns()
    current: list[SpanRecord] = []
    for n in range(spans // 3):
        trace, root = secrets.token_hex(16), secrets.token_hex(8)
        start = now - (spans - n) * 1_000_000
        common = {"gen_ai.agent.name": "support-agent", "gen_ai.conversation.id": f"c{n % 50}"}
        for name, parent, attributes in (
            ("invoke_agent support-agent", None, {"gen_ai.operation.name": "invoke_agent", **common,
                                                   "gen_ai.input.messages": _messages("user", QUESTION.format(n=n))}),
            ("chat gpt-4o-mini", root, {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 120,
                                        "gen_ai.usage.output_tokens": 40,
                                        "gen_ai.input.messages": _messages("user", QUESTION.format(n=n)),
                                        "gen_ai.output.messages": _messages("assistant", ANSWER.format(n=n))}),
            ("execute_tool lookup_order", root, {"gen_ai.operation.name": "execute_tool",
                                                 "gen_ai.tool.name": "lookup_order",
                                                 "gen_ai.tool.call.arguments": json.dumps({"order_id": n}),
                                                 "gen_ai.tool.call.result": json.dumps({"status": "shipped"})}),
        ):
            current.append(SpanRecord(
                trace_id=trace, span_id=root if parent is None else secrets.token_hex(8), parent_span_id=parent,
                name=name, kind="INTERNAL", start_ns=start, end_ns=start + 500_000_000, status_code="OK",
                status_message=None, attributes=dict(attributes), resource_attributes={"service.name": "shop"},
                events=[], links=[], service_name="shop"))
            if len(current) >= BATCH:
                out.append(current)
                current = []
    if current:
        out.append(current)
    return out


def _copy(batch: list[SpanRecord]) -> SpanBatch:
    return SpanBatch(spans=[SpanRecord(**{**{f: getattr(s, f) for f in SpanRecord.__slots__},  # type: ignore[attr-defined]
                                          "attributes": dict(s.attributes), "events": []}) for s in batch])


PG_ADMIN = os.environ.get("AGENTOTEL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _fresh_postgres() -> tuple[str, Callable[[], None]]:
    """An empty PostgreSQL database for one round, and how to drop it."""
    import psycopg

    name = f"agentotel_enc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", drop


def one_round(db: str, tmp: str, data: list[list[SpanRecord]], master_key: str | None, tag: str) -> float:
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if db == "sqlite":
        url = f"sqlite:///{tmp}/{tag}.db"
    elif db == "postgresql":
        url, drop = _fresh_postgres()
    else:
        url = db
    engine = open_warehouse(DatabaseSettings(url=url, master_key=master_key))
    try:
        pipeline = build_trace_pipeline(engine)
        copies = [_copy(batch) for batch in data]  # the pipeline mutates records
        start = time.perf_counter()
        for batch in copies:
            pipeline.consume(batch)
        return sum(len(b) for b in copies) / (time.perf_counter() - start)
    finally:
        engine.dispose()
        drop()


def stage_alone(tmp: str, data: list[list[SpanRecord]], master_key: str) -> float:
    """Microseconds per span of the encryption step alone (the same spans, after normalization)."""
    from agentotel.processors.encrypt import Encrypt
    from agentotel.processors.normalize import Normalize
    from agentotel.warehouse.content_keys import Keyring

    engine = open_warehouse(DatabaseSettings(url=f"sqlite:///{tmp}/stage.db"))
    try:
        step = Encrypt(Keyring(engine, master_key))
        normalized = [Normalize().process(_copy(batch)) for batch in data]
        step.keyring.key_id()  # the data key made and cached first, as in a running receiver
        start = time.perf_counter()
        for batch in normalized:
            step.process(batch)
        return (time.perf_counter() - start) / sum(len(b) for b in normalized) * 1e6
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a fresh file per round), 'postgresql' (a fresh "
                        "database per round) or an EMPTY database URL")
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args()
    if args.db not in ("sqlite", "postgresql") and args.rounds != 1:
        parser.error("a database URL holds one round (it is not emptied between rounds): use --rounds 1")
    data = batches(args.spans)
    key = new_master_key()
    results: dict[str, list[float]] = {"off": [], "on": []}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agentotel-enc-") as tmp:
        for i in range(args.rounds):
            if time.perf_counter() - began > args.max_seconds:
                break
            for label, master in (("off", None), ("on", key)):
                rate = one_round(args.db, tmp, data, master, f"{label}{i}")
                results[label].append(rate)
                print(f"round {i + 1} encryption {label:3}: {rate:8.0f} spans/s")
        per_span = stage_alone(tmp, data, key)
    off, on = statistics.median(results["off"]), statistics.median(results["on"])
    load = os.getloadavg()
    print(f"\n{args.spans} spans per round, batches of {BATCH}, {len(results['on'])} rounds, database {args.db}")
    print(f"median spans/s: off {off:.0f}, on {on:.0f}; encryption costs {(1 - on / off) * 100:.1f} % of throughput")
    print(f"the encryption step alone: {per_span:.1f} µs per span ({1e6 / per_span:.0f} spans/s of one core), i.e. "
          f"{per_span * off / 1e4:.1f} % of the pipeline's time per span at the 'off' rate")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
