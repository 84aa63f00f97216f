"""The library versions this instrumentor supports (also the ``instruments`` extra)."""

_instruments = ("llama-index-core >= 0.12",)
