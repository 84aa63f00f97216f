"""Core types of the evaluation pipeline: test cases, agent responses, scores, evaluators.

An evaluator scores one agent response for one test case (``score``/``ascore``); the
``BenchmarkSuite`` runs the agent and the evaluators over a whole suite. ``BaseEvaluator.evaluate``
does the same for a single evaluator without storage or tracing.
"""

from __future__ import annotations

import asyncio
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class TestCase:
    """One case of a suite: the agent's input and what a good answer looks like."""

    __test__ = False  # not a pytest class

    id: str
    input: Any
    expected: str | list[str] | None = None
    context: tuple[str, ...] = ()
    required_points: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def input_text(self) -> str:
        """The input as text (chat messages are joined by their contents)."""
        return input_as_text(self.input)

    @property
    def expected_answers(self) -> list[str]:
        if self.expected is None:
            return []
        return [self.expected] if isinstance(self.expected, str) else list(self.expected)


def input_as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in value)
    if isinstance(value, dict):
        for key in ("input", "question", "query", "prompt", "content"):
            if isinstance(value.get(key), str):
                return value[key]
    return str(value)


def recorded_text(value: str | None, role: str | None = None) -> str:
    """The text of recorded content: a GenAI semconv messages document (``[{"role", "parts": [{"type":
    "text", "content"}]}]``, or messages with a ``content`` string) becomes the text of its messages (of
    ``role`` only, when given and present: the question is the last user message); plain text is kept."""
    if not value:
        return ""
    text = value.strip()
    if not text.startswith(("[", "{")):
        return value
    try:
        data = json.loads(text)
    except ValueError:
        return value
    messages = data if isinstance(data, list) else [data]
    if not all(isinstance(m, dict) for m in messages):
        return value
    chosen = [m for m in messages if role is None or m.get("role") == role] or messages
    if role == "user":
        chosen = chosen[-1:]
    texts = [_message_text(m) for m in chosen]
    joined = "\n".join(t for t in texts if t)
    return joined or value


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts: list[Any] = []
    if isinstance(message.get("parts"), list):
        parts = message["parts"]
    elif isinstance(content, list):
        parts = content
    return "\n".join(str(p.get("content") or p.get("text") or "") for p in parts
                     if isinstance(p, dict) and p.get("type", "text") == "text").strip()


@dataclass
class AgentResponse:
    """What an agent produced for one case, with its cost in time and tokens."""

    output: str = ""
    latency_ms: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    model: str | None = None
    cost_usd: float | None = None
    error: str | None = None
    error_type: str | None = None
    raw: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Agent(Protocol):
    """An agent under evaluation: ``run`` returns the response, with a failure in ``error``, never raising."""

    name: str
    version: str

    async def run(self, case: TestCase) -> AgentResponse: ...


@dataclass(frozen=True)
class MetricDefinition:
    """What a metric means: direction, kind (score | binary | latency | cost | count), unit."""

    name: str
    description: str = ""
    higher_is_better: bool = True
    kind: str = "score"
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any] | None) -> MetricDefinition:
        data = data or {}
        return cls(
            name=name,
            description=str(data.get("description", "")),
            higher_is_better=bool(data.get("higher_is_better", True)),
            kind=str(data.get("kind", "score")),
            unit=str(data.get("unit", "")),
        )


@dataclass(frozen=True)
class Score:
    """One metric value for one case. ``label`` is e.g. ``pass``/``fail``; ``value`` may be None."""

    name: str
    value: float | None
    label: str | None = None
    explanation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": finite_or_none(self.value), "label": self.label, "explanation": self.explanation}


