"""``agentotel dashboard``: loopback by default (S4), refuses an open bind without login, the warehouse URL
travels in the environment (not the process list), and the hash helpers read secrets from stdin."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentotel.cli import build_parser
from agentotel.core.settings import DashboardSettings
from agentotel.dashboard import auth
from agentotel.dashboard.cli import dashboard_env, is_loopback, streamlit_command
from agentotel.dashboard.data import DB_URL_ENV


def _agentotel(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentotel", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=env)


def test_defaults_bind_loopback_headless(monkeypatch):
    monkeypatch.delenv("AGENTOTEL_DASHBOARD_HOST", raising=False)
    monkeypatch.delenv("AGENTOTEL_DASHBOARD_PORT", raising=False)
    settings = DashboardSettings.resolve(build_parser().parse_args(["dashboard"]))
    assert (settings.host, settings.port) == ("127.0.0.1", 8501)
    command = streamlit_command(settings.host, settings.port)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_database_url_goes_through_the_environment():
    url = "postgresql://monitor:s3cret@db.internal/warehouse"
    env = dashboard_env(url, base={"PATH": "/usr/bin"})
    assert env[DB_URL_ENV] == url
    assert url not in " ".join(streamlit_command("127.0.0.1", 8501))


@pytest.mark.slow
def test_refuses_open_bind_without_login(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = _agentotel("dashboard", "--host", "0.0.0.0", "--port", "9", env=env)
    assert result.returncode == 2
    assert "without login" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_hash_helpers_read_stdin():
    result = _agentotel("dashboard", "--hash-password", stdin="hunter22\n")
    assert result.returncode == 0
    encoded = result.stdout.strip()
    assert "hunter22" not in encoded and auth.verify_password("hunter22", encoded)
    result = _agentotel("dashboard", "--hash-api-key", stdin="key-abc\n")
    assert result.stdout.strip() == auth.hash_api_key("key-abc")
    assert _agentotel("dashboard", "--hash-password", stdin="").returncode == 2
