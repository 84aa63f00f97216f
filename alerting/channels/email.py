"""Email over SMTP: STARTTLS (default) or implicit TLS, optional AUTH; ``Message-ID`` from the idempotency key."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field

from agentotel.alerting.channels.base import ChannelOptions, DeliveryError, Handler, title, value_text
from agentotel.alerting.spec import PositiveInt, Text
from agentotel.alerting.ssrf import AddressPolicy, ResolutionError, SSRFError


def _addresses(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(x, str) for x in value):
        return list(value)
    raise ValueError("must be an address or a list of addresses")


class EmailOptions(ChannelOptions):
    channel: ClassVar[str] = "email"
    secrets: ClassVar[dict[str, bool]] = {"password": False}

    host: Text
    port: PositiveInt = 587
    from_: Text = Field(alias="from")
    to: Annotated[list[str], BeforeValidator(_addresses)]
    username: Text = ""
    password: Text | None = None
    password_env: Text | None = None
    password_file: Text | None = None
    starttls: bool = True
    ssl: bool = False
    ca_file: Text = ""
    verify: bool = True


class EmailHandler(Handler):
    """One message per delivery, to every address in ``to``; the password is a secret."""

    type = "email"
    Options = EmailOptions
    options: EmailOptions

    def __init__(self, name: str, options: Mapping[str, Any] | ChannelOptions,
                 policy: AddressPolicy | None = None) -> None:
        super().__init__(name, options, policy)
        if self.options.username and not self.secret.get("password"):
            var = self.options.password_env
            raise ValueError(f"environment variable {var} (or {var}_FILE) is not set" if var else
                             "'password' (or 'password_env' / 'password_file') is required with 'username'")

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.options.ca_file or None)
        if not self.options.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    @classmethod
    def targets_of(cls, options: Any, secret: Mapping[str, str | None]) -> list[str]:
        host = options.host
        return [f"smtp://{f'[{host}]' if ':' in host else host}:{options.port}"]

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        options = self.options
        message = EmailMessage()
        message["Subject"] = title(event, alerts)
        message["From"] = options.from_
        message["To"] = ", ".join(options.to)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{idempotency_key}@agentotel>"
        lines = []
        for alert in alerts:
            lines += [f"{alert.get('severity')} {alert.get('rule_id')}: {alert.get('message', '')}",
                      f"  value: {value_text(alert)}",
                      *(f"  {k}: {v}" for k, v in (alert.get("labels") or {}).items()),
                      f"  since: {alert.get('starts_at')}", ""]
        message.set_content("\n".join(lines))
        try:
            self.policy.check_host(options.host, options.port)
            if options.ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(options.host, options.port, timeout=self.timeout,
                                                        context=self._tls_context())
            else:
                client = smtplib.SMTP(options.host, options.port, timeout=self.timeout)
            with client:
                if options.starttls and not options.ssl:
                    client.starttls(context=self._tls_context())
                if options.username:
                    client.login(options.username, self.secret.get("password") or "")
                client.send_message(message, to_addrs=options.to)
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
