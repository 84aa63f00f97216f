"""``agentotel up --demo`` as a newcomer meets it, for real: a subprocess on free loopback ports in an empty
directory (so monitoring.db and .agentotel-spool land there, as the README says).

One run of the platform serves the whole story (each start costs about a minute of the suite): each address
is printed only once it answers; the output is a handful of lines; within 60 s the warehouse has a delivered
alert notification, a promotion refused by the evaluation gate and a rollback; 7 days of history exist; the
dashboard shows them in Chromium; every live execution is scored online within 60 s of its end and the scores
show on the Evaluations page; Ctrl-C stops everything within 3 s with every port closed; a second run on the
same warehouse sends no second back-fill. Bad input is one line and exit 2.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import func, select

from tests.conftest import free_port
from tests.dashboard.demo_walk import walk_demo_dashboard
from tests.dashboard.support import dashboard_env
from tests.dashboard.test_browser import CHROMIUM
from tests.dashboard.test_pages import assert_clean, frames, run_page
from tests.support.polling import wait_for
from tests.support.priority import run_ahead

FIRST_MINUTE_S = 60.0
LIVE_WAIT_S = 240.0  # online evaluation starts once the 7 days are in; live turns follow every few seconds
STOP_S = 3.0
MAX_LINES = 8  # before any alert notification: header, receiver, dashboard, demo, open-first
NOISE = re.compile(r"Traceback|No runtime found|alembic|Uvicorn|You can now view|INFO|HTTP Request|Stopping")


def clean_env() -> dict[str, str]:
    """The test runner's environment without our settings: every default applies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOTEL_", "MONITORING_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Up:
    """``agentotel up`` in ``work`` (its own process group, like a terminal's foreground job); each output
    line with the second it was read."""

    def __init__(self, work: Path, *args: str) -> None:
        self.ports = {name: free_port() for name in ("grpc", "http", "metrics", "dashboard")}
        command = [sys.executable, "-m", "agentotel", "up", *args, "--grpc-port", str(self.ports["grpc"]),
                   "--http-port", str(self.ports["http"]), "--metrics-port", str(self.ports["metrics"]),
                   "--dashboard-port", str(self.ports["dashboard"])]
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, cwd=work, env=clean_env(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        run_ahead(self.process.pid)  # its first minute and its stop are held to bounds
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic() - self.started, line.rstrip("\n")))

    def output(self) -> str:
        return "\n".join(f"{at:5.1f} s  {line}" for at, line in self.lines)

    def wait_for(self, pattern: str, timeout: float = FIRST_MINUTE_S) -> str:
        """The first line matching ``pattern``, polled every 0.05 s until ``timeout`` s after start."""

        def matching() -> str | None:
            found = next((line for _, line in list(self.lines) if re.search(pattern, line)), None)
            assert found or self.process.poll() is None, f"exited with {self.process.returncode}:\n{self.output()}"
            return found

        found = wait_for(matching, timeout=self.started + timeout - time.monotonic(), interval=0.05)
        assert found, f"no line like {pattern!r} within {timeout:.0f} s:\n{self.output()}"
        return found

    def listening(self) -> set[int]:
        """The TCP ports the process tree listens on now (receiver, /metrics, dashboard, the fake LLM)."""
        root = psutil.Process(self.process.pid)
        tree = [root, *root.children(recursive=True)]
        return {c.laddr.port for p in tree for c in p.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}

    def interrupt(self, group: bool) -> float:
        """Ctrl-C: SIGINT to the process group (a terminal) or to ``up`` alone; seconds until it exited."""
        started = time.monotonic()
        if group:
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running 10 s after SIGINT:\n{self.output()}") from None
        self._reader.join(5)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def answers(url: str, expect: str | None = None) -> bool:
    try:
        response = httpx.get(url, timeout=2, trust_env=False)
    except httpx.HTTPError:
        return False
    return expect is None or response.text.strip() == expect


def port_free(port: int) -> bool:
    """Nothing listens on ``port``: a server could bind it (SO_REUSEADDR, as servers do: closed
    connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def poll(check, timeout: float, what: str, up: Up):
    """``check()``'s first truthy result, polled every 0.5 s until ``timeout`` s after ``up`` started."""

    def checked():
        result = check()
        assert result or up.process.poll() is None, f"exited while waiting for {what}:\n{up.output()}"
        return result

    result = wait_for(checked, timeout=up.started + timeout - time.monotonic(), interval=0.5)
    assert result, f"no {what} within {timeout:.0f} s:\n{up.output()}"
    return result


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI", "") == "",
                    reason="Debian chromium is not installed (.ci/system-packages installs it)")
