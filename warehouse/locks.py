"""Per-trace write serialization on PostgreSQL (SQLite serializes writers already)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

TRACE_LOCK_NAMESPACE = 0x47454E  # pg_advisory_xact_lock(namespace, bucket of the trace id)
TRACE_LOCK_BUCKETS = 128


def lock_traces(conn: Connection, trace_ids: Iterable[str]) -> None:
    """PostgreSQL: serialize the joins between spans and metric points / log events, per trace, until commit.

    The span writer and the metrics/logs writers may run at once (several receivers on one database).
    Without the lock each could miss the other's uncommitted rows (point or event stored while its span is
    not yet visible, and the other way round), and the link or content would never be made. With it,
    whichever transaction comes second sees the first one's committed rows. SQLite serializes writers already.
    """
    if conn.dialect.name != "postgresql":
        return
    # Trace ids hash into TRACE_LOCK_BUCKETS locks: a batch of thousands of traces takes at most that many
    # (PostgreSQL's lock table is small), in one order everywhere so that writers cannot deadlock.
    keys = sorted({int(trace_id[:8], 16) % TRACE_LOCK_BUCKETS for trace_id in trace_ids})
    if keys:
        conn.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(:namespace, k)) "
                "FROM (SELECT unnest(CAST(:keys AS integer[])) AS k ORDER BY 1) AS ordered"
            ),
            {"namespace": TRACE_LOCK_NAMESPACE, "keys": keys},
        )
