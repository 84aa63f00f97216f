"""Every command that opens the warehouse: an unopenable database is one line that names it (password
hidden) and exit status 2, never a traceback; an openable one is migrated before use."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from sqlalchemy import inspect

from agentotel.cli import build_parser, main
from agentotel.warehouse.content_keys import new_master_key
from agentotel.warehouse.engine import create_db_engine, open_warehouse

MISSING = "sqlite:////nonexistent/agentotel/x.db"
EXPECTED = f"agentotel: error: cannot open the warehouse {MISSING}: unable to open database file\n"

# every sub-command that opens the warehouse, with the arguments it needs to get that far
IN_PROCESS = {
    "dashboard": ["dashboard"],
    "db upgrade": ["db", "upgrade"],
    "db backup": ["db", "backup", "{tmp}/backup.jsonl.gz"],
    "db restore": ["db", "restore", "{tmp}/backup.jsonl.gz"],
    "db cleanup": ["db", "cleanup", "--older-than", "30d"],
    "export": ["export", "--table", "spans", "--format", "csv", "{tmp}/spans.csv"],
    "import": ["import", "{tmp}/spans.jsonl"],
    "eval run": ["eval", "run", "--recorded", "bot"],
    "eval compare": ["eval", "compare", "run-a", "run-b"],
    "eval report": ["eval", "report", "run-a"],
    "eval list": ["eval", "list"],
    "eval online": ["eval", "online", "--once"],
    "eval online --status": ["eval", "online", "--status"],
    "alerts run": ["alerts", "run", "--once"],
    "alerts list": ["alerts", "list"],
    "alerts ack": ["alerts", "ack", "1", "--by", "ana"],
    "alerts resolve": ["alerts", "resolve", "1"],
    "alerts silence": ["alerts", "silence", "--match", "agent=bot", "--for", "1h", "--by", "ana"],
    "alerts silence list": ["alerts", "silence", "list"],
    "alerts silence expire": ["alerts", "silence", "expire", "abc", "--by", "ana"],
    "alerts dead-letters": ["alerts", "dead-letters"],
    "keys create": ["keys", "create", "--project", "default", "--scope", "read"],
    "keys list": ["keys", "list"],
    "keys rotate": ["keys", "rotate", "k1"],
    "keys revoke": ["keys", "revoke", "k1"],
    "keys rotate-master": ["keys", "rotate-master", "--new-key-file", "{tmp}/new.key"],
    "registry register": ["registry", "register", "bot", "1.0.0", "--actor", "ana"],
    "registry list": ["registry", "list"],
    "registry show": ["registry", "show", "bot"],
    "registry promote": ["registry", "promote", "bot", "1.0.0", "--to", "dev", "--actor", "ana"],
    "registry promote --evaluate": ["registry", "promote", "bot", "1.0.0", "--to", "staging", "--evaluate",
                                    "{tmp}/suite.yaml", "--agent", "tests.evaluation.sample_agents:qa_agent"],
    "registry rollback": ["registry", "rollback", "bot", "--env", "dev", "--reason", "test", "--actor", "ana"],
    "registry history": ["registry", "history", "bot"],
}
# long-running commands: in a child process (they install signal handlers and logging of their own)
SUBPROCESS = {
    "receive": ["receive", "--grpc-port", "0", "--http-port", "0", "--metrics-port", "0", "--spool-dir", "{tmp}/spool"],
    "up": ["up", "--no-dashboard", "--grpc-port", "0", "--http-port", "0", "--metrics-port", "0",
           "--spool-dir", "{tmp}/spool"],
}  # fmt: skip


def _argv(template: list[str], tmp_path, db: str) -> list[str]:
    argv = [part.format(tmp=tmp_path) for part in template]
    return [*argv[:1], "--db", db, *argv[1:]] if argv[0] in ("db", "registry") else [*argv, "--db", db]


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "spans.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "new.key").write_text(new_master_key(), encoding="utf-8")
    return tmp_path


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = (), inherited: bool = False) -> list[str]:
    """Every runnable sub-command that takes --db (itself, or from its group: ``db --db URL upgrade``)."""
    own = any("--db" in action.option_strings for action in parser._actions)
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    found = [" ".join(prefix)] if (own or inherited) and not (groups and groups[0].required) else []
    for group in groups:
        for name, sub in group.choices.items():
            found += _commands(sub, (*prefix, name), inherited or own)
    return found


def test_every_command_that_opens_the_warehouse_is_tested():
    """A new sub-command with --db must join the tables above (before: alerts silence list/expire and the
    keys commands were missing)."""
    tested = set(IN_PROCESS) | set(SUBPROCESS)
    untested = [c for c in _commands(build_parser()) if not any(t == c or t.startswith(c + " --") for t in tested)]
    assert untested == []


@pytest.mark.parametrize("command", IN_PROCESS)
def test_unopenable_database_is_one_clear_line(command, inputs, capsys, monkeypatch):
    monkeypatch.delenv("AGENTOTEL_ALERT_RULES", raising=False)
    monkeypatch.setenv("AGENTOTEL_MASTER_KEY", new_master_key())  # keys rotate-master needs the current one
    assert main(_argv(IN_PROCESS[command], inputs, MISSING)) == 2
    assert capsys.readouterr().err == EXPECTED


@pytest.mark.slow
@pytest.mark.parametrize("command", SUBPROCESS)
def test_unopenable_database_stops_the_servers_with_one_line(command, inputs):
    result = subprocess.run([sys.executable, "-m", "agentotel", *_argv(SUBPROCESS[command], inputs, MISSING)],
                            capture_output=True, text=True, timeout=120, cwd=inputs)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == EXPECTED.strip()


@pytest.mark.slow
def test_unreachable_server_is_named_without_its_password(inputs):
    url = "postgresql://monitor:s3cret-pw@127.0.0.1:1/warehouse"  # nothing listens on port 1
    result = subprocess.run([sys.executable, "-m", "agentotel", "registry", "--db", url, "list"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("agentotel: error: cannot open the warehouse "
                                    "postgresql://monitor:***@127.0.0.1:1/warehouse: ")
    assert "s3cret-pw" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["db cleanup", "export", "eval list", "alerts list", "registry list"])
def test_commands_migrate_the_database_they_open(command, inputs, capsys):
    url = f"sqlite:///{inputs}/fresh.db"
    main(_argv(IN_PROCESS[command], inputs, url))
    engine = create_db_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"alembic_version", "spans", "agent_executions", "alerts", "registry_environments"} <= tables


def test_open_warehouse_without_migration_only_connects(tmp_path):
    engine = open_warehouse(f"sqlite:///{tmp_path}/plain.db", migrate=False)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
