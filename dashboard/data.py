"""Cached wrappers around the warehouse query functions: the only way pages reach the database.

The dashboard process is configured through its environment (``agentotel dashboard`` sets it); ``settings()``
resolves it (``DashboardSettings``): the warehouse URL from ``AGENTOTEL_DASHBOARD_DB_URL``, else
``MONITORING_DB_URL``. Every read is ``st.cache_data`` with a short TTL and takes the URL as its first
argument, so two warehouses never share cache entries. Actions (acknowledge, resolve, promote, rollback)
go through the owning component, which audits them, and clear the cache.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from agentotel.core.secrets import redact_text
from agentotel.core.settings import DASHBOARD_DB_URL_ENV as DB_URL_ENV  # noqa: F401 - the CLI sets it
from agentotel.core.settings import DASHBOARD_RECEIVER_METRICS_ENV as RECEIVER_METRICS_ENV  # noqa: F401 - likewise
from agentotel.core.settings import DashboardSettings, DatabaseSettings

TTL = 15  # seconds: fresh enough for a live view, cheap under auto-refresh
MAX_ENTRIES = 256


def settings() -> DashboardSettings:
    """The dashboard's settings, resolved from this process's environment (the script run is its edge)."""
    return DashboardSettings.from_env()


def db_url() -> str:
    return settings().database.url


def receiver_metrics_url() -> str:
    return settings().receiver_metrics_url


@st.cache_resource(show_spinner=False)
def engine(url: str):
    from agentotel.warehouse.engine import create_db_engine

    return create_db_engine(url, DatabaseSettings.from_env(url))  # pool and SSL as configured


@st.cache_resource(show_spinner=False)
def analytics(url: str):
    from agentotel.warehouse.analytics import AnalyticsEngine

    # Its own short cache lets the pages of one run share partial aggregates (the KPIs and the top-agents
    # table read the same per-agent summary); st.cache_data keeps the finished results.
    return AnalyticsEngine(engine(url), cache_ttl=TTL)


def clear() -> None:
    """Forget cached reads (after an action changed the database)."""
    st.cache_data.clear()
    analytics.clear()


def _strip_nul(value: Any) -> Any:
    """NUL cannot be stored in PostgreSQL text (the receiver escapes it), so no stored value contains it:
    dropping it from a filter keeps a hostile value from turning into a database error."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_strip_nul(v) for v in value)
    return value


