"""Alembic migrations build exactly the schema ``app/db/tables.py`` declares, on both backends."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import HEAD_REVISION, PAGE_SIZE, alembic_config, create_engine, migrate
from app.db.tables import metadata
from tests.conftest import BACKENDS
from tests.support import postgres as pg


def _diff(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_declared_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {
            "tickets",
            "comments",
            "linked_accounts",
            "api_keys",
            "sync_state",
            "alembic_version",
        } <= tables
    finally:
        await engine.dispose()


async def test_migrate_is_idempotent(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)  # already at head (the fixture migrated): a no-op, not an error
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


def test_head_revision_names_the_newest_migration() -> None:
    """``migrate`` skips Alembic for a store at ``HEAD_REVISION``: a migration added without moving
    it would never be applied to existing stores."""
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


async def test_a_store_behind_head_is_still_migrated(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await migrate(engine, "0006")
        await migrate(engine)
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            assert version == HEAD_REVISION
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


_MIGRATE_AND_SAY_IF_ALEMBIC_LOADED = """
import asyncio, sys
from app.db.engine import create_engine, migrate
async def main(url):
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
asyncio.run(main(sys.argv[1]))
print("alembic" in sys.modules)
"""


def test_a_store_at_head_is_left_alone_without_loading_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    loaded = [
        subprocess.run(
            [sys.executable, "-c", _MIGRATE_AND_SAY_IF_ALEMBIC_LOADED, url],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        ).stdout.strip()
        for _ in range(2)
    ]
    assert loaded == ["True", "False"]  # a new store is migrated by Alembic; then it is at head


@pytest.fixture(params=BACKENDS)
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store with no schema at all, on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    server: pg.ThrowawayPostgres = request.getfixturevalue("postgres_server")
    return server.create_database(f"e_{uuid.uuid4().hex[:12]}")


async def _insert(conn: AsyncConnection, table: str, **row: Any) -> None:
    """A row in raw SQL: these tests write tables as an older revision had them, not as ``tables.py``
    declares them now."""
    columns = ", ".join(row)
    await conn.execute(
        text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in row)})"), row
    )


async def _add_accounts(conn: AsyncConnection, *accounts: str) -> None:
    """An organization and ``accounts`` linked to it, in the columns every revision here has."""
    await _insert(conn, "organizations", id="o", name="o", created_at=0)
    for account in accounts:
        await _insert(
            conn,
            "linked_accounts",
            id=account,
            organization_id="o",
            integration="x",
            status="COMPLETE",
            end_user_origin_id=account,
            end_user_organization_name="E",
            end_user_email_address="e@x.test",
            credentials=b"x",
            account_token_hash=account,
            account_token=b"x",
            created_at=0,
        )


def _downgrade(connection: Any, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_0005_moves_links_from_record_ids_to_seqs_and_back(empty_database_url: str) -> None:
    """Links written before 0005 (by record id) still select their records after it (by seq), for
    tickets and users alike, and a downgrade restores the ids."""
    engine = create_engine(empty_database_url)
    account = str(uuid.uuid4())
    try:
        await migrate(engine, "0004")
        async with engine.begin() as conn:
            await _add_accounts(conn, account)
            for table, n in (("users", 2), ("tickets", 3)):
                for i in range(n):
                    await _insert(
                        conn,
                        table,
                        id=f"{table}-{i}",
                        linked_account_id=account,
                        remote_id=str(i),
                        created_at=0,
                        modified_at=0,
                        remote_was_deleted=False,
                        data=b"{}",
                    )
            links = [
                ("Ticket", "tickets-0", "tags", "vip"),
                ("Ticket", "tickets-2", "tags", "vip"),
                ("Ticket", "tickets-2", "assignees", "users-1"),
                ("User", "users-1", "teams", "g1"),
            ]
            for model, record, field, target in links:
                await _insert(
                    conn,
                    "record_links",
                    linked_account_id=account,
                    model=model,
                    record_id=record,
                    field=field,
                    target=target,
                )
        await migrate(engine, "0005")
        async with engine.connect() as conn:
            moved = set()
            for model, table in (("Ticket", "tickets"), ("User", "users")):
                rows = await conn.execute(
                    text(
                        f"SELECT r.id, l.field, l.target FROM record_links l JOIN {table} r "
                        "ON r.seq = l.record_seq WHERE l.model = :m AND l.linked_account_id = :a"
                    ),
                    {"m": model, "a": account},
                )
                moved |= {(model, *row) for row in rows}
        assert moved == set(links)
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0004")
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT model, record_id, field, target FROM record_links"))
            assert {tuple(row) for row in rows} == set(links)
    finally:
        await engine.dispose()


async def test_0006_numbers_link_targets_and_back(empty_database_url: str) -> None:
    """Links of revision 0005 keep their records and targets through 0006 (one target row per
    distinct account, model, field and value: two accounts' equal tags stay apart), and back."""
    engine = create_engine(empty_database_url)
    accounts = [str(uuid.uuid4()), str(uuid.uuid4())]
    links = [
        (accounts[0], "Ticket", "tags", "vip", 1),
        (accounts[0], "Ticket", "tags", "vip", 3),
        (accounts[0], "Ticket", "assignees", "u-1", 3),
        (accounts[0], "User", "teams", "g1", 1),
        (accounts[1], "Ticket", "tags", "vip", 2),
    ]
    try:
        await migrate(engine, "0005")
        async with engine.begin() as conn:
            await _add_accounts(conn, *accounts)
            for account, model, field, target, seq in links:
                await _insert(
                    conn,
                    "record_links",
                    linked_account_id=account,
                    model=model,
                    field=field,
                    target=target,
                    record_seq=seq,
                )
        await migrate(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            rows = await conn.execute(
                text(
                    "SELECT t.linked_account_id, t.model, t.field, t.target, l.record_seq "
                    "FROM record_links l JOIN link_targets t ON t.key = l.target_key"
                )
            )
            assert {tuple(row) for row in rows} == set(links)
            targets = (await conn.execute(text("SELECT count(*) FROM link_targets"))).scalar_one()
            assert targets == 4  # vip twice (two accounts), u-1, g1
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0005")
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT linked_account_id, model, field, target, record_seq FROM record_links")
            )
            assert {tuple(row) for row in rows} == set(links)
    finally:
        await engine.dispose()


async def _links_and_targets(conn: AsyncConnection) -> tuple[set[tuple[int, int]], set[int]]:
    links = await conn.execute(text("SELECT target_key, record_seq FROM record_links"))
    keys = await conn.execute(text("SELECT key FROM link_targets"))
    return {(key, seq) for key, seq in links}, {key for (key,) in keys}


async def test_0008_drops_the_links_no_filter_reads(empty_database_url: str) -> None:
    """Ticket links to teams and attachments go (rows and numbered targets); those a filter reads stay,
    and a downgrade leaves them be."""
    engine = create_engine(empty_database_url)
    account = str(uuid.uuid4())
    targets = [
        (1, "Ticket", "tags", "vip"),
        (2, "Ticket", "assignees", "u-1"),
        (3, "Ticket", "assigned_teams", "g-1"),
        (4, "Ticket", "attachments", "a-1"),
        (5, "User", "teams", "g-1"),
    ]
    try:
        await migrate(engine, "0007")
        async with engine.begin() as conn:
            await _add_accounts(conn, account)
            for key, model, field, target in targets:
                await _insert(
                    conn,
                    "link_targets",
                    key=key,
                    linked_account_id=account,
                    model=model,
                    field=field,
                    target=target,
                )
                for seq in (10, 11):
                    await _insert(conn, "record_links", target_key=key, record_seq=seq)
        kept = ({(1, 10), (1, 11), (2, 10), (2, 11), (5, 10), (5, 11)}, {1, 2, 5})
        await migrate(engine)
        async with engine.connect() as conn:
            assert await _links_and_targets(conn) == kept
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0007")
        async with engine.connect() as conn:
            assert await _links_and_targets(conn) == kept
    finally:
        await engine.dispose()


async def test_new_sqlite_stores_get_large_pages_and_existing_ones_keep_theirs(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    engine = create_engine(f"sqlite+aiosqlite:///{fresh}")
    await migrate(engine)
    await engine.dispose()
    older = tmp_path / "older.db"
    with sqlite3.connect(older) as conn:  # a store created with 4 KiB pages, before this setting
        conn.execute("PRAGMA page_size=4096")
        conn.execute("CREATE TABLE t (x)")
    engine = create_engine(f"sqlite+aiosqlite:///{older}")
    await migrate(engine)
    await engine.dispose()
    sizes = {}
    for path in (fresh, older):
        with sqlite3.connect(path) as conn:
            sizes[path.name] = conn.execute("PRAGMA page_size").fetchone()[0]
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sizes == {"fresh.db": PAGE_SIZE, "older.db": 4096}
    assert PAGE_SIZE == 65536


async def test_sqlite_connections_keep_statement_journals_in_memory(tmp_path: Path) -> None:
    # Not in temporary files: a sync page's statements journaled ~5 MB each transaction there.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA temp_store"))).scalar() == 2  # 2 = MEMORY
    finally:
        await engine.dispose()