@dataclass
class CaseResult:
    """A case's response and scores; ``error`` set when the agent failed on it."""

    case_id: str
    tags: tuple[str, ...] = ()
    output: str = ""
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    model: str | None = None
    error: str | None = None
    error_type: str | None = None
    scores: dict[str, Score] = field(default_factory=dict)
    evaluator_errors: dict[str, str] = field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None
    input: str | None = None  # the case's input as text and what a good answer looks like (for the per-case table)
    expected: str | list[str] | None = None

    def to_dict(self, max_output_chars: int = 4000) -> dict[str, Any]:
        return {
            "id": self.case_id,
            "tags": list(self.tags),
            "input": None if self.input is None else self.input[:max_output_chars],
            "expected": self.expected,
            "output": self.output[:max_output_chars],
            "latency_ms": finite_or_none(self.latency_ms),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": finite_or_none(self.cost_usd),
            "model": self.model,
            "error": self.error,
            "error_type": self.error_type,
            "scores": {name: score.to_dict() for name, score in self.scores.items()},
            "evaluator_errors": dict(self.evaluator_errors),
            "trace_id": self.trace_id,
            "span_id": self.span_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        scores = {
            name: Score(name, s.get("value"), s.get("label"), s.get("explanation"))
            for name, s in (data.get("scores") or {}).items()
        }
        return cls(
            case_id=str(data["id"]),
            tags=tuple(data.get("tags") or ()),
            output=data.get("output") or "",
            latency_ms=data.get("latency_ms"),
            input_tokens=data.get("input_tokens"),
            output_tokens=data.get("output_tokens"),
            cost_usd=data.get("cost_usd"),
            model=data.get("model"),
            error=data.get("error"),
            error_type=data.get("error_type"),
            scores=scores,
            evaluator_errors=dict(data.get("evaluator_errors") or {}),
            trace_id=data.get("trace_id"),
            span_id=data.get("span_id"),
            input=data.get("input"),
            expected=data.get("expected"),
        )


@dataclass
class EvaluationResult:
    """Scores of one evaluator (or several) over a list of cases."""

    evaluator: str
    metrics: dict[str, MetricDefinition]
    cases: list[CaseResult]

    def values(self, metric: str) -> list[float]:
        """Finite values of ``metric`` over the cases that have one."""
        out = []
        for case in self.cases:
            score = case.scores.get(metric)
            value = finite_or_none(score.value) if score is not None else None
            if value is not None:
                out.append(value)
        return out

    def mean(self, metric: str) -> float | None:
        vals = self.values(metric)
        return sum(vals) / len(vals) if vals else None


class BaseEvaluator(ABC):
    """Scores agent responses. Subclasses implement ``get_metrics`` and ``score`` (or ``ascore``)."""

    name: str = "evaluator"
    requires_ground_truth: bool = False

    @abstractmethod
    def get_metrics(self) -> dict[str, MetricDefinition]:
        """The metrics this evaluator produces, by name."""

    def prepare(self, test_cases: Sequence[TestCase]) -> None:  # noqa: B027 - optional hook
        """Called once before a run with all its cases (e.g. to fit a vocabulary)."""

    def applies_to(self, case: TestCase) -> bool:
        """Whether this evaluator can score ``case`` (default: needs ``expected`` if ground truth is required)."""
        return not self.requires_ground_truth or case.expected is not None

    def score(self, case: TestCase, response: AgentResponse) -> list[Score]:
        """Scores of one response; override this or ``ascore``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither score() nor ascore()")

    async def ascore(self, case: TestCase, response: AgentResponse) -> list[Score]:
        """Async scoring; defaults to ``score`` (CPU-bound heuristics)."""
        return self.score(case, response)

    def evaluate(self, agent: Agent, test_cases: Sequence[TestCase]) -> EvaluationResult:
        """Run ``agent`` on every case and score the responses (sequentially, no storage)."""
        return asyncio.run(self.aevaluate(agent, test_cases))

    async def aevaluate(self, agent: Agent, test_cases: Sequence[TestCase]) -> EvaluationResult:
        self.prepare(test_cases)
        cases = []
        for case in test_cases:
            response = await agent.run(case)
            result = case_result_from_response(case, response)
            if response.ok and self.applies_to(case):
                for score in await self.ascore(case, response):
                    result.scores[score.name] = score
            cases.append(result)
        return EvaluationResult(self.name, self.get_metrics(), cases)


def case_result_from_response(case: TestCase, response: AgentResponse) -> CaseResult:
    return CaseResult(
        case_id=case.id,
        tags=case.tags,
        input=case.input_text,
        expected=case.expected,
        output=response.output or "",
        latency_ms=response.latency_ms,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        cost_usd=response.cost_usd,
        model=response.model,
        error=response.error,
        error_type=response.error_type,
    )


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None for None/NaN/inf (JSON and JSONB cannot hold those)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def pass_label(passed: bool) -> str:
    return "pass" if passed else "fail"


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats as None and numpy scalars as Python numbers (storable as JSON/JSONB)."""
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if item is not None and type(value).__module__ == "numpy":
        return json_safe(item())
    return value
