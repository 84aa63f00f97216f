"""The rule types, one module per family: ``threshold``, ``anomaly``, ``trend``, ``composite``, ``custom``.

Each is a pydantic model of its rules-file entry (``base.Rule`` holds the fields every rule has) with an
``evaluate(ctx) -> list[Sample]``. A rule turns metric series into *samples*: one per label set, each saying
whether the firing condition holds (``active``) and whether the resolve condition holds (``clear``; differs
from ``not active`` only where a rule has hysteresis). The engine (``alerting.engine``) turns samples into
pending → firing → resolved. The rules file itself is read by ``alerting.config``.
"""
