"""``agentotel dashboard [--db URL] [--host 127.0.0.1] [--port 8501]``: run the Streamlit app headless.

``--hash-password`` / ``--hash-api-key`` print the hashed entries for ``AGENTOTEL_DASHBOARD_USERS`` /
``AGENTOTEL_DASHBOARD_API_KEYS`` (the secret is read from stdin, never from the command line).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from agentotel.core.cli_args import add_database_argument
from agentotel.core.errors import CommandError
from agentotel.core.settings import (
    DASHBOARD_DB_URL_ENV,
    DASHBOARD_RECEIVER_METRICS_ENV,
    DashboardSettings,
    child_environment,
)
from agentotel.dashboard import auth
from agentotel.dashboard.oidc import OidcConfig, secrets_toml

APP = Path(__file__).resolve().parent / "app.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dashboard", help="run the Streamlit dashboard")
    add_database_argument(parser)
    parser.add_argument("--host", help="address to bind (default: AGENTOTEL_DASHBOARD_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: AGENTOTEL_DASHBOARD_PORT or 8501)")
    parser.add_argument("--receiver-metrics", metavar="URL",
                        help="the receiver's Prometheus endpoint for health figures "
                             "(default: AGENTOTEL_DASHBOARD_RECEIVER_METRICS_URL or http://127.0.0.1:9464/metrics)")
    parser.add_argument("--allow-anonymous", action="store_true",
                        help="allow a non-loopback --host without users or API keys configured")
    parser.add_argument("--hash-password", action="store_true",
                        help="read a password from stdin and print its hash for AGENTOTEL_DASHBOARD_USERS")
    parser.add_argument("--hash-api-key", action="store_true",
                        help="read an API key from stdin and print its hash for AGENTOTEL_DASHBOARD_API_KEYS")
    parser.set_defaults(handler=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def streamlit_command(host: str, port: int, quiet: bool = False, secrets_file: str | None = None) -> list[str]:
    """The ``streamlit run`` command line (through ``serve``): headless, no usage statistics, no file watcher; ``quiet`` logs
    errors only (``agentotel up`` without ``-v``); ``secrets_file``: the OIDC login's ``[auth]`` section."""
    return [
        sys.executable, "-m", "agentotel.dashboard.serve", "run", str(APP),  # Streamlit's CLI, imports warmed first
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--global.developmentMode", "false",
        "--theme.base", "light",
        *(("--logger.level", "error") if quiet else ()),
        *(("--secrets.files", secrets_file) if secrets_file else ()),
    ]


def dashboard_env(db_url: str | None, base: Mapping[str, str] | None = None,
                  receiver_metrics: str | None = None) -> dict[str, str]:
    """The environment of the Streamlit process: the warehouse URL travels here, not on the command line."""
    overrides = {DASHBOARD_DB_URL_ENV: db_url, DASHBOARD_RECEIVER_METRICS_ENV: receiver_metrics}
    env = child_environment({k: v for k, v in overrides.items() if v}, base)
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    return env


def start_dashboard(db_url: str | None = None, host: str = "127.0.0.1", port: int = 8501,
                    receiver_metrics: str | None = None, quiet: bool = False, secrets_file: str | None = None,
                    **popen_kwargs) -> subprocess.Popen:
    """Start the dashboard as a child process and return it (the caller stops it). ``quiet``: errors only,
    and Streamlit's banner ("You can now view your Streamlit app…", "Stopping…") not printed."""
    env = dashboard_env(db_url, receiver_metrics=receiver_metrics)
    if quiet:
        popen_kwargs.setdefault("stdout", subprocess.DEVNULL)
    return subprocess.Popen(streamlit_command(host, port, quiet, secrets_file), env=env, **popen_kwargs)


def write_oidc_secrets(settings: DashboardSettings, directory: str) -> str | None:
    """The OIDC login's ``secrets.toml`` (mode 0600) in ``directory``, or None without OIDC settings."""
    try:
        config = OidcConfig.from_settings(settings)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if config is None:
        return None
    path = os.path.join(directory, "secrets.toml")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets_toml(config))
    return path


def refuse_exposure(settings: DashboardSettings, allow_anonymous: bool = False) -> None:
    """``CommandError`` when the dashboard would listen beyond loopback with no login configured."""
    if not is_loopback(settings.host) and not auth.AuthConfig.from_settings(settings).enabled and not allow_anonymous:
        raise CommandError(
            f"refusing to serve the dashboard on {settings.host} without login: set AGENTOTEL_DASHBOARD_USERS or "
            "AGENTOTEL_DASHBOARD_API_KEYS (or pass --allow-anonymous)"
        )
    if not 0 < settings.port < 65536:
        raise CommandError("--port must be between 1 and 65535")


def run(args: argparse.Namespace) -> int:
    from agentotel.warehouse.engine import open_warehouse  # here: the other commands start without Alembic

    if args.hash_password or args.hash_api_key:
        secret = sys.stdin.readline().rstrip("\n")
        if not secret:
            raise CommandError("nothing on stdin to hash")
        print(auth.hash_password(secret) if args.hash_password else auth.hash_api_key(secret))
        return 0
    settings = DashboardSettings.resolve(args)
    refuse_exposure(settings, args.allow_anonymous)
    open_warehouse(settings.database).dispose()  # the pages read a reachable, migrated warehouse
    with tempfile.TemporaryDirectory(prefix="agentotel-dashboard-") as private:  # 0700: the OIDC client secret
        secrets_file = write_oidc_secrets(settings, private)
        process = start_dashboard(settings.database.url, settings.host, settings.port, settings.receiver_metrics_url,
                                  secrets_file=secrets_file)
        # Being stopped (SIGTERM from `agentotel up`, a supervisor, a test) stops Streamlit too: no orphans.
        signal.signal(signal.SIGTERM, lambda *_: process.terminate())
        try:
            return process.wait()
        except KeyboardInterrupt:
            _stop(process)
            return 130


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
