"""Engine creation and migrations for both backends (embedded SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: The newest migration's revision (``test_migrations.py`` checks it is Alembic's head). A store
#: already there is left alone without loading Alembic and its scripts: every command migrates first,
#: and that was ~70 ms of each one's start.
HEAD_REVISION = "0008"
PAGE_SIZE = 65536
CACHE_KIB = 32768


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while the sync worker writes; foreign keys make deletes cascade.
    cursor = dbapi_connection.cursor()
    # 64 KiB pages (SQLite's largest) for a new database; a no-op on an existing one, which keeps its
    # own. A stored ticket with its remote data is ~2.5 KB: 4 KiB pages held one each and wasted the
    # rest. A commit writes each changed page to the WAL as its own frame, and a sync commits once per
    # page of records: 16 KiB pages wrote ~15 % less than 4 KiB, 64 KiB pages make a third as many
    # write calls as 16 KiB (100,000-ticket sync: 210k -> 112k), the database 7 % smaller and the sync
    # ~11 % faster (medians of five in-process runs). List pages read no slower (read_path.py).
    # Must come before WAL is switched on.
    cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Statement journals in memory, not in temporary files: a multi-row statement inside a transaction
    # keeps the original of every page it changes, so that it alone can be undone. A sync's page
    # transaction journaled ~5 MB that way (64 KiB pages): 640 MB of temporary-file writes in a
    # 100,000-ticket sync (with the scan fix in records.py, ~7 % off the sync's wall time, medians of
    # five alternating runs). In memory it is bounded by one statement's pages and freed at its end.
    # Temporary tables and sorts live there too; our queries read in index order and sort nothing big.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Up to 32 MiB of pages cached per connection (SQLite's default: 2 MiB). A sync inserts ids
    # (random UUIDs) all over the id index: once that outgrew the cache, pages were read back from the
    # file for every few inserts. Measured at 100,000 tickets: -15 % SQLite CPU, -12 % wall time, for
    # +30 MB peak RSS (a cap, reached only by a connection that touches that much).
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; for SQLite the parent directory is created and pragmas set per connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on ``engine`` (idempotent)."""
    if revision == "head" and await _revision(engine) == HEAD_REVISION:
        return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


async def _revision(engine: AsyncEngine) -> str | None:
    """The store's migration revision; None for a store without a schema (or an unreadable one: then
    Alembic is left to say what is wrong)."""
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:
        return None
