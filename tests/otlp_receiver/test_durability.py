"""RELIABILITY.md §2: nothing acknowledged is lost — kill -9 mid-stream, a locked SQLite, a PostgreSQL outage."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.models import Span
from tests.conftest import drop_postgres_database, free_port, new_postgres_database
from tests.otlp_receiver.support import count
from tests.support.polling import wait_for
from tests.support.receiver import ReceiverProcess, start_receiver

pytestmark = pytest.mark.slow  # subprocess soaks: kill -9 mid-stream, a locked SQLite, a PostgreSQL outage, a full disk

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
T0 = time.time_ns() - 3600 * 10**9


def batch(n: int, seed: int) -> tuple[bytes, set[str]]:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    ids = set()
    for i in range(n):
        span_id = os.urandom(8)
        ids.add(span_id.hex())
        scope.spans.add(trace_id=os.urandom(16), span_id=span_id, name=f"chat {seed}-{i}",
                        start_time_unix_nano=T0 + i, end_time_unix_nano=T0 + i + 1000)  # fmt: skip
    return request.SerializeToString(), ids


def stored_span_ids(db_url: str) -> set[str]:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(select(Span.span_id))}
    finally:
        engine.dispose()


def test_kill_9_loses_nothing_acknowledged(db_url, tmp_path):
    spool, log = tmp_path / "spool", tmp_path / "receiver.log"
    receiver = ReceiverProcess(db_url, spool, log)
    receiver.start(timeout=30)
    port = receiver.grpc_port
    acked: set[str] = set()
    stop = threading.Event()

    def send() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(METHOD)
            for seed in range(2000):
                if stop.is_set():
                    return
                body, ids = batch(100, seed)
                try:
                    call(body, timeout=5)
                except grpc.RpcError:
                    return  # not acknowledged: the client would retry it (that is D2)
                acked.update(ids)

    sender = threading.Thread(target=send)
    sender.start()
    assert wait_for(lambda: len(acked) >= 3000, timeout=30)
    receiver.kill()  # kill -9, mid-stream
    stop.set()
    sender.join(10)
    assert acked, "nothing was acknowledged before the kill"

    restarted = ReceiverProcess(db_url, spool, log, grpc_port=port)
    try:
        ready = restarted.start(timeout=30)
        assert ready <= 5.0, f"ready after {ready:.1f} s"
        assert wait_for(lambda: acked <= stored_span_ids(db_url), timeout=30), log.read_text()[-2000:]
        # D2: the client re-sends an already acknowledged batch: no duplicate rows
        before = len(stored_span_ids(db_url))
        body, _ = batch(100, 0)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            channel.unary_unary(METHOD)(body, timeout=5)
            channel.unary_unary(METHOD)(body, timeout=5)
        assert wait_for(lambda: len(stored_span_ids(db_url)) == before + 100)
    finally:
        restarted.stop()


def test_sqlite_locked_by_another_writer_loses_nothing(tmp_path):
    from agentotel.warehouse.migrate import upgrade

    url = f"sqlite:///{tmp_path}/wh.db"
    upgrade(create_db_engine(url))
    server = start_receiver(url, str(tmp_path / "spool"))
    try:
        locker = sqlite3.connect(str(tmp_path / "wh.db"), isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
        acked: set[str] = set()
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            call = channel.unary_unary(METHOD)
            for seed in range(20):
                body, ids = batch(50, seed)
                started = time.monotonic()
                call(body, timeout=5)  # acknowledged from the spool, no "database is locked"
                assert time.monotonic() - started < 1.0
                acked.update(ids)
        # a write has waited out the 5 s busy timeout, failed, and is retried
        assert wait_for(lambda: server.drain.failures > 0, timeout=30)
        assert count(server.engine, "spans") == 0
        locker.execute("ROLLBACK")
        locker.close()
        assert wait_for(lambda: acked <= stored_span_ids(url), timeout=30)
        assert len(stored_span_ids(url)) == 1000
    finally:
        server.stop()


class TcpProxy:
    """A loopback TCP proxy that can be cut and restored: a PostgreSQL outage without stopping PostgreSQL."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        self._stop.clear()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self._conns.clear()

    def _accept(self) -> None:
        listener = self._listener
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.mark.postgres
def test_postgresql_outage_loses_nothing_acknowledged(tmp_path):
    real_url = new_postgres_database()
    try:
        url = make_url(real_url)
        proxy = TcpProxy(url.port or 5432)
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        server = start_receiver(proxied, str(tmp_path / "spool"))
        try:
            acked: set[str] = set()
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                call = channel.unary_unary(METHOD)
                body, ids = batch(50, 0)
                call(body, timeout=5)
                acked |= ids
                assert wait_for(lambda: acked <= stored_span_ids(real_url))
                proxy.down()  # the warehouse is gone
                for seed in range(1, 21):
                    body, ids = batch(50, seed)
                    started = time.monotonic()
                    call(body, timeout=5)
                    assert time.monotonic() - started <= 1.0, "answers stay fast while the warehouse is down"
                    acked |= ids
                assert wait_for(lambda: server.drain.failures > 0, timeout=30), "no write failed while it was down"
                assert len(stored_span_ids(real_url)) == 50
                proxy.up()
                assert wait_for(lambda: acked <= stored_span_ids(real_url), timeout=40)
                assert len(stored_span_ids(real_url)) == len(acked) == 1050
        finally:
            server.stop()
            proxy.down()
    finally:
        drop_postgres_database(real_url)


