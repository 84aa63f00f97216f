"""The receiver in tests, started one of two ways only.

- In process: ``start_receiver(db_url, spool_dir, **settings)`` (the caller stops it) or the context manager
  ``running_receiver(...)``; every port free on loopback. ``tests/otlp_receiver/conftest.py`` builds the
  ``receiver`` fixture on it.
- As ``agentotel receive`` in a subprocess: ``ReceiverProcess`` (a context manager; ``start()`` returns
  once the gRPC port accepts connections, and fails at once if the process exits first).
"""

from __future__ import annotations

import dataclasses
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentotel.core.settings import ReceiverSettings
from agentotel.otlp_receiver.server import ReceiverServer
from tests.conftest import free_port
from tests.support.polling import wait_for
from tests.support.priority import run_ahead


def start_receiver(db_url: str, spool_dir: str, **overrides) -> ReceiverServer:
    """A started in-process receiver on free loopback ports; ``overrides`` are ``ReceiverSettings`` fields."""
    settings = dataclasses.replace(
        ReceiverSettings(),
        host="127.0.0.1",
        grpc_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
        spool_dir=spool_dir,
        **overrides,
    )
    return ReceiverServer(db_url, settings).start()


@contextmanager
def running_receiver(db_url: str, spool_dir: str, **overrides) -> Iterator[ReceiverServer]:
    """``start_receiver`` for the length of a ``with`` block."""
    server = start_receiver(db_url, spool_dir, **overrides)
    try:
        yield server
    finally:
        server.stop()


class ReceiverProcess:
    """``agentotel receive`` in a subprocess on loopback ports (free ones unless given), its output appended to
    ``log``. A new instance with the same ``grpc_port``, database and spool is a restart."""

    def __init__(self, db_url: str, spool_dir: Path | str, log: Path, *, grpc_port: int | None = None) -> None:
        self.db_url, self.spool_dir, self.log = db_url, Path(spool_dir), Path(log)
        self.grpc_port = grpc_port or free_port()
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 40.0) -> float:
        """Spawn it and wait until its gRPC port accepts connections; returns the seconds that took."""
        started = time.monotonic()
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentotel", "receive", "--db", self.db_url, "--host", "127.0.0.1",
                 "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
                 "--metrics-port", str(self.metrics_port), "--spool-dir", str(self.spool_dir)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        run_ahead(self.proc.pid)  # its readiness is held to D1's 5 s
        if not wait_for(self._listening, timeout=timeout):
            raise AssertionError(f"receiver did not listen on {self.grpc_port} within {timeout} s:\n{self.log_tail()}")
        return time.monotonic() - started

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"receiver exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            socket.create_connection(("127.0.0.1", self.grpc_port), 0.2).close()
            return True
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, timeout: float = 10.0) -> None:
        """``kill -9`` and reap it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate it (SIGTERM, the orderly shutdown), killing it if it does not exit within ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def __enter__(self) -> ReceiverProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
