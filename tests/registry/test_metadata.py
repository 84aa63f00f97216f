"""AgentMetadata validation and secret redaction (no database)."""

from __future__ import annotations

import pytest

from agentotel.core.secrets import REDACTED, is_secret_key, redact_secrets
from agentotel.registry import AgentMetadata, InvalidMetadata
from agentotel.registry.gate import GatePolicy, policies_from_env
from agentotel.registry.queries import version_sort_key


@pytest.mark.parametrize("version", ["1.0.0", "0.1.2", "2.0.0-rc.1", "1.2.3-alpha.1+build.7", "10.20.30"])
def test_semantic_versions_are_accepted(version):
    assert AgentMetadata("bot", version).version == version


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", "latest", "", "1.0.0-", None, 1])
def test_other_versions_are_refused_with_a_clear_message(version):
    with pytest.raises(InvalidMetadata, match="not a semantic version"):
        AgentMetadata("bot", version)


@pytest.mark.parametrize("name", ["", "   ", None, "a\nb", "x" * 256])
def test_bad_names_are_refused(name):
    with pytest.raises(InvalidMetadata, match="agent name"):
        AgentMetadata(name, "1.0.0")


def test_fields_are_normalized_and_checked():
    meta = AgentMetadata(
        " bot ", "1.0.0", capabilities=["search", "search", " sql "], tags=("beta",), description="  ",
        dependencies={"openai": ">=1.40"}, configuration={"temperature": 0.2, "tools": ["a"]},
    )  # fmt: skip
    assert meta.name == "bot"
    assert meta.capabilities == ("search", "sql")
    assert meta.tags == ("beta",)
    assert meta.description is None
    with pytest.raises(InvalidMetadata, match="capabilities"):
        AgentMetadata("bot", "1.0.0", capabilities="search")
    with pytest.raises(InvalidMetadata, match="configuration must be JSON"):
        AgentMetadata("bot", "1.0.0", configuration={"t": float("nan")})
    with pytest.raises(InvalidMetadata, match="configuration must be JSON"):
        AgentMetadata("bot", "1.0.0", configuration={"t": object()})
    with pytest.raises(InvalidMetadata, match="dependency"):
        AgentMetadata("bot", "1.0.0", dependencies={"openai": 1})


def test_from_dict_names_unknown_fields():
    assert AgentMetadata.from_dict({"name": "bot", "version": "1.0.0", "tags": ["x"]}).tags == ("x",)
    with pytest.raises(InvalidMetadata, match="unknown metadata field.*colour"):
        AgentMetadata.from_dict({"name": "bot", "version": "1.0.0", "colour": "red"})


def test_semver_precedence_orders_versions():
    versions = ["1.10.0", "1.2.0", "1.2.0-rc.1", "abc123", "0.9.0", ""]
    assert sorted(versions, key=version_sort_key) == ["0.9.0", "1.2.0-rc.1", "1.2.0", "1.10.0", "", "abc123"]


@pytest.mark.parametrize(
    ("key", "secret"),
    [("api_key", True), ("apiKey", True), ("OPENAI_API_KEY", True), ("password", True), ("access_token", True),
     ("client_secret", True), ("authorization", True), ("slack_webhook_url", True), ("max_tokens", False),
     ("token_limit", False), ("api_key_env", False), ("password_file", False), ("temperature", False),
     ("tokenizer", False)],
)  # fmt: skip
def test_secret_keys(key, secret):
    assert is_secret_key(key) is secret


def test_redaction_covers_nested_values_and_credential_shapes():
    config = {
        "model": "gpt-4o",
        "api_key": "abc",
        "api_key_env": "OPENAI_API_KEY",
        "headers": [{"Authorization": "Bearer abcdefghijkl"}, {"x": "sk-proj-abcdefghijklmnop"}],
        "empty_password": "",
    }
    out = redact_secrets(config)
    assert out == {
        "model": "gpt-4o",
        "api_key": REDACTED,
        "api_key_env": "OPENAI_API_KEY",
        "headers": [{"Authorization": REDACTED}, {"x": REDACTED}],
        "empty_password": "",
    }
    assert config["api_key"] == "abc"  # a copy: the input is untouched
    stored = AgentMetadata("bot", "1.0.0", configuration=config).stored_meta()["configuration"]
    assert stored["api_key"] == REDACTED and stored["model"] == "gpt-4o"


def test_gate_policies_from_env():
    assert policies_from_env({})["prod"] == GatePolicy(require_evaluation=True, block_regressions=True)
    assert policies_from_env({})["staging"] == GatePolicy(require_evaluation=True, block_regressions=True)
    assert policies_from_env({})["dev"] == GatePolicy()
    custom = policies_from_env({"AGENTOTEL_REGISTRY_GATE": "staging=no-regression, prod=evaluation"})
    assert custom["staging"].block_regressions and not custom["prod"].block_regressions
    assert custom["dev"] == GatePolicy()
    # malformed: defaults, not a half-applied policy
    assert policies_from_env({"AGENTOTEL_REGISTRY_GATE": "prod=none,qa=evaluation"})["prod"].block_regressions
    with pytest.raises(InvalidMetadata, match="unknown gate level"):
        GatePolicy.parse("strict")
