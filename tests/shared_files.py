"""Files the tests read in place from the project's ``shared`` folder, beside the repository (never copied).

A fresh clone has no such folder: ``shared_file()`` then skips the test (or, called at module level, the
module) with one reason, and fails it on CI (``CI=true``), where the folder must be present.
``AGENTOTEL_SHARED_DIR`` points elsewhere. Every test that reads ``../shared`` goes through here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

SHARED_DIR = Path(os.environ.get("AGENTOTEL_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
DIALECT_CORPUS = "fixtures/genai-dialects.json"


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def shared_file(relative: str, shared_dir: Path | None = None) -> Path:
    """``shared/<relative>``; skipped locally, failed on CI, when it is not there."""
    folder = shared_dir or SHARED_DIR
    path = folder / relative
    if path.is_file():
        return path
    message = (f"shared file {relative} not found in {folder} (the project's shared folder beside the "
               "repository; set AGENTOTEL_SHARED_DIR to use another)")
    if on_ci():
        pytest.fail(message)
    pytest.skip(message, allow_module_level=True)


def dialect_corpus() -> dict[str, Any]:
    """The GenAI dialect corpus (``fixtures/genai-dialects.json``), a fresh copy per call."""
    return json.loads(shared_file(DIALECT_CORPUS).read_text(encoding="utf-8"))
