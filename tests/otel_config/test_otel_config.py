"""otel-config/: the Collector YAML (checked structurally: no Collector binary here), Grafana provisioning
and dashboards."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.otel_config.support import OTEL_CONFIG

COLLECTOR = OTEL_CONFIG / "collector"
SIGNALS = ("traces", "metrics", "logs")


def load(name: str) -> dict:
    return yaml.safe_load((COLLECTOR / name).read_text())


def check_wiring(config: dict) -> None:
    """What the Collector itself validates at start-up: every referenced component is declared."""
    service = config["service"]
    for extension in service.get("extensions", []):
        assert extension in config["extensions"], extension
    for name, pipeline in service["pipelines"].items():
        assert name.split("/")[0] in SIGNALS
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{name}: {kind} {component} is not declared"
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", "memory_limiter must come first"
        assert "batch" in processors
    used = {c for p in service["pipelines"].values() for kind in ("receivers", "processors", "exporters") for c in p[kind]}
    declared = {c for kind in ("receivers", "processors", "exporters") for c in config[kind]}
    assert declared == used, f"declared but unused: {declared - used}"


@pytest.mark.parametrize("name", ["agent.yaml", "gateway.yaml", "scale-out.yaml"])
def test_collector_configs_are_wired_for_every_signal(name):
    config = load(name)
    check_wiring(config)
    assert set(config["service"]["pipelines"]) == set(SIGNALS)
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["receivers"] == ["otlp"]
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}


@pytest.mark.parametrize("name", ["agent.yaml", "gateway.yaml"])
def test_otlp_exporter_to_agentotel_has_key_retry_and_queue(name):
    config = load(name)
    exporter = config["exporters"]["otlp/agentotel"]
    assert exporter["headers"]["authorization"] == "Bearer ${env:AGENTOTEL_API_KEY}"
    assert exporter["endpoint"] == "${env:AGENTOTEL_ENDPOINT}"
    assert exporter["retry_on_failure"]["enabled"] is True
    assert exporter["sending_queue"]["enabled"] is True
    storage = exporter["sending_queue"].get("storage")
    assert storage in config["extensions"] and storage in config["service"]["extensions"]
    assert exporter["compression"] == "gzip"
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["exporters"] == ["otlp/agentotel"]


def test_agent_collector_listens_on_loopback_only():
    protocols = load("agent.yaml")["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "127.0.0.1:4317"
    assert protocols["http"]["endpoint"] == "127.0.0.1:4318"


def test_gateway_authenticates_its_clients():
    config = load("gateway.yaml")
    for protocol in config["receivers"]["otlp"]["protocols"].values():
        assert protocol["auth"]["authenticator"] == "bearertokenauth/clients"


def test_scale_out_routes_by_trace_id_to_several_receivers():
    config = load("scale-out.yaml")
    traces = config["exporters"]["loadbalancing/traces"]
    assert traces["routing_key"] == "traceID"
    hostnames = traces["resolver"]["static"]["hostnames"]
    assert len(hostnames) >= 2 and all(h.endswith(":4317") for h in hostnames)
    otlp = traces["protocol"]["otlp"]
    assert "endpoint" not in otlp  # the loadbalancing exporter sets it per backend
    assert otlp["headers"]["authorization"] == "Bearer ${env:AGENTOTEL_API_KEY}"
    assert otlp["retry_on_failure"]["enabled"] and otlp["sending_queue"]["enabled"]
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["loadbalancing/traces"]
    assert pipelines["logs"]["exporters"] == ["loadbalancing/traces"]  # GenAI events follow their trace
    assert config["exporters"]["loadbalancing/metrics"]["routing_key"] == "streamID"


def test_grafana_provisioning_points_at_the_dashboards_datasources():
    provisioning = OTEL_CONFIG / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "agentotel.yaml").read_text())["datasources"]
    by_uid = {s["uid"]: s for s in sources}
    assert by_uid["agentotel-prometheus"]["type"] == "prometheus"
    assert by_uid["agentotel-warehouse"]["type"] in ("grafana-postgresql-datasource", "postgres")
    providers = yaml.safe_load((provisioning / "dashboards" / "agentotel.yaml").read_text())["providers"]
    assert providers[0]["type"] == "file" and providers[0]["options"]["path"]
    for name in ("agentotel-prometheus.json", "agentotel-warehouse.json"):
        dashboard = json.loads((OTEL_CONFIG / "grafana" / "dashboards" / name).read_text())
        assert dashboard["uid"] and dashboard["panels"]
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] in by_uid
            assert panel["datasource"]["type"] == by_uid[panel["datasource"]["uid"]]["type"]
            assert panel["targets"]


def test_readme_explains_every_file():
    readme = (OTEL_CONFIG / "README.md").read_text()
    shipped = [p for p in OTEL_CONFIG.rglob("*") if p.is_file() and p.name != "README.md"]
    for path in shipped:
        assert path.name in readme, f"otel-config/README.md does not mention {path.name}"
    assert "No Collector binary is available" in readme
