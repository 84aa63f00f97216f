"""Test suites in YAML or JSON, validated with errors that name the file and the case.

Format::

    name: qa-basic
    description: optional text
    evaluators: [accuracy, relevance, {name: judge, metric: factuality, model: gpt-4o-mini}]
    cases:
      - id: capital-fr            # optional, defaults to "case-<n>"
        input: What is the capital of France?      # text, chat messages, or a mapping
        expected: Paris           # text or list of acceptable answers (optional)
        context: [France's capital is Paris.]      # reference documents (optional)
        required_points: [Paris]  # points a complete answer covers (optional)
        tags: [geography]
        metadata: {difficulty: easy}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentotel.evaluation.base import TestCase

CASE_KEYS = {"id", "input", "expected", "context", "required_points", "tags", "metadata"}
SUITE_KEYS = {"name", "description", "evaluators", "cases", "metadata", "version"}


class SuiteError(ValueError):
    """A malformed suite; the message names the file and, where it applies, the case."""


@dataclass
class TestSuite:
    """A named list of test cases plus the evaluators it asks for."""

    __test__ = False

    name: str
    cases: list[TestCase]
    description: str = ""
    evaluators: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def hash(self) -> str:
        """SHA-256 of the suite's canonical content (cases and evaluators), independent of formatting."""
        payload = {
            "name": self.name,
            "evaluators": self.evaluators,
            "cases": [
                {
                    "id": c.id,
                    "input": c.input,
                    "expected": c.expected,
                    "context": list(c.context),
                    "required_points": list(c.required_points),
                    "tags": list(c.tags),
                }
                for c in self.cases
            ],
        }
        canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_suite(path: str | Path) -> TestSuite:
    """Read and validate a suite file (``.yaml``/``.yml``/``.json``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such suite file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read suite: {exc}") from None
    data = _parse(path, text)
    return suite_from_dict(data, source=str(path))


def _parse(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{path}: invalid YAML{where}: {problem}") from None


def suite_from_dict(data: Any, source: str | None = None, default_name: str | None = None) -> TestSuite:
    """Validate a parsed suite. A bare list is taken as the list of cases."""
    where = source or "<suite>"
    if isinstance(data, list):
        data = {"cases": data}
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: a suite must be a mapping with 'cases' (or a list of cases), got {_kind(data)}")
    unknown = set(data) - SUITE_KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown suite field(s) {sorted(unknown)}; allowed: {sorted(SUITE_KEYS)}")
    name = data.get("name") or default_name or (Path(source).stem if source else "suite")
    if not isinstance(name, str):
        raise SuiteError(f"{where}: 'name' must be text, got {_kind(name)}")
    raw_cases = data.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise SuiteError(f"{where}: 'cases' must be a non-empty list")
    cases: list[TestCase] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_cases, start=1):
        case = _case(raw, index, where)
        if case.id in seen:
            raise SuiteError(f"{where}: case #{index} ({case.id!r}): duplicate id, first used by case #{seen[case.id]}")
        seen[case.id] = index
        cases.append(case)
    evaluators = _evaluators(data.get("evaluators"), where)
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SuiteError(f"{where}: 'metadata' must be a mapping")
    description = data.get("description") or ""
    return TestSuite(
        name=name,
        cases=cases,
        description=str(description),
        evaluators=evaluators,
        metadata=metadata,
        source=source,
    )


def _case(raw: Any, index: int, where: str) -> TestCase:
    label = f"{where}: case #{index}"
    if not isinstance(raw, dict):
        raise SuiteError(f"{label}: a case must be a mapping, got {_kind(raw)}")
    case_id = raw.get("id", f"case-{index}")
    if not isinstance(case_id, (str, int)) or isinstance(case_id, bool) or str(case_id).strip() == "":
        raise SuiteError(f"{label}: 'id' must be non-empty text")
    case_id = str(case_id)
    label = f"{where}: case #{index} ({case_id!r})"
    unknown = set(raw) - CASE_KEYS
    if unknown:
        raise SuiteError(f"{label}: unknown field(s) {sorted(unknown)}; allowed: {sorted(CASE_KEYS)}")
    if "input" not in raw or raw["input"] is None or raw["input"] == "":
        raise SuiteError(f"{label}: 'input' is required")
    value = raw["input"]
    if not isinstance(value, (str, list, dict)):
        raise SuiteError(f"{label}: 'input' must be text, a list of chat messages or a mapping, got {_kind(value)}")
    if isinstance(value, list) and not all(isinstance(m, dict) and "content" in m for m in value):
        raise SuiteError(f"{label}: 'input' as a list must hold chat messages ({{role, content}})")
    expected = raw.get("expected")
    if expected is not None:
        if isinstance(expected, (int, float)) and not isinstance(expected, bool):
            expected = str(expected)
        elif isinstance(expected, list):
            expected = _texts(expected, "expected", label)
            if not expected:
                raise SuiteError(f"{label}: 'expected' must not be an empty list")
        elif not isinstance(expected, str):
            raise SuiteError(f"{label}: 'expected' must be text or a list of texts, got {_kind(expected)}")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SuiteError(f"{label}: 'metadata' must be a mapping, got {_kind(metadata)}")
    return TestCase(
        id=case_id,
        input=value,
        expected=expected,
        context=tuple(_texts(raw.get("context"), "context", label, allow_single=True)),
        required_points=tuple(_texts(raw.get("required_points"), "required_points", label)),
        tags=tuple(_texts(raw.get("tags"), "tags", label, allow_single=True)),
        metadata=metadata,
    )


def _texts(value: Any, field_name: str, label: str, allow_single: bool = False) -> list[str]:
    if value is None:
        return []
    if allow_single and isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise SuiteError(f"{label}: '{field_name}' must be a list of texts, got {_kind(value)}")
    out = []
    for position, item in enumerate(value, start=1):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise SuiteError(f"{label}: '{field_name}' item {position} must be text, got {_kind(item)}")
        out.append(item)
    return out


def _evaluators(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SuiteError(f"{where}: 'evaluators' must be a list of names or mappings with 'name'")
    out = []
    for position, item in enumerate(value, start=1):
        if isinstance(item, str):
            out.append({"name": item})
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            out.append(dict(item))
        else:
            raise SuiteError(f"{where}: evaluator #{position} must be a name or a mapping with 'name'")
    return out


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def suite_from_cases(name: str, cases: Sequence[TestCase], evaluators: list[dict[str, Any]] | None = None) -> TestSuite:
    """A suite built in code (e.g. from recorded executions)."""
    return TestSuite(name=name, cases=list(cases), evaluators=list(evaluators or []))
