"""Per (linked account, model) sync bookkeeping that ``/sync-status`` reports.

Rows are created when an account is linked, queued for the initial sync. The sync engine (app/sync)
leases and advances them; the API only reads them and asks for full resyncs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.tables import sync_state
from app.timeutil import now_micros


async def ensure_models(conn: AsyncConnection, account_id: str, models: Sequence[str]) -> None:
    """Queue an initial sync for every model the account has no row for yet."""
    existing = set(
        (
            await conn.execute(select(sync_state.c.model).where(sync_state.c.linked_account_id == account_id))
        ).scalars()
    )
    now = now_micros()
    rows = [
        {
            "linked_account_id": account_id,
            "model": m,
            "status": "SYNCING",
            "is_initial_sync": True,
            "next_sync_start": now,
            "full_resync_requested": False,
            "records_synced": 0,
        }
        for m in models
        if m not in existing
    ]
    if rows:
        await conn.execute(insert(sync_state), rows)


async def list_status(conn: AsyncConnection, account_id: str) -> list[Row[Any]]:
    result = await conn.execute(
        select(sync_state).where(sync_state.c.linked_account_id == account_id).order_by(sync_state.c.model)
    )
    return list(result)


async def request_resync(conn: AsyncConnection, account_id: str) -> None:
    """Ask for a full resync of every model (the engine starts it at its next poll)."""
    await conn.execute(
        update(sync_state)
        .where(sync_state.c.linked_account_id == account_id)
        .values(full_resync_requested=True, status="SYNCING", next_sync_start=now_micros())
    )


async def suspend(conn: AsyncConnection, account_id: str, reason: str) -> None:
    """Stop every model of an account whose credentials were refused: FAILED until relinked."""
    await conn.execute(
        update(sync_state)
        .where(sync_state.c.linked_account_id == account_id)
        .values(
            status="FAILED",
            last_sync_result="FAILED",
            last_error=reason,
            next_sync_start=None,
            sync_status_reason=None,
        )
    )


async def resume_all(conn: AsyncConnection, account_id: str) -> None:
    """After a relink: every suspended model is due again (interrupted runs resume from checkpoints)."""
    await conn.execute(
        update(sync_state)
        .where(sync_state.c.linked_account_id == account_id, sync_state.c.next_sync_start.is_(None))
        .values(status="SYNCING", next_sync_start=now_micros(), last_error=None)
    )
