"""The library versions this instrumentor supports (also the ``instruments`` extra)."""

_instruments = ("httpx >= 0.27", "opentelemetry-instrumentation-httpx >= 0.51b0")
