"""When a receiver refreshes the rollups of the minutes its writes changed.

A minute still being written is rebuilt at most every ``max_delay`` seconds (readers see it raw until
the watermark passes it); a minute that stopped changing is rebuilt at the next tick. Under steady ingest
each minute is then aggregated about once, instead of once per tick while it fills.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import Engine

Refresh = Callable[[Engine, set[int]], "int | None"]

logger = logging.getLogger(__name__)


class RollupSchedule:
    """Collects dirty minutes (``add``, or ``minutes_changed`` from the span writer) and refreshes the ready
    ones on each ``tick``."""

    def __init__(self, engine: Engine, max_delay: float = 60.0, full_interval: float = 300.0) -> None:
        self.engine = engine
        self.max_delay = max_delay
        self.full_interval = full_interval
        self.pending: dict[int, float] = {}  # minute -> when it was first seen dirty
        self._fresh: set[int] = set()  # dirtied since the last tick
        self._last_full = float("-inf")
        self._lock = threading.Lock()  # a writer may report from another thread than the one that ticks
        self._refreshing: set[int] = set()  # minutes being refreshed now …
        self._again: set[int] = set()  # … and those of them dirtied meanwhile (they stay pending)
        self._refresh_lock = threading.Lock()  # one refresh at a time (the drain's tick, the final flush)
        self._cancel = threading.Event()
        self._catch_up: threading.Thread | None = None

    def start_catch_up(self) -> threading.Thread:
        """The watermark pass in the background, in short windows (``catch_up``), instead of one long
        transaction on the first tick: rows written while no receiver ran (an unclean stop) are rolled up
        while the drain keeps writing and readers read those minutes raw."""
        self._last_full = time.monotonic()  # the tick's full pass is this one
        self._catch_up = threading.Thread(target=self._run_catch_up, name="rollup-catch-up", daemon=True)
        self._catch_up.start()
        return self._catch_up

    def _run_catch_up(self) -> None:
        # numpy and pandas load here, after the receiver listens (D1: ready within 5 s of a restart)
        from agentotel.warehouse.rollups import catch_up

        try:
            catch_up(self.engine, cancel=self._cancel)
        except Exception:  # noqa: BLE001 - readers fall back to raw rows; the next start tries again
            logger.exception("rollup catch-up failed")

    def stop_catch_up(self, timeout: float = 10.0) -> None:
        """Stop the background catch-up between two windows (what it did stays done)."""
        self._cancel.set()
        if self._catch_up is not None:
            self._catch_up.join(timeout)

    def minutes_changed(self, minutes: set[int]) -> None:
        """The span writer's rollup maintainer: these minutes' rows changed in a committed write."""
        self.add(minutes, time.monotonic())

    def add(self, minutes: Iterable[int], now: float) -> None:
        with self._lock:
            for minute in minutes:
                self.pending.setdefault(minute, now)
                self._fresh.add(minute)
                if minute in self._refreshing:
                    self._again.add(minute)

    def ready(self, now: float) -> set[int]:
        """Minutes that stopped changing, or have waited ``max_delay``."""
        return {m for m, since in self.pending.items() if m not in self._fresh or now - since >= self.max_delay}

    def tick(self, now: float, refresh: Refresh | None = None) -> None:
        """The watermark pass when due (rows other processes wrote), then the ready minutes."""
        if now - self._last_full >= self.full_interval:
            self._last_full = now
            # numpy/pandas load at the first refresh, not at start
            from agentotel.warehouse.rollups import refresh_rollups

            refresh_rollups(self.engine)
        with self._lock:
            ready = self.ready(now)
            self._fresh = set()
        self._refresh(ready, refresh)

    def flush(self, refresh: Refresh | None = None) -> None:
        """Every pending minute now (at shutdown)."""
        with self._lock:
            minutes = set(self.pending)
        self._refresh(minutes, refresh)

    def _refresh(self, minutes: set[int], refresh: Refresh | None) -> None:
        if not minutes:
            return
        if refresh is None:
            # numpy/pandas load at the first refresh, not at start
            from agentotel.warehouse.rollups import refresh_minutes

            refresh = refresh_minutes
        with self._refresh_lock:
            with self._lock:
                minutes &= set(self.pending)  # a refresh that held the lock before us may have done some
                self._refreshing, self._again = minutes, set()
            done = False
            try:
                done = refresh(self.engine, minutes) is not None  # None: another refresher holds the lock
            finally:
                with self._lock:
                    if done:
                        for minute in minutes - self._again:
                            self.pending.pop(minute, None)
                    self._refreshing, self._again = set(), set()
