"""What every channel shares: the ``Handler`` base class and its options model, ``DeliveryError``, secret
resolution, HTTP posting under the SSRF policy, and message formatting.

A handler sends one event (``trigger`` | ``acknowledge`` | ``resolve``) for a group of alerts and raises
``DeliveryError`` (``retryable`` or permanent, with the channel's ``Retry-After``) when it fails.

Secrets (webhook URLs, routing keys, passwords, tokens) are given in the channel options as
``<name>_env: VAR`` (the variable, or the file named by ``VAR_FILE``), ``<name>_file: PATH`` or literally.
They are registered with ``core.secrets`` so that they never reach logs, stored errors or the dashboard.
"""

from __future__ import annotations

import builtins
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urljoin

import httpx
from pydantic import ValidationError, model_validator

from agentotel.alerting.spec import PositiveNumber, Spec, summary
from agentotel.alerting.ssrf import AddressPolicy, ResolutionError, SSRFError
from agentotel.core.retry_after import retry_after_seconds
from agentotel.core.secrets import install_log_filter, redact_text, register_secret
from agentotel.core.settings import secret_from_env

EVENTS = ("trigger", "acknowledge", "resolve")
MAX_REDIRECTS = 3
_CLIENT_LOCK = threading.Lock()

# logger filters do not apply to records of child loggers, so every emitting logger is listed
install_log_filter(("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                    "agentotel.alerting", "agentotel.alerting.channels.registry", "agentotel.alerting.queue",
                    "agentotel.alerting.engine", "agentotel.alerting.service", "agentotel.alerting.manager"))


class DeliveryError(Exception):
    """A failed delivery. ``retryable`` failures are retried with back-off; others go to dead letters."""

    def __init__(self, message: str, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(redact_text(message))
        self.retryable = retryable
        self.retry_after = retry_after


class ChannelOptions(Spec):
    """Options every channel takes. A channel's model adds its own, and for each secret ``s`` in
    ``secrets`` the three fields ``s``, ``s_env`` and ``s_file`` (one of them needed if required)."""

    key_noun: ClassVar[str] = "option"
    channel: ClassVar[str] = ""  # the channel type, for messages
    secrets: ClassVar[dict[str, bool]] = {}  # secret name → required

    timeout: PositiveNumber = 10.0

    @classmethod
    def unknown_key_message(cls, key: Any) -> str:
        return f"unknown option {key!r} for a {cls.channel} channel (allowed: {', '.join(cls.allowed_keys())})"

    @model_validator(mode="after")
    def _required_secrets(self) -> ChannelOptions:
        for name, required in self.secrets.items():
            if required and not any(getattr(self, key) for key in (name, f"{name}_env", f"{name}_file")):
                raise ValueError(f"'{name}' (or '{name}_env' / '{name}_file') is required for a {self.channel} channel")
        return self


def resolve_secret(options: ChannelOptions, name: str, required: bool = True) -> str | None:
    """The secret ``name`` from the ``name`` / ``name_env`` / ``name_file`` options, registered for masking."""
    var, path = getattr(options, f"{name}_env"), getattr(options, f"{name}_file")
    value: str | None
    if var:
        value = secret_from_env(var)
        if not value and required:
            raise ValueError(f"environment variable {var} (or {var}_FILE) is not set")
    elif path:
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {name}_file: {exc.strerror}") from None
    else:
        value = getattr(options, name) or None
        if not value and required:
            raise ValueError(f"'{name}' (or '{name}_env' / '{name}_file') is required")
    register_secret(value)
    return value


class Handler:
    """Base class of the channels: subclasses set ``type``, ``Options`` (and ``events``) and implement ``send``."""

    type: ClassVar[str] = ""
    events: ClassVar[frozenset[str]] = frozenset({"trigger", "resolve"})
    Options: ClassVar[builtins.type[ChannelOptions]] = ChannelOptions  # ``type`` is the channel's name here

    def __init__(self, name: str, options: Mapping[str, Any] | ChannelOptions,
                 policy: AddressPolicy | None = None) -> None:
        self.options = self.validate_options(options)
        self.name = name
        self.policy = policy or AddressPolicy()
        self.secret = {k: resolve_secret(self.options, k, required) for k, required in self.Options.secrets.items()}
        self.timeout = self.options.timeout
        self._client: httpx.Client | None = None

    @classmethod
    def validate_options(cls, options: Mapping[str, Any] | ChannelOptions) -> ChannelOptions:
        """The options as the channel's model; ``ValueError`` (one line) for unknown, missing or bad ones.
        Secrets are not resolved here."""
        if isinstance(options, cls.Options):
            return options
        try:
            return cls.Options.model_validate(dict(options))
        except ValidationError as exc:
            raise ValueError(summary(exc)) from None

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        raise NotImplementedError

    def targets(self) -> list[str]:
        """The URLs (``smtp://host:port`` for e-mail) this channel connects to, for ``check-rules``."""
        return self.targets_of(self.options, self.secret)

    @classmethod
    def targets_of(cls, options: Any, secret: Mapping[str, str | None]) -> list[str]:
        """``targets`` from the options and the secrets known (a secret not set: its address is unknown)."""
        return []

    @property
    def client(self) -> httpx.Client:
        """One HTTP client per channel (connection reuse; the TLS context is built once)."""
        with _CLIENT_LOCK:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False)
            return self._client

    def post_json(self, url: str, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """POST ``body`` as JSON (see ``post_bytes``)."""
        content = json.dumps(body, separators=(",", ":"), default=str).encode()
        return self.post_bytes(url, content, {"Content-Type": "application/json", **(headers or {})})

    def post_bytes(self, url: str, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST with the SSRF policy applied to the URL and to every redirect; ``DeliveryError`` on failure."""
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
    """Raise ``DeliveryError`` for a non-2xx answer: 408/425/429/5xx retryable, other 4xx permanent."""
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


def title(event: str, alerts: Sequence[Mapping[str, Any]]) -> str:
    """``[FIRING] critical: rule-id (+2 more)``."""
    state = {"trigger": "FIRING", "acknowledge": "ACKNOWLEDGED", "resolve": "RESOLVED"}[event]
    first = alerts[0]
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return f"[{state}] {first.get('severity', 'warning')}: {first.get('rule_id')}{more}"


def value_text(alert: Mapping[str, Any]) -> str:
    """The alert's value with 6 significant digits, or empty."""
    value = alert.get("value")
    return "" if value is None else f"{value:.6g}"
