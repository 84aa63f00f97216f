"""The library versions this instrumentor supports (also the ``instruments`` extra)."""

_instruments = ("openai >= 1.40",)
