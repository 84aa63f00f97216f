"""OpenLIT: OTel keys plus ``gen_ai.usage.cost``, server-side TTFT and its own streaming flag."""

from __future__ import annotations

from agentotel.processors.normalize._spec import Dialect, UsageKeys

DIALECT = Dialect(
    name="openlit",
    streaming=("gen_ai.request.is_stream",),
    reported_cost=("gen_ai.usage.cost",),
    ttft_seconds=("gen_ai.server.time_to_first_token",),
    usage=UsageKeys(
        family="gen_ai.usage",
        cached=("gen_ai.usage.prompt_tokens_details.cached_tokens",),
    ),
)
