"""Notification channels: Slack, email (SMTP), PagerDuty Events v2, generic webhook (HMAC-signed),
Telegram, Discord, Prometheus Alertmanager and ``log`` (one line per notification in the console).

A handler sends one event (``trigger`` | ``acknowledge`` | ``resolve``) for a group of alerts and raises
``DeliveryError`` (``retryable`` or permanent, with the channel's ``Retry-After``) when it fails.

Secrets (webhook URLs, routing keys, passwords, tokens) are given in the channel options as
``<name>_env: VAR`` (the variable, or the file named by ``VAR_FILE``), ``<name>_file: PATH`` or literally.
They are registered with ``redact`` so that they never reach logs, stored errors or the dashboard.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, ClassVar
from urllib.parse import urljoin

import httpx

from agentotel.alerting.ssrf import AddressPolicy, ResolutionError, SSRFError
from agentotel.core.retry_after import retry_after_seconds
from agentotel.core.secrets import install_log_filter, redact_text, register_secret
from agentotel.core.settings import secret_from_env

logger = logging.getLogger(__name__)

EVENTS = ("trigger", "acknowledge", "resolve")
SIGNATURE_HEADER = "X-Agentotel-Signature"
TIMESTAMP_HEADER = "X-Agentotel-Timestamp"
MAX_REDIRECTS = 3
_CLIENT_LOCK = threading.Lock()


class DeliveryError(Exception):
    """A failed delivery. ``retryable`` failures are retried with back-off; others go to dead letters."""

    def __init__(self, message: str, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(redact_text(message))
        self.retryable = retryable
        self.retry_after = retry_after


# --- secrets: masked by agentotel.core.secrets ------------------------------------------------------------

# logger filters do not apply to records of child loggers, so every emitting logger is listed
install_log_filter(("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                    "agentotel.alerting", "agentotel.alerting.handlers", "agentotel.alerting.queue",
                    "agentotel.alerting.engine", "agentotel.alerting.service", "agentotel.alerting.manager"))


def resolve_secret(options: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    """The secret ``name`` from ``name`` / ``name_env`` / ``name_file`` options."""
    if options.get(f"{name}_env"):
        var = str(options[f"{name}_env"])
        value = secret_from_env(var)
        if not value and required:
            raise ValueError(f"environment variable {var} (or {var}_FILE) is not set")
    elif options.get(f"{name}_file"):
        try:
            with open(str(options[f"{name}_file"]), encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {name}_file: {exc.strerror}") from None
    else:
        value = options.get(name)
        value = None if value is None else str(value)
        if not value and required:
            raise ValueError(f"'{name}' (or '{name}_env' / '{name}_file') is required")
    register_secret(value)
    return value


# --- base ----------------------------------------------------------------------------------------------------


class Handler:
    """Base class of the channels. Subclasses set ``options`` / ``secrets`` and implement ``send``."""

    type: ClassVar[str] = ""
    events: ClassVar[frozenset[str]] = frozenset({"trigger", "resolve"})
    secrets: ClassVar[dict[str, bool]] = {}  # secret option name → required
    options: ClassVar[dict[str, Any]] = {}  # other option name → default (None: required)

    def __init__(self, name: str, options: Mapping[str, Any], policy: AddressPolicy | None = None) -> None:
        self.validate_options(options)
        self.name = name
        self.policy = policy or AddressPolicy()
        self.config = {k: options.get(k, default) for k, default in self.options.items()}
        self.secret = {k: resolve_secret(options, k, required) for k, required in self.secrets.items()}
        self.timeout = float(options.get("timeout", 10))

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` for unknown or missing options (secrets are not resolved here)."""
        allowed = {"timeout", *cls.options}
        for key in cls.secrets:
            allowed |= {key, f"{key}_env", f"{key}_file"}
        for key in options:
            if key not in allowed:
                raise ValueError(f"unknown option {key!r} for a {cls.type} channel (allowed: {', '.join(sorted(allowed))})")
        for key, default in cls.options.items():
            if default is None and options.get(key) in (None, ""):
                raise ValueError(f"option {key!r} is required for a {cls.type} channel")
        for key, required in cls.secrets.items():
            if required and not any(options.get(k) for k in (key, f"{key}_env", f"{key}_file")):
                raise ValueError(f"'{key}' (or '{key}_env' / '{key}_file') is required for a {cls.type} channel")

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        raise NotImplementedError

    # HTTP with the SSRF policy applied to the URL and to every redirect
    def post_json(self, url: str, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
        content = json.dumps(body, separators=(",", ":"), default=str).encode()
        return self.post_bytes(url, content, {"Content-Type": "application/json", **(headers or {})})

    @property
    def client(self) -> httpx.Client:
        """One HTTP client per channel (connection reuse; the TLS context is built once)."""
        with _CLIENT_LOCK:
            if getattr(self, "_client", None) is None:
                self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False)
            return self._client

    def post_bytes(self, url: str, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        try:
            for _ in range(MAX_REDIRECTS + 1):
                self.policy.check_url(url)
                response = self.client.post(url, content=content, headers=dict(headers))
                if not response.is_redirect:
                    check_response(response)
                    return response
                url = urljoin(url, response.headers.get("location", ""))
        except SSRFError as exc:  # refused targets are permanent; a failed DNS lookup may be temporary
            raise DeliveryError(f"{self.type} channel {self.name!r}: {exc}",
                                retryable=isinstance(exc, ResolutionError)) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{self.type} channel {self.name!r}: {type(exc).__name__}: {exc}") from None
        raise DeliveryError(f"{self.type} channel {self.name!r}: too many redirects", retryable=False)



def check_response(response: httpx.Response) -> None:
    """Raise ``DeliveryError`` for a non-2xx answer: 408/429/5xx retryable, other 4xx permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    retryable = status in (408, 425, 429) or status >= 500
    detail = response.text[:200].replace("\n", " ")
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if retry_after is None and status == 429:  # Telegram / Discord also say it in the JSON body
        try:
            body = response.json()
            value = body.get("retry_after", (body.get("parameters") or {}).get("retry_after"))
            retry_after = float(value) if value is not None else None
        except (ValueError, AttributeError, TypeError):
            retry_after = None
    raise DeliveryError(f"HTTP {status}: {detail}", retryable=retryable, retry_after=retry_after)


# --- formatting helpers ----------------------------------------------------------------------------------------

SEVERITY_COLORS = {"critical": 0xD0021B, "error": 0xF5A623, "warning": 0xF8E71C, "info": 0x4A90E2}


def title(event: str, alerts: Sequence[Mapping[str, Any]]) -> str:
    state = {"trigger": "FIRING", "acknowledge": "ACKNOWLEDGED", "resolve": "RESOLVED"}[event]
    first = alerts[0]
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return f"[{state}] {first.get('severity', 'warning')}: {first.get('rule_id')}{more}"


def _value_text(alert: Mapping[str, Any]) -> str:
    value = alert.get("value")
    return "" if value is None else f"{value:.6g}"


def _mrkdwn(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- channels --------------------------------------------------------------------------------------------------


class SlackHandler(Handler):
    """Slack incoming webhook with Block Kit (header, one section per alert with label fields, context)."""

    type = "slack"
    secrets = {"url": True}

    def send(self, event, alerts, idempotency_key):
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title(event, alerts)[:150]}}]
        for alert in alerts[:20]:
            text = f"*{_mrkdwn(alert.get('severity'))}* `{_mrkdwn(alert.get('rule_id'))}`\n{_mrkdwn(alert.get('message', ''))}"
            fields = [{"type": "mrkdwn", "text": f"*{_mrkdwn(k)}*\n{_mrkdwn(v)}"[:2000]}
                      for k, v in list((alert.get("labels") or {}).items())[:9]]
            if alert.get("value") is not None:
                fields.append({"type": "mrkdwn", "text": f"*value*\n{_value_text(alert)}"})
            section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
            if fields:
                section["fields"] = fields[:10]
            blocks.append(section)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"agentotel · {len(alerts)} alert(s) · {event}"}]})
        self.post_json(self.secret["url"], {"text": title(event, alerts), "blocks": blocks[:50]})


class DiscordHandler(Handler):
    """Discord webhook: one embed per alert (≤ 10), mentions disabled."""

    type = "discord"
    secrets = {"url": True}

    def send(self, event, alerts, idempotency_key):
        embeds = []
        for alert in alerts[:10]:
            fields = [{"name": str(k)[:256], "value": str(v)[:1024] or "-", "inline": True}
                      for k, v in list((alert.get("labels") or {}).items())[:24]]
            if alert.get("value") is not None:
                fields.append({"name": "value", "value": _value_text(alert), "inline": True})
            embed = {
                "title": f"{alert.get('rule_id')} ({alert.get('severity')})"[:256],
                "description": str(alert.get("message", ""))[:4096],
                "color": 0x7ED321 if event == "resolve" else SEVERITY_COLORS.get(str(alert.get("severity")), 0x9B9B9B),
                "fields": fields,
            }
            if alert.get("starts_at"):
                embed["timestamp"] = alert["starts_at"]
            embeds.append(embed)
        body = {"content": title(event, alerts)[:2000], "embeds": embeds, "allowed_mentions": {"parse": []}}
        self.post_json(self.secret["url"], body)


class TelegramHandler(Handler):
    """Telegram bot API ``sendMessage`` (HTML parse mode)."""

    type = "telegram"
    secrets = {"bot_token": True}
    options = {"chat_id": None, "api_url": "https://api.telegram.org"}

    def send(self, event, alerts, idempotency_key):
        lines = [f"<b>{html.escape(title(event, alerts))}</b>"]
        for alert in alerts[:20]:
            labels = ", ".join(f"{k}={v}" for k, v in (alert.get("labels") or {}).items())
            lines.append(f"• <code>{html.escape(str(alert.get('rule_id')))}</code> {html.escape(str(alert.get('message', '')))}"
                         + (f" <i>{html.escape(labels)}</i>" if labels else ""))
        url = f"{str(self.config['api_url']).rstrip('/')}/bot{self.secret['bot_token']}/sendMessage"
        body = {"chat_id": self.config["chat_id"], "text": "\n".join(lines)[:4096], "parse_mode": "HTML",
                "disable_web_page_preview": True}
        response = self.post_json(url, body)
        try:
            ok = response.json().get("ok", True)
        except ValueError:
            ok = True
        if not ok:
            raise DeliveryError(f"telegram channel {self.name!r}: API answered ok=false", retryable=False)


class WebhookHandler(Handler):
    """Generic webhook: JSON body, ``Idempotency-Key`` header, HMAC-SHA256 signature when a secret is set.

    Signature: ``X-Agentotel-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with the
    Unix time in ``X-Agentotel-Timestamp``.
    """

    type = "webhook"
    secrets = {"url": True, "secret": False}

    def send(self, event, alerts, idempotency_key):
        body = json.dumps({"version": "1", "source": "agentotel", "event": event, "idempotency_key": idempotency_key,
                           "alerts": list(alerts)}, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if self.secret.get("secret"):
            stamp = str(int(time.time()))
            digest = hmac.new(self.secret["secret"].encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers |= {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: f"sha256={digest}"}
        self.post_bytes(self.secret["url"], body, headers)


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Check a webhook signature header (for receivers of our webhooks, and tests)."""
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


PD_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


class PagerDutyHandler(Handler):
    """PagerDuty Events API v2: trigger / acknowledge / resolve with ``dedup_key`` = alert fingerprint."""

    type = "pagerduty"
    events = frozenset(EVENTS)
    secrets = {"routing_key": True}
    options = {"url": "https://events.pagerduty.com/v2/enqueue", "source": "agentotel"}

    def send(self, event, alerts, idempotency_key):
        for alert in alerts:
            body: dict[str, Any] = {"routing_key": self.secret["routing_key"], "event_action": event,
                                    "dedup_key": alert["fingerprint"]}
            if event == "trigger":
                body["payload"] = {
                    "summary": f"{alert.get('rule_id')}: {alert.get('message', '')}"[:1024],
                    "source": str((alert.get("labels") or {}).get("agent") or self.config["source"]),
                    "severity": PD_SEVERITY.get(str(alert.get("severity")), "warning"),
                    "timestamp": alert.get("starts_at"),
                    "class": alert.get("rule_id"),
                    "custom_details": {"labels": alert.get("labels") or {}, "value": alert.get("value"),
                                       "annotations": alert.get("annotations") or {}},
                }
                body["client"] = "agentotel"
            self.post_json(self.config["url"], body)


class AlertmanagerHandler(Handler):
    """Prometheus Alertmanager ``POST /api/v2/alerts`` (``endsAt`` set on resolve)."""

    type = "alertmanager"
    options = {"url": "http://127.0.0.1:9093", "generator_url": ""}

    def send(self, event, alerts, idempotency_key):
        items = []
        for alert in alerts:
            labels = {"alertname": str(alert.get("rule_id")), "severity": str(alert.get("severity"))}
            labels |= {_label_name(k): str(v) for k, v in (alert.get("labels") or {}).items() if str(v) != ""}
            item: dict[str, Any] = {
                "labels": labels,
                "annotations": {"summary": str(alert.get("message", "")), "value": _value_text(alert),
                                **{_label_name(k): str(v) for k, v in (alert.get("annotations") or {}).items()}},
                "startsAt": alert.get("starts_at"),
            }
            if event == "resolve":
                item["endsAt"] = alert.get("ends_at") or datetime.now(timezone.utc).isoformat()
            if self.config["generator_url"]:
                item["generatorURL"] = self.config["generator_url"]
            items.append(item)
        self.post_json(f"{str(self.config['url']).rstrip('/')}/api/v2/alerts", items)


def _label_name(name: Any) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", str(name))
    return cleaned if re.match(r"[a-zA-Z_]", cleaned) else f"_{cleaned}"


class EmailHandler(Handler):
    """Email over SMTP: STARTTLS (default) or implicit TLS, optional AUTH; ``Message-ID`` from the idempotency key."""

    type = "email"
    events = frozenset({"trigger", "resolve"})
    secrets = {"password": False}
    options = {"host": None, "port": 587, "from": None, "to": None, "username": "", "starttls": True, "ssl": False,
               "ca_file": "", "verify": True}

    @classmethod
    def validate_options(cls, options):
        super().validate_options(options)
        to = options.get("to")
        if not (isinstance(to, str) or (isinstance(to, list) and to and all(isinstance(x, str) for x in to))):
            raise ValueError("option 'to' must be an address or a list of addresses")

    def __init__(self, name: str, options: Mapping[str, Any], policy: AddressPolicy | None = None) -> None:
        super().__init__(name, options, policy)
        if self.config["username"] and not self.secret.get("password"):
            var = options.get("password_env")
            raise ValueError(f"environment variable {var} (or {var}_FILE) is not set" if var else
                             "'password' (or 'password_env' / 'password_file') is required with 'username'")

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config["ca_file"] or None)
        if not self.config["verify"]:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def send(self, event, alerts, idempotency_key):
        to = self.config["to"]
        recipients = [to] if isinstance(to, str) else list(to)
        message = EmailMessage()
        message["Subject"] = title(event, alerts)
        message["From"] = self.config["from"]
        message["To"] = ", ".join(recipients)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{idempotency_key}@agentotel>"
        lines = []
        for alert in alerts:
            lines += [f"{alert.get('severity')} {alert.get('rule_id')}: {alert.get('message', '')}",
                      f"  value: {_value_text(alert)}",
                      *(f"  {k}: {v}" for k, v in (alert.get("labels") or {}).items()),
                      f"  since: {alert.get('starts_at')}", ""]
        message.set_content("\n".join(lines))
        host, port = str(self.config["host"]), int(self.config["port"])
        try:
            self.policy.check_host(host, port)
            if self.config["ssl"]:
                client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=self.timeout, context=self._tls_context())
            else:
                client = smtplib.SMTP(host, port, timeout=self.timeout)
            with client:
                if self.config["starttls"] and not self.config["ssl"]:
                    client.starttls(context=self._tls_context())
                if self.config["username"]:
                    client.login(str(self.config["username"]), self.secret.get("password") or "")
                client.send_message(message, to_addrs=recipients)
        except SSRFError as exc:
            raise DeliveryError(f"email channel {self.name!r}: {exc}",
                                retryable=isinstance(exc, ResolutionError)) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"email channel {self.name!r}: authentication failed ({exc.smtp_code})",
                                retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"email channel {self.name!r}: SMTP {exc.smtp_code}",
                                retryable=exc.smtp_code < 500) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError(f"email channel {self.name!r}: recipients refused", retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email channel {self.name!r}: {type(exc).__name__}: {exc}") from None


ALERT_LOGGER = "agentotel.alerts"
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
              "critical": logging.CRITICAL}
