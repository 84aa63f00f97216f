"""Encryption at rest of captured content (issue 20 point 4), on SQLite and PostgreSQL.

The conversations are written through the receiver's real trace pipeline into a warehouse opened with a master
key: no prompt, answer or tool argument is found in the SQLite files, a ``pg_dump`` or a backup; every reader
(the models, ``agentotel export``, a restored backup) gets back exactly what a warehouse without encryption
holds; ``agentotel keys rotate-master`` re-wraps the data keys and leaves the rows as they were; no key, the
wrong key or a damaged value is one clear error, never a wrong value.
"""

from __future__ import annotations

import glob
import gzip
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url

from agentotel.cli import main
from agentotel.core.settings import DatabaseSettings
from agentotel.processors.logs import write_logs
from agentotel.warehouse.content_cipher import ContentKeyError
from agentotel.warehouse.content_keys import new_master_key
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.manager import DatabaseManager
from agentotel.warehouse.models import AgentExecution, Span
from tests.conftest import drop_postgres_database, new_postgres_database
from tests.processors.support import insert_span
from tests.processors.test_logs_writer import (
    EXPECTED_INPUT,
    EXPECTED_OUTPUT,
    SPAN_ID,
    TRACE_ID,
    EventEmitter,
    legacy_chat,
)
from tests.support.conversations import SQL_TURNS, SUPPORT_TURNS, write_conversations

SECRETS = [text for pair in SUPPORT_TURNS + SQL_TURNS for text in pair] + [
    "SELECT count(*) FROM invoices", "zanzibarquux", '"order_id"', "shipped"]


def _open(url: str, key: str | None):
    return create_db_engine(url, DatabaseSettings(url=url, master_key=key))


def _content(engine) -> list[tuple]:
    """Every span's and execution's captured content, in an order that does not depend on random ids."""
    with engine.connect() as conn:
        spans = conn.execute(select(Span.name, Span.input, Span.output, Span.attributes, Span.events)).all()
        runs = conn.execute(select(AgentExecution.input, AgentExecution.output)).all()
    rows = [(s.name, s.input, s.output, json.dumps(s.attributes, sort_keys=True), json.dumps(s.events)) for s in spans]
    return sorted(rows) + sorted((r.input or "", r.output or "") for r in runs)


def _assert_no_secret(blob: bytes, where: str) -> None:
    for secret in SECRETS:
        assert secret.encode() not in blob, f"{secret!r} found in {where}"


def scores(engine) -> list[tuple]:
    """Online evaluation scores (metric, value) of the stored runs, sorted."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, score_value FROM evaluation_results")).all()
    return sorted((r[0], round(float(r[1]), 9)) for r in rows)


def _raw_storage(url: str) -> bytes:
    """The bytes at rest: the SQLite files (database, WAL), else a plain-SQL ``pg_dump``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return b"".join(Path(name).read_bytes() for name in glob.glob(f"{parsed.database}*"))
    dump = subprocess.run(["pg_dump", "--no-owner", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
                           "-U", parsed.username or "postgres", parsed.database], capture_output=True, check=True,
                          timeout=60)
    return dump.stdout


@pytest.fixture
def plain_url(dialect: str, tmp_path):
    """A second warehouse of the same dialect, written without encryption (the reference)."""
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path}/plain.db"
        yield url
        return
    url = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.mark.slow
