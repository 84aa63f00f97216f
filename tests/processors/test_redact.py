"""PII redaction: every detector positive and negative, the processor's reach, and the false-positive rate."""

from __future__ import annotations

import pytest

from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.processors.redact import (
    DEFAULT_REPLACEMENT,
    DETECTOR_NAMES,
    Redact,
    Redactor,
    card_valid,
    iban_valid,
    luhn_valid,
    redact_text,
)
from tests.processors.clean_corpus import CLEAN_TEXTS

POSITIVES = [
    ("email", "write to john.doe+tag@example.co.uk today", "john.doe+tag@example.co.uk"),
    ("email", "Contact: Jane_O'Neil@sub.mail.example.org.", "O'Neil@sub.mail.example.org"),
    ("phone", "call +44 20 7946 0958 now", "+44 20 7946 0958"),
    ("phone", "my cell is +1 (415) 555-2671", "+1 (415) 555-2671"),
    ("phone", "US office (415) 555-2671 ext", "(415) 555-2671"),
    ("phone", "or 415-555-2671.", "415-555-2671"),
    ("phone", "or 415.555.2671,", "415.555.2671"),
    ("phone", "Call 1-800-555-0199", "1-800-555-0199"),
    ("phone", "UK 020 7946 0958 and", "020 7946 0958"),
    ("phone", "mobile 07700 900123", "07700 900123"),
    ("phone", "FR 06 12 34 56 78", "06 12 34 56 78"),
    ("phone", "DE +49 30 1234567", "+49 30 1234567"),
    ("card", "visa 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
    ("card", "mc 5500-0055-5555-5559", "5500-0055-5555-5559"),
    ("card", "amex 378282246310005", "378282246310005"),
    ("card", "plain 4012888888881881.", "4012888888881881"),
    ("iban", "pay DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00"),
    ("iban", "GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("iban", "FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    ("iban", "NL91ABNA0417164300 thanks", "NL91ABNA0417164300"),
    ("ssn", "ssn 123-45-6789 on file", "123-45-6789"),
    ("ssn", "SSN: 219 09 9999.", "219 09 9999"),
    ("nino", "NI number AB123456C", "AB123456C"),
    ("nino", "NINO: JG 10 37 56 A", "JG 10 37 56 A"),
    (
        "secret",
        "OPENAI sk-proj-Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789",
        "sk-proj-Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789",
    ),
    (
        "secret",
        "key sk-ant-api03-abcdefghijklmnopqrstuvwxyzABCD",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyzABCD",
    ),
    ("secret", "aws AKIAIOSFODNN7EXAMPLE x", "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "gh ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ12", "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ12"),
    ("secret", "slack xoxb-1234567890-abcdefghijKL", "xoxb-1234567890-abcdefghijKL"),
    ("secret", "google AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("secret", "Authorization: Bearer abcdef1234567890abcdef", "abcdef1234567890abcdef"),
    ("secret", "api_key=abcd1234efgh&x=1", "abcd1234efgh"),
    ("secret", '{"password": "hunter22!"}', "hunter22!"),
    ("secret", "export OPENAI_API_KEY='zzzz9999yyyy'", "zzzz9999yyyy"),
    ("secret", "client_secret: s3cr3tvalue", "s3cr3tvalue"),
    (
        "secret",
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    (
        "secret",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA",
    ),
    ("ip", "client 192.168.1.20 connected", "192.168.1.20"),
    ("ip", "from 8.8.8.8.", "8.8.8.8"),
    ("ip", "v6 2001:db8::8a2e:370:7334 ok", "2001:db8::8a2e:370:7334"),
    ("ip", "link fe80::1ff:fe23:4567:890a%eth0", "fe80::1ff:fe23:4567:890a"),
    ("ip", "full 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
]

NEGATIVES = [
    ("email", "user@localhost is not an address; @mention neither"),
    ("phone", "order 1234567890 and 2024-01-15 10:30:00 and 3+4=7"),
    ("phone", "ISBN 978-0-306-40615-7; build 20241002.3; 01-02-2024 10:30"),
    ("card", "4111 1111 1111 1112 fails Luhn; 1234567812345678 too"),
    ("card", "epoch ns 1732628180123456789 and 16 digits 9999999999999995"),
    ("iban", "DE89 3704 0044 0532 0130 01 has a bad checksum; DE8937040044 too short"),
    ("ssn", "000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000 are invalid"),
    ("nino", "QQ123456C, BG123456A and AB123456E are not valid NINOs"),
    ("secret", "sk-short and the key insight; max_tokens: 1024; token budget 128000; pass=no"),
    ("secret", '"input_tokens": 52, "total_tokens": 99, "api_key_id": null'),
    ("secret", "task-management-system-design-document, token: expired, password: null"),
    (
        "ip",
        "version 4.2.1.0, Version 10.0.19041.1; 1.2.3, time 12:30:45, 999.1.1.1, ratio 16:9, std::vector, 127.0.0.1 and ::1",
    ),
]


@pytest.mark.parametrize(
    ("detector", "text", "secret"), POSITIVES, ids=[f"{p[0]}-{i}" for i, p in enumerate(POSITIVES)]
)
def test_detector_redacts(detector: str, text: str, secret: str) -> None:
    only = Redactor(detectors=[detector])
    redacted = only.redact_text(text)
    assert secret not in redacted
    assert "[REDACTED:" in redacted
    assert secret not in redact_text(text)  # all detectors together


@pytest.mark.parametrize(("detector", "text"), NEGATIVES, ids=[n[0] for n in NEGATIVES])
def test_detector_leaves_look_alikes(detector: str, text: str) -> None:
    assert Redactor(detectors=[detector]).redact_text(text) == text


def test_validators() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert card_valid("4111 1111 1111 1111") and not card_valid("4111 1111 1111 1112")
    assert not card_valid("1234567812345670")  # Luhn-valid, but no card network starts with 1
    assert iban_valid("DE89370400440532013000") and not iban_valid("DE89370400440532013001")
    assert not iban_valid("DE8937040044053201300")  # wrong length for DE


def test_replacement_format_and_labels() -> None:
    redactor = Redactor(replacement="<{kind}>")
    assert redactor.redact_text("mail a.b@example.com card 4111111111111111") == "mail <EMAIL> card <CARD>"
    assert redactor.counts == {"EMAIL": 1, "CARD": 1}
    with pytest.raises(ValueError, match="format string"):
        Redactor(replacement="{name}")
    with pytest.raises(ValueError, match="unknown PII detector"):
        Redactor(detectors=["email", "dna"])
    assert set(DETECTOR_NAMES) == {"email", "phone", "card", "iban", "ssn", "nino", "secret", "ip"}


def test_false_positive_rate_on_clean_text() -> None:
    changed = [text for text in CLEAN_TEXTS if redact_text(text) != text]
    rate = len(changed) / len(CLEAN_TEXTS)
    print(f"\nredaction false positives: {len(changed)}/{len(CLEAN_TEXTS)} = {rate:.1%}")
    for text in changed:
        print("  ", redact_text(text))
    assert len(CLEAN_TEXTS) >= 100
    assert rate <= 0.02, changed


def _span(attributes: dict, events: list | None = None) -> SpanRecord:
    return SpanRecord(
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None,
        name="chat",
        kind="CLIENT",
        start_ns=0,
        end_ns=1,
        status_code="UNSET",
        status_message=None,
        attributes=attributes,
        resource_attributes={"host.ip": "10.1.2.3"},
        events=events or [],
        links=[],
        input="my email is a@b.io",
        output="call +44 20 7946 0958",
    )


def test_processor_redacts_content_everywhere_and_nothing_else() -> None:
    record = _span(
        {
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"I am a@b.io"}]}]',
            "gen_ai.output.messages": ["card 4111111111111111"],
            "llm.input_messages.0.message.content": "ssn 123-45-6789",
            "input.value": {"nested": ["ip 192.168.0.9"]},
            "gen_ai.tool.call.arguments": '{"iban": "GB82WEST12345698765432"}',
            "server.address": "10.0.0.7",  # not content: kept
            "user.id": "someone@example.com",  # an identifier, not captured content: kept
        },
        events=[
            {"name": "gen_ai.user.message", "attributes": {"content": "I am a@b.io", "role": "user"}},
            {
                "name": "exception",
                "attributes": {"exception.message": "bad key sk-proj-Ab3dEfGhIjKlMnOpQrStUvWxYz01"},
            },
            {"name": "custom", "attributes": {"note": "a@b.io"}},
        ],
    )
    step = Redact()
    step.process(SpanBatch(spans=[record]))
    attrs = record.attributes
    assert record.input == "my email is [REDACTED:EMAIL]"
    assert record.output == "call [REDACTED:PHONE]"
    assert "a@b.io" not in attrs["gen_ai.input.messages"]
    assert attrs["gen_ai.output.messages"] == ["card [REDACTED:CARD]"]
    assert attrs["llm.input_messages.0.message.content"] == "ssn [REDACTED:SSN]"
    assert attrs["input.value"] == {"nested": ["ip [REDACTED:IP]"]}
    assert "GB82" not in attrs["gen_ai.tool.call.arguments"]
    assert attrs["server.address"] == "10.0.0.7"
    assert attrs["user.id"] == "someone@example.com"
    assert record.resource_attributes == {"host.ip": "10.1.2.3"}
    assert record.events[0]["attributes"] == {"content": "I am [REDACTED:EMAIL]", "role": "user"}
    assert "sk-proj" not in record.events[1]["attributes"]["exception.message"]
    assert record.events[2]["attributes"] == {"note": "a@b.io"}
    assert step.counts["EMAIL"] >= 3


def test_processor_configuration() -> None:
    off = _span({"input.value": "a@b.io"})
    Redact(enabled=False).process(SpanBatch(spans=[off]))
    assert off.attributes["input.value"] == "a@b.io" and off.input == "my email is a@b.io"

    only_phone = _span({"input.value": "a@b.io", "my.prompt": "+44 20 7946 0958"})
    Redact(detectors=["phone"], extra_keys=["my.prompt"], replacement="***").process(
        SpanBatch(spans=[only_phone])
    )
    assert only_phone.attributes == {"input.value": "a@b.io", "my.prompt": "***"}
    assert only_phone.input == "my email is a@b.io" and only_phone.output == "call ***"


def test_normalized_input_output_are_redacted_with_their_carriers() -> None:
    from agentotel.processors.normalize import Normalize

    record = _span(
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "I am jane@example.org, card 4111 1111 1111 1111",
            "llm.output_messages.0.message.content": "Noted, jane@example.org",
            "input.value": "I am jane@example.org, card 4111 1111 1111 1111",
        }
    )
    batch = SpanBatch(spans=[record])
    Redact().process(Normalize().process(batch))
    assert "jane@example.org" not in record.input and "4111" not in record.input
    assert record.output == '[{"content":"Noted, [REDACTED:EMAIL]"}]'
    assert record.attributes["input.value"] == "I am [REDACTED:EMAIL], card [REDACTED:CARD]"


def test_error_texts_are_redacted_too() -> None:
    from agentotel.processors.normalize import Normalize

    record = _span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "send_mail"})
    record.status_code = "ERROR"
    record.status_message = "cannot deliver to bob@example.com"
    batch = SpanBatch(spans=[record])
    Redact().process(Normalize().process(batch))
    assert record.status_message == "cannot deliver to [REDACTED:EMAIL]"
    assert record.tool["error_message"] == "cannot deliver to [REDACTED:EMAIL]"


