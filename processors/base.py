"""The pipeline model of the OTel Collector: small processors, one job each, chained to a consumer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from agentotel.processors.records import SpanBatch

logger = logging.getLogger(__name__)


class SkipBatch(Exception):
    """Raised by a processor to drop the whole batch without an error."""


class Processor(Protocol):
    """``process(batch) -> batch``; may mutate the records it is handed."""

    def process(self, batch: SpanBatch) -> SpanBatch: ...


class Consumer(Protocol):
    """The end of a pipeline (the warehouse writer). Raises on failure; the caller retries."""

    def consume(self, batch: SpanBatch) -> None: ...


class Pipeline:
    """Runs ``stages`` in order and hands the result to ``consumer``; counts spans in and out."""

    def __init__(self, stages: Sequence[Processor], consumer: Consumer) -> None:
        self.stages = list(stages)
        self.consumer = consumer
        self.spans_in = 0
        self.spans_out = 0

    def consume(self, batch: SpanBatch) -> None:
        self.spans_in += len(batch)
        try:
            for stage in self.stages:
                batch = stage.process(batch)
        except SkipBatch:
            return
        if batch.spans:
            self.consumer.consume(batch)
        self.spans_out += len(batch)
