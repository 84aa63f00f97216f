"""The receiver's trace pipeline: normalize → cost → redact → sample → write."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from agentotel.core.settings import ReceiverSettings
from agentotel.processors.base import Pipeline, Processor
from agentotel.processors.cost import Cost
from agentotel.processors.encrypt import encrypt_stage
from agentotel.processors.normalize import Normalize
from agentotel.processors.redact import Redact
from agentotel.processors.sample import Sample, stored_traces
from agentotel.processors.writer import BatchObserver, RollupMaintainer, SpanKeysHook, WarehouseWriter


def build_trace_pipeline(
    engine: Engine,
    settings: ReceiverSettings | None = None,
    observers: Sequence[BatchObserver] = (),
    after_insert: Sequence[SpanKeysHook] = (),
    rollups: RollupMaintainer | None = None,
) -> Pipeline:
    """The same chain for the receiver, ``agentotel import`` and the tests."""
    settings = settings or ReceiverSettings()  # resolved by the caller (receiver, import); defaults otherwise
    stages: list[Processor] = [Normalize(), Cost(pricing_file=settings.pricing_file)]
    if settings.redact_pii:
        stages.append(Redact())
    stages.append(Sample(settings.sample_rate, settings.sample_decision_wait, settings.sample_max_held_spans,
                         stored=stored_traces(engine)))  # fmt: skip
    stages.extend(encrypt_stage(engine))  # master key set: captured content encrypted at rest
    writer = WarehouseWriter(engine, observers=observers, after_insert=after_insert, rollups=rollups)
    return Pipeline(stages, writer)
