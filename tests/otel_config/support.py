"""Shared helpers of the interop tests: real OTel SDK data, span rows, a temporary Prometheus."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import Engine, insert

from agentotel.warehouse.models import Span
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
OTEL_CONFIG = REPO / "otel-config"


def insert_span(
    engine: Engine,
    trace_id: str,
    span_id: str,
    execution_id: str | None = None,
    span_type: str = "llm",
    input: str | None = None,
    output: str | None = None,
    start: datetime | None = None,
) -> None:
    """A minimal ``spans`` row, written directly (unit tests of the writers that join onto spans)."""
    start = start or datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    start_ns = int(start.timestamp()) * 1_000_000_000
    with engine.begin() as conn:
        conn.execute(
            insert(Span.__table__),
            {
                "trace_id": trace_id, "span_id": span_id, "parent_span_id": None, "name": f"chat {span_id}",
                "kind": "CLIENT", "span_type": span_type, "service_name": "svc", "start_time": start,
                "end_time": start + timedelta(seconds=1), "duration_ms": 1000.0, "status_code": "UNSET",
                "execution_id": execution_id, "start_time_unix_nano": start_ns,
                "end_time_unix_nano": start_ns + 1_000_000_000, "input": input, "output": output,
            },
        )  # fmt: skip


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy (bounded in time); returns its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@contextmanager
def running_prometheus(tmp_path: Path, scrape_target: str, rule_files: list[Path] = ()) -> Iterator[str]:
    """A real Prometheus on a free loopback port scraping ``scrape_target`` (host:port) every second."""
    binary = shutil.which("prometheus")
    assert binary, "the Debian package `prometheus` is missing (.ci/system-packages installs it)"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    rules = "".join(f"\n  - {path}" for path in rule_files)
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        + (f"rule_files:{rules}\n" if rule_files else "")
        + f"scrape_configs:\n  - job_name: agentotel\n    static_configs:\n      - targets: ['{scrape_target}']\n"
    )
    storage = tmp_path / "prom-data"
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={storage}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        ready = wait_for(lambda: _ready(base), timeout=30)
        assert ready, f"prometheus did not become ready: {(tmp_path / 'prometheus.log').read_text()[-2000:]}"
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def promql(base: str, query: str) -> list[dict]:
    """Instant query through Prometheus' HTTP API; raises on an error answer (e.g. a parse error)."""
    answer = httpx.get(f"{base}/api/v1/query", params={"query": query}, timeout=5).json()
    if answer.get("status") != "success":
        raise AssertionError(f"{query!r}: {answer.get('errorType')}: {answer.get('error')}")
    return answer["data"]["result"]
