"""Deterministic fault injection: which request fails, and how a failure looks on the wire.

Kinds: ``429`` (vendor throttle reply with ``Retry-After``), ``500``, ``drop`` (the connection closes with
no response), ``slow`` (the reply is delayed), ``truncate`` (the declared ``Content-Length`` is kept but
only half the body is sent).

``drop`` and ``truncate`` differ by server. Under uvicorn the socket really closes, so an HTTP client
sees a protocol error. In-process (``httpx.ASGITransport``) there is no socket: ``drop`` raises
``httpx.RemoteProtocolError`` — the exception httpx raises for a server that hangs up — and ``truncate``
hands the client a cut JSON body.
"""

from __future__ import annotations

import random
from typing import Any

import httpx

from emulators.common.config import Faults

Send = Any


class FaultInjector:
    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        # Own RNG stream: data generation never shifts which request fails, and vice versa.
        self.rng = random.Random(f"{seed}:faults")
        self.injected: dict[str, int] = {}

    def pick(self) -> str | None:
        kind = self.faults.script.popleft() if self.faults.script else self._draw()
        if kind is not None:
            self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind

    def _draw(self) -> str | None:
        f = self.faults
        rates = (
            ("429", f.rate_429),
            ("500", f.rate_500),
            ("drop", f.rate_drop),
            ("slow", f.rate_slow),
            ("truncate", f.rate_truncate),
        )
        if not any(rate for _, rate in rates):
            return None
        roll = self.rng.random()
        for kind, rate in rates:
            if roll < rate:
                return kind
            roll -= rate
        return None


async def drop_connection(send: Send) -> None:
    """Close the client's connection without a response."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    transport.close()
    # Tell uvicorn the peer is gone so it does not write its own 500 on the closed socket.
    cycle.disconnected = True


def truncating(send: Send) -> Send:
    """Wrap ``send`` so the response keeps its headers but loses the second half of its body."""
    chunks: list[bytes] = []

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": False})

    return wrapped
