"""Custom rule callables referenced from test rule files as ``tests.alerting.custom_rules:<name>``."""

from __future__ import annotations

from datetime import timedelta


def queue_depth_over(source, now, limit: float = 100.0):
    """Fires per agent when the latest ``queue_depth`` exceeds ``limit``."""
    frame = source.series("queue_depth", now - timedelta(minutes=5), now + timedelta(seconds=1), timedelta(minutes=1),
                          None, ["agent"])
    out = []
    for agent, part in frame.groupby("agent"):
        value = float(part.sort_values("timestamp")["value"].iloc[-1])
        out.append({"labels": {"agent": agent}, "value": value, "active": value > limit})
    return out


def always(source, now, answer: bool = True):
    return answer


NOT_CALLABLE = 42
