"""The library versions this instrumentor supports (also the ``instruments`` extra)."""

_instruments = ("google-genai >= 1.30",)
