"""Every case of shared/fixtures/genai-dialects.json through Normalize + Cost: the expected column values."""

from __future__ import annotations

import json

import pytest

from agentotel.processors.cost import Cost
from agentotel.processors.normalize import Normalize
from tests.processors.support import CORPUS, case_batch, load_corpus

CASES = json.loads(CORPUS.read_text(encoding="utf-8"))["cases"] if CORPUS.is_file() else []

# Where the corpus and semconv.md disagree, semconv.md (the project's rule book) wins; the test pins
# our value so that it fails if either side changes.
DEVIATIONS = {
    ("lf-otel-op-create-agent", "s0", "span_type"): (
        "other",
        "semconv.md 2.2 rule 4 maps create_agent (agent set-up, not a run) to 'other'; the corpus copies "
        "Langfuse's 'agent'. An 'agent' type would make every create_agent span an agent execution.",
    ),
}


def test_corpus_is_complete() -> None:
    corpus = load_corpus()
    assert len(corpus["cases"]) == 67
    assert sum(len(case["spans"]) for case in corpus["cases"]) == 100


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict) -> None:
    batch, records = case_batch(case)
    Cost().process(Normalize().process(batch))
    failures: list[str] = []
    for span in case["spans"]:
        record = records[span["ref"]]
        expect = span.get("expect") or {}
        where = f"{case['id']}/{span['ref']}"
        if "span_type" in expect:
            deviation = DEVIATIONS.get((case["id"], span["ref"], "span_type"))
            wanted = deviation[0] if deviation else expect["span_type"]
            if record.span_type != wanted:
                failures.append(f"{where}: span_type {record.span_type!r} != {wanted!r}")
        for table in ("llm", "tool"):
            if table not in expect:
                continue
            row = getattr(record, table)
            if expect[table] is None:
                if row is not None:
                    failures.append(f"{where}: expected no {table} row, got {row}")
                continue
            if row is None:
                failures.append(f"{where}: expected a {table} row, got none (span_type {record.span_type})")
                continue
            for key, value in expect[table].items():
                if row.get(key) != value:
                    failures.append(f"{where}: {table}.{key} {row.get(key)!r} != {value!r}")
        for key, value in (expect.get("not") or {}).items():
            if record.llm is not None and record.llm.get(key) == value:
                failures.append(f"{where}: llm.{key} must not be {value!r}")
    assert not failures, "\n".join(failures)
