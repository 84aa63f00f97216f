"""Test suites in YAML or JSON, validated by pydantic models with errors naming the file, line and case.

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
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from agentotel.core.yaml_lines import LocatedDocument, LocatedSyntaxError, error_message, parse_located
from agentotel.evaluation.base import TestCase


class SuiteError(ValueError):
    """A malformed suite: ``file:line: case #n ('id'): problem`` (line and case where they apply)."""


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


# --- the file format as pydantic models ------------------------------------------------------------
# Text fields take numbers as text (``expected: 42``); a missing or null list is empty.


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _none_as_empty(value: Any) -> Any:
    return [] if value is None else value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else _none_as_empty(value)


def _case_input(value: Any) -> Any:
    if value is None or value == "":
        raise ValueError("must not be empty")
    if not isinstance(value, (str, list, dict)):
        raise ValueError(f"must be text, a list of chat messages or a mapping, got {_kind(value)}")
    if isinstance(value, list) and not all(isinstance(m, dict) and "content" in m for m in value):
        raise ValueError("as a list must hold chat messages ({role, content})")
    return value


def _expected(value: Any) -> Any:
    """Checked here rather than by the union, so an error names the item, not the union's members."""
    if isinstance(value, list):
        if not value:
            raise ValueError("must not be an empty list")
        bad = next((i for i, item in enumerate(value, 1) if isinstance(item, bool) or not isinstance(item, (str, int, float))), None)
        if bad is not None:
            raise ValueError(f"item {bad} must be text, got {_kind(value[bad - 1])}")
        return [str(item) for item in value]
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
        raise ValueError(f"must be text or a list of texts, got {_kind(value)}")
    return value


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must be non-empty text")
    return value


def _none_as_empty_mapping(value: Any) -> Any:
    return {} if value is None else value


def _description(value: Any) -> str:
    return "" if value is None else str(value)


def _evaluator(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


Texts = Annotated[list[str], BeforeValidator(_none_as_empty)]
TextOrTexts = Annotated[list[str], BeforeValidator(_one_or_many)]


class EvaluatorSpec(BaseModel):
    """An evaluator the suite asks for: its registered name (or just the name) and its settings."""

    model_config = ConfigDict(extra="allow")

    name: str


class CaseSpec(BaseModel):
    """One case as written in a suite file."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    id: Annotated[str | None, AfterValidator(_not_blank)] = None
    input: Annotated[Any, BeforeValidator(_case_input)]
    expected: Annotated[str | list[str] | None, BeforeValidator(_expected)] = None
    context: TextOrTexts = []
    required_points: Texts = []
    tags: TextOrTexts = []
    metadata: Annotated[dict[str, Any], BeforeValidator(_none_as_empty_mapping)] = {}

    def to_case(self, index: int) -> TestCase:
        return TestCase(
            id=self.id or f"case-{index}", input=self.input, expected=self.expected, context=tuple(self.context),
            required_points=tuple(self.required_points), tags=tuple(self.tags), metadata=self.metadata,
        )


class SuiteSpec(BaseModel):
    """A suite file: a name, the evaluators and at least one case."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: Annotated[str, BeforeValidator(_description)] = ""
    version: Any = None
    evaluators: Annotated[list[Annotated[EvaluatorSpec, BeforeValidator(_evaluator)]], BeforeValidator(_none_as_empty)] = []
    cases: Annotated[list[CaseSpec], Field(min_length=1)]
    metadata: Annotated[dict[str, Any], BeforeValidator(_none_as_empty_mapping)] = {}


# --- loading ------------------------------------------------------------------------------------


def load_suite(path: str | Path) -> TestSuite:
    """Read and validate a suite file (``.yaml``/``.yml``/``.json``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such suite file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read suite: {exc}") from None
    try:
        document = parse_located(text, json_syntax=path.suffix.lower() == ".json")
    except LocatedSyntaxError as exc:
        raise SuiteError(f"{path}: {exc}") from None
    return _validate(document, str(path))


def suite_from_dict(data: Any, source: str | None = None, default_name: str | None = None) -> TestSuite:
    """Validate a suite given as data (a bare list is the list of cases)."""
    return _validate(LocatedDocument(data), source, default_name)


def _validate(document: LocatedDocument, source: str | None, default_name: str | None = None) -> TestSuite:
    data, lines = document.data, document.lines
    if isinstance(data, list):  # a bare list of cases
        data = {"cases": data}
        lines = {("cases", *loc): line for loc, line in lines.items()}
    located = LocatedDocument(data, lines)
    where = source or "<suite>"
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: a suite must be a mapping with 'cases' (or a list of cases), got {_kind(data)}")
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(_located(exc, located, where)) from None
    cases: list[TestCase] = []
    seen: dict[str, int] = {}
    for index, case_spec in enumerate(spec.cases, start=1):
        case = case_spec.to_case(index)
        if case.id in seen:
            at = _where(where, located.line_of(("cases", index - 1)))
            raise SuiteError(f"{at}: case #{index} ({case.id!r}): duplicate id, first used by case #{seen[case.id]}")
        seen[case.id] = index
        cases.append(case)
    name = spec.name or default_name or (Path(source).stem if source else "suite")
    return TestSuite(
        name=name, cases=cases, description=spec.description, source=source, metadata=spec.metadata,
        evaluators=[e.model_dump() for e in spec.evaluators],
    )


def _located(exc: ValidationError, document: LocatedDocument, where: str) -> str:
    """The first error as one line: ``file:line: case #n ('id'): field: problem (and k more)``."""
    errors = exc.errors()
    first = errors[0]
    loc = first["loc"]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    at = _where(where, document.line_of(loc))
    if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
        index = loc[1] + 1
        raw = document.data["cases"][loc[1]]
        case_id = raw.get("id", f"case-{index}") if isinstance(raw, dict) else None
        label = f"case #{index}" + (f" ({str(case_id)!r})" if case_id is not None else "")
        return f"{at}: {label}: {error_message(first, skip=2)}{more}"
    if len(loc) >= 2 and loc[0] == "evaluators" and isinstance(loc[1], int):
        return f"{at}: evaluator #{loc[1] + 1}: {error_message(first, skip=2)}{more}"
    return f"{at}: {error_message(first)}{more}"


def _where(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line else source


def suite_from_cases(name: str, cases: Sequence[TestCase], evaluators: list[dict[str, Any]] | None = None) -> TestSuite:
    """A suite built in code (e.g. from recorded executions)."""
    return TestSuite(name=name, cases=list(cases), evaluators=list(evaluators or []))
