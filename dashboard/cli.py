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
from collections.abc import Mapping
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dashboard", help="run the Streamlit dashboard")
    parser.add_argument("--db", help="warehouse URL (default MONITORING_DB_URL or sqlite:///monitoring.db)")
    parser.add_argument("--host", default=os.environ.get("AGENTOTEL_DASHBOARD_HOST", "127.0.0.1"),
                        help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("AGENTOTEL_DASHBOARD_PORT", "8501")),
                        help="port (default 8501)")
    parser.add_argument("--receiver-metrics", metavar="URL",
                        help="the receiver's Prometheus endpoint for health figures (default http://127.0.0.1:9464/metrics)")
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


def streamlit_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line: headless, no usage statistics, no file watcher."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--global.developmentMode", "false",
        "--theme.base", "light",
    ]


def dashboard_env(db_url: str | None, base: Mapping[str, str] | None = None,
                  receiver_metrics: str | None = None) -> dict[str, str]:
    """The environment of the Streamlit process: the warehouse URL travels here, not on the command line."""
    from agentotel.dashboard.data import DB_URL_ENV, RECEIVER_METRICS_ENV

    env = dict(os.environ if base is None else base)
    if db_url:
        env[DB_URL_ENV] = db_url
    if receiver_metrics:
        env[RECEIVER_METRICS_ENV] = receiver_metrics
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    return env


def start_dashboard(db_url: str | None = None, host: str = "127.0.0.1", port: int = 8501,
                    receiver_metrics: str | None = None, **popen_kwargs) -> subprocess.Popen:
    """Start the dashboard as a child process and return it (the caller stops it)."""
    env = dashboard_env(db_url, receiver_metrics=receiver_metrics)
    return subprocess.Popen(streamlit_command(host, port), env=env, **popen_kwargs)


def run(args: argparse.Namespace) -> int:
    from agentotel.core.errors import CommandError
    from agentotel.dashboard import auth

    if args.hash_password or args.hash_api_key:
        secret = sys.stdin.readline().rstrip("\n")
        if not secret:
            raise CommandError("nothing on stdin to hash")
        print(auth.hash_password(secret) if args.hash_password else auth.hash_api_key(secret))
        return 0
    if not is_loopback(args.host) and not auth.AuthConfig.from_env().enabled and not args.allow_anonymous:
        raise CommandError(
            f"refusing to serve the dashboard on {args.host} without login: set AGENTOTEL_DASHBOARD_USERS or "
            "AGENTOTEL_DASHBOARD_API_KEYS (or pass --allow-anonymous)"
        )
    if not 0 < args.port < 65536:
        raise CommandError("--port must be between 1 and 65535")
    process = start_dashboard(args.db, args.host, args.port, args.receiver_metrics)
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
