"""When a receiver refreshes the rollups of the minutes its writes changed.

A minute still being written is rebuilt at most every ``max_delay`` seconds (readers see it raw until
the watermark passes it); a minute that stopped changing is rebuilt at the next tick. Under steady ingest
each minute is then aggregated about once, instead of once per tick while it fills.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import Engine

from agentotel.warehouse.rollups import refresh_minutes, refresh_rollups


class RollupSchedule:
    """Collects dirty minutes (``add``) and refreshes the ready ones on each ``tick``."""

    def __init__(self, engine: Engine, max_delay: float = 60.0, full_interval: float = 300.0) -> None:
        self.engine = engine
        self.max_delay = max_delay
        self.full_interval = full_interval
        self.pending: dict[int, float] = {}  # minute -> when it was first seen dirty
        self._fresh: set[int] = set()  # dirtied since the last tick
        self._last_full = float("-inf")

    def add(self, minutes: Iterable[int], now: float) -> None:
        for minute in minutes:
            self.pending.setdefault(minute, now)
            self._fresh.add(minute)

    def ready(self, now: float) -> set[int]:
        """Minutes that stopped changing, or have waited ``max_delay``."""
        return {m for m, since in self.pending.items() if m not in self._fresh or now - since >= self.max_delay}

    def tick(self, now: float, refresh: Callable[[Engine, set[int]], int | None] = refresh_minutes) -> None:
        """The watermark pass when due (rows other processes wrote), then the ready minutes."""
        if now - self._last_full >= self.full_interval:
            self._last_full = now
            refresh_rollups(self.engine)
        self._refresh(self.ready(now), refresh)
        self._fresh = set()

    def flush(self, refresh: Callable[[Engine, set[int]], int | None] = refresh_minutes) -> None:
        """Every pending minute now (at shutdown)."""
        self._refresh(set(self.pending), refresh)

    def _refresh(self, minutes: set[int], refresh: Callable[[Engine, set[int]], int | None]) -> None:
        if minutes and refresh(self.engine, minutes) is not None:  # None: another refresher holds the lock
            for minute in minutes:
                self.pending.pop(minute, None)
