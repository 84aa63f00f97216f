"""A real Prometheus Alertmanager (Debian package ``prometheus-alertmanager``) on loopback receives our
alerts through the queue and lists them through its API."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from agentotel.alerting.channels.alertmanager import AlertmanagerHandler
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.queue import NotificationQueue, QueueSettings
from agentotel.alerting.ssrf import AddressPolicy
from tests.conftest import ON_CI, free_port
from tests.support.polling import wait_for

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
CONFIG = """
route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
"""


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    if BINARY is None:
        if ON_CI:
            pytest.fail("prometheus-alertmanager is not installed (.ci/system-packages installs it)")
        pytest.skip("prometheus-alertmanager is not installed")
    workdir = tmp_path_factory.mktemp("alertmanager")
    (workdir / "alertmanager.yml").write_text(CONFIG)
    port = free_port()
    proc = subprocess.Popen(
        [BINARY, f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_for(lambda: _ready(url, proc), timeout=20, interval=0.1):
            proc.kill()
            raise RuntimeError(f"alertmanager did not start: {proc.stderr.read().decode()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _ready(url: str, proc: subprocess.Popen) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"alertmanager exited: {proc.stderr.read().decode()[-2000:]}")
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def listed(url: str, alertname: str, **params) -> list[dict]:
    response = httpx.get(f"{url}/api/v2/alerts", params={"filter": f'alertname="{alertname}"', **params}, timeout=5)
    response.raise_for_status()
    return response.json()


@pytest.mark.slow
def test_alertmanager_receives_lists_and_resolves(sqlite_engine, alertmanager):
    engine = sqlite_engine
    handler = AlertmanagerHandler("am", {"url": alertmanager}, AddressPolicy(["127.0.0.1"]))
    queue = NotificationQueue(engine, {"am": handler}, QueueSettings(backoff_base=_seconds(0.1)))
    manager = AlertManager(engine, queue=queue)
    rule = f"agent-errors-{engine.dialect.name}"
    alert_id = manager.create_alert(rule, "critical", "error rate 12%", {"agent": "support-bot", "gen_ai.system": "openai"},
                                    value=0.12)
    queue.enqueue(manager.get_alert(alert_id), "am")
    assert queue.drain(timeout=10) == 1
    [alert] = listed(alertmanager, rule)
    assert alert["labels"] == {"alertname": rule, "severity": "critical", "agent": "support-bot",
                               "gen_ai_system": "openai"}
    assert alert["annotations"]["summary"] == "error rate 12%" and alert["annotations"]["value"] == "0.12"
    assert alert["status"]["state"] == "active"
    manager.resolve_alert(alert_id, by="alice")  # queues the resolve (endsAt) to the channel that got the trigger
    queue.drain(timeout=10)
    assert wait_for(lambda: listed(alertmanager, rule) == [], timeout=5, interval=0.1)  # resolved: no longer active


def _seconds(value: float):
    from datetime import timedelta

    return timedelta(seconds=value)


@pytest.mark.slow
def test_an_alert_sent_again_after_a_crash_is_one_alert_in_alertmanager(engine, alertmanager):
    """At-least-once: a worker that dies after sending but before marking the row sends it again once the
    lease runs out; Alertmanager identifies alerts by their labels, so it still lists one alert."""
    from datetime import timedelta

    from sqlalchemy import update

    from agentotel.alerting.store import NOTIFICATIONS
    from agentotel.core.utc import utcnow

    handler = AlertmanagerHandler("am", {"url": alertmanager}, AddressPolicy(["127.0.0.1"]))
    settings = QueueSettings(backoff_base=_seconds(0.1), lease=timedelta(seconds=1))
    first = NotificationQueue(engine, {"am": handler}, settings)
    manager = AlertManager(engine, queue=first)
    rule = f"crash-twice-{engine.dialect.name}"
    alert_id = manager.create_alert(rule, "critical", "down", {"agent": "support-bot"})
    first.enqueue(manager.get_alert(alert_id), "am")
    assert first.drain(timeout=10) == 1
    with engine.begin() as conn:  # as if the worker died between the POST and marking the row delivered
        conn.execute(update(NOTIFICATIONS).values(status="sending", lease_until=utcnow() - timedelta(seconds=1)))
    second = NotificationQueue(engine, {"am": handler}, settings)
    assert second.drain(timeout=10) == 1  # sent again ...
    assert len(listed(alertmanager, rule)) == 1  # ... and still one alert
