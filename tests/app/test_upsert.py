"""``upsert_records`` with records as page reads hand them over: the vendor's bytes (``msgspec.Raw``)."""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import select

from app.db import records
from app.db.engine import create_engine
from app.db.tables import tickets
from connectors.base import RemoteRecord
from connectors.zendesk import mapping
from tests.app.test_bulk import _add_account

VENDOR = {"id": 7, "subject": "Caf\u00e9 printer", "status": "open", "via": {"channel": "web"}}


async def _stored(url: str, account: str) -> tuple[int, bytes]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(tickets.c.modified_at, tickets.c.remote_data))).one()
        return row.modified_at, row.remote_data
    finally:
        await engine.dispose()


async def _upsert(url: str, account: str, raw: object, now: int) -> records.Upserted:
    record = mapping.to_ticket(raw)
    assert isinstance(record, RemoteRecord)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await records.upsert_records(conn, account, "Ticket", [record], now=now)
    finally:
        await engine.dispose()


async def test_raw_records_store_the_vendors_bytes_and_formatting_is_no_change(database_url: str) -> None:
    account = str(uuid.uuid4())
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await _add_account(conn, account)
    await engine.dispose()

    # Stored before pages kept raw bytes: remote data re-encoded from the decoded dict.
    first = await _upsert(database_url, account, VENDOR, now=1)
    assert len(first.added) == 1
    modified, remote = await _stored(database_url, account)
    assert msgspec.json.decode(remote)[0]["data"] == VENDOR

    # The same record as the vendor's own bytes, spaced and escaped differently: not a change.
    spaced = b'{ "id": 7, "subject": "Caf\\u00e9 printer", "status": "open", "via": {"channel": "web"} }'
    again = await _upsert(database_url, account, msgspec.Raw(spaced), now=2)
    assert (again.added, again.changed) == ([], [])
    assert await _stored(database_url, account) == (modified, remote)

    # A vendor field outside the common model changed: a change, stored as the vendor's bytes.
    moved = spaced.replace(b'"web"', b'"email"')
    changed = await _upsert(database_url, account, msgspec.Raw(moved), now=3)
    assert [m.remote_id for m in changed.changed] == ["7"]
    modified, remote = await _stored(database_url, account)
    assert modified == 3
    assert remote == b'[{"path":"/api/v2/tickets/7.json","data":' + moved + b"}]"


def test_an_empty_vendor_id_is_no_relation() -> None:
    from schemas.models import Ticket

    record = RemoteRecord(
        model=Ticket(remote_id="1", contact="", assignees=[], account="9"), path="/t", raw={}
    )
    account = str(uuid.uuid4())
    model = records.localize(account, "Ticket", record)
    assert (model.contact, model.assignees) == (None, [])
    assert model.account == records.record_id(account, "Account", "9")


async def test_a_full_pass_flags_what_it_did_not_see_in_the_order_it_was_stored(database_url: str) -> None:
    # Statuses alternate, so an index on (account, status) would return the closed ones first: the
    # records must come back in storage order, the order the table is read in (and webhooks sent in).
    account = str(uuid.uuid4())
    statuses = ["open", "closed", "pending", "open", "closed", "solved"]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await _add_account(conn, account)
            mapped = [mapping.to_ticket({"id": 10 - i, "status": s}) for i, s in enumerate(statuses)]
            stored = [r for r in mapped if isinstance(r, RemoteRecord)]
            assert len(stored) == len(statuses)
            await records.upsert_records(conn, account, "Ticket", stored, now=1, sync_run=1)
        async with engine.begin() as conn:
            gone = await records.mark_unseen_deleted(conn, account, "Ticket", sync_run=2, run_started_at=2)
    finally:
        await engine.dispose()
    assert [m.remote_id for m in gone] == ["10", "9", "8", "7", "6", "5"]
    assert all(m.remote_was_deleted for m in gone)
