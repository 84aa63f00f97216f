"""The encryption step: captured content leaves the pipeline AES-GCM encrypted when a master key is set.

It runs last before the writer (after redaction and sampling) and encrypts what redaction treats as
content: ``input``/``output`` (so also the executions' input/output, copied from them), every content
attribute (prompts, completions, tool call arguments and results, the other dialects' carriers), the content
attributes of span events and every attribute of ``gen_ai.*`` events. Ids, names, models, tokens, costs,
timings and error texts stay in clear: analytics, alerting and filters keep working. Values are encrypted
with the data key of the span's project (``warehouse.content_keys``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from agentotel.processors.records import SpanBatch
from agentotel.processors.redact import CONTENT_KEYS, CONTENT_PREFIXES
from agentotel.warehouse.content_cipher import is_encrypted, keyring_of
from agentotel.warehouse.content_keys import DEFAULT_PROJECT, Keyring


class Encrypt:
    """Processor: encrypts the captured content of every span with ``keyring``."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._is_content: dict[str, bool] = {}

    def _content_key(self, key: str) -> bool:
        found = self._is_content.get(key)
        if found is None:
            found = key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)
            if len(self._is_content) < 50_000:
                self._is_content[key] = found
        return found

    def _seal(self, value: Any, project: str) -> Any:
        if value is None or is_encrypted(value):
            return value
        return self.keyring.encrypt(value, project)

    def _attributes(self, attributes: dict[str, Any], project: str, everything: bool = False) -> None:
        for key, value in attributes.items():
            if value is not None and (everything or self._content_key(key)):
                attributes[key] = self._seal(value, project)

    def process(self, batch: SpanBatch) -> SpanBatch:
        for record in batch.spans:
            project = getattr(record, "project_id", None) or DEFAULT_PROJECT
            self._attributes(record.attributes, project)
            for event in record.events:
                attributes = event.get("attributes")
                if attributes:
                    self._attributes(attributes, project, everything=(event.get("name") or "").startswith("gen_ai."))
            record.input = self._seal(record.input, project)
            record.output = self._seal(record.output, project)
        return batch


def encrypt_stage(engine: Engine) -> list[Encrypt]:
    """The encryption step if ``engine`` carries a keyring (a master key is configured), else none."""
    keyring = keyring_of(engine)
    return [Encrypt(keyring)] if keyring is not None else []
