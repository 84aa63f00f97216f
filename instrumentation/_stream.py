"""Stream proxies: hand each chunk to a handler, finalize the span exactly once.

The finalizer runs on exhaustion, on an error from the stream, on ``close()``/``__exit__`` and when an
abandoned stream is garbage-collected. Handler and finalizer faults are logged, never raised.
"""

from __future__ import annotations

from typing import Any

import wrapt

from agentotel.instrumentation._guard import report


class StreamState:
    """What a stream proxy drives: ``on_chunk(chunk)`` per item, ``finish(exc)`` once."""

    __slots__ = ()

    def on_chunk(self, chunk: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self, exc: BaseException | None) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SyncStreamProxy(wrapt.ObjectProxy):
    """Proxy of a synchronous stream (``openai.Stream``)."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_done = False
        # bound once: the per-chunk path does two calls and no attribute searches through the proxy
        self._self_next = wrapped.__next__
        self._self_on_chunk = state.on_chunk

    def _self_finish(self, exc: BaseException | None) -> None:
        if self._self_done:
            return
        self._self_done = True
        try:
            self._self_state.finish(exc)
        except Exception as err:  # noqa: BLE001 - never raise into the host
            report("stream.finish", err)

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            chunk = self._self_next()
        except StopIteration:
            self._self_finish(None)
            raise
        except BaseException as exc:
            self._self_finish(exc)
            raise
        try:
            self._self_on_chunk(chunk)
        except Exception as err:  # noqa: BLE001
            report("stream.chunk", err)
        return chunk

    def __enter__(self) -> SyncStreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_finish(exc)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_finish(None)

    def __del__(self) -> None:
        if not self._self_done:
            self._self_finish(None)


class AsyncStreamProxy(wrapt.ObjectProxy):
    """Proxy of an asynchronous stream (``openai.AsyncStream``)."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_done = False
        self._self_on_chunk = state.on_chunk

    def _self_finish(self, exc: BaseException | None) -> None:
        if self._self_done:
            return
        self._self_done = True
        try:
            self._self_state.finish(exc)
        except Exception as err:  # noqa: BLE001
            report("stream.finish", err)

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_finish(None)
            raise
        except BaseException as exc:
            self._self_finish(exc)
            raise
        try:
            self._self_on_chunk(chunk)
        except Exception as err:  # noqa: BLE001
            report("stream.chunk", err)
        return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_finish(exc)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_finish(None)

    async def aclose(self) -> None:
        await self.close()

    def __del__(self) -> None:
        if not self._self_done:
            self._self_finish(None)
