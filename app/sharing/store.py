"""Rows of the sharing tables, as small Structs, and the queries the bridge needs."""

from __future__ import annotations

import secrets
import uuid as uuidlib
from typing import Any

import msgspec
from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.tables import shared_comments, shared_tickets, sharing_agreements, sharing_endpoints
from app.timeutil import now_micros

IN, OUT = "in", "out"
SHARER, RECEIVER = "sharer", "receiver"
LOCAL, PARTNER = "local", "partner"
CREATING, ACTIVE, UNSHARED = "creating", "active", "unshared"


class Agreement(msgspec.Struct, kw_only=True):
    id: str
    linked_account_id: str
    uuid: str
    direction: str
    status: str
    partner_url: str
    our_url: str
    access_key: bytes  # sealed
    name: str | None
    partner_name: str | None
    sync_tags: bool
    sync_custom_fields: bool
    allows_public_comments: bool
    deactivated_by: str | None
    created_at: int
    updated_at: int


class SharedTicket(msgspec.Struct, kw_only=True):
    id: str
    agreement_id: str
    linked_account_id: str
    uuid: str
    role: str
    state: str
    ticket_id: str | None
    ticket_remote_id: str | None
    sent_status: str | None
    sent_tags: str | None
    created_at: int
    updated_at: int


class MappedComment(msgspec.Struct, kw_only=True):
    uuid: str
    origin: str
    comment_id: str | None
    comment_remote_id: str | None
    sent_ok_at: int | None
    created_at: int


def _struct(kind: type[Any], row: Row[Any] | Any) -> Any:
    return kind(**dict(row._mapping))


# --- endpoints ------------------------------------------------------------------------------------


def base_url(public_url: str, sharing_id: str) -> str:
    return f"{public_url.rstrip('/')}/sharing/{sharing_id}"


async def ensure_endpoint(conn: AsyncConnection, account_id: str) -> str:
    """The account's ``sharing_id`` (created on first use): 256 random bits, unrelated to its id."""
    found = await conn.scalar(
        select(sharing_endpoints.c.sharing_id).where(sharing_endpoints.c.linked_account_id == account_id)
    )
    if found:
        return str(found)
    sharing_id = secrets.token_urlsafe(32)
    await conn.execute(
        insert(sharing_endpoints).values(
            linked_account_id=account_id, sharing_id=sharing_id, created_at=now_micros()
        )
    )
    return sharing_id


async def account_for_endpoint(conn: AsyncConnection, sharing_id: str) -> str | None:
    found = await conn.scalar(
        select(sharing_endpoints.c.linked_account_id).where(sharing_endpoints.c.sharing_id == sharing_id)
    )
    return str(found) if found else None


# --- agreements -----------------------------------------------------------------------------------


async def agreement_by_uuid(conn: AsyncConnection, account_id: str, uuid: str) -> Agreement | None:
    row = (
        await conn.execute(
            select(sharing_agreements).where(
                sharing_agreements.c.linked_account_id == account_id, sharing_agreements.c.uuid == uuid
            )
        )
    ).first()
    return _struct(Agreement, row) if row else None


async def agreement_by_id(conn: AsyncConnection, account_id: str, agreement_id: str) -> Agreement | None:
    row = (
        await conn.execute(
            select(sharing_agreements).where(
                sharing_agreements.c.linked_account_id == account_id,
                sharing_agreements.c.id == agreement_id,
            )
        )
    ).first()
    return _struct(Agreement, row) if row else None


async def agreement_any(conn: AsyncConnection, agreement_id: str) -> Agreement | None:
    """An agreement whatever its account (the delivery worker, never a request)."""
    row = (
        await conn.execute(select(sharing_agreements).where(sharing_agreements.c.id == agreement_id))
    ).first()
    return _struct(Agreement, row) if row else None


async def list_agreements(conn: AsyncConnection, account_id: str) -> list[Agreement]:
    rows = await conn.execute(
        select(sharing_agreements)
        .where(sharing_agreements.c.linked_account_id == account_id)
        .order_by(sharing_agreements.c.created_at, sharing_agreements.c.id)
    )
    return [_struct(Agreement, r) for r in rows]


async def insert_agreement(conn: AsyncConnection, **values: Any) -> Agreement:
    now = now_micros()
    row = {"id": str(uuidlib.uuid4()), "created_at": now, "updated_at": now, **values}
    await conn.execute(insert(sharing_agreements).values(**row))
    return Agreement(**row)


