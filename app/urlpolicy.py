"""Guard for URLs that users supply (a desk's ``base_url``, later sharing partners and webhook targets).

Such URLs make the server send requests on the user's behalf: a server-side request forgery risk. The
policy refuses, unless explicitly allowed by ``DESKBRIDGE_OUTBOUND_ALLOW`` (a list of CIDR networks):
loopback, private, link-local (cloud metadata at 169.254.169.254), multicast, reserved and unspecified
addresses, and plain ``http`` to anything that is not in an allowed network. Every address a host name
resolves to must pass. The production default allows nothing but public HTTPS hosts; the sandbox and the
tests allow loopback with ``DESKBRIDGE_OUTBOUND_ALLOW=127.0.0.0/8,::1/128``.

Known limit: the check runs when the URL is accepted and again before use through ``check_url``; a DNS
answer that changes between the check and the connection (rebinding) is not caught yet.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeURLError(ValueError):
    """The URL is refused by the outbound policy; the message says why."""


class URLPolicy:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allow)

    def _allowed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allowed)

    @staticmethod
    def _resolve(host: str) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror:
            raise UnsafeURLError(f"host {host!r} does not resolve") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]

    def check_url(self, url: str) -> str:
        """Return ``url`` normalized (no trailing slash) or raise ``UnsafeURLError``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeURLError("URL must start with https:// (or http:// for an allowed network)")
        if not parts.hostname:
            raise UnsafeURLError("URL has no host")
        if parts.username or parts.password:
            raise UnsafeURLError("URL must not carry credentials; pass them as credentials")
        for address in self._resolve(parts.hostname):
            if self._allowed(address):
                continue
            if not address.is_global or address.is_multicast:
                raise UnsafeURLError(
                    f"URL points to a non-public address ({address}); allow its network in "
                    "DESKBRIDGE_OUTBOUND_ALLOW to permit it"
                )
            if parts.scheme != "https":
                raise UnsafeURLError("plain http is only allowed to networks in DESKBRIDGE_OUTBOUND_ALLOW")
        return url.rstrip("/")
