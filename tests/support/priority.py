"""Processes whose timing a test holds to a stated bound run ahead of the suite's other workers.

RELIABILITY.md states bounds for the process under test on its machine: a restarted receiver is ready within
5 s (D1), an instrumented program exits within 5 s of its last call with the backend dead (H4), ``agentotel
up`` stops within 3 s. ``make test`` runs four workers on two cores, each with its own receivers, browsers and
demo runs: the process whose time is measured then waits behind the neighbours, not behind its own work. It
gets a higher scheduling priority (nice -10) where the system allows it, and its normal priority elsewhere;
the bounds themselves are unchanged.

Linux with autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``) shares the CPU between
sessions first and applies a process's nice value only within its session: a headless Chromium (its own
session) then weighs as much as the whole suite. A measured process is therefore started in a session of its
own (``start_new_session=True``), and the nice value is given to its session's group as well.
"""

from __future__ import annotations

import os
from pathlib import Path

MEASURED_NICE = -10


def run_ahead(pid: int) -> None:
    """Raise the scheduling priority of process ``pid`` (a no-op where that is not permitted)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, MEASURED_NICE)
    except (AttributeError, OSError):  # not POSIX, or not allowed to (an unprivileged CI user)
        pass
    _raise_autogroup(pid)


def _raise_autogroup(pid: int) -> None:
    """The same nice value for the scheduling group of ``pid``'s session, when ``pid`` leads it (a process
    sharing the suite's session would raise every worker with it)."""
    group = Path(f"/proc/{pid}/autogroup")
    try:
        if os.getsid(pid) != pid or not group.exists():
            return
        group.write_text(str(MEASURED_NICE))
    except OSError:  # not permitted, or the process is already gone
        pass
