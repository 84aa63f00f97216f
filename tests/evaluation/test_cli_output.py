"""``agentotel eval`` output a script can rely on (issue 18, failure 7): ``--format json`` is exactly one JSON
document on standard output, with or without ``--baseline``; power guidance and the registry link are
printed; the practical-threshold flags reach the detector."""

from __future__ import annotations

import json

import pytest

from agentotel.cli import main
from tests.evaluation.test_cli import SUITE

AGENT = "tests.evaluation.sample_agents:"


def _run(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_is_one_document_with_and_without_a_baseline(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/e.db"
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    code, out, err = _run(["eval", "run", str(suite), "--agent", AGENT + "qa_agent", "--agent-name", "geo",
                           "--agent-version", "1.0.0", "--db", db, "--format", "json"], capsys)
    assert code == 0
    first = json.loads(out)  # the whole of stdout: no progress bar, no 'run …' line before it
    assert set(first) == {"run", "linked", "summary", "power", "comparison"}
    assert first["run"]["cases"] == 16 and first["comparison"] is None and len(first["run"]["suite_hash"]) == 64
    assert first["linked"]["agent_version"] == "1.0.0" and first["linked"]["registry"] is None
    assert "not registered yet" in first["linked"]["message"]
    power = {row["metric"]: row for row in first["power"]}
    assert power["error"]["n"] == 16 and power["error"]["detectable"] > 0.05 and power["error"]["enough"] is False
    assert "warning: error: 16 cases detect a change of 0.226 or more with 80% power" in err  # the gate cares about 0.05
    assert power["accuracy.fuzzy"]["detectable"] is None  # every case scored 0.9: no spread to reason from

    code, out, err = _run(["eval", "run", str(suite), "--agent", AGENT + "wrong_agent", "--agent-name", "geo",
                           "--agent-version", "2.0.0", "--db", db, "--format", "json", "--baseline",
                           first["run"]["id"]], capsys)
    assert code == 1
    second = json.loads(out)  # still one document: the comparison is inside it
    assert second["comparison"]["baseline_run_id"] == first["run"]["id"]
    assert "accuracy.fuzzy" in second["comparison"]["regressions"]
    assert "regression in:" in err


def test_markdown_run_prints_power_guidance_and_the_link(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/e.db"
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    code, out, _ = _run(["eval", "run", str(suite), "--agent", AGENT + "qa_agent", "--db", db, "--no-progress"], capsys)
    assert code == 0
    assert "not linked to a registry version: add --agent-name NAME --agent-version VERSION" in out
    assert "Smallest change detectable with 80% power" in out and "| accuracy.fuzzy | 16 |" in out


def test_floors_and_tails_from_the_command_line(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/e.db"
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    ids = []
    for agent in ("qa_agent", "qa_agent"):
        code, out, _ = _run(["eval", "run", str(suite), "--agent", AGENT + agent, "--db", db, "--format", "json"], capsys)
        ids.append(json.loads(out)["run"]["id"])
    code, out, err = _run(["eval", "compare", *ids, "--db", db, "--format", "json", "--floor", "latency=0.001",
                           "--tail", "latency", "--metric-threshold", "accuracy.fuzzy=0.2"], capsys)
    report = json.loads(out)
    by_metric = {m["metric"]: m for m in report["metrics"]}
    assert by_metric["latency_ms"]["practical"] == "max(10%, 0.001 ms)"
    assert by_metric["accuracy.fuzzy"]["practical"] == "0.2"
    assert report["untestable"]["latency_ms.p95"] == "16 cases < 40"  # a tail needs 40 cases per run
    assert "not tested: latency_ms.p95: 16 cases < 40" in err
    with pytest.raises(SystemExit) as usage:  # argparse: NAME=VALUE
        main(["eval", "compare", *ids, "--db", db, "--floor", "latency"])
    assert usage.value.code == 2 and "expected NAME=VALUE" in capsys.readouterr().err
