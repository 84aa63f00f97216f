"""Real agent callables used by the tests (and by ``agentotel eval run --agent`` in the CLI tests)."""

from __future__ import annotations

import asyncio
import os
import time

FACTS = {
    "capital of france": "The capital of France is Paris.",
    "capital of japan": "The capital of Japan is Tokyo.",
    "boiling point": "Water boils at 100 degrees Celsius at sea level.",
    "largest planet": "Jupiter is the largest planet in the solar system.",
    "author of hamlet": "Hamlet was written by William Shakespeare.",
    "speed of light": "Light travels at about 299792 kilometres per second.",
}


def _think() -> None:
    delay = float(os.environ.get("EVAL_TEST_AGENT_DELAY", "0"))
    if delay:
        time.sleep(delay)


def qa_agent(question: str) -> str:
    """Answers from a small fact table; raises on questions containing 'explode'."""
    text = question.lower()
    if "explode" in text:
        raise RuntimeError("tool backend unavailable")
    _think()
    for key, answer in FACTS.items():
        if key in text:
            return answer
    return "I do not know."


def wrong_agent(question: str) -> str:
    """A worse version: answers wrongly to capital questions and adds an unsupported claim."""
    text = question.lower()
    if "capital" in text:
        _think()
        return "The capital is Berlin. It has 90 million residents."
    return qa_agent(question)


async def async_qa_agent(question: str) -> dict:
    await asyncio.sleep(0.001)
    return {"output": qa_agent(question), "input_tokens": len(question.split()), "output_tokens": 8, "model": "gpt-4o-mini"}
