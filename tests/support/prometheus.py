"""A real Prometheus for tests (the Debian package): started on a free loopback port, queried with PromQL."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.support.polling import wait_for


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