async def update_agreement(conn: AsyncConnection, agreement: Agreement, **values: Any) -> Agreement:
    values["updated_at"] = now_micros()
    await conn.execute(
        update(sharing_agreements).where(sharing_agreements.c.id == agreement.id).values(**values)
    )
    return msgspec.structs.replace(agreement, **values)


# --- shared tickets -------------------------------------------------------------------------------


async def shared_by_uuid(conn: AsyncConnection, agreement_id: str, uuid: str) -> SharedTicket | None:
    row = (
        await conn.execute(
            select(shared_tickets).where(
                shared_tickets.c.agreement_id == agreement_id, shared_tickets.c.uuid == uuid
            )
        )
    ).first()
    return _struct(SharedTicket, row) if row else None


async def shared_by_id(conn: AsyncConnection, shared_id: str) -> SharedTicket | None:
    row = (await conn.execute(select(shared_tickets).where(shared_tickets.c.id == shared_id))).first()
    return _struct(SharedTicket, row) if row else None


async def shares_of_tickets(
    conn: AsyncConnection, account_id: str, ticket_ids: list[str], *, active_only: bool = True
) -> list[SharedTicket]:
    """Shares of these tickets (our ids) on agreements that are accepted (by default: still syncing)."""
    if not ticket_ids:
        return []
    if len(ticket_ids) > 1:
        # A sync page asks about a thousand tickets, and most accounts share none: one indexed look
        # spares building and running an IN list of them all.
        any_share = select(shared_tickets.c.id).where(shared_tickets.c.linked_account_id == account_id)
        if await conn.scalar(any_share.limit(1)) is None:
            return []
    stmt = (
        select(shared_tickets)
        .join(sharing_agreements, sharing_agreements.c.id == shared_tickets.c.agreement_id)
        .where(shared_tickets.c.linked_account_id == account_id, shared_tickets.c.ticket_id.in_(ticket_ids))
    )
    if active_only:
        stmt = stmt.where(shared_tickets.c.state == ACTIVE, sharing_agreements.c.status == "accepted")
    return [_struct(SharedTicket, r) for r in await conn.execute(stmt)]


async def insert_shared(conn: AsyncConnection, **values: Any) -> SharedTicket:
    now = now_micros()
    row = {
        "id": str(uuidlib.uuid4()),
        "created_at": now,
        "updated_at": now,
        "sent_status": None,
        "sent_tags": None,
        "ticket_id": None,
        "ticket_remote_id": None,
        **values,
    }
    await conn.execute(insert(shared_tickets).values(**row))
    return SharedTicket(**row)


async def update_shared(conn: AsyncConnection, shared: SharedTicket, **values: Any) -> SharedTicket:
    values["updated_at"] = now_micros()
    await conn.execute(update(shared_tickets).where(shared_tickets.c.id == shared.id).values(**values))
    return msgspec.structs.replace(shared, **values)


# --- comment map ----------------------------------------------------------------------------------


async def comment_map(conn: AsyncConnection, shared_id: str) -> dict[str, MappedComment]:
    rows = await conn.execute(
        select(
            shared_comments.c.uuid,
            shared_comments.c.origin,
            shared_comments.c.comment_id,
            shared_comments.c.comment_remote_id,
            shared_comments.c.sent_ok_at,
            shared_comments.c.created_at,
        ).where(shared_comments.c.shared_ticket_id == shared_id)
    )
    return {r.uuid: _struct(MappedComment, r) for r in rows}


async def map_comment(
    conn: AsyncConnection,
    shared_id: str,
    uuid: str,
    origin: str,
    *,
    comment_id: str | None = None,
    comment_remote_id: str | None = None,
    sent_ok_at: int | None = None,
) -> None:
    await conn.execute(
        insert(shared_comments).values(
            shared_ticket_id=shared_id,
            uuid=uuid,
            origin=origin,
            comment_id=comment_id,
            comment_remote_id=comment_remote_id,
            sent_ok_at=sent_ok_at,
            created_at=now_micros(),
        )
    )


async def set_comment(conn: AsyncConnection, shared_id: str, uuid: str, **values: Any) -> None:
    await conn.execute(
        update(shared_comments)
        .where(shared_comments.c.shared_ticket_id == shared_id, shared_comments.c.uuid == uuid)
        .values(**values)
    )
