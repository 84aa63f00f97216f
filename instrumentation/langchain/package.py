"""The library versions this instrumentor supports (also the ``instruments`` extra)."""

_instruments = ("langchain-core >= 0.3",)