def test_disk_full_answers_retryably_and_recovers(tmp_path):
    """D5: the receiver's files cannot grow (RLIMIT_FSIZE, the portable stand-in for a full disk): Exports
    are refused with UNAVAILABLE within 1 s, /metrics keeps serving, and once there is room again every
    refused batch, re-sent, lands beside the acknowledged ones."""
    import httpx
    import psutil

    db_url = f"sqlite:///{tmp_path}/warehouse.db"
    receiver = ReceiverProcess(db_url, tmp_path / "spool", tmp_path / "receiver.log")
    port, metrics_port = receiver.grpc_port, receiver.metrics_port
    try:
        receiver.start(timeout=30)
        largest = max(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
        limit = largest + 256 * 1024
        psutil.Process(receiver.pid).rlimit(psutil.RLIMIT_FSIZE, (limit, psutil.RLIM_INFINITY))  # soft: liftable
        acked: set[str] = set()
        refused: list[tuple[bytes, set[str]]] = []
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(METHOD)
            for seed in range(1000):
                body, ids = batch(100, seed)
                started = time.monotonic()
                try:
                    call(body, timeout=10)
                    acked |= ids
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                    assert time.monotonic() - started <= 1.0
                    assert "google.rpc.retryinfo-bin" in dict(exc.trailing_metadata())
                    refused.append((body, ids))
                    if len(refused) >= 5:
                        break
            assert refused, f"the file size limit never refused an Export ({len(acked)} spans acked)"
            assert httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).status_code == 200

            psutil.Process(receiver.pid).rlimit(psutil.RLIMIT_FSIZE, (psutil.RLIM_INFINITY, psutil.RLIM_INFINITY))
            for body, ids in refused:  # the client's retry, now that there is room
                assert wait_for(lambda body=body: _accepted(call, body), timeout=30)
                acked |= ids
        # bounded, not timed: the drain catches up from its back-off (≤ 5 s) behind the suite's other workers
        assert wait_for(lambda: acked <= stored_span_ids(db_url), timeout=90), (tmp_path / "receiver.log").read_text()[-2000:]
        assert receiver.alive(), "the receiver died"
        assert "'chat " not in (tmp_path / "receiver.log").read_text(), "failed writes logged the span values"
    finally:
        receiver.stop()


def _accepted(call, body: bytes) -> bool:
    try:
        call(body, timeout=5)
        return True
    except grpc.RpcError:
        return False