def _cache(fn):
    cached = st.cache_data(ttl=TTL, max_entries=MAX_ENTRIES, show_spinner=False)(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return cached(*_strip_nul(args), **_strip_nul(kwargs))

    call.clear = cached.clear  # type: ignore[attr-defined]
    return call


# ------------------------------------------------------------------------------------- telemetry


@_cache
def overview(url: str, start: datetime, end: datetime, filters: dict | None = None) -> dict[str, float]:
    from agentotel.warehouse import queries

    return queries.overview(analytics(url), start, end, filters or None)


@_cache
def time_series(url: str, metric: str, start: datetime, end: datetime, granularity: str,
                filters: dict | None = None, group_by: str | None = None) -> pd.DataFrame:
    return analytics(url).get_time_series(metric, start, end, granularity, filters or None, group_by)


@_cache
def top_agents(url: str, start: datetime, end: datetime, by: str = "count", limit: int = 10,
               filters: dict | None = None) -> pd.DataFrame:
    from agentotel.warehouse import queries

    return queries.top_agents(analytics(url), start, end, by=by, limit=limit, filters=filters or None)


@_cache
def top_models(url: str, start: datetime, end: datetime, by: str = "count", limit: int = 10,
               filters: dict | None = None) -> pd.DataFrame:
    from agentotel.warehouse import queries

    return queries.top_models(analytics(url), start, end, by=by, limit=limit, filters=filters or None)


@_cache
def llm_stats(url: str, start: datetime, end: datetime, by: tuple[str, ...] = ("provider", "model"),
              filters: dict | None = None) -> pd.DataFrame:
    from agentotel.warehouse import queries

    return queries.llm_stats(analytics(url), start, end, by=by, filters=filters or None)


@_cache
def tool_stats(url: str, start: datetime, end: datetime, by: tuple[str, ...] = ("tool",),
               filters: dict | None = None) -> pd.DataFrame:
    from agentotel.warehouse import queries

    return queries.tool_stats(analytics(url), start, end, by=by, filters=filters or None)


@_cache
def dimension_values(url: str, key: str, start: datetime, end: datetime) -> list[str]:
    from agentotel.warehouse import queries

    return queries.dimension_values(analytics(url), key, start, end)


@_cache
def dimension_options(url: str, family: str, keys: tuple[str, ...], start: datetime, end: datetime) -> dict[str, list[str]]:
    """The values of several dimensions of one family (``executions``, ``llm``, ``tools``) seen in
    ``[start, end)``, read in one pass (for the filter select boxes)."""
    frame = analytics(url).family_summary(family, list(keys), None, start, end, quantiles=())
    return {key: sorted({str(v) for v in frame[key].tolist() if v is not None and v == v}) for key in keys}


@_cache
def recent_traces(url: str, start: datetime | None, end: datetime | None, agent: str | None = None,
                  service: str | None = None, status: str | None = None, trace_id: str | None = None,
                  sort: str = "start_time", descending: bool = True, limit: int = 100) -> pd.DataFrame:
    from agentotel.warehouse import queries

    return queries.recent_traces(engine(url), start, end, agent=agent, service=service, status=status,
                                 trace_id=trace_id, sort=sort, descending=descending, limit=limit)


@_cache
def trace_spans(url: str, trace_id: str) -> pd.DataFrame:
    from agentotel.warehouse import queries

    return queries.trace_spans(engine(url), trace_id)


@_cache
def span_content(url: str, trace_id: str, span_id: str) -> dict[str, Any]:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.span_content(engine(url), trace_id, span_id)


# ------------------------------------------------------------------------------------- analytics


@_cache
def anomalies(url: str, metric: str, start: datetime, end: datetime, granularity: str, window: int,
              filters: dict | None = None) -> pd.DataFrame:
    return analytics(url).detect_anomalies(metric, window_size=window, start=start, end=end,
                                           granularity=granularity, filters=filters or None)


@_cache
def forecast(url: str, metric: str, steps: int, start: datetime, end: datetime, granularity: str,
             filters: dict | None = None) -> pd.DataFrame:
    return analytics(url).forecast(metric, steps, start=start, end=end, granularity=granularity, filters=filters or None)


@_cache
def correlations(url: str, metrics: tuple[str, ...], start: datetime, end: datetime, granularity: str,
                 filters: dict | None = None) -> pd.DataFrame:
    return analytics(url).get_correlations(list(metrics), start, end, granularity, filters or None)


# ------------------------------------------------------------------------------------- system


@_cache
def metric_names(url: str, start: datetime | None = None, end: datetime | None = None) -> list[str]:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.metric_names(engine(url), start, end)


@_cache
def latest_metric_values(url: str, names: tuple[str, ...], start: datetime | None = None) -> pd.DataFrame:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.latest_metric_values(engine(url), list(names), start)


@_cache
def ingest_health(url: str) -> dict[str, Any]:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.ingest_health(engine(url))


@st.cache_data(ttl=5, max_entries=4, show_spinner=False)
def receiver_health(metrics_url: str) -> dict[str, float] | None:
    """The receiver's own health series from its Prometheus endpoint, summed over labels
    (``agentotel_receiver_*``); None when the endpoint does not answer."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    try:
        response = httpx.get(metrics_url, timeout=2.0, follow_redirects=False)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("agentotel_receiver_") and not sample.name.endswith(("_created", "_bucket")):
                totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
    return totals


@_cache
def audit_trail(url: str, limit: int = 200) -> pd.DataFrame:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.audit_trail(engine(url), limit)


# ------------------------------------------------------------------------------------- alerts


@_cache
def alerts(url: str, status: str | None = None, severity: str | None = None, start: datetime | None = None,
           end: datetime | None = None) -> pd.DataFrame:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.alerts_table(engine(url), status=status, severity=severity, start=start, end=end)


@_cache
def pending_alert_series(url: str) -> pd.DataFrame:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.pending_alert_series(engine(url))


@_cache
def alert_counts(url: str) -> dict[str, int]:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.alert_status_counts(engine(url))


@_cache
def notifications(url: str, status: str | None = None, channel: str | None = None) -> pd.DataFrame:
    from agentotel.warehouse import dashboard_queries

    frame = dashboard_queries.notification_deliveries(engine(url), status=status, channel=channel)
    return _redact_column(frame, "last_error")


@_cache
def channel_states(url: str) -> pd.DataFrame:
    from agentotel.warehouse import dashboard_queries

    return _redact_column(dashboard_queries.channel_states(engine(url)), "last_error")


def _redact_column(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Channel errors may quote a webhook URL or key: pass them through the alerting redactor (S5)."""
    if frame.empty or column not in frame:
        return frame
    frame[column] = frame[column].map(lambda v: None if v is None else redact_text(v))
    return frame


def acknowledge_alert(url: str, alert_id: int, by: str) -> dict[str, Any]:
    from agentotel.alerting.manager import AlertManager

    try:
        return AlertManager(engine(url)).acknowledge_alert(int(alert_id), by=by)
    finally:
        clear()


def resolve_alert(url: str, alert_id: int, by: str) -> dict[str, Any]:
    from agentotel.alerting.manager import AlertManager

    try:
        return AlertManager(engine(url)).resolve_alert(int(alert_id), by=by)
    finally:
        clear()


# ------------------------------------------------------------------------------------- registry


@_cache
def agent_versions(url: str, name: str | None = None) -> pd.DataFrame:
    from agentotel.warehouse import registry_queries

    rows = registry_queries.list_agent_versions(engine(url), name)
    columns = ["name", "version", "source", "model_type", "provider", "description", "created_at", "last_seen_at"]
    return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in rows], columns=columns)


