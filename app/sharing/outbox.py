"""The durable queue of protocol requests to partners (``sharing_outbox``).

Rows are written in the transaction of the change that causes them and hold the whole delivery state,
so nothing is lost on a restart: a lease held by a dead process expires and the row is taken again
(the partner dedupes by uuid). Rows of one ``order_key`` (a shared ticket, or an agreement) go out one at
a time in ``seq`` order: a share before its updates, an update before the unshare.

Same shape as the webhook outbox (``app/webhooks``: lease, attempt, record with backoff); the two differ
in what a row means (an event body vs. a request built at send time) and in ordering, and could share
a generic "leased rows with backoff" core once both settle.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.tables import sharing_outbox
from app.timeutil import now_micros
from connectors.ticket_sharing.client import Outcome

SECOND = 1_000_000


@dataclass(frozen=True)
class OutboxConfig:
    batch_size: int = 16
    poll_seconds: float = 1.0
    lease_seconds: float = 120.0
    timeout_seconds: float = 30.0
    backoff_base_seconds: float = 5.0
    backoff_cap_seconds: float = 3600.0
    #: After this many failed attempts a row is dead (about 3 days with the defaults).
    max_attempts: int = 80


class Lease(msgspec.Struct, kw_only=True, frozen=True):
    seq: int
    agreement_id: str
    shared_ticket_id: str | None
    kind: str
    body: bytes | None
    attempts: int
    owner: str


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def enqueue(
    conn: AsyncConnection,
    agreement_id: str,
    kind: str,
    *,
    shared_ticket_id: str | None = None,
    body: bytes | None = None,
) -> None:
    """Queue a request; an ``update`` is coalesced with one still waiting for the same shared ticket
    (it is built when sent, so one row carries every change made meanwhile)."""
    now = now_micros()
    if kind == "update" and shared_ticket_id is not None:
        waiting = await conn.scalar(
            select(sharing_outbox.c.seq).where(
                sharing_outbox.c.shared_ticket_id == shared_ticket_id,
                sharing_outbox.c.kind == "update",
                sharing_outbox.c.next_attempt_at.is_not(None),
                sharing_outbox.c.lease_owner.is_(None),
                sharing_outbox.c.attempts == 0,
            )
        )
        if waiting is not None:
            return
    await conn.execute(
        insert(sharing_outbox).values(
            agreement_id=agreement_id,
            shared_ticket_id=shared_ticket_id,
            order_key=shared_ticket_id or agreement_id,
            kind=kind,
            body=body,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
    )


async def lease_due(engine: AsyncEngine, owner: str, config: OutboxConfig) -> list[Lease]:
    """Due rows that are first in line for their ``order_key``, leased to ``owner``."""
    now = now_micros()
    earlier = sharing_outbox.alias("earlier")
    blocked = exists().where(
        earlier.c.order_key == sharing_outbox.c.order_key,
        earlier.c.seq < sharing_outbox.c.seq,
        earlier.c.next_attempt_at.is_not(None),
    )
    pick = (
        select(
            sharing_outbox.c.seq,
            sharing_outbox.c.agreement_id,
            sharing_outbox.c.shared_ticket_id,
            sharing_outbox.c.kind,
            sharing_outbox.c.body,
            sharing_outbox.c.attempts,
        )
        .where(
            sharing_outbox.c.next_attempt_at <= now,
            or_(sharing_outbox.c.lease_expires_at.is_(None), sharing_outbox.c.lease_expires_at < now),
            ~blocked,
        )
        .order_by(sharing_outbox.c.seq)
        .limit(config.batch_size)
        .with_for_update(skip_locked=True, of=sharing_outbox)
    )
    leases: list[Lease] = []
    async with engine.begin() as conn:
        for row in (await conn.execute(pick)).all():
            claimed = await conn.execute(
                update(sharing_outbox)
                .where(
                    sharing_outbox.c.seq == row.seq,
                    or_(sharing_outbox.c.lease_expires_at.is_(None), sharing_outbox.c.lease_expires_at < now),
                )
                .values(lease_owner=owner, lease_expires_at=now + int(config.lease_seconds * SECOND))
            )
            if claimed.rowcount == 1:
                leases.append(
                    Lease(
                        seq=row.seq,
                        agreement_id=row.agreement_id,
                        shared_ticket_id=row.shared_ticket_id,
                        kind=row.kind,
                        body=row.body,
                        attempts=row.attempts,
                        owner=owner,
                    )
                )
    return leases


def backoff(attempts: int, config: OutboxConfig) -> float:
    """Exponential with jitter (half fixed, half random): retries of many rows to a partner that just
    came back are spread out."""
    delay = min(config.backoff_base_seconds * 2.0 ** max(attempts - 1, 0), config.backoff_cap_seconds)
    return delay / 2 + random.random() * delay / 2  # noqa: S311 - jitter, not a secret


async def record(conn: AsyncConnection, lease: Lease, outcome: Outcome, config: OutboxConfig) -> None:
    """Save an attempt's outcome, only while we still hold the lease (in the caller's transaction)."""
    now = now_micros()
    attempts = lease.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status": outcome.status,
        "last_error": outcome.error,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if outcome.delivered:
        values.update(delivered_at=now, next_attempt_at=None)
    elif not outcome.retry or attempts >= config.max_attempts:
        values.update(dead_at=now, next_attempt_at=None)
    else:
        values["next_attempt_at"] = now + int(backoff(attempts, config) * SECOND)
    await conn.execute(
        update(sharing_outbox)
        .where(and_(sharing_outbox.c.seq == lease.seq, sharing_outbox.c.lease_owner == lease.owner))
        .values(**values)
    )


async def postpone(conn: AsyncConnection, lease: Lease, seconds: float) -> None:
    """Give a row back without counting an attempt (a partner comment is being written right now)."""
    await conn.execute(
        update(sharing_outbox)
        .where(sharing_outbox.c.seq == lease.seq, sharing_outbox.c.lease_owner == lease.owner)
        .values(lease_owner=None, lease_expires_at=None, next_attempt_at=now_micros() + int(seconds * SECOND))
    )
