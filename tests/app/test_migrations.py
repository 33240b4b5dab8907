"""Alembic migrations build exactly the schema ``app/db/tables.py`` declares, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.db.engine import create_engine, migrate
from app.db.tables import metadata


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
