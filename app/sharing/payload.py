"""Building what we send from our store: the whole ticket for a share, the changes for an update.

Uuids of what we originate are derived from our sharing URL and our ids (``mapping.resource_uuid``), so
every retry of a send carries the same uuids and the partner dedupes them. A desk whose opening message
is a ticket field rather than a comment (Freshdesk, the fake desk) shares it as the first comment.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.accounts import LinkedAccountRecord
from app.db.tables import comments, contacts, tickets, users
from app.sharing import store
from app.sharing.store import Agreement, MappedComment, SharedTicket
from connectors.ticket_sharing import mapping, wire
from schemas.models import Comment, Ticket

DESCRIPTION = "description"


class Pending(msgspec.Struct, kw_only=True):
    """What an update would send; ``comment_rows`` are the map rows to write once it is accepted."""

    ticket: wire.Ticket
    comment_rows: list[tuple[str, str | None, str | None]]  # (uuid, our comment id, vendor id)
    status: str | None
    tags: str | None

    @property
    def empty(self) -> bool:
        t = self.ticket
        return not t.comments and t.status is None and t.tags is None


async def _ticket(conn: AsyncConnection, ticket_id: str) -> Ticket | None:
    data = await conn.scalar(select(tickets.c.data).where(tickets.c.id == ticket_id))
    return msgspec.json.decode(data, type=Ticket) if data else None


async def _comments(conn: AsyncConnection, account_id: str, ticket_id: str) -> list[tuple[Comment, str]]:
    rows = await conn.execute(
        select(comments.c.data, comments.c.remote_id)
        .where(
            comments.c.linked_account_id == account_id,
            comments.c.ticket_id == ticket_id,
            comments.c.remote_was_deleted.is_(False),
        )
        .order_by(comments.c.remote_created_at, comments.c.seq)
    )
    return [(msgspec.json.decode(r.data, type=Comment), r.remote_id) for r in rows]


async def _person(conn: AsyncConnection, our_url: str, user: Any, contact: Any) -> wire.Actor | None:
    """An actor for one of our users (role agent) or contacts (role user); names from our store."""
    for value, table, kind, role in (
        (user, users, "users", "agent"),
        (contact, contacts, "contacts", "user"),
    ):
        if isinstance(value, str):
            data = await conn.scalar(select(table.c.data).where(table.c.id == value))
            name = msgspec.json.decode(data).get("name") if data else None
            return wire.Actor(uuid=mapping.resource_uuid(our_url, kind, value), name=name, role=role)
    return None


def current_actor(our_url: str, account: LinkedAccountRecord) -> wire.Actor:
    """Who acts for us: the linked account's organization (an API user has no agent identity)."""
    return wire.Actor(
        uuid=mapping.resource_uuid(our_url, "users", "deskbridge"),
        name=account.end_user_organization_name,
        role="agent",
    )


def _time(value: Any) -> str | None:
    return wire.format_time(value) if value is not None else None


def tags_json(values: list[str] | None) -> str | None:
    return None if values is None else msgspec.json.encode(sorted(set(values))).decode()


async def build(
    conn: AsyncConnection,
    account: LinkedAccountRecord,
    agreement: Agreement,
    shared: SharedTicket,
    *,
    full: bool,
) -> Pending | None:
    """The share (``full``) or update of ``shared``; None when our ticket is gone from the store."""
    our_url = agreement.our_url
    ticket = await _ticket(conn, shared.ticket_id or "")
    if ticket is None:
        return None
    known: dict[str, MappedComment] = await store.comment_map(conn, shared.id)
    mapped_ids = {m.comment_id for m in known.values() if m.comment_id}
    out: list[wire.Comment] = []
    rows: list[tuple[str, str | None, str | None]] = []
    description_uuid = mapping.resource_uuid(our_url, "tickets", f"{ticket.id}/{DESCRIPTION}")
    requester = await _person(conn, our_url, None, ticket.contact)
    if shared.role == store.SHARER and ticket.description and description_uuid not in known:
        out.append(
            wire.Comment(
                uuid=description_uuid,
                author=requester,
                body=ticket.description,
                authored_at=_time(ticket.remote_created_at),
                public=True,
            )
        )
        rows.append((description_uuid, None, DESCRIPTION))
    for comment, remote_id in await _comments(conn, account.id, str(ticket.id)):
        if comment.id in mapped_ids:
            continue  # the partner's own (never echoed) or already accepted by the partner
        uuid = mapping.resource_uuid(our_url, "comments", str(comment.id))
        if uuid in known:
            continue
        out.append(
            wire.Comment(
                uuid=uuid,
                author=await _person(conn, our_url, comment.user, comment.contact),
                body=comment.body,
                html_body=comment.html_body,
                authored_at=_time(comment.remote_created_at or comment.created_at),
                public=not comment.is_private,
            )
        )
        rows.append((uuid, str(comment.id), remote_id))
    status = mapping.status_out(ticket.status)
    tags = tags_json(ticket.tags) if agreement.sync_tags else None
    send_status = status if full or status != shared.sent_status else None
    send_tags = ticket.tags if agreement.sync_tags and (full or tags != shared.sent_tags) else None
    resource = wire.Ticket(
        uuid=shared.uuid,
        subject=ticket.name if full else None,
        requested_at=_time(ticket.remote_created_at) if full else None,
        status=send_status,
        requester=requester if full else None,
        comments=out,
        current_actor=current_actor(our_url, account),
        tags=list(send_tags) if send_tags is not None else None,
        original_id=ticket.remote_id if full else None,
    )
    return Pending(ticket=resource, comment_rows=rows, status=status, tags=tags)


def in_flight(known: dict[str, MappedComment], now: int, window: int) -> bool:
    """A partner comment is being written into the desk: wait, so it is not taken for one of ours."""
    return any(
        m.origin == store.PARTNER and m.comment_remote_id is None and now - m.created_at < window
        for m in known.values()
    )
