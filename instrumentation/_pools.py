"""Connection pools of the host process (SQLAlchemy engines, httpx transports), found without importing either.

The tracker never imports SQLAlchemy or httpx: a post-import hook (wrapt's) attaches it when the
application imports them (at once when it already has).

- **SQLAlchemy**: a class-level ``engine_connect`` listener on ``Engine`` (one call per connection checkout)
  remembers each engine in a weak set. Readings from the pool's public API: ``checkedout()`` (used),
  ``checkedin()`` (idle), and ``size()`` + the overflow allowance (max, ``QueuePool`` and kin; pools without
  these — ``NullPool``, ``StaticPool``, ``SingletonThreadPool`` — report nothing). An engine is seen
  from its first connection after the tracker started.
- **httpx**: ``HTTPTransport.__init__`` / ``AsyncHTTPTransport.__init__`` are wrapped to remember each
  transport (weak set; the cost is paid once per client). httpx has no public pool statistics: the
  transport's ``_pool`` (an httpcore ``ConnectionPool``) is read through httpcore's public
  ``connections`` list and each connection's ``is_idle()``. Proxied transports' pools are read the same
  way; a custom transport is not seen.

Readings are taken on metric collection only; nothing runs on the application's request path except the
listener above.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

from agentotel.instrumentation._guard import report


class PoolTracker:
    """Remembers SQLAlchemy engines and httpx transports; ``sqlalchemy()`` / ``httpx()`` read them."""

    def __init__(self) -> None:
        self.engines: weakref.WeakSet[Any] = weakref.WeakSet()
        self.transports: weakref.WeakSet[Any] = weakref.WeakSet()
        self._active = False
        self._listening: Any = None  # (event module, Engine) while the listener is registered
        self._wrapped: list[tuple[Any, str]] = []
        self._lock = threading.Lock()

    def start(self) -> PoolTracker:
        from wrapt import register_post_import_hook

        self._active = True
        register_post_import_hook(self._hook_sqlalchemy, "sqlalchemy")
        register_post_import_hook(self._hook_httpx, "httpx")
        return self

    def stop(self) -> None:
        with self._lock:
            self._active = False
            listening, self._listening = self._listening, None
            wrapped, self._wrapped = self._wrapped, []
        try:
            if listening is not None:
                event, engine_cls = listening
                event.remove(engine_cls, "engine_connect", self._on_connect)
            from opentelemetry.instrumentation.utils import unwrap

            for owner, name in wrapped:
                unwrap(owner, name)
        except Exception as err:  # noqa: BLE001
            report("pools.stop", err)

    # --- discovery --------------------------------------------------------------------------------------------
    def _hook_sqlalchemy(self, module: Any) -> None:
        with self._lock:
            if not self._active or self._listening is not None:
                return
            try:
                from sqlalchemy import event
                from sqlalchemy.engine import Engine

                event.listen(Engine, "engine_connect", self._on_connect)
                self._listening = (event, Engine)
            except Exception as err:  # noqa: BLE001
                report("pools.sqlalchemy", err)

    def _on_connect(self, connection: Any, *args: Any) -> None:
        try:
            self.engines.add(connection.engine)
        except Exception as err:  # noqa: BLE001
            report("pools.engine_connect", err)

    def _hook_httpx(self, module: Any) -> None:
        with self._lock:
            if not self._active or self._wrapped:
                return
            try:
                from wrapt import wrap_function_wrapper

                for name in ("HTTPTransport", "AsyncHTTPTransport"):
                    owner = getattr(module, name, None)
                    if owner is not None:
                        wrap_function_wrapper(owner, "__init__", self._on_transport)
                        self._wrapped.append((owner, "__init__"))
            except Exception as err:  # noqa: BLE001
                report("pools.httpx", err)

    def _on_transport(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        try:
            self.transports.add(instance)
        except Exception as err:  # noqa: BLE001
            report("pools.transport", err)

    # --- readings ---------------------------------------------------------------------------------------------
    def sqlalchemy(self) -> Iterator[tuple[str, int, int, int | None]]:
        """(pool name, used, idle, max or None) per pool; engines of one URL summed."""
        totals: dict[str, list[Any]] = {}
        for engine in list(self.engines):
            pool: Any = getattr(engine, "pool", None)
            if not hasattr(pool, "checkedout") or not hasattr(pool, "checkedin"):
                continue
            name = engine.url.render_as_string(hide_password=True)
            used, idle = int(pool.checkedout()), int(pool.checkedin())
            overflow = getattr(pool, "_max_overflow", None)
            limit = pool.size() + overflow if isinstance(overflow, int) and overflow >= 0 else None
            entry = totals.setdefault(name, [0, 0, 0])
            entry[0] += used
            entry[1] += idle
            entry[2] = None if limit is None or entry[2] is None else entry[2] + limit
        for name, (used, idle, limit) in totals.items():
            yield name, used, idle, limit

    def httpx(self) -> tuple[int, int, int]:
        """(active connections, idle connections, transports) over every live httpx transport."""
        active = idle = count = 0
        for transport in list(self.transports):
            pool = getattr(transport, "_pool", None)
            connections = getattr(pool, "connections", None)
            if connections is None:
                continue
            count += 1
            for conn in list(connections):
                try:
                    if conn.is_idle():
                        idle += 1
                    elif not conn.is_closed():
                        active += 1
                except Exception:  # noqa: BLE001 - a connection closing under us
                    continue
        return active, idle, count
