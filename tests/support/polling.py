"""The one way tests wait for something to happen: poll a predicate until it holds, bounded in time.

A test never sleeps a fixed time to let something happen; it waits for the thing itself (``wait_for``), for
an event, or joins the thread or process. A sleep that simulates work (a slow agent, a slow server) is fine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Call ``predicate`` until it returns something truthy or ``timeout`` seconds have passed.

    Returns its last value: truthy when it held, falsy on timeout (so ``assert wait_for(...)`` reads as the
    condition, and a predicate returning the awaited value hands it back). Exceptions propagate at once (a
    predicate may raise to stop waiting early, e.g. when the process it waits for has died).
    """
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
