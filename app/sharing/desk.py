"""Writing what a partner shares into the linked desk, through its connector.

Every vendor write is followed at once by storing its result (``upsert_records``), so our copy knows the
record before the next sync reads it. Partner comments are entered in the comment map *before* the
vendor call (origin ``partner``, no vendor id yet) and completed after it: the delivery side treats such
an in-flight row as "wait", so a comment the partner sent is never mistaken for a local one and echoed.

Actors carry no e-mail, so no desk user can be matched: the ticket's requester is whatever the connector
falls back to (Freshdesk: the API key's agent; the fake desk: none), and every partner comment is written
by the linked account's API user with an author line naming who wrote it and at which partner.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.state import Services
from app.db import records
from app.db.accounts import LinkedAccountRecord
from app.db.ids import record_id
from app.sharing import store
from app.sharing.store import Agreement, SharedTicket
from app.vendors import VendorURLError, connector_for
from connectors.base import UPDATE, Connector, RemoteRecord, supports
from connectors.http.errors import ConnectorError, RejectedError
from connectors.ticket_sharing import mapping, wire
from schemas.base import TicketStatus
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate

log = logging.getLogger("deskbridge.sharing")

#: ``comment_remote_id`` of a partner comment that became the ticket's description (not a desk comment).
IN_DESCRIPTION = "description"


class DeskError(Exception):
    """The linked desk refused or failed a write; ``status`` is what the partner is answered."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _connector(services: Services, account: LinkedAccountRecord) -> Connector:
    try:
        return connector_for(services, account)
    except VendorURLError as exc:
        raise DeskError(503, f"the linked desk cannot be reached: {exc}") from None


async def _call(call: Any) -> RemoteRecord[Any]:
    """Run a connector call; what the desk says becomes an answer the gem understands (never 400)."""
    try:
        result: RemoteRecord[Any] = await call
        return result
    except RejectedError as exc:
        raise DeskError(422, f"the linked desk rejected the write: {exc}") from None
    except ConnectorError as exc:  # auth, rate limit, outage: the partner retries later
        log.warning("sharing write to the linked desk failed: %s", exc)
        raise DeskError(503, "the linked desk could not take the write now; retry later") from None


def _with_author(comment: wire.Comment, partner: str | None) -> tuple[str | None, str | None]:
    line = mapping.author_line(comment.author.name if comment.author else None, partner)
    body = f"{line}\n\n{comment.body}" if comment.body is not None else None
    html_body = f"<p>{html.escape(line)}</p>{comment.html_body}" if comment.html_body else None
    if body is None and html_body is None:
        body = line
    return body, html_body


async def _store_record(engine: AsyncEngine, account_id: str, model: str, record: RemoteRecord[Any]) -> str:
    async with engine.begin() as conn:
        (stored,) = (await records.upsert_records(conn, account_id, model, [record])).models
    return str(stored.id)


async def create_ticket(
    services: Services,
    account: LinkedAccountRecord,
    agreement: Agreement,
    shared: SharedTicket,
    ticket: wire.Ticket,
) -> SharedTicket:
    """Create the shared ticket in the desk (resumable: a retried POST continues where one stopped)."""
    engine = services.engine
    connector = _connector(services, account)
    comments = [c for c in ticket.comments or [] if c.uuid]
    if shared.ticket_remote_id is None:
        first = comments[0] if comments else None
        description = _with_author(first, agreement.partner_name)[0] if first else None
        common = mapping.status_in(ticket.status)
        create = TicketCreate(
            name=ticket.subject or (description or "Shared ticket").splitlines()[0][:200],
            description=description,
            status=TicketStatus(common) if common else msgspec.UNSET,
            tags=list(ticket.tags) if agreement.sync_tags and ticket.tags else msgspec.UNSET,
        )
        record = await _call(connector.create_ticket(create))
        ticket_id = await _store_record(engine, account.id, "Ticket", record)
        async with engine.begin() as conn:
            values: dict[str, Any] = {
                "ticket_id": ticket_id,
                "ticket_remote_id": str(record.model.remote_id),
                "sent_status": mapping.normalized(ticket.status),
                "sent_tags": _tags_json(ticket.tags) if agreement.sync_tags else None,
            }
            shared = await store.update_shared(conn, shared, **values)
            if first is not None and first.uuid:
                await store.map_comment(
                    conn, shared.id, first.uuid, store.PARTNER, comment_remote_id=IN_DESCRIPTION
                )
    await add_comments(services, connector, account, agreement, shared, comments)
    async with engine.begin() as conn:
        return await store.update_shared(conn, shared, state=store.ACTIVE)


async def add_comments(
    services: Services,
    connector: Connector,
    account: LinkedAccountRecord,
    agreement: Agreement,
    shared: SharedTicket,
    comments: list[wire.Comment],
) -> int:
    """Write the comments whose uuid we have not seen on this shared ticket; returns how many."""
    engine = services.engine
    async with engine.connect() as conn:
        known = await store.comment_map(conn, shared.id)
    added = 0
    for comment in comments:
        uuid = comment.uuid
        if not uuid:
            continue
        seen = known.get(uuid)
        if seen is not None and (seen.comment_remote_id is not None or seen.origin == store.LOCAL):
            continue  # already in the desk (or ours, sent back to us): dedup by uuid
        if seen is None:
            async with engine.begin() as conn:  # in flight: delivery waits instead of echoing it
                await store.map_comment(conn, shared.id, uuid, store.PARTNER)
        body, html_body = _with_author(comment, agreement.partner_name)
        create = CommentCreate(
            ticket=shared.ticket_remote_id,
            body=body,
            html_body=html_body if html_body is not None else msgspec.UNSET,
            is_private=comment.public is not True,
        )
        record = await _call(connector.create_comment(create))
        remote_id = str(record.model.remote_id)
        async with engine.begin() as conn:
            await store.set_comment(
                conn,
                shared.id,
                uuid,
                comment_remote_id=remote_id,
                comment_id=record_id(account.id, "Comment", remote_id),
            )
            await records.upsert_records(conn, account.id, "Comment", [record])
        added += 1
    return added


def _tags_json(tags: list[str] | None) -> str | None:
    return None if tags is None else msgspec.json.encode(sorted(set(tags))).decode()


async def apply_changes(
    services: Services,
    account: LinkedAccountRecord,
    agreement: Agreement,
    shared: SharedTicket,
    ticket: wire.Ticket,
) -> None:
    """A partner's update: new comments (by uuid), then status and tags when they differ from what
    both sides last agreed on (null means unchanged)."""
    connector = _connector(services, account)
    await add_comments(services, connector, account, agreement, shared, list(ticket.comments or []))
    changes: dict[str, Any] = {}
    agreed: dict[str, Any] = {}
    common = mapping.status_in(ticket.status)
    if common and mapping.normalized(ticket.status) != shared.sent_status:
        changes["status"] = TicketStatus(common)
        agreed["sent_status"] = mapping.normalized(ticket.status)
    if agreement.sync_tags and ticket.tags is not None and _tags_json(ticket.tags) != shared.sent_tags:
        changes["tags"] = list(ticket.tags)
        agreed["sent_tags"] = _tags_json(ticket.tags)
    if not changes or shared.ticket_remote_id is None:
        return
    if not supports(connector, "Ticket", UPDATE):
        log.info("%s cannot update tickets; partner status/tags not applied", account.integration)
        return
    record = await _call(connector.update_ticket(shared.ticket_remote_id, TicketUpdate(**changes)))
    async with services.engine.begin() as conn:
        await records.upsert_records(conn, account.id, "Ticket", [record])
        await store.update_shared(conn, shared, **agreed)
