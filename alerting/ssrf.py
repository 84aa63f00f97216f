"""Outbound address policy for notification channels (SSRF guard).

A channel URL (or SMTP host) whose host resolves to a loopback, link-local (cloud metadata, e.g.
169.254.169.254), private, shared, reserved or multicast address is refused unless the host, the address
or a network containing it is allow-listed (rules ``settings.allow_hosts`` and the environment variable
``AGENTOTEL_ALERT_ALLOW_HOSTS``, comma-separated, which ``AlertingSettings`` resolves and the command passes
in). Redirects are checked the same way before they are
followed. Every address a name resolves to must pass, so a name that also resolves to an internal address
is refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SSRFError(Exception):
    """The target address is not allowed."""


class ResolutionError(SSRFError):
    """The target host name could not be resolved (may be temporary)."""


def is_internal(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (not ip.is_global) or ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_private


class AddressPolicy:
    """Decides whether a channel may connect to a URL or host."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        """``allow``: host names, addresses and networks that may be reached although internal."""
        entries = list(allow)
        self.allowed_hosts: set[str] = set()
        self.allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            entry = str(entry).strip().lower()
            if not entry:
                continue
            try:
                self.allowed_networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.allowed_hosts.add(entry)

    def _ip_allowed(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.allowed_networks if net.version == ip.version)

    def check_host(self, host: str, port: int | None = None) -> None:
        """Raise ``SSRFError`` unless every address of ``host`` is public or allow-listed."""
        host = (host or "").strip("[]").lower()
        if not host:
            raise SSRFError("no host in target")
        if host in self.allowed_hosts:
            return
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port or 0, proto=socket.IPPROTO_TCP)
            except socket.gaierror as exc:
                raise ResolutionError(f"cannot resolve host {host!r}: {exc.strerror}") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for ip in addresses:
            if is_internal(ip) and not self._ip_allowed(ip):
                raise SSRFError(f"refusing internal address {ip} for host {host!r} (not allow-listed)")

    def check_url(self, url: str) -> None:
        """Raise ``SSRFError`` for a non-HTTP(S) URL or one whose host is refused."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise SSRFError(f"refusing URL scheme {parts.scheme!r}")
        try:
            port = parts.port
        except ValueError:
            raise SSRFError("invalid port in URL") from None
        self.check_host(parts.hostname or "", port)
