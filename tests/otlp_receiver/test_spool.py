"""The durable spool: group-committed appends, ordered reads, checkpoints, replay after a crash."""

from __future__ import annotations

import threading

import pytest

from agentotel.otlp_receiver.spool import Spool, SpoolFull


def drain_all(spool: Spool) -> list[bytes]:
    out = []
    while True:
        records = spool.read(max_records=1000, wait=0.05)
        if not records:
            return out
        out.extend(r.payload for r in records)
        spool.commit(records[-1].end)


def test_append_read_commit_in_order(tmp_path):
    spool = Spool(tmp_path, segment_bytes=1024)
    payloads = [f"record-{i}".encode() * 20 for i in range(50)]
    for p in payloads:
        spool.append(1, p)
    assert drain_all(spool) == payloads
    assert spool.pending_bytes() == 0
    # drained segments are deleted, only the current one remains
    assert len(list(tmp_path.glob("segment-*.log"))) <= 2
    spool.close()


def test_concurrent_appends_are_all_durable(tmp_path):
    spool = Spool(tmp_path)
    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(100):
                spool.append(1, f"{n}:{i}".encode())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    got = drain_all(spool)
    assert sorted(got) == sorted(f"{n}:{i}".encode() for n in range(8) for i in range(100))
    spool.close()


def test_uncommitted_records_are_replayed_after_restart(tmp_path):
    spool = Spool(tmp_path)
    for i in range(10):
        spool.append(1, f"r{i}".encode())
    first = spool.read(max_records=4, wait=0.1)
    spool.commit(first[-1].end)
    spool.read(max_records=3, wait=0.1)  # read but not committed: a crash before the warehouse commit
    spool.close()

    reopened = Spool(tmp_path)
    assert drain_all(reopened) == [f"r{i}".encode() for i in range(4, 10)]
    reopened.close()


def test_torn_tail_is_skipped_and_later_records_survive(tmp_path):
    spool = Spool(tmp_path)
    spool.append(1, b"good-1")
    spool.close()
    segment = sorted(tmp_path.glob("segment-*.log"))[-1]
    with open(segment, "ab") as fh:  # a crash in the middle of a write: half a header
        fh.write(b"\xa7\x01\x00\x00")
    reopened = Spool(tmp_path)
    reopened.append(1, b"good-2")
    assert drain_all(reopened) == [b"good-1", b"good-2"]
    reopened.close()


def test_full_spool_refuses_retryably(tmp_path):
    spool = Spool(tmp_path, max_bytes=1000)
    spool.append(1, b"x" * 500)
    with pytest.raises(SpoolFull):
        spool.append(1, b"x" * 600)
    assert spool.has_room(400) and not spool.has_room(600)  # the cheap check agrees with append
    records = spool.read(wait=0.1)
    spool.commit(records[-1].end)
    assert spool.has_room(600)
    spool.append(1, b"x" * 600)  # room again once drained
    spool.close()


def test_rewind_reads_again_from_checkpoint(tmp_path):
    spool = Spool(tmp_path)
    for i in range(3):
        spool.append(2, bytes([i]))
    assert [r.payload for r in spool.read(wait=0.1)] == [b"\x00", b"\x01", b"\x02"]
    spool.rewind()
    assert [r.payload for r in spool.read(wait=0.1)] == [b"\x00", b"\x01", b"\x02"]
    assert spool.read(wait=0.01) == []
    assert spool.pending_bytes() > 0  # nothing committed yet
    spool.close()
