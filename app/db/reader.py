"""Reads for the API's hot path (list and retrieve pages).

On the embedded SQLite store a read is a fraction of a millisecond of local file access, while
aiosqlite hands every step of it (execute, fetch, close, the pool's rollback) to a background thread
and back: a dozen thread hops that cost far more than the query (see benchmarks/read_path.py). So on
SQLite the API reads through Python's ``sqlite3`` on the event loop's own thread — WAL lets those
readers run beside the writer — executing each statement's SQL, compiled once by SQLAlchemy, directly.
On PostgreSQL reads go through the async engine as usual.

Rows come back as tuples in the statement's column order; callers index them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Executable, Select, create_engine
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

Rows = Sequence[Sequence[Any]]


class Reader(Protocol):
    async def rows(self, statement: Executable, params: dict[str, Any] | None = None) -> Rows: ...


class AsyncReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def rows(self, statement: Executable, params: dict[str, Any] | None = None) -> Rows:
        async with self.engine.connect() as conn:
            return list((await conn.execute(statement, params)).all())


class SQLiteReader:
    """Synchronous reads on the event loop's thread: fast local SQLite reads only.

    Statements are compiled once each (the API caches its statements per query shape) into SQL and
    the order of their positional parameters. Statements with list-valued (``IN``) parameters change
    their SQL with the list's length, so those are compiled per call.
    """

    _dialect = sqlite_dialect.dialect(paramstyle="qmark")

    def __init__(self, url: str) -> None:
        path = make_url(url).database
        if not path:
            raise ValueError("SQLiteReader needs a database file")
        self.connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.connection.execute("PRAGMA query_only=ON")
        self.connection.execute("PRAGMA busy_timeout=10000")
        self._compiled: dict[int, tuple[Executable, SQLCompiler, bool]] = {}
        # For statements we do not run raw: a synchronous engine on the same file.
        self.engine: Engine = create_engine(make_url(url).set(drivername="sqlite"), pool_reset_on_return=None)

    def _compile(self, statement: Executable) -> tuple[SQLCompiler, bool]:
        found = self._compiled.get(id(statement))
        if found is not None and found[0] is statement:
            return found[1], found[2]
        compiled = statement.compile(dialect=self._dialect)  # type: ignore[attr-defined]
        expanding = any(b.expanding for b in compiled.binds.values())
        if not expanding and isinstance(statement, Select):
            self._compiled[id(statement)] = (statement, compiled, expanding)
        return compiled, expanding

    async def rows(self, statement: Executable, params: dict[str, Any] | None = None) -> Rows:
        compiled, expanding = self._compile(statement)
        if expanding:  # IN lists: SQLAlchemy renders them for these values
            with self.engine.connect() as conn:
                return conn.execute(statement, params).all()
        values = compiled.construct_params(params, _check=False)
        positional = [values[name] for name in compiled.positiontup or ()]
        return self.connection.execute(compiled.string, positional).fetchall()

    def dispose(self) -> None:
        self.connection.close()
        self.engine.dispose()


def reader_for(url: str, engine: AsyncEngine) -> Reader:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return SQLiteReader(url)
    return AsyncReader(engine)
