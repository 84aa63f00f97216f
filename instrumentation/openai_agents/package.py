"""The library versions this instrumentor supports (also the ``instruments`` extra)."""

_instruments = ("openai-agents >= 0.2",)
