"""The library versions this instrumentor supports (also the ``instruments`` extra)."""

_instruments = ("anthropic >= 0.49",)
