"""Cached wrappers around the components' read APIs (warehouse reads by subject, alerting, registry,
evaluation): the only way pages reach the database. No SQL here.

The dashboard process is configured through its environment (``agentotel dashboard`` sets it); ``settings()``
resolves it (``DashboardSettings``): the warehouse URL from ``AGENTOTEL_DASHBOARD_DB_URL``, else
``MONITORING_DB_URL``. Every read is ``st.cache_data`` with a short TTL and takes the URL as its first
argument, so two warehouses never share cache entries. A user who reads some projects only passes
``reader_url(url, projects)`` instead: its engine is scoped to those projects (``warehouse.scoping``: row-level
security as ``agentotel_reader`` on PostgreSQL, TEMP views on SQLite) and its cache entries are its own. Actions (acknowledge, resolve, promote, rollback)
go through the owning component, which audits them, and clear the cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pandas as pd
import streamlit as st
from prometheus_client.parser import text_string_to_metric_families

from agentotel import registry
from agentotel.alerting import queries as alert_queries
from agentotel.alerting.manager import AlertManager
from agentotel.core.secrets import redact_text
from agentotel.core.settings import DASHBOARD_DB_URL_ENV as DB_URL_ENV  # noqa: F401 - the CLI sets it
from agentotel.core.settings import DASHBOARD_RECEIVER_METRICS_ENV as RECEIVER_METRICS_ENV  # noqa: F401 - likewise
from agentotel.core.settings import DashboardSettings, DatabaseSettings
from agentotel.evaluation import cases as evaluation_cases
from agentotel.evaluation import online as online_evaluation
from agentotel.evaluation import runs as stored_runs
from agentotel.warehouse import agent_graph as graphs
from agentotel.warehouse import (
    api_keys,
    executions,
    freshness,
    llm_calls,
    security_audit,
    sessions,
    tool_calls,
    traces,
)
from agentotel.warehouse import metrics as metric_points
from agentotel.warehouse import overview as kpis
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.content_cipher import keyring_of
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.scoping import scope_engine
from agentotel.warehouse.search import SearchFilter

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")

TTL = 15  # seconds: fresh enough for a live view, cheap under auto-refresh
MAX_ENTRIES = 256
RANGE_TTL = 300  # the analytics reads keyed by a preset window, whose end moves by ``common.cache_bucket``


def settings() -> DashboardSettings:
    """The dashboard's settings, resolved from this process's environment (the script run is its edge)."""
    return DashboardSettings.from_env()


def db_url() -> str:
    return settings().database.url


def receiver_metrics_url() -> str:
    return settings().receiver_metrics_url


# The dashboard's reads are short top-N queries whose estimated cost at a million spans crosses PostgreSQL's
# jit_above_cost: compiling them took 2 s of a 9 s trace list sorted by cost, and never paid back. Ranking a
# day's 250k traces by cost hashes their runs: with the default 4 MB of work_mem the hash spilled to disk in 4
# batches (2.0 s); in 64 MB it stays in memory (0.84 s). A dashboard holds a handful of connections.
POSTGRES_OPTIONS = "-c jit=off -c work_mem=64MB"


SCOPE_MARK = "#agentotel-projects="  # never part of a database URL; project names are [a-z0-9_-]


def reader_url(url: str, projects: Sequence[str] | None) -> str:
    """What the pages hand to every read for a user of ``projects`` (None: every project, the plain ``url``):
    ``url`` marked with the projects, whose ``engine`` sees only their rows; an empty list sees nothing."""
    if projects is None:
        return url
    return f"{url}{SCOPE_MARK}{','.join(sorted(set(projects)))}"


def split_reader_url(key: str) -> tuple[str, tuple[str, ...] | None]:
    """``reader_url``'s inverse: the database URL and the projects (None: every project)."""
    url, mark, listed = key.partition(SCOPE_MARK)
    return (url, tuple(p for p in listed.split(",") if p)) if mark else (key, None)


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """The warehouse engine of the dashboard (pool and SSL as configured; on PostgreSQL without JIT); for a
    ``reader_url`` one engine per database and projects, each of its connections scoped to them (read only)."""
    url, projects = split_reader_url(url)
    extra = {"connect_args": {"options": POSTGRES_OPTIONS}} if url.split(":", 1)[0].startswith("postgres") else {}
    made = create_db_engine(url, DatabaseSettings.from_env(url), **extra)
    return made if projects is None else scope_engine(made, projects)


def _owner(url: str) -> Engine:
    """The unscoped engine of a reader URL's database, for the writes of actions (a scoped engine cannot write)."""
    return engine(split_reader_url(url)[0])