@_cache
def environment_states(url: str, name: str | None = None) -> pd.DataFrame:
    from agentotel.warehouse import registry_queries

    rows = registry_queries.environment_states(engine(url), name)
    return pd.DataFrame([asdict(r) for r in rows],
                        columns=["agent_name", "environment", "version", "deployment_id", "revision", "since", "updated_by"])


@_cache
def version_stats(url: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per version of ``name`` in the window: executions, error rate, cost, tokens, mean duration."""
    from agentotel.registry.telemetry import version_stats as stats

    rows = stats(engine(url), name, since=start, until=end)
    return pd.DataFrame(
        [{"version": r.version, "source": r.source, "executions": r.executions, "error_rate": r.error_rate,
          "cost_usd": r.cost_usd, "tokens": r.tokens, "avg_duration_ms": r.avg_duration_ms,
          "last_execution": r.last_execution} for r in rows],
        columns=["version", "source", "executions", "error_rate", "cost_usd", "tokens", "avg_duration_ms",
                 "last_execution"],
    )


@_cache
def deployments(url: str, name: str, limit: int = 50) -> pd.DataFrame:
    from agentotel.warehouse import registry_queries

    rows = registry_queries.deployments(engine(url), name, limit=limit)
    columns = ["created_at", "environment", "action", "version", "previous_version", "actor", "reason"]
    return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in rows], columns=columns)


@_cache
def registry_audit(url: str, name: str | None = None, limit: int = 100) -> pd.DataFrame:
    from agentotel.warehouse import registry_queries

    rows = registry_queries.audit_log(engine(url), name, limit=limit)
    columns = ["at", "actor", "action", "outcome", "target", "environment", "reason"]
    return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in rows], columns=columns)


def promote(url: str, name: str, version: str, environment: str, *, actor: str, reason: str | None,
            override_reason: str | None, expected_active: str | None):
    from agentotel.registry import VersionManager, parse_policies

    try:
        return VersionManager(engine(url), policies=parse_policies(settings().registry.gate)).promote(name, version, environment, actor=actor, reason=reason or None,
                                                   override_reason=override_reason or None,
                                                   expected_active=expected_active)
    finally:
        clear()


def rollback(url: str, name: str, environment: str, *, actor: str, reason: str, expected_active: str | None):
    from agentotel.registry import VersionManager, parse_policies

    try:
        return VersionManager(engine(url), policies=parse_policies(settings().registry.gate)).rollback(name, environment, actor=actor, reason=reason,
                                                    expected_active=expected_active)
    finally:
        clear()


# ------------------------------------------------------------------------------------- evaluation


@_cache
def evaluation_runs(url: str, agent: str | None = None, status: str | None = None,
                    start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    from agentotel.warehouse import dashboard_queries

    return dashboard_queries.evaluation_runs(engine(url), agent=agent, status=status, start=start, end=end)


@_cache
def compare_runs(url: str, current_run_id: str, baseline_run_id: str) -> dict[str, Any]:
    from agentotel.evaluation import store

    return store.compare_runs(engine(url), current_run_id, baseline_run_id).to_dict()
