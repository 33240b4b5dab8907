"""The durable queue of protocol requests to partners (``sharing_outbox``).

Rows are written in the transaction of the change that causes them and hold the whole delivery state,
so nothing is lost on a restart: a lease held by a dead process expires and the row is taken again
(the partner dedupes by uuid). Rows of one ``order_key`` (a shared ticket, or an agreement) go out one at
a time in ``seq`` order: a share before its updates, an update before the unshare.

Leasing, retries and settling are ``app/outbox.py``'s, shared with the webhook outbox; what is this
queue's own is what a row means (a request built when sent, not a stored body), the coalescing of
updates, and the per-``order_key`` ordering.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from sqlalchemy import exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.tables import sharing_outbox
from app.outbox import Config, claim, due, settle, settled
from app.outbox import postpone as give_back
from app.timeutil import now_micros
from connectors.ticket_sharing.client import Outcome


@dataclass(frozen=True)
class OutboxConfig(Config):
    lease_seconds: float = 120.0
    timeout_seconds: float = 30.0
    backoff_base_seconds: float = 5.0
    #: About 3 days of attempts with the defaults.
    max_attempts: int | None = 80


class Lease(msgspec.Struct, kw_only=True, frozen=True):
    seq: int
    agreement_id: str
    shared_ticket_id: str | None
    kind: str
    body: bytes | None
    attempts: int
    owner: str


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
        .where(*due(sharing_outbox, now), ~blocked)
        .order_by(sharing_outbox.c.seq)
        .limit(config.batch_size)
        .with_for_update(skip_locked=True, of=sharing_outbox)
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(pick)).all()
        ours = await claim(
            conn, sharing_outbox.c.seq, [r.seq for r in rows], owner, config.lease_seconds, now
        )
    return [Lease(**row._asdict(), owner=owner) for row in rows if row.seq in ours]


async def record(conn: AsyncConnection, lease: Lease, outcome: Outcome, config: OutboxConfig) -> None:
    """Save an attempt's outcome, only while we still hold the lease (in the caller's transaction)."""
    values = settled(outcome, attempts=lease.attempts + 1, config=config, now=now_micros())
    await settle(conn, sharing_outbox.c.seq, lease.seq, lease.owner, values)


async def postpone(conn: AsyncConnection, lease: Lease, seconds: float) -> None:
    """Give a row back without counting an attempt (a partner comment is being written right now)."""
    await give_back(conn, sharing_outbox.c.seq, lease.seq, lease.owner, seconds)
