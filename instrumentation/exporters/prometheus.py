"""A Prometheus pull endpoint (prometheus-client) serving the SDK's metrics."""

from __future__ import annotations

from typing import Any


class PrometheusEndpoint:
    """``/metrics`` on ``host:port`` (127.0.0.1 by default); ``reader`` goes into the MeterProvider."""

    def __init__(self, port: int = 9464, host: str = "127.0.0.1") -> None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry, start_http_server

        self.registry = CollectorRegistry()
        self.reader = PrometheusMetricReader(registry=self.registry)
        self._server: Any
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.host = host
        self.port = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
