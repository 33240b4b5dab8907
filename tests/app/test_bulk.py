"""Bulk INSERT / UPDATE through the driver: the values land exactly, on both backends."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import bulk
from app.db.engine import create_engine
from app.db.tables import link_targets, linked_accounts, organizations, tickets


async def _add_account(conn: AsyncConnection, account: str) -> None:
    """The organization and linked account the rows' foreign keys point to."""
    org = str(uuid.uuid4())
    await conn.execute(organizations.insert().values(id=org, name="o", created_at=0))
    await conn.execute(
        linked_accounts.insert().values(
            id=account,
            organization_id=org,
            integration="x",
            status="COMPLETE",
            end_user_origin_id="e",
            end_user_organization_name="E",
            end_user_email_address="e@example.com",
            credentials=b"c",
            account_token_hash="h",
            account_token=b"t",
            created_at=0,
        )
    )


async def test_insert_and_update_rows_round_trip(database_url: str) -> None:
    engine = create_engine(database_url)
    account = str(uuid.uuid4())
    rows = [
        {
            "id": str(uuid.uuid4()),
            "linked_account_id": account,
            "remote_id": str(n),
            "created_at": 10 + n,
            "modified_at": 20 + n,
            "remote_was_deleted": n == 2,
            "data": b'{"n": %d}' % n,
            "remote_data": None if n == 1 else b"[]",
            "name": f"ticket {n}",
            "status": "OPEN",
        }
        for n in range(3)
    ]
    try:
        async with engine.begin() as conn:
            await _add_account(conn, account)
            await bulk.insert_rows(conn, tickets, rows)
            await bulk.update_rows(
                conn,
                tickets,
                [{"id": rows[0]["id"], "name": "renamed", "remote_was_deleted": True, "data": b"{}"}],
            )
            await bulk.insert_rows(conn, tickets, [])  # nothing to do is fine
        async with engine.connect() as conn:
            got = (
                await conn.execute(
                    select(
                        tickets.c.remote_id,
                        tickets.c.name,
                        tickets.c.remote_was_deleted,
                        tickets.c.data,
                        tickets.c.remote_data,
                        tickets.c.created_at,
                        tickets.c.status,
                    ).order_by(tickets.c.remote_id)
                )
            ).all()
        assert [tuple(r) for r in got] == [
            ("0", "renamed", True, b"{}", b"[]", 10, "OPEN"),
            ("1", "ticket 1", False, b'{"n": 1}', None, 11, "OPEN"),
            ("2", "ticket 2", True, b'{"n": 2}', b"[]", 12, "OPEN"),
        ]
    finally:
        await engine.dispose()


async def test_more_rows_than_one_statement_takes(database_url: str) -> None:
    """SQLite takes at most 32766 parameters per statement: 9000 rows of 4 columns need two."""
    engine = create_engine(database_url)
    account = str(uuid.uuid4())
    targets = [
        {"linked_account_id": account, "model": "Ticket", "field": "tags", "target": f"t{n}"}
        for n in range(9000)
    ]
    try:
        async with engine.begin() as conn:
            await _add_account(conn, account)
            await bulk.insert_rows(conn, link_targets, targets)
        async with engine.connect() as conn:
            got = (await conn.execute(select(link_targets.c.target))).scalars().all()
        assert sorted(got) == sorted(t["target"] for t in targets)
    finally:
        await engine.dispose()
