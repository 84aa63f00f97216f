"""Channels against real loopback servers: payload shapes of each service's documented format, SMTP with
STARTTLS and AUTH, SSRF refusals (RELIABILITY A5) and secrets kept out of logs and errors (S5)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest

from agentotel.alerting import channels
from agentotel.alerting.channels.base import DeliveryError
from agentotel.alerting.channels.discord import DiscordHandler
from agentotel.alerting.channels.email import EmailHandler
from agentotel.alerting.channels.pagerduty import PagerDutyHandler
from agentotel.alerting.channels.registry import CHANNEL_TYPES
from agentotel.alerting.channels.slack import SlackHandler
from agentotel.alerting.channels.telegram import TelegramHandler
from agentotel.alerting.channels.webhook import WebhookHandler, verify_signature
from agentotel.alerting.ssrf import AddressPolicy, SSRFError, is_internal
from agentotel.core.settings import AlertingSettings
from tests.alerting.support import RecordingServer, SMTPServer, self_signed_cert
from tests.conftest import free_port

LOOPBACK = AddressPolicy(["127.0.0.1"])


def alert(n: int = 1, **extra) -> dict:
    base = {"id": n, "rule_id": "high-error-rate", "severity": "critical", "message": f"error rate 12% <b>#{n}</b>",
            "fingerprint": f"fp{n:030d}", "labels": {"agent": f"agent-{n}", "team": "ml"}, "annotations": {},
            "value": 0.12, "status": "firing", "starts_at": "2026-01-01T12:00:00+00:00", "ends_at": None}
    return base | extra


def test_slack_block_kit():
    with RecordingServer() as server:
        SlackHandler("slack", {"url": server.url + "/services/T0/B0/secret"}, LOOPBACK).send(
            "trigger", [alert(1), alert(2)], "key-1")
    [req] = server.requests
    assert req.path == "/services/T0/B0/secret" and req.headers["content-type"] == "application/json"
    body = req.json
    assert body["text"].startswith("[FIRING] critical: high-error-rate")
    header, first, second, context = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": body["text"]}}
    assert first["type"] == "section" and first["text"]["type"] == "mrkdwn"
    assert "&lt;b&gt;#1&lt;/b&gt;" in first["text"]["text"]  # Slack mrkdwn control characters escaped
    assert {"type": "mrkdwn", "text": "*agent*\nagent-1"} in first["fields"] and len(first["fields"]) <= 10
    assert second["text"]["text"].endswith("#2&lt;/b&gt;")
    assert context["type"] == "context" and context["elements"][0]["type"] == "mrkdwn"


def test_pagerduty_events_v2_same_dedup_key_each_time():
    with RecordingServer(lambda r, n: (202, {}, b'{"status":"success","dedup_key":"x"}')) as server:
        pd = PagerDutyHandler("pd", {"routing_key": "R0UT1NGKEY", "url": server.url + "/v2/enqueue"}, LOOPBACK)
        for _ in range(3):
            pd.send("trigger", [alert(7)], "k")
        pd.send("acknowledge", [alert(7)], "k")
        pd.send("resolve", [alert(7)], "k")
    bodies = [r.json for r in server.requests]
    assert {b["dedup_key"] for b in bodies} == {alert(7)["fingerprint"]}  # one incident
    assert [b["event_action"] for b in bodies] == ["trigger"] * 3 + ["acknowledge", "resolve"]
    trigger = bodies[0]
    assert trigger["routing_key"] == "R0UT1NGKEY"
    assert set(trigger["payload"]) >= {"summary", "source", "severity"}
    assert trigger["payload"]["severity"] in ("critical", "error", "warning", "info")
    assert trigger["payload"]["source"] == "agent-7"
    assert "payload" not in bodies[-1] and "payload" not in bodies[-2]


def test_telegram_send_message():
    with RecordingServer(lambda r, n: (200, {}, b'{"ok":true,"result":{}}')) as server:
        TelegramHandler("tg", {"bot_token": "123456:ABCdef", "chat_id": "-100200", "api_url": server.url},
                        LOOPBACK).send("trigger", [alert(1)], "k")
    [req] = server.requests
    assert req.path == "/bot123456:ABCdef/sendMessage"
    body = req.json
    assert body["chat_id"] == "-100200" and body["parse_mode"] == "HTML"
    assert "&lt;b&gt;#1&lt;/b&gt;" in body["text"] and body["text"].startswith("<b>[FIRING]")
    with RecordingServer(lambda r, n: (200, {}, b'{"ok":false,"description":"chat not found"}')) as server:
        with pytest.raises(DeliveryError) as info:
            TelegramHandler("tg", {"bot_token": "123456:ABCdef", "chat_id": "1", "api_url": server.url},
                            LOOPBACK).send("trigger", [alert(1)], "k")
    assert not info.value.retryable


def test_discord_webhook_embeds_without_mentions():
    with RecordingServer(lambda r, n: (204, {}, b"")) as server:
        DiscordHandler("dc", {"url": server.url + "/api/webhooks/1/tok"}, LOOPBACK).send(
            "resolve", [alert(i) for i in range(12)], "k")
    body = server.requests[0].json
    assert body["allowed_mentions"] == {"parse": []}
    assert body["content"].startswith("[RESOLVED]")
    assert len(body["embeds"]) == 10  # Discord's limit
    embed = body["embeds"][0]
    assert isinstance(embed["color"], int) and len(embed["title"]) <= 256
    assert {"name": "agent", "value": "agent-0", "inline": True} in embed["fields"]
    assert embed["timestamp"] == "2026-01-01T12:00:00+00:00"


def test_webhook_json_with_hmac_signature_and_idempotency_key():
    with RecordingServer() as server:
        WebhookHandler("hook", {"url": server.url + "/alerts", "secret": "s3cr3t-hmac"}, LOOPBACK).send(
            "trigger", [alert(1)], "idem-123")
    [req] = server.requests
    assert req.headers["idempotency-key"] == "idem-123"
    assert verify_signature("s3cr3t-hmac", req.headers["x-agentotel-timestamp"], req.body,
                            req.headers["x-agentotel-signature"])
    assert not verify_signature("wrong", req.headers["x-agentotel-timestamp"], req.body,
                                req.headers["x-agentotel-signature"])
    assert not verify_signature("s3cr3t-hmac", req.headers["x-agentotel-timestamp"], req.body + b" ",
                                req.headers["x-agentotel-signature"])
    body = req.json
    assert body["event"] == "trigger" and body["idempotency_key"] == "idem-123"
    assert body["alerts"][0]["fingerprint"] == alert(1)["fingerprint"]


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (408, True),
                                                    (400, False), (404, False), (410, False)])
def test_http_status_classification(status, retryable):
    with RecordingServer(lambda r, n: (status, {"Retry-After": "7"}, b"nope")) as server:
        with pytest.raises(DeliveryError) as info:
            WebhookHandler("hook", {"url": server.url}, LOOPBACK).send("trigger", [alert()], "k")
    assert info.value.retryable is retryable
    assert info.value.retry_after == 7.0
    assert f"HTTP {status}" in str(info.value)


def test_retry_after_from_telegram_json_body():
    body = b'{"ok":false,"error_code":429,"parameters":{"retry_after":5}}'
    with RecordingServer(lambda r, n: (429, {}, body)) as server:
        with pytest.raises(DeliveryError) as info:
            TelegramHandler("tg", {"bot_token": "1:x-token", "chat_id": "1", "api_url": server.url}, LOOPBACK).send(
                "trigger", [alert()], "k")
    assert info.value.retryable and info.value.retry_after == 5.0


def test_connection_refused_is_retryable():
    port = free_port()
    with pytest.raises(DeliveryError) as info:
        WebhookHandler("hook", {"url": f"http://127.0.0.1:{port}/"}, LOOPBACK).send("trigger", [alert()], "k")
    assert info.value.retryable


# --- email -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def email_options(port: int, cert_path, password_env: str = "AGENTOTEL_TEST_SMTP_PASSWORD") -> dict:
    return {"host": "127.0.0.1", "port": port, "from": "alerts@example.com", "to": ["oncall@example.com"],
            "username": "alerts", "password_env": password_env, "starttls": True, "ca_file": str(cert_path),
            "timeout": 5}


def test_email_starttls_auth(cert, monkeypatch):
    monkeypatch.setenv("AGENTOTEL_TEST_SMTP_PASSWORD", "smtp-pa55word")
    smtp = SMTPServer(*cert, user="alerts", password="smtp-pa55word").start()
    try:
        EmailHandler("mail", email_options(smtp.port, cert[0]), LOOPBACK).send("trigger", [alert(3)], "idem-9")
    finally:
        smtp.stop()
    [msg] = smtp.messages
    assert msg["tls"] and msg["auth"] and msg["to"] == ["oncall@example.com"]
    assert "Subject: [FIRING] critical: high-error-rate" in msg["data"]
    assert "Message-ID: <idem-9@agentotel>" in msg["data"]
    assert "agent: agent-3" in msg["data"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the socket itself is TLS
def test_email_implicit_tls(cert, monkeypatch):
    monkeypatch.setenv("AGENTOTEL_TEST_SMTP_PASSWORD", "smtp-pa55word")
    smtp = SMTPServer(*cert, user="alerts", password="smtp-pa55word", implicit_tls=True).start()
    try:
        options = email_options(smtp.port, cert[0]) | {"ssl": True, "starttls": False}
        EmailHandler("mail", options, LOOPBACK).send("resolve", [alert(4)], "idem-4")
    finally:
        smtp.stop()
    [msg] = smtp.messages
    assert msg["auth"] and msg["tls"] and "Subject: [RESOLVED]" in msg["data"]


def test_email_wrong_password_is_permanent_and_secret_free(cert, monkeypatch, caplog):
    monkeypatch.setenv("AGENTOTEL_TEST_SMTP_PASSWORD", "not-the-Pa55word")
    smtp = SMTPServer(*cert, user="alerts", password="smtp-pa55word").start()
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(DeliveryError) as info:
            EmailHandler("mail", email_options(smtp.port, cert[0]), LOOPBACK).send("trigger", [alert()], "k")
    finally:
        smtp.stop()
    assert not info.value.retryable and smtp.messages == []
    assert "not-the-Pa55word" not in str(info.value) and "not-the-Pa55word" not in caplog.text


def test_email_untrusted_certificate_is_refused(cert, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTOTEL_TEST_SMTP_PASSWORD", "smtp-pa55word")
    other_cert, _ = self_signed_cert(tmp_path)
    smtp = SMTPServer(*cert, user="alerts", password="smtp-pa55word").start()
    try:
        with pytest.raises(DeliveryError, match="SSL|certificate"):
            EmailHandler("mail", email_options(smtp.port, other_cert), LOOPBACK).send("trigger", [alert()], "k")
    finally:
        smtp.stop()
    assert smtp.messages == []


def test_missing_secret_env_names_the_variable_not_a_value(monkeypatch):
    monkeypatch.delenv("AGENTOTEL_TEST_NOPE", raising=False)
    with pytest.raises(ValueError, match="AGENTOTEL_TEST_NOPE"):
        SlackHandler("s", {"url_env": "AGENTOTEL_TEST_NOPE"}, LOOPBACK)


def test_secret_from_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "url"
    with RecordingServer() as server:
        secret_file.write_text(server.url + "/from-file\n")
        monkeypatch.setenv("AGENTOTEL_TEST_SLACK_URL_FILE", str(secret_file))
        monkeypatch.delenv("AGENTOTEL_TEST_SLACK_URL", raising=False)
        SlackHandler("s", {"url_env": "AGENTOTEL_TEST_SLACK_URL"}, LOOPBACK).send("trigger", [alert()], "k")
        SlackHandler("s2", {"url_file": str(secret_file)}, LOOPBACK).send("trigger", [alert()], "k")
    assert [r.path for r in server.requests] == ["/from-file", "/from-file"]


def test_unknown_channel_option_is_rejected():
    with pytest.raises(ValueError, match="unknown option 'chanel'"):
        CHANNEL_TYPES["slack"].validate_options({"url": "https://hooks.slack.com/x", "chanel": "#ops"})


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("email", {"host": "h", "from": "a@b", "to": ["x@y"], "port": "25x"}, "port: must be a positive integer, not '25x'"),
        ("email", {"host": "h", "from": "a@b", "to": []}, "to: must be an address or a list of addresses"),
        ("telegram", {"bot_token": "t"}, "chat_id: is required"),
        ("webhook", {"secret": "s"}, "'url' (or 'url_env' / 'url_file') is required for a webhook channel"),
        ("pagerduty", {"routing_key": "k", "timeout": 0}, "timeout: must be a positive number, not 0"),
        ("alertmanager", {"url": ["http://a"]}, "url: must be text, not a list"),
        ("discord", {"url": "u", "color": 1},
         "unknown option 'color' for a discord channel (allowed: timeout, url, url_env, url_file)"),
        ("log", {"level": "loud"}, "level: must be one of debug, info, warning, error, critical, not 'loud'"),
        ("slack", {"url": "u", "timeout": True}, "timeout: must be a number, not True"),
    ],
)
def test_each_channel_checks_its_options_with_its_own_model(kind, options, message):
    with pytest.raises(ValueError) as info:
        CHANNEL_TYPES[kind].validate_options(options)
    assert str(info.value) == message


def test_valid_options_are_typed_and_every_channel_module_is_registered():
    options = CHANNEL_TYPES["email"].validate_options({"host": "h", "from": "a@b", "to": "x@y", "port": 2525})
    assert (options.to, options.port, options.timeout) == (["x@y"], 2525, 10.0)
    assert CHANNEL_TYPES["log"].validate_options({"level": "ERROR"}).level == "error"
    modules = {p.stem for p in Path(channels.__file__).parent.glob("*.py")} - {"__init__", "base", "registry"}
    assert modules == set(CHANNEL_TYPES)  # adding a channel = its module + its registry entry


# --- SSRF (A5) -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "169.254.169.254", "10.1.2.3", "192.168.0.1", "172.16.5.4",
                                     "100.64.0.1", "0.0.0.0", "fe80::1", "::ffff:169.254.169.254", "224.0.0.1", "fc00::1"])
def test_internal_addresses(address):
    assert is_internal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses(address):
    assert not is_internal(ipaddress.ip_address(address))
    AddressPolicy().check_host(address)


def test_ssrf_refuses_metadata_and_loopback_unless_allow_listed():
    policy = AddressPolicy()
    with RecordingServer() as server:
        for url in ("http://169.254.169.254/latest/meta-data/", server.url + "/hook", "http://[::1]:9/",
                    "http://localhost:9/", "file:///etc/passwd", "gopher://127.0.0.1/",
                    f"http://2130706433:{server.port}/", f"http://0x7f000001:{server.port}/",
                    f"http://127.1:{server.port}/", "http://[::ffff:169.254.169.254]/"):
            with pytest.raises(DeliveryError) as info:
                WebhookHandler("hook", {"url": url}, policy).send("trigger", [alert()], "k")
            assert not info.value.retryable, url
        assert server.requests == []  # nothing reached the loopback server
        WebhookHandler("hook", {"url": server.url + "/hook"}, AddressPolicy(["127.0.0.1"])).send(
            "trigger", [alert()], "k")
        WebhookHandler("hook", {"url": server.url + "/hook"}, AddressPolicy(["127.0.0.0/8"])).send(
            "trigger", [alert()], "k")
        assert len(server.requests) == 2


def test_unresolvable_host_is_retried_not_dead_lettered():
    with pytest.raises(DeliveryError, match="cannot resolve") as info:
        WebhookHandler("hook", {"url": "http://no-such-host.invalid/hook"}, AddressPolicy()).send(
            "trigger", [alert()], "k")
    assert info.value.retryable


def test_ssrf_allow_list_from_environment(monkeypatch):
    monkeypatch.setenv("AGENTOTEL_ALERT_ALLOW_HOSTS", "127.0.0.1, alertmanager.internal")
    settings = AlertingSettings.from_env()
    assert settings.allow_hosts == ("127.0.0.1", "alertmanager.internal")
    AddressPolicy(settings.allow_hosts).check_url("http://127.0.0.1:9093/api/v2/alerts")
    with pytest.raises(SSRFError):  # the policy itself reads no environment
        AddressPolicy().check_url("http://127.0.0.1:9093/api/v2/alerts")


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/internal", "http://169.254.169.254/latest/meta-data/"])
def test_ssrf_redirect_to_internal_target_is_refused(target):
    with RecordingServer() as inner:
        location = target.format(port=inner.port)
        with RecordingServer(lambda r, n: (307, {"Location": location}, b"")) as outer:
            # the first hop is allowed by host name only; the redirect target is not allowed
            url = f"http://localhost:{outer.port}/hook"
            with pytest.raises(DeliveryError, match="refusing internal address") as info:
                WebhookHandler("hook", {"url": url}, AddressPolicy(["localhost"])).send(
                    "trigger", [alert()], "k")
            assert not info.value.retryable
            assert len(outer.requests) == 1
        assert inner.requests == []


def test_allowed_redirect_is_followed():
    with RecordingServer() as inner:
        with RecordingServer(lambda r, n: (308, {"Location": f"{inner.url}/final"}, b"")) as outer:
            WebhookHandler("hook", {"url": outer.url + "/start"}, LOOPBACK).send("trigger", [alert()], "k")
    assert [r.path for r in inner.requests] == ["/final"]
    assert inner.requests[0].json["alerts"][0]["id"] == 1


# --- secrets stay out of logs and errors (S5) ------------------------------------------------------------------


def test_secrets_never_in_logs_or_errors(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    slack_path = "/services/T0/B0/SLACKSECRETxyz"
    token = "987654:TELEGRAMsecretTOKEN"
    key = "PDROUTINGsecretKEY"
    errors = []
    with RecordingServer(lambda r, n: (500 if n % 2 == 0 else 200, {}, b'{"ok":true}')) as server:
        monkeypatch.setenv("AGENTOTEL_TEST_SLACK", server.url + slack_path)
        handlers = [
            SlackHandler("s", {"url_env": "AGENTOTEL_TEST_SLACK"}, LOOPBACK),
            TelegramHandler("t", {"bot_token": token, "chat_id": "1", "api_url": server.url}, LOOPBACK),
            PagerDutyHandler("p", {"routing_key": key, "url": server.url + "/v2/enqueue"}, LOOPBACK),
        ]
        for handler in handlers:
            for _ in range(2):
                try:
                    handler.send("trigger", [alert()], "k")
                except DeliveryError as exc:
                    errors.append(str(exc))
    # a dead endpoint: connection errors carry the URL in httpx's message
    for handler in (SlackHandler("s", {"url": f"http://127.0.0.1:{free_port()}{slack_path}"}, LOOPBACK),
                    TelegramHandler("t", {"bot_token": token, "chat_id": "1",
                                          "api_url": f"http://127.0.0.1:{free_port()}"}, LOOPBACK)):
        with pytest.raises(DeliveryError) as info:
            handler.send("trigger", [alert()], "k")
        errors.append(str(info.value))
        logging.getLogger("agentotel.alerting.queue").warning("delivery failed: %s %s", info.value, handler.secret)
    assert len(errors) >= 5 and "HTTP 500" in errors[0]
    assert any("httpx" == r.name for r in caplog.records)  # httpx did log the requests
    for secret in ("SLACKSECRETxyz", "TELEGRAMsecretTOKEN", key):
        assert secret not in caplog.text, secret
        assert all(secret not in e for e in errors), secret
    assert "[REDACTED]" in caplog.text  # the records that carried secrets were rewritten, not dropped
