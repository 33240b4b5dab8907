"""What sync and write-through queue for partners: called with every batch of stored records.

Cheap when nothing is shared (one indexed query per batch). It only decides *whether* a shared ticket
has something to send; what exactly is decided when the update is sent (``payload.build``), from the
comment map, so a comment that came from the partner is never echoed even if sync stored it before
the receiving side finished mapping it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.records import Upserted
from app.db.tables import shared_comments
from app.sharing import outbox, payload, store
from app.sharing.store import SharedTicket
from connectors.ticket_sharing import mapping
from schemas.models import Comment, Ticket


async def on_records_stored(conn: AsyncConnection, account_id: str, model: str, upserted: Upserted) -> None:
    """Queue an update for each actively shared ticket that changed or got a comment not from the partner."""
    if model == "Ticket":
        await _tickets(
            conn, account_id, [m for m in (*upserted.added, *upserted.changed) if isinstance(m, Ticket)]
        )
    elif model == "Comment":
        await _comments(conn, account_id, [m for m in upserted.added if isinstance(m, Comment)])


async def _tickets(conn: AsyncConnection, account_id: str, changed: list[Ticket]) -> None:
    by_id = {str(t.id): t for t in changed}
    for shared in await store.shares_of_tickets(conn, account_id, list(by_id)):
        ticket = by_id[shared.ticket_id or ""]
        status_moved = mapping.status_out(ticket.status) != shared.sent_status
        tags_moved = shared.sent_tags is not None and payload.tags_json(ticket.tags) != shared.sent_tags
        if status_moved or tags_moved:
            await outbox.enqueue(conn, shared.agreement_id, "update", shared_ticket_id=shared.id)


async def _comments(conn: AsyncConnection, account_id: str, added: list[Comment]) -> None:
    tickets = {c.ticket for c in added if isinstance(c.ticket, str)}
    shares = await store.shares_of_tickets(conn, account_id, list(tickets))
    if not shares:
        return
    mapped = set(
        (
            await conn.execute(
                select(shared_comments.c.comment_id).where(
                    shared_comments.c.shared_ticket_id.in_([s.id for s in shares]),
                    shared_comments.c.comment_id.in_([str(c.id) for c in added]),
                )
            )
        ).scalars()
    )
    wanted: dict[str, SharedTicket] = {}
    for comment in added:
        if str(comment.id) in mapped:
            continue  # the partner's comment, written by us: never sent back
        for shared in shares:
            if shared.ticket_id == comment.ticket:
                wanted[shared.id] = shared
    for shared in wanted.values():
        await outbox.enqueue(conn, shared.agreement_id, "update", shared_ticket_id=shared.id)
