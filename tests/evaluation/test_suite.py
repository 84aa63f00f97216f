import json

import pytest

from agentotel.cli import main
from agentotel.evaluation.suite import SuiteError, load_suite, suite_from_dict

YAML_SUITE = """
name: geography
description: capitals
evaluators: [accuracy, {name: relevance, threshold: 0.2}]
cases:
  - id: fr
    input: What is the capital of France?
    expected: Paris
    context: France's capital is Paris.
    required_points: [Paris]
    tags: [capitals, europe]
  - input:
      - {role: system, content: be brief}
      - {role: user, content: "What is the capital of Japan?"}
    expected: [Tokyo, Tokio]
    metadata: {difficulty: easy}
"""


def test_yaml_and_json_suites_load_to_the_same_content(tmp_path):
    yaml_path = tmp_path / "geo.yaml"
    yaml_path.write_text(YAML_SUITE)
    suite = load_suite(yaml_path)
    assert suite.name == "geography" and len(suite.cases) == 2
    fr, jp = suite.cases
    assert fr.context == ("France's capital is Paris.",) and fr.tags == ("capitals", "europe")
    assert jp.id == "case-2" and jp.expected_answers == ["Tokyo", "Tokio"]
    assert jp.input_text.endswith("capital of Japan?") and jp.metadata == {"difficulty": "easy"}
    assert suite.evaluators == [{"name": "accuracy"}, {"name": "relevance", "threshold": 0.2}]

    import yaml

    json_path = tmp_path / "geo.json"
    json_path.write_text(json.dumps(yaml.safe_load(YAML_SUITE), indent=4))
    assert load_suite(json_path).hash == suite.hash
    changed = YAML_SUITE.replace("Paris\n    context", "Lyon\n    context")
    yaml_path.write_text(changed)
    assert load_suite(yaml_path).hash != suite.hash


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("cases:\n  - id: a\n    expected: x\n", ":2: case #1 ('a'): 'input' is required"),
        ("cases:\n  - input: q\n  - input: r\n    tags: {a: 1}\n", ":4: case #2 ('case-2'): 'tags': Input should be a valid list"),
        ("cases:\n  - id: a\n    input: q\n  - id: a\n    input: r\n", ":4: case #2 ('a'): duplicate id, first used by case #1"),
        ("cases:\n  - id: a\n    input: q\n    expcted: x\n", ":4: case #1 ('a'): unknown field 'expcted'"),
        ("cases:\n  - id: a\n    input: q\n    required_points: [ok, {x: 1}]\n",
         ":4: case #1 ('a'): 'required_points' item 2: Input should be a valid string"),
        ("cases: []\n", ":1: 'cases': List should have at least 1 item"),
        ("cases:\n  - [1, 2]\n", ":2: case #1: must be a mapping, got list"),
        ("name: x\ncases:\n  - input: q\n    expected: {a: b}\n", ":4: case #1 ('case-1'): 'expected': must be text or a list of texts"),
        ("cases:\n  - input: q\n  bad: [\n", "invalid YAML at line 3"),
        ("evaluators: accuracy\ncases:\n  - input: q\n", ":1: 'evaluators': Input should be a valid list"),
        ("evaluators:\n  - accuracy\n  - {metric: x}\ncases:\n  - input: q\n", ":3: evaluator #2: 'name' is required"),
        ("cases:\n  - input: q\n    expected: [a, {b: 1}]\n", ":3: case #1 ('case-1'): 'expected': item 2 must be text, got dict"),
        ("- input: q\n- input: [{role: user}]\n", ":2: case #2 ('case-2'): 'input': as a list must hold chat messages"),
        ("name: [1]\ncases:\n  - input: q\n", ":1: 'name': Input should be a valid string"),
        ("cases:\n  - input: q\n    metadata: [1]\n    tags: 3\n", ":4: case #1 ('case-1'): 'tags': Input should be a valid list (and 1 more)"),
    ],
)
def test_malformed_suites_name_file_line_and_case(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(SuiteError) as excinfo:
        load_suite(path)
    assert str(excinfo.value).startswith(str(path))
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_json_suite_errors_name_the_line_too(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"cases": [{"input": "q"}, {"input": "r", "tags": {"a": 1}}]}, indent=2))
    with pytest.raises(SuiteError, match=r"bad\.json:8: case #2 \('case-2'\): 'tags': Input should be a valid list"):
        load_suite(path)


def test_suite_given_as_data_is_validated_by_the_same_models():
    suite = suite_from_dict([{"input": "q", "expected": 42}], default_name="inline")
    assert suite.name == "inline" and suite.cases[0].expected == "42"
    with pytest.raises(SuiteError, match=r"^<suite>: case #1 \('case-1'\): 'input' is required$"):
        suite_from_dict([{"expected": "x"}])


def test_eval_run_on_a_bad_suite_prints_one_line_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: broken\ncases:\n  - id: a\n    input: q\n    tags: {a: 1}\n")
    code = main(["eval", "run", str(path), "--agent", "tests.evaluation.sample_agents:qa_agent", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"agentotel: error: {path}:5: case #1 ('a'): 'tags': Input should be a valid list\n"


def test_bad_json_and_missing_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"cases": [ {"input": "q"}, ]}')
    with pytest.raises(SuiteError, match=r"bad\.json: invalid JSON at line 1 column"):
        load_suite(path)
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "missing.yaml")


def test_the_shipped_example_suite_loads():
    from pathlib import Path

    import agentotel.evaluation

    suite = load_suite(Path(agentotel.evaluation.__file__).with_name("example_suite.yaml"))
    assert suite.name == "faq-example" and len(suite.cases) == 3
    assert suite.cases[2].input[0]["role"] == "system" and "performance" in {e["name"] for e in suite.evaluators}