def test_content_is_encrypted_at_rest_and_reads_back_exactly(db_url, plain_url, tmp_path, monkeypatch, capsys):
    key = new_master_key()
    engine = _open(db_url, key)
    plain = create_db_engine(plain_url)
    try:
        DatabaseManager(engine=plain, url=plain_url).migrate_schema()
        write_conversations(engine)
        write_conversations(plain)
        with engine.connect() as conn:  # stored: the encrypted form only, in every content column
            stored = conn.execute(text("SELECT input, output FROM spans WHERE input IS NOT NULL")).all()
        assert stored and all(value.startswith("agentotel:enc:v1:s") for row in stored for value in row if value)

        assert _content(engine) == _content(plain)  # decrypts back to exactly what was captured
        assert any(SUPPORT_TURNS[0][0] in (row[1] or "") for row in _content(engine))
        engine.dispose()
        _assert_no_secret(_raw_storage(db_url), "the database at rest")
        assert SUPPORT_TURNS[0][0].encode() in _raw_storage(plain_url)  # the probe sees clear text where it is

        backup = tmp_path / "backup.jsonl.gz"
        DatabaseManager(url=db_url, engine=create_db_engine(db_url)).backup(backup)  # no key needed to back up
        _assert_no_secret(gzip.open(backup).read(), "the backup")

        restored_url = f"sqlite:///{tmp_path}/restored.db"
        DatabaseManager(url=restored_url).restore(backup)
        assert _content(_open(restored_url, key)) == _content(plain)  # the data keys travel with the backup

        monkeypatch.setenv("AGENTOTEL_MASTER_KEY", key)
        out = tmp_path / "spans.json"
        assert main(["export", "--db", db_url, "--table", "spans", "--format", "json", str(out)]) == 0
        exported = out.read_text()
        assert SUPPORT_TURNS[0][0] in exported and "agentotel:enc:" not in exported
        capsys.readouterr()

        monkeypatch.delenv("AGENTOTEL_MASTER_KEY")  # no key: one clear line, exit 2, no file of ciphertext
        assert main(["export", "--db", db_url, "--table", "spans", "--format", "json", str(tmp_path / "x.json")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "AGENTOTEL_MASTER_KEY" in err and "encrypted" in err
    finally:
        plain.dispose()


@pytest.mark.slow
def test_rotate_master_rewraps_keys_without_touching_rows(db_url, tmp_path, monkeypatch, capsys):
    old, new = new_master_key(), new_master_key()
    engine = _open(db_url, old)
    write_conversations(engine)
    before = _content(engine)
    with engine.connect() as conn:
        raw_before = conn.execute(text("SELECT span_id, input, output, attributes FROM spans ORDER BY span_id")).all()
    engine.dispose()

    new_file = tmp_path / "new.key"
    new_file.write_text(new + "\n")
    monkeypatch.setenv("AGENTOTEL_MASTER_KEY", old)
    assert main(["keys", "rotate-master", "--db", db_url, "--new-key-file", str(new_file)]) == 0
    assert "re-wrapped 1 data key" in capsys.readouterr().out

    rotated = _open(db_url, new)
    try:
        assert _content(rotated) == before
        with rotated.connect() as conn:
            raw_after = conn.execute(text("SELECT span_id, input, output, attributes FROM spans ORDER BY span_id")).all()
        assert [tuple(r) for r in raw_after] == [tuple(r) for r in raw_before]  # no content row rewritten
    finally:
        rotated.dispose()
    stale = _open(db_url, old)
    try:
        with pytest.raises(ContentKeyError, match="not the one that wrapped"), stale.connect() as conn:
            conn.execute(select(Span.input).where(Span.input.isnot(None))).all()
    finally:
        stale.dispose()
    # rotating again from a key that is not the current one changes nothing and says why
    assert main(["keys", "rotate-master", "--db", db_url, "--new-key-file", str(new_file)]) == 2
    assert "not the one that wrapped" in capsys.readouterr().err


def test_missing_wrong_or_damaged_key_is_a_clear_error(db_url):
    key = new_master_key()
    engine = _open(db_url, key)
    write_conversations(engine)
    with engine.begin() as conn:  # flip one character of one stored value
        span_id, value = conn.execute(text("SELECT span_id, input FROM spans WHERE input IS NOT NULL")).first()
        damaged = value[:-6] + ("A" if value[-6] != "A" else "B") + value[-5:]
        conn.execute(update(Span.__table__).where(Span.__table__.c.span_id == span_id).values(input=damaged))
    try:
        with pytest.raises(ContentKeyError, match="damaged or tampered"), engine.connect() as conn:
            conn.execute(select(Span.input).where(Span.span_id == span_id)).all()
    finally:
        engine.dispose()
    for other_key, message in ((None, "no master key"), (new_master_key(), "not the one that wrapped")):
        reader = _open(db_url, other_key)
        try:
            with pytest.raises(ContentKeyError, match=message), reader.connect() as conn:
                conn.execute(select(Span.attributes)).all()
        finally:
            reader.dispose()
    with pytest.raises(ContentKeyError, match="32 random bytes"):
        _open(db_url, "too-short")


def test_new_master_prints_a_usable_key(capsys):
    assert main(["keys", "new-master"]) == 0
    printed = capsys.readouterr().out.strip()
    assert len(printed) == 44 and printed != new_master_key()


@pytest.mark.slow
def test_content_events_sent_as_logs_are_encrypted_too(db_url):
    """GenAI content events (OTLP logs, the real SDK's encoding): their bodies and the span content rebuilt from
    them are stored encrypted and read back as without encryption."""
    engine = _open(db_url, new_master_key())
    try:
        insert_span(engine, TRACE_ID, SPAN_ID)
        emitter = EventEmitter()
        legacy_chat(emitter)
        assert write_logs(engine, emitter.request()) == 3
        with engine.connect() as conn:
            raw = [*conn.execute(text("SELECT body FROM logs")).scalars(), *conn.execute(text("SELECT input, output FROM spans")).one()]
            clear = conn.execute(select(Span.input, Span.output)).one()
        assert raw and all(value.startswith("agentotel:enc:v1:") for value in raw)
        assert (json.loads(clear.input), json.loads(clear.output)) == (EXPECTED_INPUT, EXPECTED_OUTPUT)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_explorer_reads_show_clear_previews(db_url, plain_url):
    """The trace list's input previews, the tool call list's arguments/results, the executions evaluation replays
    and the online evaluation's scores are the same with encryption as without (previews cut after
    decryption, never a cut encrypted value)."""
    from agentotel.evaluation.executions import recorded_executions
    from agentotel.evaluation.online import OnlineAgentConfig, OnlineConfig, OnlineEvaluator
    from agentotel.warehouse.tool_calls import tool_call_list
    from agentotel.warehouse.traces import recent_traces

    engine = _open(db_url, new_master_key())
    plain = create_db_engine(plain_url)
    try:
        DatabaseManager(engine=plain, url=plain_url).migrate_schema()
        write_conversations(engine)
        write_conversations(plain)

        def seen(eng):
            traces = recent_traces(eng, limit=50)
            tools = tool_call_list(eng, limit=50)
            return (sorted(traces["input_preview"]), sorted(zip(tools["arguments"], tools["result"], strict=True)))

        encrypted, clear = seen(engine), seen(plain)
        assert encrypted == clear

        def recorded(eng):  # what evaluation replays and online evaluation scores: the runs' input/output
            return sorted((r["input"], r["output"]) for r in recorded_executions(eng, "support-agent"))

        assert recorded(engine) == recorded(plain) and SUPPORT_TURNS[0][1] in str(recorded(engine))
        config = OnlineConfig(agents=(OnlineAgentConfig(sample_rate=1.0, evaluators=("coherence",)),),
                              lookback=timedelta(hours=2))
        OnlineEvaluator(engine, config).tick()
        OnlineEvaluator(plain, config).tick()
        assert scores(engine) == scores(plain) and scores(engine)
        assert any(SUPPORT_TURNS[0][0] in p for p in encrypted[0]) and not any("agentotel:enc" in p for p in encrypted[0])
    finally:
        engine.dispose()
        plain.dispose()


@pytest.mark.slow
def test_a_project_scoped_reader_decrypts_its_content(db_url):
    """The readers' scoped engine (on PostgreSQL the row-level-security reader role) reads the wrapped data keys
    and decrypts; a scope without the project sees no row at all."""
    from agentotel.warehouse.scoping import scope_engine

    key = new_master_key()
    engine = _open(db_url, key)
    write_conversations(engine)
    expected = _content(engine)
    engine.dispose()
    reader = scope_engine(_open(db_url, key), ["default"])
    other = scope_engine(_open(db_url, key), ["another"])
    try:
        assert _content(reader) == expected and SUPPORT_TURNS[0][0] in str(expected)
        with other.connect() as conn:
            assert conn.execute(select(Span.input)).all() == []
    finally:
        reader.dispose()
        other.dispose()
