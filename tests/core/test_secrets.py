"""One secret masker and one marker for configuration, audit, export, channel errors and logs."""

import logging

from agentotel.core.secrets import REDACTED, RedactingFilter, redact_secrets, redact_text, register_secret


def test_structure_by_key_and_by_value_shape():
    config = {
        "api_key": "abc", "apiKey": "abc", "password": "p", "access_token": "t", "Authorization": "Bearer x",
        "api_key_env": "OPENAI_API_KEY",  # a reference, kept
        "model": "gpt-4o", "empty_password": "",
        "nested": [{"note": "sk-abcdefghijklmnop"}, {"headers": {"x-api-key": "k"}}],
        "input_tokens": 12,
    }
    assert redact_secrets(config) == {
        "api_key": REDACTED, "apiKey": REDACTED, "password": REDACTED, "access_token": REDACTED,
        "Authorization": REDACTED, "api_key_env": "OPENAI_API_KEY", "model": "gpt-4o", "empty_password": "",
        "nested": [{"note": REDACTED}, {"headers": {"x-api-key": REDACTED}}], "input_tokens": 12,
    }


def test_text_hides_registered_values_and_credential_shapes():
    register_secret("hunter2-webhook-token")
    text = redact_text("POST https://hooks.example/hunter2-webhook-token failed; auth Bearer abcdefghijkl")
    assert "hunter2" not in text and "abcdefghijkl" not in text
    assert text.count(REDACTED) == 2


def test_log_filter_rewrites_records():
    register_secret("s3cr3t-value-1234")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "sent to %s", ("s3cr3t-value-1234",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"sent to {REDACTED}"
