"""The throwaway PostgreSQL cluster: start, connect through SQLAlchemy/asyncpg, extra databases, stop."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import postgres as pg

pytestmark = pytest.mark.postgres


@pytest.fixture
def need_postgres() -> None:
    reason = pg.unavailable_reason()
    if reason:
        if pg.required():
            pytest.fail(f"PostgreSQL is required here but unavailable: {reason}")
        pytest.skip(f"PostgreSQL unavailable: {reason}")


async def _scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("need_postgres")
async def test_cluster_lifecycle() -> None:
    server = pg.ThrowawayPostgres()
    with server:
        assert server.running
        expected_user = "postgres" if os.geteuid() == 0 else server.user
        assert server.user == expected_user
        assert server.url == f"postgresql+asyncpg://{expected_user}@127.0.0.1:{server.port}/deskbridge"

        version = await _scalar(server.url, "select version()")
        assert isinstance(version, str) and version.startswith("PostgreSQL ")
        assert int(version.split()[1].split(".")[0]) >= 15
        assert await _scalar(server.url, "show fsync") == "off"
        assert await _scalar(server.url, "show listen_addresses") == "127.0.0.1"
        assert (
            await _scalar(
                server.url,
                "select pg_encoding_to_char(encoding) from pg_database where datname = current_database()",
            )
            == "UTF8"
        )

        other = server.create_database("second_db")
        assert other == server.url_for("second_db")
        assert await _scalar(other, "select current_database()") == "second_db"
        await _scalar(other, "select 1")  # the connection pool is disposed, so the drop below works

        clone = server.create_database("clone_db", template="second_db")
        assert await _scalar(clone, "select current_database()") == "clone_db"
        server.drop_database("clone_db")
        assert server.execute("select count(*) from pg_database where datname = 'clone_db'").strip() == "0"

        pid, root = server.pid, server.root
        assert root.is_dir()
    assert not server.running
    assert not pg._pid_alive(pid)
    assert not root.exists()
    server.stop()  # idempotent


@pytest.mark.usefixtures("need_postgres")
def test_start_failure_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: Any, **kwargs: Any) -> str:
        path: str = real_mkdtemp(*args, **kwargs)
        created.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    server = pg.ThrowawayPostgres(settings={"shared_buffers": "'not-a-size'"})
    with pytest.raises(pg.PostgresError, match="pg_ctl start failed"):
        server.start()
    assert len(created) == 1
    assert not created[0].exists()
    assert not server.running


def test_bad_identifier_is_rejected() -> None:
    with pytest.raises(ValueError, match="identifier"):
        pg.ThrowawayPostgres('x"; drop database postgres; --')


def test_required_follows_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DESKBRIDGE_REQUIRE_POSTGRES", raising=False)
    assert not pg.required()
    monkeypatch.setenv("CI", "true")
    assert pg.required()
    monkeypatch.setenv("CI", "false")
    assert not pg.required()
    monkeypatch.setenv("DESKBRIDGE_REQUIRE_POSTGRES", "1")
    assert pg.required()


def test_missing_binaries_fail_hard_when_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pg, "_candidate_bindirs", lambda: [("test", tmp_path)])
    reason = pg.unavailable_reason()
    assert reason is not None and "lacks initdb" in reason
    assert not pg.available()

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DESKBRIDGE_REQUIRE_POSTGRES", raising=False)
    assert pg.ensure_available() is False

    monkeypatch.setenv("DESKBRIDGE_REQUIRE_POSTGRES", "1")
    with pytest.raises(pg.PostgresUnavailable, match="required"):
        pg.ensure_available()
    with pytest.raises(pg.PostgresUnavailable):
        pg.ThrowawayPostgres().start()
