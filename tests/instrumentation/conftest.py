"""Real parts for the instrumentation tests: the OTel SDK with in-memory exporters, the fake LLM server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentotel.instrumentation._content import ContentSettings
from tests.support.fake_openai import FakeLLMServer


@pytest.fixture(scope="session")
def _fake_llm_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm(_fake_llm_server: FakeLLMServer) -> FakeLLMServer:
    _fake_llm_server.requests.clear()
    _fake_llm_server._failures.clear()
    _fake_llm_server.stream_chunks = 5
    _fake_llm_server.tool_arguments = None
    _fake_llm_server.response_headers = {}
    return _fake_llm_server


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def log_exporter() -> Any:
    """The SDK's in-memory log record exporter (``InMemoryLogRecordExporter``; older SDKs: ``InMemoryLogExporter``)."""
    from opentelemetry.sdk._logs import export

    return (getattr(export, "InMemoryLogRecordExporter", None) or export.InMemoryLogExporter)()


@pytest.fixture
def logger_provider(log_exporter) -> Any:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    return provider


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> MeterProvider:
    return MeterProvider(metric_readers=[metric_reader], shutdown_on_exit=False)


@pytest.fixture
def content() -> ContentSettings:
    """Content capture off (the default); tests override this fixture to turn it on."""
    return ContentSettings(capture=False)


@pytest.fixture
def instrument_openai(tracer_provider, meter_provider, content) -> Iterator[Any]:
    from agentotel.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, content=content)
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def instrument_langchain(tracer_provider, meter_provider, content, instrument_openai) -> Iterator[Any]:
    from agentotel.instrumentation.langchain import LangChainInstrumentor

    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, content=content)
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def client(fake_llm: FakeLLMServer):
    import openai

    with openai.OpenAI(base_url=fake_llm.base_url, api_key="test-key", max_retries=0) as c:
        yield c


@pytest.fixture
async def async_client(fake_llm: FakeLLMServer):
    import openai

    async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="test-key", max_retries=0) as c:
        yield c
