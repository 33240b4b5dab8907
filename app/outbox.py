"""What both outboxes share: rows that carry their own delivery state, leased, retried with backoff.

``webhook_outbox`` (events to integrators, ``app/webhooks``) and ``sharing_outbox`` (protocol requests to
sharing partners, ``app/sharing``) differ in what a row means and in which rows may go out together; how
a row is leased, retried, given up on and settled is the same, and lives here.

A row holds its whole delivery state (``app.db.tables.delivery_columns``), so a restart loses nothing:
a lease held by a process that died expires and the row is taken again (receivers dedupe on the row's
id). Leases are claimed with a conditional UPDATE, so two workers never hold one row at once, on either
backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Column, ColumnElement, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.timeutil import now_micros

SECOND = 1_000_000

log = logging.getLogger("deskbridge.outbox")


class Outcome(Protocol):
    """What one attempt came to (both outboxes' outcome types have these fields)."""

    @property
    def delivered(self) -> bool: ...
    @property
    def retry(self) -> bool: ...
    @property
    def status(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True)
class Config:
    """How an outbox is delivered: batches, leases, retries, and when a row is given up on (dead)."""

    batch_size: int = 16
    poll_seconds: float = 1.0
    #: Longer than ``timeout_seconds``: a lease must outlive the request it covers.
    lease_seconds: float = 60.0
    timeout_seconds: float = 10.0
    backoff_base_seconds: float = 10.0
    backoff_cap_seconds: float = 3600.0
    #: Dead after this many failed attempts.
    max_attempts: int | None = None
    #: Dead once this old; the last attempt is made at the deadline rather than before it.
    max_age_seconds: float | None = None


def owner_name() -> str:
    """A lease owner: this process, unique across restarts and machines."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff(
    attempts: int,
    config: Config,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before attempt ``attempts + 1``: ``retry_after`` if the receiver sent one, else exponential
    with jitter (half fixed, half random: retries of many rows to a receiver that just came back are
    spread out, and the wait never collapses to zero)."""
    if retry_after is not None:
        return max(retry_after, 0.0)
    delay = min(config.backoff_base_seconds * 2.0 ** max(attempts - 1, 0), config.backoff_cap_seconds)
    return delay / 2 + rng() * delay / 2


def due(table: Any, now: int) -> list[ColumnElement[bool]]:
    """Conditions for rows due now and not leased (or leased by a lease that expired)."""
    return [table.c.next_attempt_at <= now, _free(table, now)]


def _free(table: Any, now: int) -> ColumnElement[bool]:
    return or_(table.c.lease_expires_at.is_(None), table.c.lease_expires_at < now)


async def claim(
    conn: AsyncConnection, key: Column[Any], keys: Sequence[Any], owner: str, lease_seconds: float, now: int
) -> set[Any]:
    """Lease the rows ``keys`` (picked as due) to ``owner``; returns those claimed. A row another worker
    leased since it was picked is left to it: the UPDATE re-checks that the lease is free."""
    if not keys:
        return set()
    table = key.table
    claimed = await conn.execute(
        update(table)
        .where(key.in_(list(keys)), _free(table, now))
        .values(lease_owner=owner, lease_expires_at=now + int(lease_seconds * SECOND))
        .returning(key)
    )
    return set(claimed.scalars())


def settled(
    outcome: Outcome,
    *,
    attempts: int,
    config: Config,
    now: int,
    created_at: int | None = None,
    retry_after: float | None = None,
) -> dict[str, Any]:
    """The row's new delivery state after its attempt number ``attempts`` came to ``outcome``
    (``created_at``, when the row was queued, counts with ``config.max_age_seconds``)."""
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status": outcome.status,
        "last_error": outcome.error,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    deadline = None
    if config.max_age_seconds is not None and created_at is not None:
        deadline = created_at + int(config.max_age_seconds * SECOND)
    if outcome.delivered:
        values.update(delivered_at=now, next_attempt_at=None)
    elif (
        not outcome.retry
        or (config.max_attempts is not None and attempts >= config.max_attempts)
        or (deadline is not None and now >= deadline)
    ):
        values.update(dead_at=now, next_attempt_at=None)
    else:
        at = now + int(backoff(attempts, config, retry_after) * SECOND)
        values["next_attempt_at"] = at if deadline is None else min(at, deadline)
    return values


async def settle(
    conn: AsyncConnection, key: Column[Any], value: Any, owner: str, values: dict[str, Any]
) -> None:
    """Write ``values`` on the row ``value`` only while ``owner`` still holds its lease (a worker that
    stalled past its lease must not overwrite what the one that took the row over did)."""
    table = key.table
    await conn.execute(update(table).where(key == value, table.c.lease_owner == owner).values(**values))


async def postpone(conn: AsyncConnection, key: Column[Any], value: Any, owner: str, seconds: float) -> None:
    """Give a leased row back without counting an attempt."""
    values = {
        "lease_owner": None,
        "lease_expires_at": None,
        "next_attempt_at": now_micros() + int(seconds * SECOND),
    }
    await settle(conn, key, value, owner, values)


L = TypeVar("L")


class DeliveryLoop(ABC, Generic[L]):
    """Leases due rows and delivers each batch concurrently, until stopped.

    Subclasses say how to lease a batch (``lease_due``) and deliver one row (``deliver``); ``chores``
    run every ``chores_seconds`` (purging finished rows, say). Idle, it looks again every
    ``config.poll_seconds``.
    """

    name = "outbox"
    chores_seconds = 3600.0

    def __init__(self, config: Config) -> None:
        self.config = config
        self.owner = owner_name()
        self._stop = asyncio.Event()

    @abstractmethod
    async def lease_due(self) -> Sequence[L]: ...

    @abstractmethod
    async def deliver(self, lease: L) -> object: ...

    async def chores(self) -> None:
        return None

    def stop(self) -> None:
        self._stop.set()

    async def deliver_due(self) -> int:
        """Lease one batch and deliver it concurrently; returns how many were attempted."""
        leases = await self.lease_due()
        await asyncio.gather(*(self.deliver(lease) for lease in leases))
        return len(leases)

    async def run_until_idle(self, max_rounds: int = 1000) -> int:
        """Deliver until nothing is due (tests, CLI); returns the attempts made."""
        total = 0
        for _ in range(max_rounds):
            done = await self.deliver_due()
            if not done:
                break
            total += done
        return total

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or self._stop
        log.info("%s delivery %s started", self.name, self.owner)
        next_chores = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_chores:
                    next_chores = time.monotonic() + self.chores_seconds
                    await self.chores()
                done = await self.deliver_due()
            except Exception:  # the database went away for a moment: keep the loop alive
                log.exception("%s delivery round failed", self.name)
                done = 0
            if done:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.config.poll_seconds)
        log.info("%s delivery %s stopped", self.name, self.owner)
