"""Shared fixtures: every service test runs against SQLite and against a throwaway PostgreSQL.

PostgreSQL databases are cloned from a migrated template (``CREATE DATABASE ... TEMPLATE``), SQLite
files are copied from a migrated file, so each test gets a fresh store in milliseconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.db.engine import create_engine, migrate
from tests.support import postgres as pg

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


async def _migrate_async(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def _migrate(url: str) -> None:
    """Migrate from sync code, even when an event loop runs in this thread (session fixtures are
    first requested from inside async tests)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _migrate_async(url)).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.ThrowawayPostgres]:
    reason = pg.unavailable_reason()
    if reason:
        if pg.required():
            pytest.fail(f"PostgreSQL is required here but unavailable: {reason}")
        pytest.skip(f"PostgreSQL unavailable: {reason}")
    with pg.ThrowawayPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_template(postgres_server: pg.ThrowawayPostgres) -> str:
    url = postgres_server.create_database("deskbridge_template")
    _migrate(url)
    return "deskbridge_template"


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A freshly migrated, empty store on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "deskbridge.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server: pg.ThrowawayPostgres = request.getfixturevalue("postgres_server")
    template: str = request.getfixturevalue("postgres_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield server.create_database(name, template=template)
    # Dropped when done (~25 ms): kept, the suite's ~380 databases took ~4 GB of the temp directory
    # and ~20 s to delete with the cluster at the end.
    server.drop_database(name)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests talk to loopback only; a proxy from the environment must never intercept them.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
