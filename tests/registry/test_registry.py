"""AgentRegistry on SQLite and PostgreSQL: registration, adoption of discovered versions, updates, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agentotel.core.secrets import REDACTED
from agentotel.registry import (
    AgentMetadata,
    AgentNotFound,
    DuplicateVersion,
    ImmutableField,
    InvalidMetadata,
    VersionNotFound,
    audit_log,
    changelog,
)
from tests.registry.support import count_rows, discover, make_registry, scalar


def test_register_and_read_back(engine):
    registry = make_registry(engine)
    meta = AgentMetadata(
        "support-bot", "1.2.0", model_type="gpt-4o", provider="openai", capabilities=["search", "refunds"],
        dependencies={"openai": ">=1.40"}, configuration={"temperature": 0.2, "api_key": "sk-live-abcdefghijkl"},
        tags=["beta"], description="answers tickets",
    )  # fmt: skip
    stored = registry.register_agent(meta, actor="ana", changelog="first release")
    assert stored.registered and stored.source == "registry"
    got = registry.get_agent("support-bot", "1.2.0")
    assert got == stored
    assert (got.model_type, got.provider, got.description) == ("gpt-4o", "openai", "answers tickets")
    assert got.capabilities == ("search", "refunds") and got.tags == ("beta",)
    assert got.dependencies == {"openai": ">=1.40"}
    assert got.configuration == {"temperature": 0.2, "api_key": REDACTED}
    assert got.registered_by == "ana" and got.registered_at is not None
    assert [e.entry for e in changelog(engine, "support-bot")] == ["first release"]
    # the secret is nowhere in the database
    assert scalar(engine, "select count(*) from agents where cast(metadata as text) like '%sk-live%'") == 0
    assert scalar(engine, "select count(*) from registry_audit_log where cast(after as text) like '%sk-live%'") == 0


def test_registered_versions_are_immutable(engine):
    registry = make_registry(engine)
    registry.register_agent(AgentMetadata("bot", "1.0.0", model_type="a"), actor="ana")
    with pytest.raises(DuplicateVersion, match="already registered"):
        registry.register_agent(AgentMetadata("bot", "1.0.0", model_type="b"), actor="bob")
    assert registry.get_agent("bot", "1.0.0").model_type == "a"
    with pytest.raises(ImmutableField, match="model_type.*new version"):
        registry.update_agent("bot", "1.0.0", actor="bob", model_type="b")
    with pytest.raises(ImmutableField, match="configuration"):
        registry.update_agent("bot", "1.0.0", actor="bob", configuration={"x": 1})
    assert count_rows(engine, "registry_audit_log") == 1  # refused changes left nothing behind


def test_registration_adopts_a_version_discovered_in_telemetry(engine):
    discover(engine, "bot", "2.0.0")
    registry = make_registry(engine)
    before = registry.get_agent("bot", "2.0.0")
    assert before.source == "telemetry" and not before.registered
    adopted = registry.register_agent(AgentMetadata("bot", "2.0.0", model_type="gpt-4o"), actor="ana")
    assert adopted.id == before.id  # same row: executions already linked to it stay linked
    assert adopted.source == "registry" and adopted.model_type == "gpt-4o"
    assert adopted.created_at == before.created_at and adopted.last_seen_at == before.last_seen_at
    assert count_rows(engine, "agents", name="bot") == 1
    [entry] = audit_log(engine, name="bot")
    assert (entry.action, entry.before) == ("adopt", {"source": "telemetry"})
    # the receiver seeing the version again changes nothing
    discover(engine, "bot", "2.0.0")
    assert registry.get_agent("bot", "2.0.0").source == "registry"


def test_lookups_name_what_is_missing(engine):
    registry = make_registry(engine)
    with pytest.raises(AgentNotFound, match="no agent named 'ghost'"):
        registry.get_agent("ghost", "1.0.0")
    with pytest.raises(AgentNotFound):
        registry.get_agent_history("ghost")
    discover(engine, "seen", "abc123")
    with pytest.raises(VersionNotFound, match="no registered version"):
        registry.get_agent("seen")
    registry.register_agent(AgentMetadata("seen", "1.0.0"), actor="ana")
    registry.register_agent(AgentMetadata("seen", "1.10.0"), actor="ana")
    registry.register_agent(AgentMetadata("seen", "1.9.0"), actor="ana")
    assert registry.get_agent("seen").version == "1.10.0"  # semver precedence, not text order
    with pytest.raises(VersionNotFound, match="no version '9.9.9'"):
        registry.get_agent("seen", "9.9.9")
    listed = registry.list_agents("seen")
    assert [v.version for v in listed] == ["1.0.0", "1.9.0", "1.10.0", "abc123"]
    assert [v.version for v in registry.list_agents("seen", include_discovered=False)] == ["1.0.0", "1.9.0", "1.10.0"]


def test_update_labels_is_audited_with_before_and_after(engine):
    registry = make_registry(engine)
    registry.register_agent(AgentMetadata("bot", "1.0.0", tags=["beta"], description="old"), actor="ana")
    updated = registry.update_agent("bot", "1.0.0", actor="bob", reason="GA", tags=["ga"], description="new")
    assert updated.tags == ("ga",) and updated.description == "new"
    assert registry.get_agent("bot", "1.0.0").tags == ("ga",)
    entry = registry.get_agent_history("bot")[-1]
    assert (entry.actor, entry.action, entry.reason, entry.target) == ("bob", "update", "GA", "bot@1.0.0")
    assert entry.before == {"tags": ["beta"], "description": "old"}
    assert entry.after == {"tags": ["ga"], "description": "new"}
    with pytest.raises(InvalidMetadata, match="nothing to update"):
        registry.update_agent("bot", "1.0.0", actor="bob")
    with pytest.raises(InvalidMetadata, match="unknown field"):
        registry.update_agent("bot", "1.0.0", actor="bob", colour="red")
    with pytest.raises(InvalidMetadata, match="actor"):
        registry.update_agent("bot", "1.0.0", actor=" ", tags=["x"])
    discover(engine, "bot", "0.0.1-dev")
    with pytest.raises(InvalidMetadata, match="register it first"):
        registry.update_agent("bot", "0.0.1-dev", actor="bob", tags=["x"])


def test_history_lists_every_change_in_order(engine):
    registry = make_registry(engine)
    registry.register_agent(AgentMetadata("bot", "1.0.0"), actor="ana", changelog="init")
    registry.add_changelog("bot", "1.0.0", "fixed a prompt typo", actor="bob")
    registry.versions.promote("bot", "1.0.0", "dev", actor="cy", reason="try it")
    history = registry.get_agent_history("bot")
    assert [(h.action, h.actor) for h in history] == [("register", "ana"), ("changelog", "bob"), ("promote", "cy")]
    assert history[2].reason == "try it" and history[2].environment == "dev"
    assert [e.entry for e in changelog(engine, "bot", "1.0.0")] == ["init", "fixed a prompt typo"]
    assert all(h.at is not None and h.at.tzinfo is not None for h in history)


@pytest.mark.parametrize("table", ["registry_audit_log", "registry_changelog", "registry_deployments"])
def test_history_tables_are_append_only(engine, table):
    registry = make_registry(engine)
    registry.register_agent(AgentMetadata("bot", "1.0.0"), actor="ana", changelog="init")
    registry.versions.promote("bot", "1.0.0", "dev", actor="ana")
    rows = count_rows(engine, table)
    assert rows >= 1
    for statement in (f"UPDATE {table} SET agent_name = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert count_rows(engine, table) == rows
    assert count_rows(engine, table, agent_name="bot") == rows


def test_metadata_round_trips_through_the_registry(engine):
    registry = make_registry(engine)
    meta = AgentMetadata("bot", "1.0.0", model_type="m", provider="p", capabilities=["a"], tags=["t"],
                         dependencies={"x": "^1"}, configuration={"k": [1, 2]}, description="d")  # fmt: skip
    registry.register_agent(meta, actor="ana")
    back = AgentMetadata.from_version(registry.get_agent("bot", "1.0.0"))
    assert back.with_changes(created_at=None, updated_at=None) == meta
    assert back.created_at is not None and back.updated_at is not None
    discover(engine, "bot", "0.9.0")
    with pytest.raises(InvalidMetadata, match="discovered in telemetry"):
        AgentMetadata.from_version(registry.get_agent("bot", "0.9.0"))


def test_registration_racing_discovery_and_itself(engine):
    """The receiver discovering versions while they are registered; two registrations of one version."""
    import threading

    registry = make_registry(engine)
    versions = [f"1.{i}.0" for i in range(12)]
    errors: list[BaseException] = []

    def receiver():
        try:
            for v in versions:
                discover(engine, "bot", v)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def registrar(actor):
        for v in versions:
            try:
                registry.register_agent(AgentMetadata("bot", v, model_type="m"), actor=actor)
            except DuplicateVersion:
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=receiver), threading.Thread(target=registrar, args=("ana",)),
               threading.Thread(target=registrar, args=("bob",))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    agents = registry.list_agents("bot")
    assert [a.version for a in agents] == versions
    assert all(a.registered and a.model_type == "m" for a in agents)
    registrations = [e for e in audit_log(engine, name="bot", limit=None) if e.action in ("register", "adopt")]
    assert len(registrations) == len(versions)  # exactly one winner per version
