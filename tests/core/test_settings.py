"""Settings: argument > environment (``NAME``, then ``NAME_FILE``) > default, for every settings object."""

from __future__ import annotations

import argparse

import pytest

from agentotel.cli import build_parser
from agentotel.core.settings import (
    DEFAULT_DB_URL,
    AlertingSettings,
    DashboardSettings,
    DatabaseSettings,
    EvaluationSettings,
    ReceiverSettings,
    RegistrySettings,
    child_environment,
    env_int,
    env_str,
    mask_url_password,
    secret_from_env,
)

VARIABLES = (
    "MONITORING_DB_URL", "MONITORING_DB_SSL", "MONITORING_DB_POOL_SIZE", "MONITORING_DB_MAX_OVERFLOW",
    "AGENTOTEL_HOST", "AGENTOTEL_GRPC_PORT", "AGENTOTEL_API_KEYS", "AGENTOTEL_REDACT_PII", "AGENTOTEL_SAMPLE_RATE",
    "AGENTOTEL_PRICING_FILE", "AGENTOTEL_DASHBOARD_DB_URL", "AGENTOTEL_DASHBOARD_HOST", "AGENTOTEL_DASHBOARD_PORT",
    "AGENTOTEL_DASHBOARD_USERS", "AGENTOTEL_DASHBOARD_ANONYMOUS_ROLE", "AGENTOTEL_DASHBOARD_RECEIVER_METRICS_URL",
    "AGENTOTEL_ALERT_RULES", "AGENTOTEL_ALERT_ALLOW_HOSTS", "AGENTOTEL_REGISTRY_GATE", "AGENTOTEL_ACTOR",
    "AGENTOTEL_JUDGE_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_database_argument_beats_environment_beats_file_beats_default(monkeypatch, tmp_path):
    assert DatabaseSettings.resolve(parse("db", "upgrade")).url == DEFAULT_DB_URL == "sqlite:///monitoring.db"
    secret = tmp_path / "db-url"
    secret.write_text("postgresql://u:from-file@db/x\n", encoding="utf-8")
    monkeypatch.setenv("MONITORING_DB_URL_FILE", str(secret))
    assert DatabaseSettings.resolve(parse("db", "upgrade")).url == "postgresql://u:from-file@db/x"  # stripped
    monkeypatch.setenv("MONITORING_DB_URL", "sqlite:///from-env.db")
    assert DatabaseSettings.resolve(parse("db", "upgrade")).url == "sqlite:///from-env.db"
    assert DatabaseSettings.resolve(parse("db", "--db", "sqlite:///arg.db", "upgrade")).url == "sqlite:///arg.db"
    assert DatabaseSettings.resolve(None).url == "sqlite:///from-env.db"


def test_database_pool_and_ssl(monkeypatch):
    assert DatabaseSettings.from_env() == DatabaseSettings()
    monkeypatch.setenv("MONITORING_DB_SSL", "true")
    monkeypatch.setenv("MONITORING_DB_POOL_SIZE", "12")
    monkeypatch.setenv("MONITORING_DB_MAX_OVERFLOW", "not-a-number")  # logged, default kept
    settings = DatabaseSettings.from_env()
    assert (settings.ssl, settings.pool_size, settings.max_overflow) == ("require", 12, 10)
    monkeypatch.setenv("MONITORING_DB_SSL", "verify-full")
    assert DatabaseSettings.from_env().ssl == "verify-full"


def test_every_database_command_takes_the_same_db_flag():
    db = ("--db", "sqlite:///x.db")
    commands = [
        ("receive", *db), ("up", *db), ("dashboard", *db), ("db", *db, "upgrade"), ("import", "f", *db),
        ("export", "--table", "spans", "--format", "csv", "o", *db), ("eval", "list", *db), ("eval", "report", "r", *db),
        ("eval", "compare", "a", "b", *db), ("alerts", "list", *db), ("alerts", "dead-letters", *db),
        ("registry", *db, "list"),
    ]  # fmt: skip
    for command in commands:
        assert DatabaseSettings.resolve(parse(*command)).url == "sqlite:///x.db", command
    # registry: before or after the action; a value after it wins, none after it keeps the one before
    assert parse("registry", "list", "--db", "sqlite:///after.db").db == "sqlite:///after.db"
    assert parse("registry", "--db", "sqlite:///before.db", "list").db == "sqlite:///before.db"


def test_receiver_flags_beat_environment_beat_defaults(monkeypatch, tmp_path):
    assert ReceiverSettings.resolve(parse("receive")) == ReceiverSettings()
    monkeypatch.setenv("AGENTOTEL_HOST", "0.0.0.0")
    monkeypatch.setenv("AGENTOTEL_GRPC_PORT", "5317")
    monkeypatch.setenv("AGENTOTEL_SAMPLE_RATE", "0.5")
    monkeypatch.setenv("AGENTOTEL_REDACT_PII", "false")
    keys = tmp_path / "keys"
    keys.write_text("k1,k2", encoding="utf-8")
    monkeypatch.setenv("AGENTOTEL_API_KEYS_FILE", str(keys))
    from_env = ReceiverSettings.resolve(parse("receive"))
    assert (from_env.host, from_env.grpc_port, from_env.sample_rate, from_env.redact_pii, from_env.api_keys) == (
        "0.0.0.0", 5317, 0.5, False, ("k1", "k2"))
    assert from_env.http_port == 4318  # untouched: the default
    given = ReceiverSettings.resolve(parse("receive", "--host", "127.0.0.2", "--grpc-port", "6317", "--sample-rate", "1",
                                           "--api-key", "a", "--api-key", "b"))  # fmt: skip
    assert (given.host, given.grpc_port, given.sample_rate, given.api_keys) == ("127.0.0.2", 6317, 1.0, ("a", "b"))
    monkeypatch.delenv("AGENTOTEL_REDACT_PII")
    assert ReceiverSettings.resolve(parse("receive")).redact_pii
    assert not ReceiverSettings.resolve(parse("receive", "--no-redact")).redact_pii


def test_dashboard_settings(monkeypatch):
    settings = DashboardSettings.resolve(parse("dashboard"))
    assert (settings.host, settings.port, settings.database.url) == ("127.0.0.1", 8501, DEFAULT_DB_URL)
    assert settings.receiver_metrics_url == "http://127.0.0.1:9464/metrics"
    monkeypatch.setenv("MONITORING_DB_URL", "sqlite:///monitoring-env.db")
    assert DashboardSettings.from_env().database.url == "sqlite:///monitoring-env.db"
    monkeypatch.setenv("AGENTOTEL_DASHBOARD_DB_URL", "sqlite:///dashboard-env.db")  # what the CLI hands Streamlit
    monkeypatch.setenv("AGENTOTEL_DASHBOARD_PORT", "9000")
    monkeypatch.setenv("AGENTOTEL_DASHBOARD_ANONYMOUS_ROLE", " Viewer ")
    monkeypatch.setenv("AGENTOTEL_REGISTRY_GATE", "prod=evaluation")
    settings = DashboardSettings.resolve(parse("dashboard"))
    assert (settings.database.url, settings.port, settings.anonymous_role) == ("sqlite:///dashboard-env.db", 9000, "viewer")
    assert settings.registry.gate == "prod=evaluation"
    settings = DashboardSettings.resolve(parse("dashboard", "--db", "sqlite:///arg.db", "--port", "9100",
                                               "--receiver-metrics", "http://r:1/metrics"))  # fmt: skip
    assert (settings.database.url, settings.port, settings.receiver_metrics_url) == (
        "sqlite:///arg.db", 9100, "http://r:1/metrics")


def test_alerting_registry_and_evaluation_settings(monkeypatch, tmp_path):
    assert AlertingSettings.resolve(parse("alerts", "run")) == AlertingSettings()
    assert RegistrySettings.resolve(parse("registry", "list")) == RegistrySettings()
    assert EvaluationSettings.resolve(parse("eval", "list")) == EvaluationSettings()

    monkeypatch.setenv("AGENTOTEL_ALERT_RULES", "env-rules.yaml")
    monkeypatch.setenv("AGENTOTEL_ALERT_ALLOW_HOSTS", " 10.0.0.0/8 , hooks.internal,")
    assert AlertingSettings.resolve(parse("alerts", "run")) == AlertingSettings("env-rules.yaml", ("10.0.0.0/8", "hooks.internal"))
    assert AlertingSettings.resolve(parse("alerts", "run", "--rules", "arg.yaml")).rules_file == "arg.yaml"

    monkeypatch.setenv("AGENTOTEL_ACTOR", "ci-bot")
    monkeypatch.setenv("AGENTOTEL_REGISTRY_GATE", "staging=none")
    assert RegistrySettings.resolve(parse("registry", "list")) == RegistrySettings("staging=none", "ci-bot")
    promote = parse("registry", "promote", "a", "1.0.0", "--to", "dev", "--actor", "ana")
    assert RegistrySettings.resolve(promote).actor == "ana"

    key = tmp_path / "openai-key"
    key.write_text("sk-from-file", encoding="utf-8")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-compatible/v1")
    monkeypatch.setenv("AGENTOTEL_PRICING_FILE", "prices.json")
    run = ["eval", "run", "suite.yaml", "--endpoint", "http://e/v1", "--model", "m"]
    assert EvaluationSettings.resolve(parse(*run)) == EvaluationSettings("sk-from-file", "http://openai-compatible/v1", "prices.json")
    monkeypatch.setenv("AGENTOTEL_JUDGE_BASE_URL", "http://judge/v1")  # the judge's own URL wins over OpenAI's
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")  # NAME wins over NAME_FILE
    settings = EvaluationSettings.resolve(parse(*run))
    assert (settings.openai_api_key, settings.judge_base_url) == ("sk-from-env", "http://judge/v1")
    assert EvaluationSettings.resolve(parse(*run, "--api-key", "sk-arg")).openai_api_key == "sk-arg"


def test_helpers(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTOTEL_TEST_VALUE", "  ")  # blank counts as unset
    assert env_str("AGENTOTEL_TEST_VALUE", "default") == "default"
    monkeypatch.setenv("AGENTOTEL_TEST_VALUE_FILE", str(tmp_path / "missing"))  # unreadable: logged, default
    assert env_int("AGENTOTEL_TEST_VALUE", 7) == 7
    (tmp_path / "number").write_text("42\n", encoding="utf-8")
    monkeypatch.setenv("AGENTOTEL_TEST_VALUE_FILE", str(tmp_path / "number"))
    assert env_int("AGENTOTEL_TEST_VALUE", 7) == 42
    monkeypatch.setenv("AGENTOTEL_TEST_SECRET", "s3cret")
    assert secret_from_env("AGENTOTEL_TEST_SECRET") == "s3cret"
    assert secret_from_env("AGENTOTEL_TEST_NOT_SET") is None
    assert child_environment({"A": "1"}, base={"A": "0", "B": "2"}) == {"A": "1", "B": "2"}
    assert mask_url_password("postgresql://monitor:s3cret@db:5432/w") == "postgresql://monitor:***@db:5432/w"
    assert mask_url_password("sqlite:////var/lib/monitoring.db") == "sqlite:////var/lib/monitoring.db"
    assert DatabaseSettings("postgresql+psycopg://u:p@h/d").display_url == "postgresql+psycopg://u:***@h/d"