def test_up_demo_story_ctrl_c_and_a_second_run(tmp_path, monkeypatch):
    from agentotel.warehouse.alerting_models import AlertNotification
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.models import AgentExecution, EvaluationRun, Span
    from agentotel.warehouse.registry_models import RegistryAuditEntry, RegistryDeployment

    first_start = datetime.now(timezone.utc)
    up = Up(tmp_path, "--demo")
    try:
        header = up.wait_for(r"^agentotel up: warehouse")
        assert str(tmp_path / "monitoring.db") in header and str(tmp_path / ".agentotel-spool") in header

        line = up.wait_for(r"^receiver:")  # every address in it answers the moment it is printed
        metrics = re.search(r"Prometheus (\S+)", line).group(1)
        otlp_http = re.search(r"OTLP/HTTP (\S+)", line).group(1)
        assert metrics == f"http://127.0.0.1:{up.ports['metrics']}/metrics" and answers(metrics)
        assert otlp_http == f"http://127.0.0.1:{up.ports['http']}" and answers(otlp_http)
        dashboard = up.wait_for(r"^dashboard:").split()[-1]
        assert dashboard == f"http://127.0.0.1:{up.ports['dashboard']}"
        assert answers(f"{dashboard}/_stcore/health", "ok")

        assert re.match(r"demo: +7 days of history sent \([\d,]+ agent runs", up.wait_for(r"^demo:"))
        first = up.wait_for(r"^open this first:")
        assert first.split()[3] == f"{dashboard}/" and answers(f"{dashboard}/")

        engine = create_db_engine(f"sqlite:///{tmp_path}/monitoring.db")

        def delivered():
            with engine.connect() as conn:
                return conn.execute(select(AlertNotification.channel, AlertNotification.status)).all()

        notifications = poll(lambda: [n for n in delivered() if n.status == "delivered"], FIRST_MINUTE_S,
                             "delivered alert notification", up)
        assert {n.channel for n in notifications} == {"console"} and "dead" not in {n.status for n in delivered()}
        up.wait_for(r"WARNING agentotel\.alerts: \[FIRING\] warning: sql-agent-errors sql-agent fails \d+% ")

        def story():
            with engine.connect() as conn:
                refused = conn.execute(select(RegistryAuditEntry.agent_version, RegistryAuditEntry.environment).where(
                    RegistryAuditEntry.outcome == "refused")).all()
                rollbacks = conn.execute(select(RegistryDeployment.agent_name, RegistryDeployment.environment).where(
                    RegistryDeployment.action == "rollback")).all()
            return (refused, rollbacks) if refused and rollbacks else None

        refused, rollbacks = poll(story, FIRST_MINUTE_S, "gate refusal and rollback", up)
        assert [r.agent_version for r in refused] == ["1.3.0"] and refused[0].environment in ("staging", "prod")
        assert [tuple(r) for r in rollbacks] == [("research-agent", "dev")]
        assert time.monotonic() - up.started < FIRST_MINUTE_S

        now = datetime.now(timezone.utc)
        with engine.connect() as conn:
            stamps = [t.replace(tzinfo=timezone.utc) for t in conn.execute(select(AgentExecution.timestamp)).scalars()]
            turns = conn.execute(select(AgentExecution.conversation_id, AgentExecution.user_id).where(
                AgentExecution.conversation_id.is_not(None))).all()
            failed = conn.execute(select(func.count()).where(AgentExecution.success.is_(False))).scalar_one()
        days = Counter((now - t).days for t in stamps)
        assert [d for d in range(7) if days[d] < 100] == [] and min(stamps) < now - timedelta(days=6, hours=23)
        assert sum(t > now - timedelta(hours=1) for t in stamps) > 30  # "Last hour" is not empty
        assert max(Counter(c for c, _ in turns).values()) >= 3 and len({u for _, u in turns}) >= 10 and failed > 50

        walk_demo_dashboard(dashboard)
        check_online_scores(up, engine, first_start, monkeypatch)

        before_stop = [line for _, line in up.lines if "agentotel.alerts" not in line]
        assert len(before_stop) <= MAX_LINES, up.output()
        assert not [line for _, line in up.lines if NOISE.search(line)], up.output()

        ports = up.listening()
        children = psutil.Process(up.process.pid).children(recursive=True)
        assert set(up.ports.values()) <= ports and len(ports) >= 5  # + the demo's fake LLM
        assert up.interrupt(group=False) < STOP_S  # `kill -INT`: up stops its children itself
        assert [port for port in ports if not port_free(port)] == []
        assert [c.pid for c in children if psutil.pid_exists(c.pid) and c.status() != psutil.STATUS_ZOMBIE] == []
        # under the suite's load the receiver may hand what it has not written yet to its spool (said on the
        # line, written at the next start: the second run below counts it); the 3 s bound holds either way
        assert re.match(r"stopped in \d\.\d s(; the spool holds what was not yet written \(written on next start\))?$",
                        up.lines[-1][1]), up.output()
        assert up.process.returncode == 0
    finally:
        up.kill()

    def counts():
        with engine.connect() as conn:
            return (conn.execute(select(func.count()).select_from(Span).where(
                        Span.start_time < first_start - timedelta(minutes=2))).scalar_one(),
                    conn.execute(select(func.count()).select_from(EvaluationRun)).scalar_one(),
                    conn.execute(select(func.count()).select_from(RegistryDeployment)).scalar_one(),
                    conn.execute(select(func.count()).select_from(RegistryAuditEntry).where(
                        RegistryAuditEntry.outcome == "refused")).scalar_one())

    before = counts()
    again = Up(tmp_path, "--demo")
    try:
        again.wait_for(r"^demo:")
        again.wait_for(r"^open this first:")
        assert again.interrupt(group=True) < STOP_S  # a terminal's Ctrl-C reaches the whole group
    finally:
        again.kill()
    after = counts()
    # no second back-fill (it would add ~20k history spans): at most a few spans the first run had acknowledged
    # but not yet drained from its spool when it stopped; the same evaluation runs, deployments and refusals
    assert before[0] <= after[0] < before[0] + 100 and after[1:] == before[1:], (before, after)
    engine.dispose()


