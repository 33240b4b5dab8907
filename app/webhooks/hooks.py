"""The events the rest of the service emits, one function per occasion.

Callers pass their open transaction (except ``sync_finished``, which opens its own after a run is
released), so the event commits or rolls back with the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import syncstate
from app.db.accounts import LinkedAccountRecord
from app.db.issues import IssueRecord, as_merge
from app.db.records import Upserted
from app.timeutil import from_micros, now_micros
from app.webhooks import events
from app.webhooks.outbox import emit, emit_many, linked_account_payload
from connectors import registry
from schemas.models import CommonModel


async def record_changes(
    conn: AsyncConnection,
    account: LinkedAccountRecord,
    model: str,
    upserted: Upserted | None = None,
    removed: Sequence[CommonModel] = (),
) -> int:
    """``{Model}.added`` / ``.changed`` / ``.removed``; data is the record as the GET returns it."""
    if model not in events.WEBHOOK_MODEL:
        return 0
    pending: list[tuple[str, Any]] = []
    if upserted is not None:
        pending += [(events.model_event(model, events.ADDED), m) for m in upserted.added]
        for m in upserted.changed:
            # A record the vendor now reports as deleted (a flag, not a tombstone) was removed.
            gone = bool(getattr(m, "remote_was_deleted", False))
            pending.append((events.model_event(model, events.REMOVED if gone else events.CHANGED), m))
    pending += [(events.model_event(model, events.REMOVED), m) for m in removed]
    return await emit_many(conn, organization_id=account.organization_id, account=account, events=pending)


async def linked(conn: AsyncConnection, account: LinkedAccountRecord) -> None:
    await emit(
        conn,
        organization_id=account.organization_id,
        account=account,
        event=events.LINKED,
        data=linked_account_payload(account),
    )


async def account_deleted(conn: AsyncConnection, account: LinkedAccountRecord) -> None:
    await emit(
        conn,
        organization_id=account.organization_id,
        account=account,
        event=events.ACCOUNT_DELETED,
        data=linked_account_payload(account),
    )


async def issue_changed(
    conn: AsyncConnection, account: LinkedAccountRecord, issue: IssueRecord, event: str
) -> None:
    """``Issue.new``, ``Issue.reopened`` or ``Issue.resolved``, with the issue as ``GET /issues`` shows it."""
    await emit(
        conn, organization_id=account.organization_id, account=account, event=event, data=as_merge(issue)
    )


#: Outcomes that end a run; anything else (SYNCING: waiting or rate limited) is mid-sync.
FINISHED = frozenset({"DONE", "FAILED", "PARTIALLY_SYNCED"})


async def sync_finished(
    engine: AsyncEngine, account: LinkedAccountRecord, *, status: str, is_initial_sync: bool
) -> bool:
    """``LinkedAccount.sync_completed`` once the account's sync has settled; True when emitted.

    Runs are per model, but Merge reports an account's sync as one event. So it is emitted only when no
    model of the account is syncing, leased or due: after the last model of a sync finishes. (Two
    workers finishing the last two models at the same moment may both emit it; receivers dedupe.)
    """
    if status not in FINISHED:
        return False
    async with engine.begin() as conn:
        rows = await syncstate.list_status(conn, account.id)
        now = now_micros()
        busy = any(
            r.status == "SYNCING"
            or (r.lease_expires_at is not None and r.lease_expires_at > now)
            or (r.next_sync_start is not None and r.next_sync_start <= now)
            for r in rows
        )
        if busy or not rows:
            return False
        try:
            name = registry.get(account.integration).name
        except registry.UnknownIntegrationError:
            name = account.integration
        data = {
            "is_initial_sync": is_initial_sync,
            "integration_name": name,
            "integration_id": account.integration,
            "sync_status": {
                f"ticketing.{r.model}": {
                    "last_sync_finished": from_micros(r.last_sync_finished),
                    "last_sync_result": r.last_sync_result,
                    "data_fresh_as_of": from_micros(r.data_fresh_as_of),
                    "sync_status_reason": r.sync_status_reason,
                }
                for r in rows
            },
        }
        await emit(
            conn,
            organization_id=account.organization_id,
            account=account,
            event=events.SYNC_COMPLETED,
            data=data,
        )
    return True