@st.cache_resource(show_spinner=False)
def analytics(url: str) -> AnalyticsEngine:
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


def _cache(fn: Callable[..., T], ttl: int = TTL) -> Callable[..., T]:
    cached = st.cache_data(ttl=ttl, max_entries=MAX_ENTRIES, show_spinner=False)(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        return cached(*_strip_nul(args), **_strip_nul(kwargs))

    call.clear = cached.clear  # type: ignore[attr-defined]
    return call


def _range_cache(fn: Callable[..., T]) -> Callable[..., T]:
    """``_cache`` for the analytics reads of a time window: an entry lives up to ``RANGE_TTL``, as long as
    a preset window's bucketed end (``common.cache_bucket``, ≤ 5 minutes) keeps its key, so auto-refreshes
    within the bucket are warm and a new bucket is a new key."""
    return _cache(fn, RANGE_TTL)


def _frame(rows: Iterable[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Rows (dicts or objects with those attributes) as a frame of exactly ``columns``."""
    records = [row if isinstance(row, Mapping) else {c: getattr(row, c) for c in columns} for row in rows]
    return pd.DataFrame(records, columns=list(columns))


# ------------------------------------------------------------------------------------- telemetry


@_range_cache
def overview(url: str, start: datetime, end: datetime, filters: dict | None = None) -> dict[str, float]:
    return kpis.overview(analytics(url), start, end, filters or None)


@_range_cache
def time_series(url: str, metric: str, start: datetime, end: datetime, granularity: str,
                filters: dict | None = None, group_by: str | None = None) -> pd.DataFrame:
    return analytics(url).get_time_series(metric, start, end, granularity, filters or None, group_by)


@_range_cache
def top_agents(url: str, start: datetime, end: datetime, by: str = "count", limit: int = 10,
               filters: dict | None = None) -> pd.DataFrame:
    return executions.top_agents(analytics(url), start, end, by=by, limit=limit, filters=filters or None)


@_range_cache
def top_models(url: str, start: datetime, end: datetime, by: str = "count", limit: int = 10,
               filters: dict | None = None) -> pd.DataFrame:
    return llm_calls.top_models(analytics(url), start, end, by=by, limit=limit, filters=filters or None)


@_range_cache
def llm_stats(url: str, start: datetime, end: datetime, by: tuple[str, ...] = ("provider", "model"),
              filters: dict | None = None) -> pd.DataFrame:
    return llm_calls.llm_stats(analytics(url), start, end, by=by, filters=filters or None)


@_range_cache
def tool_stats(url: str, start: datetime, end: datetime, by: tuple[str, ...] = ("tool",),
               filters: dict | None = None) -> pd.DataFrame:
    return tool_calls.tool_stats(analytics(url), start, end, by=by, filters=filters or None)


@_cache
def dimension_options(url: str, family: str, keys: tuple[str, ...], start: datetime, end: datetime) -> dict[str, list[str]]:
    """The values of several dimensions of one family (``executions``, ``llm``, ``tools``) seen in
    ``[start, end)`` (for the filter select boxes)."""
    return kpis.dimension_values(analytics(url), family, keys, start, end)


def search_filter(start: datetime | None, end: datetime | None, filters: Mapping[str, Any] | None) -> SearchFilter:
    """The warehouse's filter for a window and the dashboard's filter values (refused when malformed)."""
    return SearchFilter.from_mapping({**(filters or {}), "start": start, "end": end})


@_cache
def recent_traces(url: str, start: datetime | None, end: datetime | None, agent: str | None = None,
                  service: str | None = None, status: str | None = None, trace_id: str | None = None,
                  sort: str = "start_time", descending: bool = True, limit: int = 100,
                  filters: dict | None = None) -> pd.DataFrame:
    """Traces (one row each, with tokens, cost, models, call counts, session, user and input preview)."""
    return traces.recent_traces(engine(url), start, end, agent=agent, service=service, status=status,
                                trace_id=trace_id, sort=sort, descending=descending, limit=limit,
                                search=search_filter(start, end, filters) if filters else None)


@_cache
def trace_spans(url: str, trace_id: str) -> pd.DataFrame:
    return traces.trace_spans(engine(url), trace_id)


@_cache
def span_content(url: str, trace_id: str, span_id: str) -> dict[str, Any]:
    return traces.span_content(engine(url), trace_id, span_id)


@_cache
def trace_executions(url: str, trace_id: str) -> pd.DataFrame:
    return traces.trace_executions(engine(url), trace_id)


@_cache
def trace_scores(url: str, trace_id: str) -> pd.DataFrame:
    return evaluation_cases.trace_scores(engine(url), trace_id)


@_cache
def session_list(url: str, start: datetime | None, end: datetime | None, filters: dict | None = None,
                 sort: str = "last_time", limit: int = 100) -> pd.DataFrame:
    return sessions.sessions(engine(url), search_filter(start, end, filters), sort=sort, limit=limit)


@_cache
def session_turns(url: str, session: str) -> pd.DataFrame:
    return sessions.session_turns(engine(url), session)


@_cache
def user_list(url: str, start: datetime | None, end: datetime | None, filters: dict | None = None,
              sort: str = "last_time", limit: int = 100) -> pd.DataFrame:
    return sessions.users(engine(url), search_filter(start, end, filters), sort=sort, limit=limit)


@_cache
def llm_call_list(url: str, start: datetime, end: datetime, filters: dict | None = None, sort: str = "start_time",
                  limit: int = 100) -> pd.DataFrame:
    return llm_calls.llm_call_list(engine(url), search_filter(start, end, filters), sort=sort, limit=limit)


@_cache
def tool_call_list(url: str, start: datetime, end: datetime, filters: dict | None = None, sort: str = "start_time",
                   limit: int = 100) -> pd.DataFrame:
    return tool_calls.tool_call_list(engine(url), search_filter(start, end, filters), sort=sort, limit=limit)


GRAPH_RUNS = graphs.RUNS  # the agent graph is drawn from an agent's newest runs in the range


@_cache
def agent_graph(url: str, start: datetime, end: datetime, agent: str | None = None,
                version: str | None = None) -> pd.DataFrame:
    return graphs.agent_graph(engine(url), start, end, agent=agent, version=version)


@_cache
def agent_resources(url: str, start: datetime, end: datetime, agent: str | None = None) -> pd.DataFrame:
    return executions.agent_resources(engine(url), start, end, agent=agent)


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
    return metric_points.metric_names(engine(url), start, end)


@_cache
def latest_metric_values(url: str, names: tuple[str, ...], start: datetime | None = None) -> pd.DataFrame:
    return metric_points.latest_metric_values(engine(url), list(names), start)


@_cache
def ingest_health(url: str) -> dict[str, Any]:
    return freshness.ingest_health(engine(url))


@st.cache_data(ttl=5, max_entries=4, show_spinner=False)
def receiver_health(metrics_url: str) -> dict[str, float] | None:
    """The receiver's own health series from its Prometheus endpoint, summed over labels
    (``agentotel_receiver_*``); None when the endpoint does not answer, or refuses the dashboard's key (a
    receiver with API keys asks one of /metrics: ``receiver_metrics_key``)."""
    key = settings().receiver_metrics_key
    try:
        response = httpx.get(metrics_url, timeout=2.0, follow_redirects=False,
                             headers={"Authorization": f"Bearer {key}"} if key else None)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("agentotel_receiver_") and not sample.name.endswith(("_created", "_bucket")):
                totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
    return totals


AUDIT_COLUMNS = ["source", "at", "actor", "action", "target", "outcome"]


def audit_security(url: str, actor: str, action: str, target: str | None = None, outcome: str = "ok") -> None:
    """Append a login or a decryption to the security audit log (never cached)."""
    security_audit.record(engine(url), actor, action, target, outcome)


def content_encrypted(url: str) -> bool:
    """Whether this dashboard decrypts captured content (a master key is set): content search is off then."""
    return keyring_of(engine(url)) is not None


@_cache
def audit_trail(url: str, limit: int = 200) -> pd.DataFrame:
    """Alerting, registry, security (logins, decryptions) and API-key (create, rotate, revoke) audit rows in one
    list, newest first: source, at, actor, action, target, outcome. These logs span projects: a user of some
    projects only gets none of them."""
    if split_reader_url(url)[1] is not None:
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    alerting = _frame(alert_queries.audit_log(engine(url), limit), ["timestamp", "actor", "action", "target_type",
                                                                     "target_id"])
    alerting = alerting.assign(
        source="alerting", at=alerting["timestamp"],
        target=alerting["target_type"].astype(str) + " " + alerting["target_id"].astype(str), outcome="ok",
    )
    changes = _frame(registry.audit_log(engine(url), limit=limit), ["at", "actor", "action", "target", "outcome"])
    security = _frame(security_audit.audit_log(engine(url), limit), ["at", "actor", "action", "target", "outcome"])
    keys = _frame(api_keys.key_audit(engine(url), limit), ["at", "actor", "action", "key_id", "project_id"])
    keys = keys.assign(source="keys", outcome="ok",
                       target="project " + keys["project_id"].astype(str) + " key " + keys["key_id"].fillna("-").astype(str))
    frames = [f[AUDIT_COLUMNS] for f in (alerting, changes.assign(source="registry"), security.assign(source="security"),
                                         keys) if not f.empty]
    if not frames:
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    merged = pd.concat(frames, ignore_index=True)
    merged["at"] = pd.to_datetime(merged["at"], utc=True)
    return merged.sort_values("at", ascending=False, kind="stable").head(limit).reset_index(drop=True)


# ------------------------------------------------------------------------------------- alerts

ALERT_COLUMNS = ["id", "rule_id", "severity", "status", "message", "value", "labels", "acknowledged",
                 "acknowledged_by", "acknowledged_at", "timestamp", "resolved_at"]
PENDING_COLUMNS = ["rule_id", "labels", "active_since", "last_eval_at", "last_value"]
NOTIFICATION_COLUMNS = ["id", "alert_id", "channel", "event", "tier", "status", "attempts", "last_error",
                        "created_at", "delivered_at", "next_attempt_at"]
CHANNEL_COLUMNS = ["channel", "deliveries_total", "failures_total", "blocked_until", "last_error", "updated_at"]


@_cache
def alerts(url: str, status: str | None = None, severity: str | None = None, start: datetime | None = None,
           end: datetime | None = None) -> pd.DataFrame:
    rows = alert_queries.alerts(engine(url), status=status, severity=severity, start=start, end=end, limit=500)
    return _frame(rows, ALERT_COLUMNS)


@_cache
def pending_alert_series(url: str) -> pd.DataFrame:
    return _frame(alert_queries.pending_series(engine(url)), PENDING_COLUMNS)


@_cache
def alert_counts(url: str) -> dict[str, int]:
    return alert_queries.alert_counts(engine(url))


@_cache
def notifications(url: str, status: str | None = None, channel: str | None = None) -> pd.DataFrame:
    rows = alert_queries.notifications(engine(url), status=status, channel=channel, limit=500)
    return _redact_column(_frame(rows, NOTIFICATION_COLUMNS), "last_error")


@_cache
def channel_states(url: str) -> pd.DataFrame:
    return _redact_column(_frame(alert_queries.channel_stats(engine(url)), CHANNEL_COLUMNS), "last_error")


def _redact_column(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Channel errors may quote a webhook URL or key: pass them through the secret masker (S5)."""
    if frame.empty or column not in frame:
        return frame
    frame[column] = frame[column].map(lambda v: None if v is None else redact_text(v))
    return frame


def _visible_alert(url: str, alert_id: int) -> int:
    """``alert_id`` when the reader of ``url`` sees that alert; ValueError otherwise (another project's)."""
    if split_reader_url(url)[1] is not None and not any(
            row.get("id") == alert_id for row in alert_queries.alerts(engine(url), limit=alert_queries.MAX_ROWS)):
        raise ValueError(f"no alert {alert_id} in your projects")
    return alert_id


def acknowledge_alert(url: str, alert_id: int, by: str) -> dict[str, Any]:
    try:
        return AlertManager(_owner(url)).acknowledge_alert(_visible_alert(url, int(alert_id)), by=by)
    finally:
        clear()


def resolve_alert(url: str, alert_id: int, by: str) -> dict[str, Any]:
    try:
        return AlertManager(_owner(url)).resolve_alert(_visible_alert(url, int(alert_id)), by=by)
    finally:
        clear()


# ------------------------------------------------------------------------------------- registry

VERSION_COLUMNS = ["name", "version", "source", "model_type", "provider", "description", "created_at", "last_seen_at"]
ENVIRONMENT_COLUMNS = ["agent_name", "environment", "version", "deployment_id", "revision", "since", "updated_by"]
VERSION_STATS_COLUMNS = ["version", "source", "executions", "error_rate", "cost_usd", "tokens", "avg_duration_ms",
                         "last_execution"]
DEPLOYMENT_COLUMNS = ["created_at", "environment", "action", "version", "previous_version", "actor", "reason"]
REGISTRY_AUDIT_COLUMNS = ["at", "actor", "action", "outcome", "target", "environment", "reason"]


@_cache
def agent_versions(url: str, name: str | None = None) -> pd.DataFrame:
    return _frame(registry.list_agent_versions(engine(url), name), VERSION_COLUMNS)


@_cache
def environment_states(url: str, name: str | None = None) -> pd.DataFrame:
    return _frame(registry.environment_states(engine(url), name), ENVIRONMENT_COLUMNS)


@_cache
def version_stats(url: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per version of ``name`` in the window: executions, error rate, cost, tokens, mean duration."""
    return _frame(registry.version_stats(engine(url), name, since=start, until=end), VERSION_STATS_COLUMNS)


@_cache
def deployments(url: str, name: str, limit: int = 50) -> pd.DataFrame:
    return _frame(registry.deployments(engine(url), name, limit=limit), DEPLOYMENT_COLUMNS)


@_cache
def registry_audit(url: str, name: str | None = None, limit: int = 100) -> pd.DataFrame:
    """The registry's audit rows of ``name`` (newest first); a refused promotion's reason says which gate
    checks failed."""
    rows = [{c: getattr(e, c) for c in REGISTRY_AUDIT_COLUMNS} | {"reason": _audit_reason(e)}
            for e in registry.audit_log(engine(url), name, limit=limit)]
    return _frame(rows, REGISTRY_AUDIT_COLUMNS)


def _audit_reason(entry: Any) -> str | None:
    gate = entry.after.get("gate") if isinstance(entry.after, dict) else None
    if entry.outcome != "refused" or not isinstance(gate, dict):
        return entry.reason
    failed = "; ".join(str(c.get("detail")) for c in gate.get("checks") or [] if isinstance(c, dict) and not c.get("passed"))
    refused = f"refused by the gate: {failed}" if failed else "refused by the gate"
    return f"{entry.reason} ({refused})" if entry.reason else refused


def _versions(url: str) -> registry.VersionManager:
    """The registry's version manager, its gate's policies from ``AGENTOTEL_REGISTRY_GATE``, acting in the
    project the reader of ``url`` reads (every project, new rows in ``default``, for a reader of all);
    ValueError for a reader of several or none: which project would change is not said."""
    projects = split_reader_url(url)[1]
    if projects is not None and len(projects) != 1:
        raise ValueError("pick one project in the sidebar to promote or roll back")
    return registry.VersionManager(_owner(url), policies=registry.parse_policies(settings().registry.gate),
                                   project=projects[0] if projects else None)


def promote(url: str, name: str, version: str, environment: str, *, actor: str, reason: str | None,
            override_reason: str | None, expected_active: str | None) -> registry.Deployment:
    try:
        return _versions(url).promote(
            name, version, environment, actor=actor, reason=reason or None, override_reason=override_reason or None,
            expected_active=expected_active)
    finally:
        clear()


def rollback(url: str, name: str, environment: str, *, actor: str, reason: str,
             expected_active: str | None) -> registry.Deployment:
    try:
        return _versions(url).rollback(name, environment, actor=actor, reason=reason, expected_active=expected_active)
    finally:
        clear()


# ------------------------------------------------------------------------------------- evaluation

RUN_COLUMNS = ["id", "benchmark_id", "agent_name", "agent_version", "status", "timestamp", "completed_at", "summary",
               "error_message"]


@_cache
def evaluation_runs(url: str, agent: str | None = None, status: str | None = None) -> pd.DataFrame:
    """Evaluation runs (newest first) with their summaries but without per-case results."""
    runs = stored_runs.list_runs(engine(url), agent_name=agent or None, status=status, limit=200,
                                      with_results=False)
    return _frame(runs, RUN_COLUMNS)


@_cache
def compare_runs(url: str, current_run_id: str, baseline_run_id: str) -> dict[str, Any]:
    return stored_runs.compare_runs(engine(url), current_run_id, baseline_run_id).to_dict()


@_cache
def run_cases(url: str, run_id: str) -> pd.DataFrame:
    """One row per case of a run: input, expected, output, error, figures, trace, a column per metric."""
    return evaluation_cases.run_cases(engine(url), run_id)


@_cache
def case_diff(url: str, current_run_id: str, baseline_run_id: str) -> pd.DataFrame:
    """Two runs case by case and metric by metric, regressed cases first."""
    return evaluation_cases.case_diff(engine(url), current_run_id, baseline_run_id)


ONLINE_COLUMNS = ["bucket", "agent_name", "agent_version", "metric", "n", "mean", "median"]


@_cache
def online_scores(url: str, since: datetime, agent: str | None = None, bucket_minutes: int = 5) -> pd.DataFrame:
    """Online evaluation scores of production executions per agent version, metric and time bucket."""
    rows = online_evaluation.online_score_series(engine(url), agent or None, since=since,
                                                 bucket=timedelta(minutes=bucket_minutes))
    return _frame(rows, ONLINE_COLUMNS)
