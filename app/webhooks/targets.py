"""Webhook targets and their delivery history in the store, always scoped to an organization."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Row, Select, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.tables import webhook_outbox, webhook_targets
from app.secrets import SecretBox
from app.timeutil import now_micros


class Target(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    organization_id: str
    url: str
    #: Subscribed event names; empty means every event.
    events: tuple[str, ...]
    is_active: bool
    created_at: int

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


_COLUMNS = (
    webhook_targets.c.id,
    webhook_targets.c.organization_id,
    webhook_targets.c.url,
    webhook_targets.c.events,
    webhook_targets.c.is_active,
    webhook_targets.c.created_at,
)


def _target(row: Row[*tuple[Any, ...]]) -> Target:
    m = row._mapping
    return Target(
        id=m["id"],
        organization_id=m["organization_id"],
        url=m["url"],
        events=tuple(e for e in m["events"].split(",") if e),
        is_active=bool(m["is_active"]),
        created_at=m["created_at"],
    )


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def create(
    conn: AsyncConnection,
    box: SecretBox,
    *,
    organization_id: str,
    url: str,
    events: Sequence[str],
    secret: str,
) -> Target:
    target = Target(
        id=str(uuid.uuid4()),
        organization_id=organization_id,
        url=url,
        events=tuple(dict.fromkeys(events)),
        is_active=True,
        created_at=now_micros(),
    )
    await conn.execute(
        insert(webhook_targets).values(
            id=target.id,
            organization_id=organization_id,
            url=url,
            events=",".join(target.events),
            secret=box.encrypt(secret.encode()),
            is_active=True,
            created_at=target.created_at,
        )
    )
    return target


async def get(conn: AsyncConnection, organization_id: str, target_id: str) -> Target | None:
    row = (
        await conn.execute(
            select(*_COLUMNS).where(
                webhook_targets.c.id == target_id, webhook_targets.c.organization_id == organization_id
            )
        )
    ).first()
    return _target(row) if row else None


async def list_page(
    conn: AsyncConnection, organization_id: str, *, after: str | None, limit: int
) -> list[Target]:
    stmt = select(*_COLUMNS).where(webhook_targets.c.organization_id == organization_id)
    if after is not None:
        stmt = stmt.where(webhook_targets.c.id > after)
    rows = await conn.execute(stmt.order_by(webhook_targets.c.id).limit(limit))
    return [_target(r) for r in rows]


async def active_for(conn: AsyncConnection, organization_id: str) -> list[Target]:
    rows = await conn.execute(
        select(*_COLUMNS).where(
            webhook_targets.c.organization_id == organization_id, webhook_targets.c.is_active.is_(True)
        )
    )
    return [_target(r) for r in rows]


async def remove(conn: AsyncConnection, organization_id: str, target_id: str) -> bool:
    # Pending deliveries go with the target (explicitly: SQLite cascades only with foreign keys on).
    if await get(conn, organization_id, target_id) is None:
        return False
    await conn.execute(delete(webhook_outbox).where(webhook_outbox.c.target_id == target_id))
    await conn.execute(delete(webhook_targets).where(webhook_targets.c.id == target_id))
    return True


async def deliveries(
    conn: AsyncConnection, target_id: str, *, before: int | None, limit: int
) -> list[Row[Any]]:
    """A target's outbox rows, newest first (``before``: a ``seq`` from the previous page)."""
    stmt = _deliveries().where(webhook_outbox.c.target_id == target_id)
    if before is not None:
        stmt = stmt.where(webhook_outbox.c.seq < before)
    return list(await conn.execute(stmt.order_by(webhook_outbox.c.seq.desc()).limit(limit)))


async def delivery(conn: AsyncConnection, event_id: str) -> Row[Any] | None:
    row: Row[Any] | None = (await conn.execute(_deliveries().where(webhook_outbox.c.id == event_id))).first()
    return row


def _deliveries() -> Select[Any]:
    return select(
        webhook_outbox.c.seq,
        webhook_outbox.c.id,
        webhook_outbox.c.event,
        webhook_outbox.c.created_at,
        webhook_outbox.c.attempts,
        webhook_outbox.c.next_attempt_at,
        webhook_outbox.c.delivered_at,
        webhook_outbox.c.dead_at,
        webhook_outbox.c.last_status,
        webhook_outbox.c.last_error,
    )
