"""Transactions handed to the database whole (``app.db.transaction``), on both backends: committed or
rolled back as a unit, run in submission order, none after one that failed; on SQLite in the
connection's own thread."""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.accounts import ensure_organization
from app.db.engine import create_engine
from app.db.tables import organizations
from app.db.transaction import (
    EarlierTransactionFailedError,
    SuspendedError,
    ordered_transactions,
    run_transaction,
)
from tests.support import postgres as pg


async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Each backend in turn."""
    async for engine in _engine(database_url):
        yield engine


@pytest.fixture
async def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    shutil.copy(sqlite_template, tmp_path / "deskbridge.db")
    async for engine in _engine(f"sqlite+aiosqlite:///{tmp_path / 'deskbridge.db'}"):
        yield engine


@pytest.fixture
async def postgres_engine(
    postgres_server: pg.ThrowawayPostgres, postgres_template: str
) -> AsyncIterator[AsyncEngine]:
    url = postgres_server.create_database(f"tx_{uuid.uuid4().hex[:12]}", template=postgres_template)
    async for engine in _engine(url):
        yield engine


def add(name: str, seen: list[str] | None = None):  # type: ignore[no-untyped-def]
    """Work inserting one organization (and noting, in ``seen``, that it ran)."""

    async def work(conn: AsyncConnection) -> str:
        await conn.execute(organizations.insert().values(id=str(uuid.uuid4()), name=name, created_at=0))
        if seen is not None:
            seen.append(name)
        return name

    return work


async def names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(organizations.c.name).order_by(organizations.c.name))
        return list(rows.scalars())


async def test_a_transaction_commits_what_its_work_did_and_returns_its_result(engine: AsyncEngine) -> None:
    async def work(conn: AsyncConnection) -> int:
        await add("a")(conn)
        await add("b")(conn)
        return int(await conn.scalar(select(func.count()).select_from(organizations)) or 0)

    assert await run_transaction(engine, work) == 2  # the work sees its own rows
    assert await names(engine) == ["a", "b"]


async def test_a_failing_transaction_stores_nothing_and_raises_its_own_error(engine: AsyncEngine) -> None:
    async def work(conn: AsyncConnection) -> None:
        await add("a")(conn)
        raise LookupError("the work's own error")

    with pytest.raises(LookupError, match="the work's own error"):
        await run_transaction(engine, work)
    assert await names(engine) == []
    # The connection went back to the pool clean: the next transaction commits normally.
    await run_transaction(engine, add("b"))
    assert await names(engine) == ["b"]


async def test_a_database_error_inside_rolls_the_whole_transaction_back(engine: AsyncEngine) -> None:
    await run_transaction(engine, add("taken"))

    async def work(conn: AsyncConnection) -> None:
        await add("new")(conn)
        await add("taken")(conn)  # the name is unique

    with pytest.raises(IntegrityError):
        await run_transaction(engine, work)
    assert await names(engine) == ["taken"]


async def test_transactions_run_in_the_order_submitted(engine: AsyncEngine) -> None:
    seen: list[str] = []
    order = [f"org-{n:02d}" for n in range(12)]
    async with ordered_transactions(engine) as transactions:
        # All submitted before any is awaited, the way a sync hands pages over.
        submitted = [transactions.submit(add(name, seen)) for name in order]
        assert [await s for s in submitted] == order
    assert seen == order
    assert await names(engine) == order


async def test_none_runs_after_one_that_failed(engine: AsyncEngine) -> None:
    """A sync's page N+1 carries the checkpoint after page N: it must never commit if N did not."""
    seen: list[str] = []

    async def failing(conn: AsyncConnection) -> None:
        await add("second", seen)(conn)
        raise LookupError("page 2 failed")

    async with ordered_transactions(engine) as transactions:
        first = transactions.submit(add("first", seen))
        second = transactions.submit(failing)
        third = transactions.submit(add("third", seen))
        fourth = transactions.submit(add("fourth", seen))
        assert await first == "first"
        with pytest.raises(LookupError):
            await second
        for later in (third, fourth):
            with pytest.raises(EarlierTransactionFailedError):
                await later
    assert seen == ["first", "second"]  # the later ones never ran
    assert await names(engine) == ["first"]


async def test_on_sqlite_the_work_runs_in_the_connection_thread(sqlite_engine: AsyncEngine) -> None:
    engine = sqlite_engine
    loop_thread = threading.get_ident()

    async def where(conn: AsyncConnection) -> int:
        await add("a")(conn)
        return threading.get_ident()

    assert await run_transaction(engine, where) != loop_thread
    assert await names(engine) == ["a"]


async def test_on_sqlite_work_that_waits_on_the_event_loop_is_refused_and_rolled_back(
    sqlite_engine: AsyncEngine,
) -> None:
    engine = sqlite_engine

    async def waits(conn: AsyncConnection) -> None:
        await add("a")(conn)
        await asyncio.sleep(0)  # nothing but statements may be awaited in the database thread

    with pytest.raises(SuspendedError):
        await run_transaction(engine, waits)
    assert await names(engine) == []


@pytest.mark.postgres
async def test_on_postgresql_a_transaction_may_wait_on_the_event_loop(postgres_engine: AsyncEngine) -> None:
    """asyncpg has no database thread: the transaction runs on the event loop, where waiting is fine."""
    engine = postgres_engine

    async def waits(conn: AsyncConnection) -> str:
        await asyncio.sleep(0)
        return await add("a")(conn)

    assert await run_transaction(engine, waits) == "a"
    assert await names(engine) == ["a"]


async def test_the_store_functions_run_unchanged_in_the_database_thread(engine: AsyncEngine) -> None:
    """A real store function (several statements, a read of what it wrote) through the facade."""
    first = await run_transaction(engine, ensure_organization)
    again = await run_transaction(engine, ensure_organization)  # found, not added twice
    assert first == again
    async with engine.connect() as conn:
        assert list((await conn.execute(select(organizations.c.id))).scalars()) == [first]
