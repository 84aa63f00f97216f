"""Where the otel-config files live (the tests read them in place)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OTEL_CONFIG = REPO / "otel-config"
