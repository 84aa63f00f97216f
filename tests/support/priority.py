"""Processes whose timing a test holds to a stated bound run ahead of the suite's other workers.

RELIABILITY.md states bounds for the process under test on its machine: a restarted receiver is ready within
5 s (D1), an instrumented program exits within 5 s of its last call with the backend dead (H4), ``agentotel
up`` stops within 3 s. ``make test`` runs four workers on two cores, each with its own receivers, browsers and
demo runs: the process whose time is measured then waits behind the neighbours, not behind its own work. It
gets a higher scheduling priority (nice -10, for itself and the children it starts afterwards) where the
system allows it, and its normal priority elsewhere; the bounds themselves are unchanged.
"""

from __future__ import annotations

import os

MEASURED_NICE = -10


def run_ahead(pid: int) -> None:
    """Raise the scheduling priority of process ``pid`` (a no-op where that is not permitted)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, MEASURED_NICE)
    except (AttributeError, OSError):  # not POSIX, or not allowed to (an unprivileged CI user)
        pass
