"""Guard for URLs that users supply (a desk's ``base_url``, later sharing partners and webhook targets).

Such URLs make the server send requests on the user's behalf: a server-side request forgery risk. The
policy refuses, unless explicitly allowed by ``DESKBRIDGE_OUTBOUND_ALLOW`` (a list of CIDR networks):
loopback, private, link-local (cloud metadata at 169.254.169.254), multicast, reserved and unspecified
addresses, and plain ``http`` to anything that is not in an allowed network. Every address a host name
resolves to must pass. The production default allows nothing but public HTTPS hosts; the sandbox and the
tests allow loopback with ``DESKBRIDGE_OUTBOUND_ALLOW=127.0.0.0/8,::1/128``.

``check_url`` runs when a URL is accepted (to answer a clear 4xx) and again before use. The policy is
enforced where it cannot be raced, though: ``outbound_client``'s connections resolve the host themselves,
check every address, and connect to the address they checked. A DNS answer that changes between the
check and the connection (rebinding) meets the same check at connect time, redirects included.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeURLError(ValueError):
    """The URL is refused by the outbound policy; the message says why."""


class URLPolicy:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allow)

    def _allowed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allowed)

    def check_address(self, address: IPAddress) -> bool:
        """Whether the policy lets us connect to ``address``; raises ``UnsafeURLError`` if not. True
        when it is in an allowed network (where plain http is fine too)."""
        if self._allowed(address):
            return True
        if not address.is_global or address.is_multicast:
            raise UnsafeURLError(
                f"URL points to a non-public address ({address}); allow its network in "
                "DESKBRIDGE_OUTBOUND_ALLOW to permit it"
            )
        return False

    @staticmethod
    def _addresses(host: str, infos: Iterable[tuple[Any, ...]]) -> list[IPAddress]:
        # A scoped IPv6 address ("fe80::1%eth0") is link-local: judged without its scope.
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise UnsafeURLError(f"host {host!r} does not resolve")
        return addresses

    @classmethod
    def _resolve(cls, host: str) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror:
            raise UnsafeURLError(f"host {host!r} does not resolve") from None
        return cls._addresses(host, infos)

    async def resolve_allowed(self, host: str) -> list[IPAddress]:
        """The addresses ``host`` resolves to, every one checked (``UnsafeURLError`` if any is
        refused: a name that also points inward is not trusted for its public half)."""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except socket.gaierror:
                raise UnsafeURLError(f"host {host!r} does not resolve") from None
            addresses = self._addresses(host, infos)
        for address in addresses:
            self.check_address(address)
        return list(dict.fromkeys(addresses))  # one per address, in the resolver's order

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
            if not self.check_address(address) and parts.scheme != "https":
                raise UnsafeURLError("plain http is only allowed to networks in DESKBRIDGE_OUTBOUND_ALLOW")
        return url.rstrip("/")


class RefusedByPolicyError(httpcore.ConnectError):
    """A connection the outbound policy refused at connect time. httpx reports it as an
    ``httpx.ConnectError`` (the message says why), so every caller handles it as the failed connection
    it is: a vendor sync retries and then fails with the reason, a webhook or sharing delivery counts a
    failed attempt."""


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the policy at the socket: the host is resolved here, every address
    checked, and the connection made to an address that passed, so nothing between a check and the
    connection can swap the address (TLS still verifies the certificate against the host name)."""

    def __init__(self, policy: URLPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface passes it by this name)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.policy.resolve_allowed(host)
        except UnsafeURLError as exc:
            raise RefusedByPolicyError(f"refused by the outbound URL policy: {exc}") from None
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from None
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # the next address may answer
        assert error is not None  # resolve_allowed returns at least one address
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedByPolicyError("unix sockets are refused by the outbound URL policy")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def outbound_client(policy: URLPolicy, *, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The one HTTP client for requests to URLs users supply (desks, sharing partners, webhook
    targets), with ``policy`` enforced on every connection it opens.

    Proxies from the environment (``HTTPS_PROXY``, ...) are not used: through a proxy the address
    connected to is the proxy's, and the policy could not see where requests go.
    """
    transport = httpx.AsyncHTTPTransport()
    # httpx builds its connection pool without a way to pass a network backend: rebuild it with ours,
    # with httpx's own defaults (tests/app/test_security.py checks that connections go through it).
    limits = httpx.Limits()
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedNetworkBackend(policy),
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout)
