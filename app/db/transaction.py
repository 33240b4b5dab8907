"""Transactions run where their statements run: on SQLite, whole, in the connection's own thread.

aiosqlite runs each SQLite connection in a thread of its own and hands every call over to it. A sync
page is some twenty statements (existing rows, the INSERT, links, parents, checkpoint, commit), each a
hand-off there and a wait for the event loop's next turn to come back. The loop is meanwhile busy
preparing the next page, so a page's writes advanced one statement per slice of that work, and the
database thread sat idle most of the time: the two threads barely overlapped.

Here a transaction is handed over once. The same async code runs in the database thread against a
synchronous SQLAlchemy connection over the very same SQLite connection: its awaits complete at once
there, so the coroutine is driven to its end without an event loop. SQLite's own work releases the
GIL, so the event loop goes on preparing while a page is written. ``ordered_transactions`` queues
several in the thread, so it goes from one page's commit straight to the next page.

On PostgreSQL (asyncpg has no such thread) each is an ordinary transaction, begun when the one before
it has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool

T = TypeVar("T")

#: A transaction's work: statements on the connection it is given, and nothing else that waits (on
#: SQLite it runs in the database thread, where nothing else can be awaited).
Work = Callable[[AsyncConnection], Coroutine[Any, Any, T]]


class SuspendedError(RuntimeError):
    """Work run in the database thread waited on something other than its statements."""


class EarlierTransactionFailedError(RuntimeError):
    """Not run: a transaction submitted before this one failed."""


class OrderedTransactions(Protocol):
    def submit(self, work: Work[T]) -> asyncio.Future[T]:
        """Run ``work`` in a transaction of its own, after every one submitted before it, and only
        if all of those committed (else ``EarlierTransactionFailedError``). Returns at once."""
        ...


@contextlib.asynccontextmanager
async def ordered_transactions(engine: AsyncEngine) -> AsyncIterator[OrderedTransactions]:
    """Transactions in submission order, each committed when its work returns and rolled back when it
    raises. A sync submits page N+1 while page N is still being written: pages are committed in order,
    and none after one that failed, so a checkpoint is never saved past a page that was not.

    Wait for every submitted transaction before leaving (on SQLite they hold this connection)."""
    if engine.dialect.name != "sqlite":
        yield _ChainedTransactions(engine)
        return
    async with engine.connect() as conn:
        # One pooled connection, checked out to us throughout: its thread runs what we submit.
        driver_connection = (await conn.get_raw_connection()).driver_connection
        yield _ThreadTransactions(driver_connection)


async def run_transaction(engine: AsyncEngine, work: Work[T]) -> T:
    """``work(conn)`` in one transaction (on SQLite, in the connection's thread: see the module)."""
    async with ordered_transactions(engine) as transactions:
        return await transactions.submit(work)


class _ChainedTransactions:
    def __init__(self, engine: AsyncEngine):
        self._engine = engine
        self._last: asyncio.Future[Any] | None = None

    def submit(self, work: Work[T]) -> asyncio.Future[T]:
        previous = self._last

        async def run() -> T:
            if previous is not None:
                await asyncio.wait([previous])  # its error is its submitter's to take
                if previous.cancelled() or previous.exception() is not None:
                    raise EarlierTransactionFailedError
            async with self._engine.begin() as conn:
                return await work(conn)

        self._last = task = asyncio.ensure_future(run())
        return task


class _ThreadTransactions:
    def __init__(self, driver_connection: Any):
        self._driver = driver_connection
        self._engine = _thread_engine(driver_connection)
        self._failed = False  # read and written in the database thread only

    def submit(self, work: Work[T]) -> asyncio.Future[T]:
        def in_thread() -> T:
            if self._failed:
                raise EarlierTransactionFailedError
            try:
                with self._engine.begin() as sync:
                    # The facade is an AsyncConnection for the calls ``work`` may make.
                    return _run_to_end(work(cast(AsyncConnection, ThreadConnection(sync))))
            except BaseException:
                self._failed = True
                raise

        # aiosqlite's own hand-off (it has no public one for a callable): a queue its thread takes
        # calls from in order, which the task puts ours on when it first runs. Tasks start in the order
        # they were created, so transactions are queued in the order submitted.
        return cast(asyncio.Future[T], asyncio.ensure_future(self._driver._execute(in_thread)))


class ThreadConnection:
    """The part of ``AsyncConnection`` our stores use, over a synchronous ``Connection``: every
    await returns at once, so the work's coroutine runs to its end in one ``send``."""

    def __init__(self, sync: Connection):
        self._sync = sync
        self.dialect = sync.dialect

    async def execute(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self._sync.execute(statement, parameters, **kwargs)

    async def exec_driver_sql(self, statement: str, parameters: Any = None, **kwargs: Any) -> Any:
        return self._sync.exec_driver_sql(statement, parameters, **kwargs)

    async def scalar(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self._sync.scalar(statement, parameters, **kwargs)


def _run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise SuspendedError("a transaction run in the database thread waited on the event loop")


#: A synchronous engine per aiosqlite connection, over its SQLite connection (``StaticPool``: that
#: connection and no other). Dropped with the aiosqlite connection when the pool lets it go.
_thread_engines: weakref.WeakKeyDictionary[Any, Engine] = weakref.WeakKeyDictionary()


def _thread_engine(driver_connection: Any) -> Engine:
    engine = _thread_engines.get(driver_connection)
    if engine is None:
        sqlite_connection = driver_connection._conn  # aiosqlite's sqlite3.Connection
        engine = create_engine("sqlite://", creator=lambda: sqlite_connection, poolclass=StaticPool)
        _thread_engines[driver_connection] = engine
    return engine
