"""``agentotel registry`` at the command line (issue 18, failures 5 and 7): promote --evaluate in one step, a
gate refusal's own exit status and visible reason, history's --limit checked, no migration chatter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentotel.cli import main
from tests.evaluation.test_cli import SUITE

AGENT = "tests.evaluation.sample_agents:"


@pytest.fixture
def cli(db_url, capsys):
    def run(*args: str) -> tuple[int, str, str]:
        status = main(["registry", "--db", db_url, *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def _suite_and_versions(cli, tmp_path, monkeypatch, *versions: str):
    """The suite file, and ``versions`` of geo registered and in dev (the test agent answers in 2 ms)."""
    monkeypatch.setenv("EVAL_TEST_AGENT_DELAY", "0.002")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    for version in versions:
        cli("register", "geo", version, "--actor", "ana")
        cli("promote", "geo", version, "--to", "dev", "--actor", "ana")
    return suite


@pytest.mark.slow
def test_promote_evaluate_runs_the_suite_and_gates_on_it(cli, tmp_path, monkeypatch):
    suite = _suite_and_versions(cli, tmp_path, monkeypatch, "1.0.0", "2.0.0")
    status, out, err = cli("promote", "geo", "1.0.0", "--to", "staging", "--evaluate", str(suite),
                           "--agent", AGENT + "qa_agent", "--actor", "ana")
    assert status == 0, err
    assert out.startswith("evaluated geo@1.0.0 on suite capitals: run ") and "16 case(s), 0 error(s)" in out
    assert "promoted geo@1.0.0 to staging (was empty); evidence: run " in out

    status, out, err = cli("promote", "geo", "2.0.0", "--to", "staging", "--evaluate", str(suite),
                           "--agent", AGENT + "wrong_agent", "--actor", "bob")
    assert status == 3, (out, err)  # refused by the gate: its own status, not 2 like a typo
    assert "[FAIL] regression: significant regression against 1.0.0" in out and "accuracy.fuzzy" in out
    assert err.splitlines()[-1].startswith("agentotel: error: promotion of geo@2.0.0 to staging refused by the gate")

    # the refusal is in the history, with why: the REASON column was empty before
    status, out, _ = cli("history", "geo", "--env", "staging")
    refused = next(line for line in out.splitlines() if "refused" in line)
    assert "gate: significant regression against 1.0.0" in refused

    assert cli("promote", "geo", "2.0.0", "--to", "staging", "--agent", AGENT + "qa_agent")[0] == 2  # needs --evaluate
    status, _, err = cli("promote", "geo", "3.0.0", "--to", "staging", "--evaluate", str(suite), "--agent", AGENT + "qa_agent")
    assert status == 2 and "geo@3.0.0 is not registered" in err


def test_history_limit_must_be_positive(cli):
    cli("register", "bot", "1.0.0", "--actor", "ana")
    for bad in ("-1", "0", "ten"):
        with pytest.raises(SystemExit) as usage:
            cli("history", "bot", "--limit", bad)
        assert usage.value.code == 2
    assert cli("history", "bot", "--limit", "1")[0] == 0


def test_a_malformed_gate_policy_is_one_line_not_a_silent_default(cli, monkeypatch):
    cli("register", "bot", "1.0.0", "--actor", "ana")
    monkeypatch.setenv("AGENTOTEL_REGISTRY_GATE", "prod: {min_case: 3}")
    status, _, err = cli("promote", "bot", "1.0.0", "--to", "dev", "--actor", "ana")
    assert status == 2 and err.startswith("agentotel: error: AGENTOTEL_REGISTRY_GATE: prod: unknown field(s) min_case")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow  # three fresh interpreters
def test_registry_commands_print_no_migration_lines(tmp_path):
    """Every registry command opened (and migrated) the warehouse with ~9 Alembic INFO lines on stderr."""
    url = f"sqlite:///{tmp_path}/fresh.db"
    for argv in (["list"], ["register", "bot", "1.0.0", "--actor", "ana"], ["history", "bot"]):
        result = subprocess.run([sys.executable, "-m", "agentotel", "registry", "--db", url, *argv],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "alembic" not in result.stderr.lower() and result.stderr == "", result.stderr


@pytest.mark.slow  # two evaluations of the suite
def test_promote_evaluate_power_guidance_uses_the_gates_thresholds(cli, tmp_path, monkeypatch):
    """The warning compares the detectable change with the threshold the gate will use: the policy's for this
    agent and environment (before: the detector's defaults whatever the policy)."""
    suite = _suite_and_versions(cli, tmp_path, monkeypatch, "1.0.0", "1.1.0")
    status, _, err = cli("promote", "geo", "1.0.0", "--to", "staging", "--evaluate", str(suite),
                         "--agent", AGENT + "qa_agent", "--actor", "ana")
    assert status == 0, err
    assert "warning: error: 16 cases detect a change of 0.226 or more with 80% power, above the gate's practical " \
           "threshold 0.05" in err
    # (the latency floor keeps a loaded machine's jitter of a 2 ms agent from deciding this promotion)
    monkeypatch.setenv("AGENTOTEL_REGISTRY_GATE", "staging: {thresholds: {error: 0.5}, floors: {latency: 1000}}\n")
    status, _, err = cli("promote", "geo", "1.1.0", "--to", "staging", "--evaluate", str(suite),
                         "--agent", AGENT + "qa_agent", "--actor", "ana")
    assert status == 0, err
    assert "warning: error:" not in err  # 0.226 is within the policy's 0.5
