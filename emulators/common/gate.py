"""What every vendor request passes before routing: faults, auth, rate limit, and the vendor's headers.

``EmulatorApp`` is a ``Litestar`` whose ``__call__`` runs the gate first. Doing it ahead of Litestar's
own routing and exception handling is deliberate: an injected drop or truncation must hit the raw ASGI
channel, and the throttle reply must look like the vendor's, not like a framework error. Paths under
``/_emulator`` (admin) skip the gate entirely.

A vendor plugs in through a ``Profile``: how it authenticates, which quota buckets a request is charged
against, how it spells rate-limit headers and how its 401 / 429 / 500 replies look.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar

from emulators.common.clock import Clock
from emulators.common.config import EmulatorConfig
from emulators.common.faults import FaultInjector, drop_connection, truncating
from emulators.common.http import Reply
from emulators.common.ratelimit import Bucket, RateLimiter, Usage

ADMIN_PREFIX = "/_emulator"
PRINCIPAL = "emulator.principal"


@dataclass
class Principal:
    """Who the request acts as (after ``X-On-Behalf-Of``, where the vendor honours it)."""

    user_id: int | None
    email: str
    method: str  # "token", "password", "oauth", "apikey"
    scopes: frozenset[str] = field(default_factory=frozenset)
    impersonated_by: int | None = None


class Profile:
    """Vendor hooks; subclasses override what their vendor does differently."""

    def normalize(self, path: str) -> str:
        return path

    def is_public(self, path: str) -> bool:
        """Paths that need no credentials (signed attachment downloads)."""
        return False

    def authenticate(self, headers: dict[str, str]) -> Principal | None:
        raise NotImplementedError

    def buckets(self, method: str, path: str, query: str) -> list[Bucket]:
        raise NotImplementedError

    def rate_headers(self, usages: list[Usage]) -> list[tuple[str, str]]:
        return []

    def unauthorized(self) -> Reply:
        raise NotImplementedError

    def throttled(self, retry_after: int) -> Reply:
        raise NotImplementedError

    def server_error(self) -> Reply:
        return Reply(500, b'{"error":"InternalServerError"}')


class EmulatorApp(Litestar):
    """A Litestar app behind the vendor gate. ``state`` carries the emulator's store and knobs."""

    emulator_config: EmulatorConfig
    profile: Profile
    clock: Clock
    limiter: RateLimiter
    injector: FaultInjector

    def attach(self, config: EmulatorConfig, profile: Profile, clock: Clock) -> EmulatorApp:
        self.emulator_config = config
        self.profile = profile
        self.clock = clock
        self.limiter = RateLimiter(clock, config.rate_limit.time_scale)
        self.injector = FaultInjector(config.faults, config.seed)
        return self

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await super().__call__(scope, receive, send)
            return
        await self._gate(scope, receive, send)

    async def _gate(self, scope: Any, receive: Any, send: Any) -> None:
        if self.emulator_config.latency_seconds > 0:
            await asyncio.sleep(self.emulator_config.latency_seconds)
        scope["path"] = self.profile.normalize(scope["path"])
        fault = self.injector.pick()
        if fault == "drop":
            await drop_connection(send)
            return
        if fault == "slow":
            await asyncio.sleep(self.emulator_config.faults.slow_seconds)
        if fault == "500":
            await _send_reply(send, self.profile.server_error())
            return
        if fault == "429":
            await _send_reply(send, self.profile.throttled(self.emulator_config.faults.retry_after))
            return

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        extra: list[tuple[str, str]] = []
        settings = self.emulator_config.rate_limit
        if settings.enabled:
            self.limiter.time_scale = settings.time_scale
            query = scope.get("query_string", b"").decode("latin-1")
            usages = self.limiter.charge(self.profile.buckets(scope["method"], scope["path"], query))
            extra = self.profile.rate_headers(usages)
            if not all(u.allowed for u in usages):
                reply = self.profile.throttled(max(u.reset for u in usages if not u.allowed))
                reply.headers = extra + reply.headers
                await _send_reply(send, reply)
                return
        if not self.profile.is_public(scope["path"]):
            principal = self.profile.authenticate(headers)
            if principal is None:
                reply = self.profile.unauthorized()
                reply.headers = extra + reply.headers
                await _send_reply(send, reply)
                return
            scope[PRINCIPAL] = principal
        outgoing = _with_headers(send, extra)
        if fault == "truncate":
            outgoing = truncating(outgoing)
        await super().__call__(scope, receive, outgoing)


def principal_of(request: Any) -> Principal:
    return request.scope[PRINCIPAL]  # type: ignore[no-any-return]


async def _send_reply(send: Any, reply: Reply) -> None:
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", str(len(reply.body)).encode()),
    ]
    headers += [(k.encode(), v.encode()) for k, v in reply.headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body, "more_body": False})


def _with_headers(send: Any, extra: list[tuple[str, str]]) -> Any:
    if not extra:
        return send
    encoded = [(k.encode(), v.encode()) for k, v in extra]

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return wrapped