def test_false_positive_rate_on_the_dialect_corpus_strings() -> None:
    """Every string of the shared GenAI corpus (ids, model names, captured prompts) is clean."""
    from tests.processors.support import load_corpus

    strings: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, str):
            strings.add(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for case in load_corpus()["cases"]:
        for span in case["spans"]:
            walk(span.get("attributes"))
            walk(span.get("events"))
    changed = sorted(text for text in strings if redact_text(text) != text)
    print(f"\ncorpus strings changed by redaction: {len(changed)}/{len(strings)}")
    assert len(strings) > 300
    assert not changed


FRAGMENTS = (
    "a", "Z", "x", " ", "  ", "\t", "\x0b", "\x1c", "-", ".", "/", ":", "::", "+", "(", ")", "@", "=", ": ", '"',
    "'", ",", ";", "0", "1", "7", "9", "12", "415", "555", "2671", "0958", "4111 1111 1111 1111", "GB82",
    "WEST", "1234", "5698", "7654", "32", "AB", "QQ", "123456", "C", "D", "sk-", "proj-", "AKIA", "ghp_", "xoxb-",
    "AIza", "sk_live_", "eyJ", "Bearer ", "bearer", "api_key", "PassWord", "pwd", "token", "secret", "key",
    "example.com", "mail", ".co", ".uk", "fe80", "2001:db8", "ffff", "10.0.0.1", "192.168", "version ",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "abcdefghijklmnopqrstuvwxyz012345",
)  # fmt: skip


def _fuzz_texts(count: int, seed: int = 7) -> list[str]:
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(2, 40))) for _ in range(count)]


@pytest.mark.parametrize("replacement", [DEFAULT_REPLACEMENT, "<{kind}@x.io 415-555-2671>", "«{kind}»"])
def test_re2_triggers_choose_passes_without_changing_any_result(replacement: str) -> None:
    """The RE2 trigger set only skips passes that could not change the text: same output as every pass,
    on the detector cases, the clean corpus and thousands of fuzzed PII-like strings (with replacements
    that themselves look like PII, or are not ASCII)."""
    redactor = Redactor(replacement=replacement)
    texts = [case[1] for case in POSITIVES] + [case[1] for case in NEGATIVES] + list(CLEAN_TEXTS)
    texts += _fuzz_texts(6000)
    changed = 0
    for text in texts:
        expected = redactor.redact_every_pass(text)
        assert redactor.redact_text(text) == expected, text
        changed += expected != text
    assert changed > 500  # the fuzz reaches the detectors, not only clean text