install_log_filter((ALERT_LOGGER,))


class LogHandler(Handler):
    """Writes each notification as one line to the ``agentotel.alerts`` logger (the console of ``agentotel
    up`` / ``alerts run``): needs no account or network, so it works out of the box (the demo uses it)."""

    type = "log"
    events = frozenset(EVENTS)
    options = {"level": "warning"}

    @classmethod
    def validate_options(cls, options):
        super().validate_options(options)
        if str(options.get("level", "warning")).lower() not in LOG_LEVELS:
            raise ValueError(f"option 'level' must be one of {', '.join(LOG_LEVELS)}")

    def send(self, event, alerts, idempotency_key):
        log = logging.getLogger(ALERT_LOGGER)
        level = LOG_LEVELS[str(self.config["level"]).lower()]
        for alert in alerts:
            labels = ", ".join(f"{k}={v}" for k, v in (alert.get("labels") or {}).items())
            value = f" (value {_value_text(alert)})" if alert.get("value") is not None else ""
            log.log(level, "%s %s%s%s", title(event, [alert]), alert.get("message", ""), value,
                    f" [{labels}]" if labels else "")


CHANNEL_TYPES: dict[str, type[Handler]] = {
    cls.type: cls
    for cls in (SlackHandler, EmailHandler, PagerDutyHandler, WebhookHandler, TelegramHandler, DiscordHandler,
                AlertmanagerHandler, LogHandler)
}


def build_handlers(channels: Mapping[str, Any], policy: AddressPolicy | None = None,
                   strict: bool = True) -> dict[str, Handler]:
    """Handlers for the ``channels`` of a rules file (``ChannelConfig`` values); secrets resolved now.

    A channel that cannot be built (e.g. its secret's environment variable is not set) raises ``ValueError``,
    or with ``strict=False`` is left out with a warning: its notifications then become dead letters
    ("no handler configured"), visible and re-sendable once the channel is configured.
    """
    out = {}
    for name, channel in channels.items():
        try:
            out[name] = CHANNEL_TYPES[channel.type](name, channel.options, policy)
        except ValueError as exc:
            if strict:
                raise ValueError(f"channel {name!r}: {exc}") from None
            logger.warning("channel %s disabled: %s", name, redact_text(exc))
    return out
