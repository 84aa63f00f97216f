"""Patch a library when the application imports it, not when ``instrument()`` runs.

``instrument()`` enables every instrumentor whose library is *installed*; importing an SDK the application
never uses would cost its import time (seconds for some) at start and its teardown at exit. A post-import
hook (wrapt's) patches the module when it is first imported, or at once when it already is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wrapt

from agentotel.instrumentation._guard import report


class LazyPatch:
    """Runs ``patch(module)`` once the module ``name`` is imported, while active; ``stop()`` deactivates.

    The hook stays registered (wrapt has no way to remove one); an inactive or already-applied patch
    makes it a no-op, so instrument/uninstrument cycles never patch twice.
    """

    def __init__(self, name: str, patch: Callable[[Any], None]) -> None:
        self.name = name
        self._patch = patch
        self.active = True
        self.applied = False
        wrapt.register_post_import_hook(self._on_import, name)

    def _on_import(self, module: Any) -> None:
        if not self.active or self.applied:
            return
        self.applied = True
        try:
            self._patch(module)
        except Exception as err:  # noqa: BLE001 - a broken patch must not break the application's import
            report(f"patch {self.name}", err)

    def stop(self) -> None:
        self.active = False
