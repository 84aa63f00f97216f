import json

import pytest

from agentotel.evaluation.suite import SuiteError, load_suite

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
        ("cases:\n  - id: a\n    expected: x\n", "case #1 ('a'): 'input' is required"),
        ("cases:\n  - input: q\n  - input: r\n    tags: {a: 1}\n", "case #2 ('case-2'): 'tags' must be a list"),
        ("cases:\n  - id: a\n    input: q\n  - id: a\n    input: r\n", "case #2 ('a'): duplicate id, first used by case #1"),
        ("cases:\n  - id: a\n    input: q\n    expcted: x\n", "case #1 ('a'): unknown field(s) ['expcted']"),
        ("cases:\n  - id: a\n    input: q\n    required_points: [ok, {x: 1}]\n", "'required_points' item 2 must be text"),
        ("cases: []\n", "'cases' must be a non-empty list"),
        ("cases:\n  - [1, 2]\n", "case #1: a case must be a mapping, got list"),
        ("name: x\ncases:\n  - input: q\n    expected: {a: b}\n", "'expected' must be text or a list of texts"),
        ("cases:\n  - input: q\n  bad: [\n", "invalid YAML at line"),
        ("evaluators: accuracy\ncases:\n  - input: q\n", "'evaluators' must be a list"),
    ],
)
def test_malformed_suites_name_file_and_case(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(SuiteError) as excinfo:
        load_suite(path)
    assert str(path) in str(excinfo.value)
    assert message in str(excinfo.value)


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
