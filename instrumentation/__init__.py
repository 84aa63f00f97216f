"""agentotel instrumentation: runs inside the agent process (nothing server-side is imported here).

``instrument()`` sets up tracing, metrics, export, the performance monitor and every instrumentor whose
library is installed; ``AgentTracer`` traces home-grown agent loops. Both are imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # lazy on purpose: names for type checkers; __getattr__ imports them on use
    from agentotel.instrumentation.setup import InstrumentationHandle, instrument
    from agentotel.instrumentation.tracer import AgentTracer

__all__ = ["AgentTracer", "InstrumentationHandle", "instrument"]


def __getattr__(name: str) -> Any:
    # on use: keeps `import agentotel.instrumentation` light (no SDK, no instrumentors)
    if name in ("instrument", "InstrumentationHandle"):
        from agentotel.instrumentation import setup

        return getattr(setup, name)
    if name == "AgentTracer":
        from agentotel.instrumentation.tracer import AgentTracer

        return AgentTracer
    raise AttributeError(name)
