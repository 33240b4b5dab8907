"""The transactional outbox: events are rows written in the transaction of the change they report.

``emit`` runs inside the caller's transaction, so a rolled-back change leaves no event and a committed
change always has its events; the delivery loop (``delivery.py``) sends them afterwards. Each row holds
the exact body for one target (Merge's envelope names the target in ``hook``), so delivery never needs
the data again, even when the record or the linked account has since changed or been deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import msgspec
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.accounts import LinkedAccountRecord
from app.db.tables import webhook_outbox
from app.timeutil import from_micros, now_micros
from app.webhooks import targets as target_store
from app.webhooks.targets import Target
from connectors import registry

_encoder = msgspec.json.Encoder()


def linked_account_payload(account: LinkedAccountRecord) -> dict[str, Any]:
    """The envelope's ``linked_account``: Merge's fields (merge-api.md §7)."""
    try:
        name = registry.get(account.integration).name
    except registry.UnknownIntegrationError:  # a connector removed since linking: still report it
        name = account.integration
    return {
        "id": account.id,
        "integration": name,
        "integration_slug": account.integration,
        "category": "ticketing",
        "end_user_origin_id": account.end_user_origin_id,
        "end_user_organization_name": account.end_user_organization_name,
        "end_user_email_address": account.end_user_email_address,
        "status": account.status,
        "webhook_listener_url": "",  # inbound vendor webhooks are not offered yet (as /account-details)
        "is_duplicate": None,
        "account_type": "PRODUCTION",
        "completed_at": from_micros(account.completed_at),
    }


def envelope(target: Target, event: str, linked_account: dict[str, Any] | None, data: Any) -> bytes:
    body = {
        "hook": {"id": target.id, "event": event, "target": target.url},
        "linked_account": linked_account,
        "data": data,
    }
    return _encoder.encode(body)


def outbox_row(target: Target, event: str, body: bytes, now: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "target_id": target.id,
        "event": event,
        "body": body,
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }


async def emit_many(
    conn: AsyncConnection,
    *,
    organization_id: str,
    account: LinkedAccountRecord | None,
    events: Iterable[tuple[str, Any]],
) -> int:
    """Queue ``(event, data)`` pairs for every active target subscribed to them; returns rows written."""
    pending = list(events)
    if not pending:
        return 0
    subscribed = await target_store.active_for(conn, organization_id)
    if not subscribed:
        return 0
    linked = linked_account_payload(account) if account is not None else None
    now = now_micros()
    rows: list[dict[str, Any]] = []
    for event, data in pending:
        wanting = [t for t in subscribed if t.wants(event)]
        if not wanting:
            continue
        raw = msgspec.Raw(_encoder.encode(data))  # encode the record once, not once per target
        rows.extend(outbox_row(t, event, envelope(t, event, linked, raw), now) for t in wanting)
    if rows:
        await conn.execute(insert(webhook_outbox), rows)
    return len(rows)


async def emit(
    conn: AsyncConnection,
    *,
    organization_id: str,
    account: LinkedAccountRecord | None,
    event: str,
    data: Any,
) -> int:
    """Queue one event (see ``emit_many``); call it inside the transaction of the change."""
    return await emit_many(conn, organization_id=organization_id, account=account, events=[(event, data)])
