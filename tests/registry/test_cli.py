"""``agentotel registry …`` end to end through ``agentotel.cli.main`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from agentotel.cli import main
from tests.registry.support import evaluate


@pytest.fixture
def cli(db_url, capsys):
    """Run ``agentotel registry ARGS --db URL``; returns (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["registry", "--db", db_url, *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_register_promote_rollback_history(cli, engine, capsys):
    assert cli("list") == (0, "no agents yet: register one, or point an instrumented agent at the receiver\n", "")
    status, out, _ = cli(
        "register", "support-bot", "1.0.0", "--model-type", "gpt-4o", "--provider", "openai",
        "--capability", "search", "--tag", "beta", "--dependency", "openai=>=1.40",
        "--config", "temperature=0.2", "--config", "api_key=sk-live-abcdefghijkl", "--changelog", "first", "--actor", "ana",
    )  # fmt: skip
    assert (status, out) == (0, "registered support-bot@1.0.0\n")
    assert cli("register", "support-bot", "1.1.0", "--actor", "ana")[0] == 0

    status, out, _ = cli("show", "support-bot", "1.0.0")
    assert status == 0
    assert "model_type: gpt-4o" in out and "capabilities: search" in out
    assert '"temperature": 0.2' in out and "[REDACTED]" in out and "sk-live" not in out
    assert "changelog" in out and "ana: first" in out

    assert cli("promote", "support-bot", "1.0.0", "--to", "dev", "--actor", "ana")[1] == (
        "promoted support-bot@1.0.0 to dev (was empty)\n"
    )
    assert cli("promote", "support-bot", "1.1.0", "--to", "dev", "--actor", "ana", "--reason", "new prompt")[1] == (
        "promoted support-bot@1.1.0 to dev (was 1.0.0)\n"
    )
    status, out, _ = cli("rollback", "support-bot", "--env", "dev", "--reason", "answers got worse", "--actor", "bob")
    assert (status, out) == (0, "rolled back support-bot in dev: 1.1.0 → 1.0.0\n")

    status, out, _ = cli("show", "support-bot")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "agent support-bot"
    assert lines[2].split()[:2] == ["dev", "1.0.0"] and lines[3].split()[:2] == ["staging", "-"]

    status, out, _ = cli("history", "support-bot")
    assert status == 0
    rows = out.splitlines()[1:]
    assert "rollback" in rows[0] and "bob" in rows[0] and "1.1.0 → 1.0.0" in rows[0] and "answers got worse" in rows[0]
    assert len(rows) == 5  # 2 registrations, 2 promotions, 1 rollback
    history = json.loads(cli("history", "support-bot", "--json")[1])
    assert [h["action"] for h in history] == ["rollback", "promote", "promote", "register", "register"]
    assert all("sk-live" not in json.dumps(h) for h in history)
    assert [h["action"] for h in json.loads(cli("history", "support-bot", "--env", "dev", "--json")[1])] == [
        "rollback", "promote", "promote",
    ]  # fmt: skip

    listed = json.loads(cli("list", "--json")[1])
    # --db is also accepted after the action
    assert main(["registry", "list", "--json", "--db", engine.url.render_as_string(hide_password=False)]) == 0
    assert json.loads(capsys.readouterr().out) == listed
    assert [(v["version"], v["environments"]) for v in listed] == [("1.0.0", ["dev"]), ("1.1.0", [])]


@pytest.mark.slow
def test_gate_refusal_override_and_clear_errors(cli, engine):
    cli("register", "bot", "1.0.0", "--actor", "ana")
    cli("register", "bot", "1.1.0", "--actor", "ana")
    cli("promote", "bot", "1.0.0", "--to", "dev", "--actor", "ana")
    status, out, err = cli("promote", "bot", "1.0.0", "--to", "staging", "--actor", "ana")
    assert status == 3  # the gate refused: not 2 like a typo (issue 18, failure 7)
    assert "[FAIL] evaluation: no completed evaluation run of bot@1.0.0" in out
    assert err.startswith("agentotel: error: promotion of bot@1.0.0 to staging refused by the gate")
    status, out, _ = cli("promote", "bot", "1.0.0", "--to", "staging", "--actor", "ana", "--override", "demo day")
    assert (status, out) == (0, "promoted bot@1.0.0 to staging (was empty) (gate overridden)\n")
    evaluate(engine, "bot", "1.0.0")
    assert cli("promote", "bot", "1.0.0", "--to", "prod", "--actor", "ana")[0] == 0

    errors = {
        ("register", "bot", "1.0", "--actor", "a"): "not a semantic version",
        ("register", "bot", "1.0.0", "--actor", "a"): "already registered",
        ("register", "bot", "1.2.0", "--config", "novalue"): "--config expects KEY=VALUE",
        ("promote", "ghost", "1.0.0", "--to", "dev"): "no agent named 'ghost'",
        ("promote", "bot", "9.9.9", "--to", "dev"): "agent 'bot' has no version '9.9.9'",
        ("promote", "bot", "1.0.0", "--to", "dev"): "already active in dev",
        ("promote", "bot", "1.1.0", "--to", "dev", "--expect-active", "none"): "not no version as expected",
        ("rollback", "bot", "--env", "prod", "--reason", "x"): "no earlier version to roll back to",
        ("rollback", "bot", "--env", "dev", "--reason", "x", "--to", "2.0.0"): "no version '2.0.0'",
        ("show", "ghost"): "no agent named 'ghost'",
        ("show", "bot", "3.0.0"): "no version '3.0.0'",
        ("history", "ghost"): "no agent named 'ghost'",
    }
    for args, message in errors.items():
        status, _, err = cli(*args)
        assert status == 2 and message in err, (args, err)
        assert "Traceback" not in err
    with pytest.raises(SystemExit):  # argparse: a rollback needs --reason
        cli("rollback", "bot", "--env", "dev")


def test_register_from_file_and_default_database(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path}/default.db"
    monkeypatch.setenv("MONITORING_DB_URL", url)
    monkeypatch.setenv("AGENTOTEL_ACTOR", "ci-bot")
    meta = tmp_path / "agent.yaml"
    meta.write_text(
        "model_type: gpt-4o-mini\nprovider: openai\ncapabilities: [search]\n"
        "configuration: {temperature: 0.1, password: hunter2}\ntags: [ga]\n",
        encoding="utf-8",
    )
    assert main(["registry", "register", "bot", "2.0.0", "--file", str(meta), "--tag", "override"]) == 0
    shown = json.loads((capsys.readouterr(), main(["registry", "show", "bot", "2.0.0", "--json"]), capsys.readouterr())[2].out)
    agent = shown["agent"]
    assert (agent["model_type"], agent["capabilities"], agent["tags"]) == ("gpt-4o-mini", ["search"], ["override"])
    assert agent["configuration"] == {"temperature": 0.1, "password": "[REDACTED]"}
    assert agent["registered_by"] == "ci-bot"
    bad = tmp_path / "bad.yaml"
    bad.write_text("colour: red\n", encoding="utf-8")
    assert main(["registry", "register", "bot", "2.1.0", "--file", str(bad)]) == 2
    assert "unknown metadata field(s): colour" in capsys.readouterr().err
