"""The spool checkpoint passes a record only once the warehouse has made its rows durable (issue 19 pt 5):
the drain writes and commits, then syncs the warehouse (``make_durable``: SQLite's WAL, which
``synchronous=NORMAL`` leaves unsynced at commit), and only then persists the checkpoint. A sync that fails
leaves the checkpoint where it was, and the same records are written again."""

from __future__ import annotations

import os

import pytest

from agentotel.core.settings import ReceiverSettings
from agentotel.otlp_receiver.codec import TRACES
from agentotel.otlp_receiver.drain import Drain
from agentotel.otlp_receiver.ingest import build_request_writer
from agentotel.otlp_receiver.spool import Position, Spool
from agentotel.warehouse.engine import create_db_engine, make_durable
from tests.otlp_receiver.support import count
from tests.otlp_receiver.test_bad_input import span_request


def test_make_durable_syncs_the_sqlite_wal_and_file(tmp_path):
    path = tmp_path / "w.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn, conn.begin():
            held = engine.connect()  # a second connection keeps the WAL from being checkpointed away on close
            held.exec_driver_sql("SELECT 1")
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert os.path.getsize(f"{path}-wal") > 0  # committed under synchronous=NORMAL: in the WAL, not synced
        assert make_durable(engine) == [f"{path}-wal", str(path)]
        held.close()
    finally:
        engine.dispose()
    assert make_durable(create_db_engine("sqlite://")) == []  # in memory: nothing to sync


def checkpoint(spool_dir) -> Position | None:
    try:
        segment, offset = (spool_dir / "checkpoint").read_text().split()
    except FileNotFoundError:
        return None
    return Position(int(segment), int(offset))


@pytest.mark.slow
def test_the_checkpoint_passes_only_synced_commits(engine, tmp_path):
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir)
    writer = build_request_writer(engine, ReceiverSettings(redact_pii=False))
    seen: list[tuple[int, Position | None]] = []
    failures = [OSError("fsync: input/output error")]

    def durable() -> None:
        """The real sync, observed: the rows committed and the checkpoint on disk when it runs."""
        seen.append((count(engine, "spans"), checkpoint(spool_dir)))
        if failures:
            raise failures.pop()
        make_durable(engine)

    drain = Drain(spool, writer, durable=durable)
    try:
        for _ in range(3):
            spool.append(TRACES.code, span_request(5).SerializeToString())
        end = spool.append(TRACES.code, span_request(5).SerializeToString())
        with pytest.raises(OSError, match="input/output"):
            drain.drain_once()
        assert seen == [(20, None)]  # the sync ran after the commit …
        assert checkpoint(spool_dir) is None  # … and, failing, kept the checkpoint from passing the batch
        spool.rewind()  # what the drain's loop does after a failure: the same records again
        assert drain.drain_once() == 4
        assert seen[1] == (20, None) and checkpoint(spool_dir) == end == spool.checkpoint
        assert count(engine, "spans") == 20  # written twice, stored once
        assert drain.drain_once(wait=0) == 0 and len(seen) == 2  # nothing new: no sync, no checkpoint
    finally:
        spool.close()