def check_online_scores(up: Up, engine, started: datetime, monkeypatch) -> None:
    """Online evaluation (issue 18, done when): every live execution of the demo is looked at, and the sampled
    ones scored, within 60 s of its end; the scores show on the Evaluations page, per agent version."""
    from agentotel.warehouse.evaluation_models import EvaluationResultRecord, OnlineClaim
    from agentotel.warehouse.models import AgentExecution

    def settled():
        # five live executions scored, and one that ended over a minute ago (so the 60 s rule is tested)
        with engine.connect() as conn:
            scored = conn.execute(select(func.count(func.distinct(EvaluationResultRecord.execution_id))).where(
                EvaluationResultRecord.execution_time >= started)).scalar_one()
            oldest_end = conn.execute(select(func.min(AgentExecution.end_time)).where(
                AgentExecution.timestamp >= started)).scalar_one()
        return scored >= 5 and oldest_end is not None and (
            datetime.now(timezone.utc) - oldest_end.replace(tzinfo=timezone.utc)).total_seconds() > 60

    poll(settled, LIVE_WAIT_S, "five live executions scored online, one ended a minute ago", up)
    with engine.connect() as conn:
        now = datetime.now(timezone.utc)
        live = conn.execute(select(AgentExecution.id, AgentExecution.end_time).where(
            AgentExecution.timestamp >= started, AgentExecution.end_time.is_not(None))).all()
        claims = dict(conn.execute(select(OnlineClaim.execution_id, OnlineClaim.status).where(
            OnlineClaim.execution_time >= started)).all())
        scored = dict(conn.execute(select(EvaluationResultRecord.execution_id,
                                          func.min(EvaluationResultRecord.evaluated_at)).where(
            EvaluationResultRecord.execution_time >= started).group_by(EvaluationResultRecord.execution_id)).all())
    ends = {execution_id: end for execution_id, end in live}
    overdue = [e for e, end in ends.items() if (now - end.replace(tzinfo=timezone.utc)).total_seconds() > 60
               and e not in claims]
    assert not overdue, f"{len(overdue)} of {len(ends)} live executions not looked at within 60 s"
    delays = sorted((scored[e] - ends[e]).total_seconds() for e in scored if e in ends)
    assert delays and delays[-1] <= 60, delays
    print(f"\nup --demo: {len(delays)} live executions scored online, delay after their end: "
          f"median {delays[len(delays) // 2]:.1f} s, max {delays[-1]:.1f} s")

    dashboard_env(monkeypatch, str(engine.url))
    at = run_page("evaluations", ev_online_window="Last hour")
    assert_clean(at)
    per_version = frames(at)[-1]
    assert {"agent_name", "agent_version", "executions", "mean"} <= set(per_version.columns)
    assert per_version["executions"].sum() >= 5


@pytest.mark.slow  # four cold starts of the CLI: ~25 s on the 2-core machine
def test_bad_input_is_one_line_and_exit_2(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        taken = str(busy.getsockname()[1])
        cases = {
            ("--no-dashboard", "--rules", str(tmp_path / "missing.yaml")): "alert rules not loaded",
            ("--dashboard-port", taken): f"the dashboard's port {taken}",
            ("--no-dashboard", "--grpc-port", taken): "the receiver did not start",
            ("--no-dashboard", "--retention", "soon"): "soon",
        }
        for args, expected in cases.items():
            ports = [] if "--grpc-port" in args else ["--grpc-port", str(free_port())]
            ports += [] if "--dashboard-port" in args else ["--dashboard-port", str(free_port())]
            result = subprocess.run([sys.executable, "-m", "agentotel", "up", *args, *ports, "--http-port",
                                     str(free_port()), "--metrics-port", str(free_port())],
                                    cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
            lines = (result.stdout + result.stderr).strip().splitlines()
            assert result.returncode == 2, (args, result.stdout, result.stderr)
            assert lines[-1].startswith("agentotel: error: ") and expected in lines[-1], (args, lines)
            assert "Traceback" not in result.stderr and len(lines) <= 3, (args, lines)
    finally:
        busy.close()
